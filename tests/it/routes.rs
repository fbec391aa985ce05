//! Access decisions per route through a real gateway: access levels,
//! groups, permissions, model permissions, first-match order, default deny.

use crate::common::*;

const ROUTES: &str = r#"
[[routes]]
name = "public"
path = "/public/**"
access = "anonymous"

[[routes]]
name = "docs-read"
path = "/docs/**"
methods = ["GET", "HEAD"]
access = "anonymous"

[[routes]]
name = "docs-write"
path = "/docs/**"
access = "staff"

[[routes]]
name = "life-delete"
path = "/life/**"
methods = ["DELETE"]
access = "superuser"

[[routes]]
name = "life"
path = "/life/**"
access = "authenticated"
model = "lifeapp.life"

[[routes]]
name = "feed"
path = "/feed/**"
access = "authenticated_or_read_only"

[[routes]]
name = "reports"
path = "/reports/**"
access = "authenticated"
permissions = ["reports.view_report", "reports.export_report"]

[[routes]]
name = "billing"
path = "/billing/**"
access = "authenticated"
any_permissions = ["billing.view_invoice", "billing.change_invoice"]

[[routes]]
name = "ops"
path = "/ops/**"
access = "authenticated"
groups = ["ops", "sre"]

[[routes]]
name = "admin"
path = "/admin/**"
access = "staff"

[[routes]]
name = "root"
path = "/root/**"
access = "superuser"

[[routes]]
name = "closed"
path = "/closed/**"
access = "deny"

[[routes]]
name = "item"
path = "/items/{id}/"
access = "anonymous"
"#;

async fn harness() -> Harness {
    Harness::start(ROUTES).await
}

#[tokio::test]
async fn anonymous_route_forwards_without_a_session() {
    let h = harness().await;
    let echo = h.get("/public/x", &[]).await.echoed();
    assert_eq!(echo["target"], "/public/x");
}

