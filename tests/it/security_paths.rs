//! SECURITY_CASES section A through a real gateway, each case sent twice:
//! as raw HTTP/1.1 bytes, so no client library normalises the target
//! first, and over HTTP/2 (the hyper client when `http::Uri` can carry the
//! target, raw frames when it cannot). Each asserts the status, the reason,
//! and what (if anything) reached the upstream.

use crate::common::h2::assert_refused_by_framing;
use crate::common::routes::{admin, public};
use crate::common::*;

const ROUTES: &str = concat!(
    admin!(),
    public!(),
    r#"
[[routes]]
name = "a"
path = "/a/**"
access = "anonymous"
"#
);

fn get(target: &str) -> Vec<u8> {
    format!("GET {target} HTTP/1.1\r\nHost: gw.test\r\nConnection: close\r\n\r\n").into_bytes()
}

/// `target` over HTTP/2. `None` when `http::Uri` cannot carry it: then it
/// went as raw frames, and HTTP/2 itself refused it with nothing forwarded.
async fn over_h2(h: &Harness, target: &str) -> Option<Reply> {
    if target.parse::<http::uri::PathAndQuery>().is_ok() {
        Some(h.send_h2("GET", target, &[], "").await)
    } else {
        assert_refused_by_framing(h, b"GET", target.as_bytes(), &[]).await;
        None
    }
}

/// The request was decided on `/admin` (anonymous, so refused) and nothing
/// was forwarded.
async fn assert_decided_as_admin(h: &Harness, target: &str) {
    let reply = h.raw(&get(target)).await;
    assert_eq!(reply.status, 403, "{target}: {reply:?}");
    assert!(
        reply
            .head
            .contains("x-portcullis-reason: not_authenticated"),
        "{target}: {}",
        reply.head
    );
    assert_eq!(reply.body, NOT_AUTHENTICATED, "{target}");
    let reply = over_h2(h, target).await.expect("an HTTP/2 request");
    reply.assert_denied(403, "not_authenticated", NOT_AUTHENTICATED);
    assert!(h.seen().is_empty(), "{target} reached the upstream");
}

async fn assert_bad_path(h: &Harness, target: &str) {
    let reply = h.raw(&get(target)).await;
    assert_eq!(reply.status, 400, "{target}: {reply:?}");
    assert!(
        reply.head.contains("x-portcullis-reason: bad_path"),
        "{target}: {}",
        reply.head
    );
    assert_eq!(reply.body, MALFORMED_PATH, "{target}");
    if let Some(reply) = over_h2(h, target).await {
        reply.assert_denied(400, "bad_path", MALFORMED_PATH);
    }
    assert!(h.seen().is_empty(), "{target} reached the upstream");
}

/// The request was forwarded, and the upstream saw exactly `expected`.
async fn assert_forwarded_as(h: &Harness, target: &str, expected: &str) {
    let reply = h.raw(&get(target)).await;
    assert_eq!(reply.status, 200, "{target}: {reply:?}");
    let seen = h.seen();
    assert_eq!(
        seen.last().map(|s| s.target.as_str()),
        Some(expected),
        "{target}"
    );
    let reply = over_h2(h, target).await.expect("an HTTP/2 request");
    assert_eq!(reply.status, 200, "{target} over HTTP/2: {}", reply.text());
    let seen = h.seen();
    assert_eq!(
        seen.last().map(|s| s.target.as_str()),
        Some(expected),
        "{target} over HTTP/2"
    );
}

#[tokio::test]
async fn a1_dot_segments_plain() {
    assert_decided_as_admin(&Harness::start(ROUTES).await, "/public/../admin").await;
}

#[tokio::test]
async fn a1_dot_segments_encoded_lower() {
    assert_decided_as_admin(&Harness::start(ROUTES).await, "/public/%2e%2e/admin").await;
}

#[tokio::test]
async fn a1_dot_segments_encoded_mixed() {
    assert_decided_as_admin(&Harness::start(ROUTES).await, "/public/%2E./admin").await;
}

#[tokio::test]
async fn a1_dot_segments_encoded_second() {
    assert_decided_as_admin(&Harness::start(ROUTES).await, "/public/.%2e/admin").await;
}

