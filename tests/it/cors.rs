//! CORS: preflights from allowed origins answered by the gateway without a
//! session; responses to allowed origins readable; others unchanged.

use crate::common::*;

const SETTINGS: &str = "[[routes]]\npath = \"/api/**\"\naccess = \"authenticated\"\n\n\
                        [cors]\nallowed_origins = [\"https://app.example.com\"]\nallow_credentials = true\n\
                        expose_headers = [\"X-Portcullis-Reason\"]\n";

#[tokio::test]
async fn preflights_from_allowed_origins_are_answered_without_a_session() {
    let h = Harness::start(SETTINGS).await;
    let reply = h
        .send(
            "OPTIONS",
            "/api/items/",
            &[
                ("origin", "https://app.example.com"),
                ("access-control-request-method", "PUT"),
                (
                    "access-control-request-headers",
                    "content-type, x-csrftoken",
                ),
            ],
            "",
        )
        .await;
    assert_eq!(reply.status, 204);
    let headers = &reply.headers;
    assert_eq!(
        headers["access-control-allow-origin"],
        "https://app.example.com"
    );
    assert_eq!(headers["access-control-allow-credentials"], "true");
    assert!(headers["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .contains("PUT"));
    assert!(headers["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .contains("X-CSRFToken"));
    assert_eq!(headers["access-control-max-age"], "600");
    assert_eq!(headers["vary"], "Origin");
    assert!(h.seen().is_empty(), "answered by the gateway");
}

#[tokio::test]
async fn other_origins_and_plain_options_are_unchanged() {
    let h = Harness::start(SETTINGS).await;
    let reply = h
        .send(
            "OPTIONS",
            "/api/items/",
            &[
                ("origin", "https://evil.example"),
                ("access-control-request-method", "PUT"),
            ],
            "",
        )
        .await;
    reply.assert_denied(403, "not_authenticated", NOT_AUTHENTICATED);
    assert!(!reply.headers.contains_key("access-control-allow-origin"));
    // An OPTIONS that is not a preflight goes through the rules as usual.
    let reply = h
        .send(
            "OPTIONS",
            "/api/items/",
            &[("origin", "https://app.example.com")],
            "",
        )
        .await;
    assert_eq!(reply.reason(), Some("not_authenticated"));
}

#[tokio::test]
async fn responses_to_allowed_origins_are_readable() {
    let h = Harness::start(SETTINGS).await;
    let id = h.session(r#"{"username":"alice"}"#).await;
    let reply = h
        .get(
            "/api/items/",
            &[
                ("origin", "https://app.example.com"),
                ("cookie", &format!("sessionid={id}")),
            ],
        )
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.headers["access-control-allow-origin"],
        "https://app.example.com"
    );
    assert_eq!(
        reply.headers["access-control-expose-headers"],
        "X-Portcullis-Reason"
    );
    // Denials too, so the front-end can read why.
    let denied = h
        .get("/api/items/", &[("origin", "https://app.example.com")])
        .await;
    assert_eq!(denied.status, 403);
    assert_eq!(
        denied.headers["access-control-allow-origin"],
        "https://app.example.com"
    );
    // Another origin gets no CORS headers.
    let other = h
        .get(
            "/api/items/",
            &[
                ("origin", "https://evil.example"),
                ("cookie", &format!("sessionid={id}")),
            ],
        )
        .await;
    assert!(!other.headers.contains_key("access-control-allow-origin"));
}

#[tokio::test]
async fn check_refuses_wildcards_and_non_origins() {
    for bad in ["*", "app.example.com", "https://app.example.com/path"] {
        let text = config(
            "http://127.0.0.1:1",
            &format!("[cors]\nallowed_origins = [\"{bad}\"]\n"),
        );
        let errors = portcullis::config::parse(&text, "t")
            .unwrap_err()
            .to_string();
        assert!(errors.contains("cors.allowed_origins"), "{bad}: {errors}");
    }
}
