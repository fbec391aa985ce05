//! The admin API: bearer token, session create/show/revoke, per-user
//! revocation, health, and clear errors for bad input.

use crate::common::*;

#[tokio::test]
async fn healthz_needs_no_token() {
    let h = Harness::start("").await;
    let reply = h.admin("GET", "/healthz", None, "").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()["status"], "ok");
}

#[tokio::test]
async fn every_other_call_needs_the_bearer_token() {
    let h = Harness::start("").await;
    for token in [
        None,
        Some("wrong"),
        Some(""),
        Some("test-admin-token-and-more"),
    ] {
        let reply = h
            .admin("POST", "/sessions", token, r#"{"username":"a"}"#)
            .await;
        assert_eq!(reply.status, 401, "{token:?}");
        assert_eq!(reply.headers["www-authenticate"], "Bearer");
        assert_eq!(
            reply.text(),
            r#"{"detail":"Invalid or missing admin token."}"#
        );
    }
    let reply = h
        .admin("DELETE", "/users/alice/sessions", Some("nope"), "")
        .await;
    assert_eq!(reply.status, 401);
}

#[tokio::test]
async fn health_is_not_on_the_proxy_listener() {
    let h = Harness::start("").await;
    h.get("/healthz", &[("user-agent", "kube-probe/1.30")])
        .await
        .assert_denied(403, "no_route", PERMISSION_DENIED);
}

#[tokio::test]
async fn create_then_show_a_session() {
    let h = Harness::start("").await;
    let reply = h
        .admin(
            "POST",
            "/sessions",
            Some(ADMIN_TOKEN),
            r#"{"username":"alice","user_id":"7","groups":["dev"],"permissions":["a.b"],"staff":true,"superuser":false,"ttl":"1h"}"#,
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text());
    let created = reply.json();
    let id = created["session_id"].as_str().unwrap();
    assert_eq!(id.len(), 32);
    assert!(id
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()));
    let expires = created["expires_at"].as_str().unwrap();
    assert!(humantime::parse_rfc3339(expires).is_ok(), "{expires}");

    let shown = h.show_session(id).await;
    assert_eq!(shown.status, 200);
    let record = shown.json();
    assert_eq!(record["username"], "alice");
    assert_eq!(record["user_id"], "7");
    assert_eq!(record["groups"], serde_json::json!(["dev"]));
    assert_eq!(record["permissions"], serde_json::json!(["a.b"]));
    assert_eq!(record["staff"], true);
    assert_eq!(record["superuser"], false);
    assert_eq!(record["expires_at"], expires);
    let created_at = humantime::parse_rfc3339(record["created_at"].as_str().unwrap()).unwrap();
    let expires_at = humantime::parse_rfc3339(expires).unwrap();
    let ttl = expires_at.duration_since(created_at).unwrap().as_secs();
    assert!((3599..=3601).contains(&ttl), "ttl {ttl}");
}

#[tokio::test]
async fn the_default_ttl_comes_from_the_config() {
    let h = Harness::start("[session]\nttl = \"2h\"\n").await;
    let id = h.session(r#"{"username":"alice"}"#).await;
    let record = h.show_session(&id).await.json();
    let created = humantime::parse_rfc3339(record["created_at"].as_str().unwrap()).unwrap();
    let expires = humantime::parse_rfc3339(record["expires_at"].as_str().unwrap()).unwrap();
    let ttl = expires.duration_since(created).unwrap().as_secs();
    assert!((7199..=7201).contains(&ttl), "ttl {ttl}");
}

#[tokio::test]
async fn unknown_sessions_are_404() {
    let h = Harness::start("").await;
    for id in ["aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "not-an-id"] {
        let reply = h.show_session(id).await;
        assert_eq!(reply.status, 404);
        assert_eq!(reply.text(), r#"{"detail":"Not found."}"#);
        let reply = h.delete_session(id).await;
        assert_eq!(reply.status, 404);
    }
}

#[tokio::test]
async fn delete_a_session() {
    let h = Harness::start("").await;
    let id = h.session(r#"{"username":"alice"}"#).await;
    let reply = h.delete_session(&id).await;
    assert_eq!(reply.status, 204);
    assert!(reply.body.is_empty());
    let again = h.show_session(&id).await;
    assert_eq!(again.status, 404);
}

#[tokio::test]
async fn revoke_every_session_of_a_user() {
    let h = Harness::start("").await;
    let a1 = h.session(r#"{"username":"alice smith"}"#).await;
    let a2 = h.session(r#"{"username":"alice smith"}"#).await;
    let b = h.session(r#"{"username":"bob"}"#).await;
    let reply = h
        .admin(
            "DELETE",
            "/users/alice%20smith/sessions",
            Some(ADMIN_TOKEN),
            "",
        )
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.text(), r#"{"revoked":2}"#);
    for (id, status) in [(a1, 404), (a2, 404), (b, 200)] {
        let shown = h.show_session(&id).await;
        assert_eq!(shown.status, status);
    }
    let none = h
        .admin("DELETE", "/users/nobody/sessions", Some(ADMIN_TOKEN), "")
        .await;
    assert_eq!(none.text(), r#"{"revoked":0}"#);
}

#[tokio::test]
async fn bad_input_gets_a_400_saying_what_is_wrong() {
    let h = Harness::start("").await;
    let cases = [
        ("{not json", "Invalid JSON: key must be a string"),
        ("", "Invalid JSON: EOF while parsing"),
        (r#"{"groups":[]}"#, "Invalid JSON: missing field `username`"),
        (
            r#"{"username":"a","admin":true}"#,
            "Invalid JSON: unknown field `admin`",
        ),
        (
            r#"{"username":"a","staff":"yes"}"#,
            "Invalid JSON: invalid type: string \"yes\", expected a boolean",
        ),
        (r#"{"username":"a","ttl":"soon"}"#, "Invalid ttl \"soon\""),
        (r#"{"username":"a","ttl":"0s"}"#, "Invalid ttl \"0s\""),
        (
            r#"{"username":"a","ttl":"10000y"}"#,
            "Invalid ttl \"10000y\"",
        ),
        (r#"{"username":"a","ttl":"400000000000y"}"#, "Invalid ttl"),
    ];
    for (body, expected) in cases {
        let reply = h.admin("POST", "/sessions", Some(ADMIN_TOKEN), body).await;
        assert_eq!(reply.status, 400, "{body}");
        let detail = reply.json()["detail"].as_str().unwrap().to_string();
        assert!(detail.starts_with(expected), "{body}: {detail}");
    }
}

#[tokio::test]
async fn oversized_bodies_are_413() {
    let h = Harness::start("").await;
    let body = format!(r#"{{"username":"{}"}}"#, "a".repeat(70_000));
    let reply = h.admin("POST", "/sessions", Some(ADMIN_TOKEN), &body).await;
    assert_eq!(reply.status, 413);
}

#[tokio::test]
async fn unknown_paths_and_methods() {
    let h = Harness::start("").await;
    let reply = h.admin("GET", "/nothing", Some(ADMIN_TOKEN), "").await;
    assert_eq!(reply.status, 404);
    let reply = h.admin("PUT", "/sessions", Some(ADMIN_TOKEN), "").await;
    assert_eq!(reply.status, 405);
    assert_eq!(reply.text(), r#"{"detail":"Method \"PUT\" not allowed."}"#);
}
