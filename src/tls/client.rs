//! TLS for the gateway's own connections out (to an `https://` upstream,
//! to PostgreSQL): rustls with the ring provider, TLS 1.2 and 1.3, trusting
//! a configured CA file or the system's roots.

use std::path::PathBuf;
use std::sync::Arc;

/// A CA file as the config compiler read it: its path (for messages) and
/// its contents, so that a CA replaced in place counts as a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaFile {
    pub path: PathBuf,
    pub pem: Arc<[u8]>,
}

/// The TLS client config trusting the certificates in `ca`, or the
/// system's root certificates (ring provider, TLS 1.2+).
pub fn client_config(
    ca: Option<&CaFile>,
    https: bool,
) -> Result<Arc<rustls::ClientConfig>, String> {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    match ca {
        Some(ca) => {
            let name = ca.path.display();
            for cert in rustls::pki_types::CertificateDer::pem_slice_iter(&ca.pem) {
                let cert = cert.map_err(|e| format!("{name} is not valid PEM: {e}"))?;
                roots.add(cert).map_err(|e| format!("{name}: {e}"))?;
            }
            if roots.is_empty() {
                return Err(format!("{name} holds no certificate"));
            }
        }
        // The system's roots, read only when an https:// upstream needs them
        // (missing or unreadable ones make its handshakes fail, loudly).
        None if https => {
            for cert in rustls_native_certs::load_native_certs().certs {
                let _ = roots.add(cert);
            }
        }
        None => {}
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| format!("TLS setup: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// The connector for the gateway's outgoing HTTP/1.1 clients (the
/// upstream, a bearer issuer's JWKS): `https://` over rustls with `tls`,
/// `http://` as plain TCP, TCP_NODELAY, connects bounded by
/// `connect_timeout`.
pub fn http_connector(
    connect_timeout: std::time::Duration,
    tls: &rustls::ClientConfig,
) -> hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector> {
    let mut http = hyper_util::client::legacy::connect::HttpConnector::new();
    http.set_connect_timeout(Some(connect_timeout));
    http.set_nodelay(true);
    // The scheme is the URL's: https through rustls, http as plain TCP.
    http.enforce_http(false);
    hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls.clone())
        .https_or_http()
        .enable_http1()
        .wrap_connector(http)
}

/// The gateway's own outgoing client for whole-body requests (the OpenID
/// provider, the OTLP collector), on `http_connector`.
pub type HttpsClient = hyper_util::client::legacy::Client<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
    http_body_util::Full<bytes::Bytes>,
>;

/// Sends `request` on `client` and reads the answer: its status and its
/// body, at most `limit` bytes, all within `timeout`. `Err` says what
/// failed (the connection with every cause, the body, or the time).
pub async fn exchange(
    client: &HttpsClient,
    request: http::Request<http_body_util::Full<bytes::Bytes>>,
    limit: usize,
    timeout: std::time::Duration,
) -> Result<(http::StatusCode, bytes::Bytes), String> {
    use http_body_util::BodyExt;
    let exchange = async {
        let response = client.request(request).await.map_err(|e| error_chain(&e))?;
        let status = response.status();
        let body = http_body_util::Limited::new(response.into_body(), limit)
            .collect()
            .await
            .map_err(|e| format!("reading the body: {e}"))?
            .to_bytes();
        Ok((status, body))
    };
    match tokio::time::timeout(timeout, exchange).await {
        Ok(answer) => answer,
        Err(_elapsed) => Err(format!("no answer within {timeout:?}")),
    }
}

/// An outgoing request's error with every cause after it ("error trying to
/// connect: tcp connect error: Connection refused"): hyper's own message
/// alone says little.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
