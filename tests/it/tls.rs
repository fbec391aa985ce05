//! TLS termination with a certificate made in the test (rcgen): HTTP/2 and
//! HTTP/1.1 chosen by ALPN, HTTPS seen by the pipeline (X-Forwarded-Proto,
//! CSRF origins, Secure cookies), and `check` on bad certificates.

use std::sync::Arc;

use crate::common::*;
use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

const ROUTES: &str = "[[routes]]\npath = \"/public/**\"\naccess = \"anonymous\"\n\n[[routes]]\npath = \"/life/**\"\naccess = \"authenticated\"\n";

struct TlsGateway {
    h: Harness,
    ca: String,
    _dir: tempfile::TempDir,
}

async fn tls_gateway() -> TlsGateway {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = crate::common::tls::tls_files(dir.path());
    let h = Harness::with_config(|upstream| {
        config(upstream, ROUTES).replace(
            "admin_listen = \"127.0.0.1:0\"",
            &format!("admin_listen = \"127.0.0.1:0\"\n\n[server.tls]\ncert = \"{cert}\"\nkey = \"{key}\""),
        )
    })
    .await;
    TlsGateway { h, ca, _dir: dir }
}

/// A TLS connection to the gateway trusting the test CA, offering `alpn`.
async fn connect(
    g: &TlsGateway,
    alpn: &[&[u8]],
) -> (tokio_rustls::client::TlsStream<TcpStream>, Option<Vec<u8>>) {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(&g.ca).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let tcp = TcpStream::connect(g.h.proxy).await.unwrap();
    let tls = TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .expect("TLS handshake");
    let negotiated = tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
    (tls, negotiated)
}

type Answer = (StatusCode, http::HeaderMap, String, http::Version);

async fn request_h2(g: &TlsGateway, request: Request<Full<Bytes>>) -> Answer {
    let (tls, alpn) = connect(g, &[b"h2", b"http/1.1"]).await;
    assert_eq!(alpn.as_deref(), Some(&b"h2"[..]), "ALPN picks h2");
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
            .await
            .unwrap();
    tokio::spawn(connection);
    let response = sender.send_request(request).await.unwrap();
    let (parts, body) = response.into_parts();
    let body = String::from_utf8(body.collect().await.unwrap().to_bytes().to_vec()).unwrap();
    (parts.status, parts.headers, body, parts.version)
}

async fn request_h1(g: &TlsGateway, request: Request<Full<Bytes>>) -> Answer {
    let (tls, alpn) = connect(g, &[b"http/1.1"]).await;
    assert_eq!(alpn.as_deref(), Some(&b"http/1.1"[..]));
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .unwrap();
    tokio::spawn(connection);
    let response = sender.send_request(request).await.unwrap();
    let (parts, body) = response.into_parts();
    let body = String::from_utf8(body.collect().await.unwrap().to_bytes().to_vec()).unwrap();
    (parts.status, parts.headers, body, parts.version)
}

fn get(uri: &str) -> http::request::Builder {
    Request::get(uri)
}

#[tokio::test]
async fn http2_over_tls_by_alpn() {
    let g = tls_gateway().await;
    let uri = format!("https://localhost:{}/public/x?y=1", g.h.proxy.port());
    let (status, _, body, version) =
        request_h2(&g, get(&uri).body(Full::new(Bytes::new())).unwrap()).await;
    assert_eq!((status, version), (StatusCode::OK, http::Version::HTTP_2));
    let echo: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(echo["target"], "/public/x?y=1");
    assert_eq!(echoed_header(&echo, "x-forwarded-proto"), ["https"]);
}

#[tokio::test]
async fn http1_over_tls_by_alpn() {
    let g = tls_gateway().await;
    let request = get("/public/x")
        .header("host", format!("localhost:{}", g.h.proxy.port()))
        .body(Full::new(Bytes::new()))
        .unwrap();
    let (status, _, body, version) = request_h1(&g, request).await;
    assert_eq!((status, version), (StatusCode::OK, http::Version::HTTP_11));
    let echo: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(echoed_header(&echo, "x-forwarded-proto"), ["https"]);
}

#[tokio::test]
async fn https_counts_for_csrf_and_cookies() {
    let g = tls_gateway().await;
    let id = g.h.session(r#"{"username":"alice"}"#).await;
    let port = g.h.proxy.port();
    let cookies = format!("sessionid={id}; csrftoken={CSRF_SECRET}");
    // The https origin of this very host passes; the http one does not.
    for (origin, expected) in [
        (format!("https://localhost:{port}"), 200),
        (format!("http://localhost:{port}"), 403),
    ] {
        let request = Request::post(format!("https://localhost:{port}/life/"))
            .header("origin", &origin)
            .header("cookie", &cookies)
            .header("x-csrftoken", CSRF_SECRET)
            .body(Full::new(Bytes::new()))
            .unwrap();
        let (status, headers, body, _) = request_h2(&g, request).await;
        assert_eq!(status.as_u16(), expected, "{origin}: {body}");
        if expected == 403 {
            assert_eq!(headers["x-portcullis-reason"], "csrf_bad_origin");
        }
    }
    // Without an Origin, HTTPS needs a same-site Referer (Django's rule).
    let request = Request::post(format!("https://localhost:{port}/life/"))
        .header("cookie", &cookies)
        .header("x-csrftoken", CSRF_SECRET)
        .body(Full::new(Bytes::new()))
        .unwrap();
    let (status, headers, _, _) = request_h2(&g, request).await;
    assert_eq!(status, 403);
    assert_eq!(headers["x-portcullis-reason"], "csrf_no_referer");
    // Cookies handed out over HTTPS are Secure.
    let (_, headers, _, _) = request_h2(
        &g,
        get(&format!("https://localhost:{port}/public/x"))
            .body(Full::new(Bytes::new()))
            .unwrap(),
    )
    .await;
    let cookie = headers["set-cookie"].to_str().unwrap();
    assert!(
        cookie.starts_with("csrftoken=") && cookie.contains("Secure"),
        "{cookie}"
    );
}

#[tokio::test]
async fn check_reports_bad_certificates_and_keys() {
    let dir = tempfile::tempdir().unwrap();
    let (_, cert, key) = crate::common::tls::tls_files(dir.path());
    let other = tempfile::tempdir().unwrap();
    let (_, _, other_key) = crate::common::tls::tls_files(other.path());
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "not a certificate").unwrap();
    let cases = [
        (
            "/nonexistent/cert.pem".to_string(),
            key.clone(),
            "cannot read the certificate",
        ),
        (
            garbage.display().to_string(),
            key.clone(),
            "holds no certificate",
        ),
        (
            cert.clone(),
            "/nonexistent/key.pem".to_string(),
            "cannot read a private key",
        ),
        (cert.clone(), other_key, "do not go together"),
    ];
    for (cert, key, expected) in cases {
        let text = config("http://127.0.0.1:1", "").replace(
            "admin_listen = \"127.0.0.1:0\"",
            &format!(
                "admin_listen = \"127.0.0.1:0\"\n[server.tls]\ncert = \"{cert}\"\nkey = \"{key}\""
            ),
        );
        let errors = portcullis::config::parse(&text, "t")
            .unwrap_err()
            .to_string();
        assert!(
            errors.contains("server.tls: ") && errors.contains(expected),
            "{expected}: {errors}"
        );
    }
}