#[tokio::test]
async fn authenticated_route_needs_a_session() {
    let h = harness().await;
    h.get("/life/1/", &[])
        .await
        .assert_denied(403, "not_authenticated", NOT_AUTHENTICATED);
    let id = h.session(r#"{"username":"alice"}"#).await;
    let echo = h
        .get("/life/1/", &[("cookie", &Harness::cookie(&id))])
        .await
        .echoed();
    assert_eq!(echoed_header(&echo, "x-remote-user"), ["alice"]);
}

#[tokio::test]
async fn unknown_or_malformed_session_ids_are_anonymous() {
    let h = harness().await;
    for cookie in [
        "sessionid=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        "sessionid=short",
        "sessionid=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "sessionid=",
        "other=1",
    ] {
        h.get("/life/1/", &[("cookie", cookie)])
            .await
            .assert_denied(403, "not_authenticated", NOT_AUTHENTICATED);
    }
    assert!(h.seen().is_empty(), "nothing may reach the upstream");
}

#[tokio::test]
async fn session_ids_in_the_url_are_ignored() {
    let h = harness().await;
    let id = h.session(r#"{"username":"alice"}"#).await;
    h.get(&format!("/life/1/?sessionid={id}"), &[])
        .await
        .assert_denied(403, "not_authenticated", NOT_AUTHENTICATED);
}

#[tokio::test]
async fn model_permissions_follow_the_method() {
    let h = harness().await;
    let changer = h
        .session(r#"{"username":"carol","permissions":["lifeapp.change_life"]}"#)
        .await;
    let cookie = Harness::cookie(&changer);
    let c = [("cookie", cookie.as_str()), CSRF_HEADER];
    assert_eq!(h.send("GET", "/life/1/", &c, "").await.status, 200);
    assert_eq!(h.send("PUT", "/life/1/", &c, "{}").await.status, 200);
    assert_eq!(h.send("PATCH", "/life/1/", &c, "{}").await.status, 200);
    h.send("POST", "/life/", &c, "{}").await.assert_denied(
        403,
        "permission_denied",
        PERMISSION_DENIED,
    );
    h.send("DELETE", "/life/1/", &c, "").await.assert_denied(
        403,
        "permission_denied",
        PERMISSION_DENIED,
    );
    // A lower-case method is the same method: it cannot skip the
    // superuser-only DELETE rule (it would otherwise reach "life" and 405).
    let raw = format!(
        "delete /life/1/ HTTP/1.1\r\nHost: gw.test\r\nCookie: {cookie}\r\nX-CSRFToken: {CSRF_SECRET}\r\nConnection: close\r\n\r\n"
    );
    let reply = h.raw(raw.as_bytes()).await;
    assert_eq!(reply.status, 403, "{reply:?}");
    assert!(reply
        .head
        .contains("x-portcullis-reason: permission_denied"));
    h.send("PURGE", "/life/1/", &c, "").await.assert_denied(
        405,
        "method_not_allowed",
        r#"{"detail":"Method \"PURGE\" not allowed."}"#,
    );
    let root = Harness::cookie(&h.session(r#"{"username":"root","superuser":true}"#).await);
    assert_eq!(
        h.send("DELETE", "/life/1/", &[("cookie", &root), CSRF_HEADER], "")
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn authenticated_or_read_only() {
    let h = harness().await;
    assert_eq!(h.get("/feed/", &[]).await.status, 200);
    assert_eq!(h.send("HEAD", "/feed/", &[], "").await.status, 200);
    assert_eq!(h.send("OPTIONS", "/feed/", &[], "").await.status, 200);
    h.send("POST", "/feed/", &[], "x").await.assert_denied(
        403,
        "not_authenticated",
        NOT_AUTHENTICATED,
    );
    let id = Harness::cookie(&h.session(r#"{"username":"alice"}"#).await);
    assert_eq!(
        h.send("POST", "/feed/", &[("cookie", &id), CSRF_HEADER], "x")
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn all_permissions_are_required() {
    let h = harness().await;
    let one = Harness::cookie(
        &h.session(r#"{"username":"a","permissions":["reports.view_report"]}"#)
            .await,
    );
    h.get("/reports/q1", &[("cookie", &one)])
        .await
        .assert_denied(403, "permission_denied", PERMISSION_DENIED);
    let both = Harness::cookie(
        &h.session(
            r#"{"username":"b","permissions":["reports.view_report","reports.export_report"]}"#,
        )
        .await,
    );
    assert_eq!(h.get("/reports/q1", &[("cookie", &both)]).await.status, 200);
}

#[tokio::test]
async fn any_permission_is_enough() {
    let h = harness().await;
    let none = Harness::cookie(
        &h.session(r#"{"username":"a","permissions":["other.x"]}"#)
            .await,
    );
    h.get("/billing/", &[("cookie", &none)])
        .await
        .assert_denied(403, "permission_denied", PERMISSION_DENIED);
    let one = Harness::cookie(
        &h.session(r#"{"username":"b","permissions":["billing.change_invoice"]}"#)
            .await,
    );
    assert_eq!(h.get("/billing/", &[("cookie", &one)]).await.status, 200);
}

#[tokio::test]
async fn any_group_is_enough() {
    let h = harness().await;
    let dev = Harness::cookie(&h.session(r#"{"username":"a","groups":["dev"]}"#).await);
    h.get("/ops/x", &[("cookie", &dev)]).await.assert_denied(
        403,
        "permission_denied",
        PERMISSION_DENIED,
    );
    let sre = Harness::cookie(
        &h.session(r#"{"username":"b","groups":["dev","sre"]}"#)
            .await,
    );
    assert_eq!(h.get("/ops/x", &[("cookie", &sre)]).await.status, 200);
}

#[tokio::test]
async fn staff_and_superuser_levels() {
    let h = harness().await;
    let plain = Harness::cookie(&h.session(r#"{"username":"a"}"#).await);
    let staff = Harness::cookie(&h.session(r#"{"username":"s","staff":true}"#).await);
    let root = Harness::cookie(
        &h.session(r#"{"username":"r","staff":true,"superuser":true}"#)
            .await,
    );
    h.get("/admin/", &[])
        .await
        .assert_denied(403, "not_authenticated", NOT_AUTHENTICATED);
    h.get("/admin/", &[("cookie", &plain)]).await.assert_denied(
        403,
        "permission_denied",
        PERMISSION_DENIED,
    );
    assert_eq!(h.get("/admin/", &[("cookie", &staff)]).await.status, 200);
    h.get("/root/", &[("cookie", &staff)]).await.assert_denied(
        403,
        "permission_denied",
        PERMISSION_DENIED,
    );
    assert_eq!(h.get("/root/", &[("cookie", &root)]).await.status, 200);
}

#[tokio::test]
async fn deny_routes_deny_everyone() {
    let h = harness().await;
    let root = Harness::cookie(
        &h.session(r#"{"username":"r","staff":true,"superuser":true}"#)
            .await,
    );
    h.get("/closed/x", &[("cookie", &root)])
        .await
        .assert_denied(403, "route_denied", PERMISSION_DENIED);
}

#[tokio::test]
async fn first_match_in_file_order_with_methods() {
    let h = harness().await;
    // GET matches docs-read (anonymous); POST falls through to docs-write (staff).
    assert_eq!(h.get("/docs/intro", &[]).await.status, 200);
    h.send("POST", "/docs/intro", &[], "x").await.assert_denied(
        403,
        "not_authenticated",
        NOT_AUTHENTICATED,
    );
    let staff = Harness::cookie(&h.session(r#"{"username":"s","staff":true}"#).await);
    assert_eq!(
        h.send(
            "POST",
            "/docs/intro",
            &[("cookie", &staff), CSRF_HEADER],
            "x"
        )
        .await
        .status,
        200
    );
}

#[tokio::test]
async fn no_matching_route_is_denied_by_default() {
    let h = harness().await;
    let root = Harness::cookie(
        &h.session(r#"{"username":"r","staff":true,"superuser":true}"#)
            .await,
    );
    for path in [
        "/",
        "/other",
        "/administrator",
        "/ADMIN/",
        "/items/1",
        "/items//",
    ] {
        h.get(path, &[("cookie", &root)])
            .await
            .assert_denied(403, "no_route", PERMISSION_DENIED);
    }
    assert!(h.seen().is_empty());
}

#[tokio::test]
async fn named_segments_match_one_segment() {
    let h = harness().await;
    assert_eq!(
        h.get("/items/42/", &[]).await.echoed()["target"],
        "/items/42/"
    );
}

#[tokio::test]
async fn default_access_applies_only_when_set() {
    let h = Harness::with_config(|upstream| {
        let routes = "[[routes]]\npath = \"/public/**\"\naccess = \"anonymous\"\n";
        format!(
            "default_access = \"authenticated\"\n{}",
            config(upstream, routes)
        )
    })
    .await;
    h.get("/anything", &[])
        .await
        .assert_denied(403, "not_authenticated", NOT_AUTHENTICATED);
    let id = Harness::cookie(&h.session(r#"{"username":"alice"}"#).await);
    assert_eq!(h.get("/anything", &[("cookie", &id)]).await.status, 200);
}

#[tokio::test]
async fn an_empty_route_list_denies_everything() {
    let h = Harness::start("").await;
    h.get("/", &[])
        .await
        .assert_denied(403, "no_route", PERMISSION_DENIED);
}

#[tokio::test]
async fn expired_sessions_are_anonymous() {
    let h = harness().await;
    let id = h.session(r#"{"username":"alice","ttl":"30ms"}"#).await;
    // The session expired at most 30 ms after the creation call returned.
    tokio::time::sleep(std::time::Duration::from_millis(60)).await;
    h.get("/life/1/", &[("cookie", &Harness::cookie(&id))])
        .await
        .assert_denied(403, "not_authenticated", NOT_AUTHENTICATED);
    let shown = h.show_session(&id).await;
    assert_eq!(shown.status, 404);
}

#[tokio::test]
async fn revoked_sessions_are_anonymous() {
    let h = harness().await;
    let id = h.session(r#"{"username":"alice"}"#).await;
    let cookie = Harness::cookie(&id);
    assert_eq!(h.get("/life/1/", &[("cookie", &cookie)]).await.status, 200);
    let deleted = h.delete_session(&id).await;
    assert_eq!(deleted.status, 204);
    h.get("/life/1/", &[("cookie", &cookie)])
        .await
        .assert_denied(403, "not_authenticated", NOT_AUTHENTICATED);
}

#[tokio::test]
async fn the_last_duplicate_session_cookie_wins() {
    let h = harness().await;
    let id = h.session(r#"{"username":"alice"}"#).await;
    let good_last = format!("sessionid=bogus; sessionid={id}");
    assert_eq!(
        h.get("/life/1/", &[("cookie", &good_last)]).await.status,
        200
    );
    let good_first = format!("sessionid={id}; sessionid=bogus");
    h.get("/life/1/", &[("cookie", &good_first)])
        .await
        .assert_denied(403, "not_authenticated", NOT_AUTHENTICATED);
}
