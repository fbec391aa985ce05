//! `mode = "report"`, the dry run: a request the rules would deny is
//! forwarded anyway, and logged and counted as `would_deny` with its
//! reason; requests that are broken (not merely unauthorised) are still
//! refused; enforcing routes next to reporting ones keep enforcing.

use crate::common::routes::life;
use crate::common::*;

const ROUTES: &str = concat!(
    r#"
[[routes]]
name = "trial"
path = "/trial/**"
access = "staff"
mode = "report"
"#,
    life!()
);

fn would_deny_count(metrics: &str, route: &str, reason: &str) -> u64 {
    metrics
        .lines()
        .filter(|l| l.starts_with("portcullis_requests_total{"))
        .filter(|l| {
            l.contains(&format!("route=\"{route}\""))
                && l.contains("decision=\"would_deny\"")
                && l.contains(&format!("reason=\"{reason}\""))
        })
        .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
        .sum()
}

#[tokio::test]
async fn a_reporting_route_forwards_what_it_would_deny_and_counts_it() {
    let h = Harness::start(ROUTES).await;
    let alice = h.session(r#"{"username":"alice"}"#).await;
    let cookie = Harness::cookie(&alice);

    // Anonymous, and then a signed-in non-staff user: both would be denied.
    let anonymous = h.get("/trial/report", &[]).await;
    assert_eq!(anonymous.echoed()["target"], "/trial/report");
    assert_eq!(anonymous.reason(), None);
    let not_staff = h.get("/trial/report", &[("cookie", &cookie)]).await;
    let echoed = not_staff.echoed();
    // The upstream still gets the real identity (and only ours).
    assert_eq!(echoed_header(&echoed, "x-remote-user"), ["alice"]);
    // A CSRF failure is reported too, not answered.
    let unsafe_without_token = h
        .send("POST", "/trial/x", &[("cookie", &cookie)], "{}")
        .await;
    assert_eq!(
        unsafe_without_token.status,
        200,
        "{}",
        unsafe_without_token.text()
    );

    let metrics = h.admin("GET", "/metrics", None, "").await.text();
    assert_eq!(
        would_deny_count(&metrics, "trial", "not_authenticated"),
        1,
        "{metrics}"
    );
    assert_eq!(
        would_deny_count(&metrics, "trial", "permission_denied"),
        1,
        "{metrics}"
    );
    assert_eq!(
        would_deny_count(&metrics, "trial", "csrf_token_missing"),
        1,
        "{metrics}"
    );

    // The enforcing route next to it still denies.
    h.get("/life/1/", &[])
        .await
        .assert_denied(403, "not_authenticated", NOT_AUTHENTICATED);
    assert_eq!(h.seen().len(), 3);
}

#[tokio::test]
async fn global_report_mode_covers_unmatched_requests_but_not_broken_ones() {
    let h =
        Harness::with_config(|upstream| format!("mode = \"report\"\n{}", config(upstream, ROUTES)))
            .await;
    let unmatched = h.get("/nowhere", &[]).await;
    assert_eq!(unmatched.echoed()["target"], "/nowhere");
    // Inherited by routes without their own mode.
    assert_eq!(h.get("/life/1/", &[]).await.status, 200);
    let metrics = h.admin("GET", "/metrics", None, "").await.text();
    assert_eq!(would_deny_count(&metrics, "-", "no_route"), 1, "{metrics}");
    assert_eq!(
        would_deny_count(&metrics, "life", "not_authenticated"),
        1,
        "{metrics}"
    );
    // A malformed path is not an access decision: refused in every mode.
    h.get("/life/%2F", &[])
        .await
        .assert_denied(400, "bad_path", MALFORMED_PATH);
    assert_eq!(h.seen().len(), 2);
}

#[tokio::test]
async fn explain_says_a_reporting_route_would_deny() {
    let h = Harness::start(ROUTES).await;
    let e = h
        .admin(
            "POST",
            "/explain",
            Some(ADMIN_TOKEN),
            r#"{"url":"/trial/report"}"#,
        )
        .await
        .json();
    assert_eq!(e["decision"], "would_deny");
    assert_eq!(e["reason"], "not_authenticated");
    assert!(e["upstream_request"]["uri"]
        .as_str()
        .unwrap()
        .ends_with("/trial/report"));
    assert!(e["response"].is_null());
}