#[tokio::test]
async fn a2_encoded_slash() {
    assert_bad_path(&Harness::start(ROUTES).await, "/admin%2Fusers").await;
}

#[tokio::test]
async fn a2_encoded_slash_traversal() {
    assert_bad_path(&Harness::start(ROUTES).await, "/public%2F..%2Fadmin").await;
}

#[tokio::test]
async fn a2_encoded_backslash() {
    assert_bad_path(&Harness::start(ROUTES).await, "/public/%5c..%5cadmin").await;
}

#[tokio::test]
async fn a3_leading_double_slash() {
    assert_decided_as_admin(&Harness::start(ROUTES).await, "//admin").await;
}

#[tokio::test]
async fn a3_repeated_slashes_merge_query_untouched() {
    assert_forwarded_as(&Harness::start(ROUTES).await, "/a///b?x=//y", "/a/b?x=//y").await;
}

#[tokio::test]
async fn a4_raw_backslash() {
    assert_bad_path(&Harness::start(ROUTES).await, "/public\\..\\admin").await;
}

#[tokio::test]
async fn a5_path_parameter_dotdot() {
    assert_bad_path(&Harness::start(ROUTES).await, "/..;/admin").await;
}

#[tokio::test]
async fn a5_path_parameter_then_dotdot() {
    assert_bad_path(&Harness::start(ROUTES).await, "/public;/../admin").await;
}

#[tokio::test]
async fn a5_path_parameter_jsessionid() {
    assert_bad_path(&Harness::start(ROUTES).await, "/admin;jsessionid=x").await;
}

#[tokio::test]
async fn a6_segment_boundaries() {
    let h = Harness::start(ROUTES).await;
    for target in ["/admin", "/admin/", "/admin/x"] {
        let reply = h.raw(&get(target)).await;
        assert!(
            reply
                .head
                .contains("x-portcullis-reason: not_authenticated"),
            "{target}"
        );
        let reply = h.send_h2("GET", target, &[], "").await;
        assert_eq!(reply.reason(), Some("not_authenticated"), "{target}");
    }
    let reply = h.raw(&get("/administrator")).await;
    assert!(
        reply.head.contains("x-portcullis-reason: no_route"),
        "{}",
        reply.head
    );
    let reply = h.send_h2("GET", "/administrator", &[], "").await;
    assert_eq!(reply.reason(), Some("no_route"));
    assert!(h.seen().is_empty());
}

#[tokio::test]
async fn a7_encoded_nul() {
    assert_bad_path(&Harness::start(ROUTES).await, "/public/a%00b").await;
}

#[tokio::test]
async fn a7_encoded_newline() {
    assert_bad_path(&Harness::start(ROUTES).await, "/public/a%0ab").await;
}

#[tokio::test]
async fn a7_encoded_carriage_return() {
    assert_bad_path(&Harness::start(ROUTES).await, "/public/a%0db").await;
}

#[tokio::test]
async fn a7_encoded_tab() {
    assert_bad_path(&Harness::start(ROUTES).await, "/public/a%09b").await;
}

#[tokio::test]
async fn a7_raw_control_character_never_forwarded() {
    let h = Harness::start(ROUTES).await;
    let reply = h
        .raw(b"GET /public/a\x01b HTTP/1.1\r\nHost: gw.test\r\nConnection: close\r\n\r\n")
        .await;
    assert_eq!(reply.status, 400);
    assert_refused_by_framing(&h, b"GET", b"/public/a\x01b", &[]).await;
    assert_refused_by_framing(&h, b"GET", b"/public/a b", &[]).await;
    assert!(h.seen().is_empty());
}

#[tokio::test]
async fn a8_invalid_utf8_after_decoding() {
    assert_bad_path(&Harness::start(ROUTES).await, "/%c0%afadmin").await;
}

#[tokio::test]
async fn a8_case_is_significant() {
    let h = Harness::start(ROUTES).await;
    let reply = h.raw(&get("/ADMIN")).await;
    assert_eq!(reply.status, 403);
    assert!(reply.head.contains("x-portcullis-reason: no_route"));
    let reply = h.send_h2("GET", "/ADMIN", &[], "").await;
    assert_eq!(reply.reason(), Some("no_route"));
    assert!(h.seen().is_empty());
}

