//! TLS to the upstream: an `https://` upstream trusted through
//! `upstream.ca_file`. The upstream here is a second gateway terminating
//! TLS (with an rcgen certificate) in front of the echo server.

use crate::common::*;

const OPEN: &str = "[[routes]]\npath = \"/**\"\naccess = \"anonymous\"\n";

#[tokio::test]
async fn an_https_upstream_with_a_private_ca() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = crate::common::tls::tls_files(dir.path());
    let inner = Harness::with_config(|upstream| {
        config(upstream, OPEN).replace(
            "admin_listen = \"127.0.0.1:0\"",
            &format!(
                "admin_listen = \"127.0.0.1:0\"\n[server.tls]\ncert = \"{cert}\"\nkey = \"{key}\""
            ),
        )
    })
    .await;
    let https_upstream = format!("https://localhost:{}", inner.proxy.port());
    let outer = Harness::with_config(|_| {
        config(&https_upstream, OPEN).replace(
            "timeout = \"10s\"",
            &format!("timeout = \"10s\"\nca_file = \"{ca}\""),
        )
    })
    .await;
    let echo = outer.get("/through/tls?x=1", &[]).await.echoed();
    assert_eq!(echo["target"], "/through/tls?x=1");
    // The inner gateway saw a TLS connection.
    assert_eq!(echoed_header(&echo, "x-forwarded-proto"), ["https"]);

    // Without the CA, the upstream's certificate is not trusted: 502.
    let untrusting = Harness::with_config(|_| config(&https_upstream, OPEN)).await;
    untrusting.get("/x", &[]).await.assert_denied(
        502,
        "upstream_unavailable",
        r#"{"detail":"Upstream unavailable."}"#,
    );
}

#[tokio::test]
async fn check_reports_a_bad_ca_file() {
    let text = config("https://localhost:1", OPEN).replace(
        "timeout = \"10s\"",
        "timeout = \"10s\"\nca_file = \"/nonexistent/ca.pem\"",
    );
    let errors = portcullis::config::parse(&text, "t")
        .unwrap_err()
        .to_string();
    assert!(errors.contains("upstream.ca_file: cannot read"), "{errors}");
}