#[tokio::test]
async fn a9_query_never_takes_part_in_matching() {
    assert_decided_as_admin(&Harness::start(ROUTES).await, "/admin?x=/public").await;
}

#[tokio::test]
async fn a9_encoded_fragment() {
    assert_bad_path(&Harness::start(ROUTES).await, "/public/x%23/../../admin").await;
}

#[tokio::test]
async fn a9_raw_fragment_is_never_forwarded() {
    // The fragment is dropped while parsing; the upstream gets exactly the
    // path that was matched, never the part after '#'.
    assert_forwarded_as(
        &Harness::start(ROUTES).await,
        "/public/x#/../../admin",
        "/public/x",
    )
    .await;
}

#[tokio::test]
async fn a10_absolute_form_is_canonicalised() {
    let h = Harness::start(ROUTES).await;
    let request = b"GET http://gw.test/public/../admin HTTP/1.1\r\nHost: gw.test\r\nConnection: close\r\n\r\n";
    let reply = h.raw(request).await;
    assert_eq!(reply.status, 403, "{reply:?}");
    assert!(reply
        .head
        .contains("x-portcullis-reason: not_authenticated"));
    assert!(h.seen().is_empty());
}

#[tokio::test]
async fn a10_absolute_form_host_disagreeing_with_authority() {
    let h = Harness::start(ROUTES).await;
    let request =
        b"GET http://other.test/public/x HTTP/1.1\r\nHost: gw.test\r\nConnection: close\r\n\r\n";
    let reply = h.raw(request).await;
    assert_eq!(reply.status, 400, "{reply:?}");
    assert!(reply.head.contains("x-portcullis-reason: bad_host"));
    // HTTP/2's form of the same disagreement: `:authority` against `host`.
    let reply = h
        .send_h2("GET", "/public/x", &[("host", "other.test")], "")
        .await;
    assert_eq!(reply.status, 400, "{}", reply.text());
    assert_eq!(reply.reason(), Some("bad_host"));
    assert!(h.seen().is_empty());
}

#[tokio::test]
async fn b15_duplicate_host() {
    let h = Harness::start(ROUTES).await;
    let request =
        b"GET /public/x HTTP/1.1\r\nHost: gw.test\r\nHost: evil.test\r\nConnection: close\r\n\r\n";
    let reply = h.raw(request).await;
    assert_eq!(reply.status, 400, "{reply:?}");
    let reply = h
        .send_h2(
            "GET",
            "/public/x",
            &[("host", "gw.test"), ("host", "evil.test")],
            "",
        )
        .await;
    assert_eq!(reply.status, 400, "{}", reply.text());
    assert!(h.seen().is_empty());
}

#[tokio::test]
async fn forwarded_path_is_the_canonical_path() {
    let h = Harness::start(ROUTES).await;
    assert_forwarded_as(&h, "/public/./x/%7Euser/../b", "/public/x/b").await;
    assert_forwarded_as(&h, "/public/caf%c3%a9", "/public/caf%C3%A9").await;
    assert_forwarded_as(&h, "/public/%61?q=%2e%2e", "/public/a?q=%2e%2e").await;
}

#[test]
fn a11_check_reports_patterns_that_can_never_match_and_dead_routes() {
    let check = |routes: &str| {
        portcullis::config::parse(&config("http://127.0.0.1:9", routes), "test")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    };
    // A segment canonicalisation refuses (dot segments, encoded slashes).
    for pattern in ["/public/../admin/**", "/a%2Fb/**", "/x/./y"] {
        let errors = check(&format!(
            "[[routes]]\npath = \"{pattern}\"\naccess = \"anonymous\"\n"
        ));
        // "can never match", or "never reach matching" for dot segments.
        assert!(errors.contains("never"), "{pattern}: {errors}");
    }
    // A later rule that an earlier one covers entirely is dead.
    let errors = check(
        "[[routes]]\npath = \"/admin/**\"\naccess = \"staff\"\n\n\
         [[routes]]\npath = \"/admin/public/**\"\naccess = \"anonymous\"\n",
    );
    assert!(
        errors.contains("already matched by the earlier route"),
        "{errors}"
    );
}
