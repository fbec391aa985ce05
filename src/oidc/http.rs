//! The OpenID provider's HTTP client: hyper-util's pooled client over the
//! gateway's rustls stack (`tls::client`), with one timeout for the whole
//! exchange and a cap on what is read, for the discovery document (GET)
//! and the token endpoint (POST of a form).

use std::time::Duration;

use bytes::Bytes;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use http::{HeaderValue, Request, StatusCode, Uri};
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};

/// The most read of a provider's answer: a discovery document or a token
/// response is a few KiB.
pub const MAX_ANSWER_BYTES: usize = 256 * 1024;

/// A client for one provider.
#[derive(Clone)]
pub struct ProviderClient {
    client: crate::tls::client::HttpsClient,
    timeout: Duration,
}

/// What the provider answered: its status and its body (at most
/// `MAX_ANSWER_BYTES`).
pub struct Answer {
    pub status: StatusCode,
    pub body: Bytes,
}

impl ProviderClient {
    pub fn new(timeout: Duration, tls: &rustls::ClientConfig) -> ProviderClient {
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(crate::tls::client::http_connector(timeout, tls));
        ProviderClient { client, timeout }
    }

    /// GET `url` for JSON.
    pub async fn get_json(&self, url: &Uri) -> Result<Answer, String> {
        let request = Request::get(url.clone())
            .header(ACCEPT, "application/json")
            .body(Full::new(Bytes::new()))
            .map_err(|e| format!("{url}: {e}"))?;
        self.send(url, request).await
    }

    /// POST the urlencoded `form` to `url`, with HTTP Basic client
    /// authentication (`client_secret_basic`).
    pub async fn post_form(
        &self,
        url: &Uri,
        basic: &HeaderValue,
        form: String,
    ) -> Result<Answer, String> {
        let request = Request::post(url.clone())
            .header(ACCEPT, "application/json")
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(AUTHORIZATION, basic.clone())
            .body(Full::new(Bytes::from(form)))
            .map_err(|e| format!("{url}: {e}"))?;
        self.send(url, request).await
    }

    async fn send(&self, url: &Uri, request: Request<Full<Bytes>>) -> Result<Answer, String> {
        crate::tls::client::exchange(&self.client, request, MAX_ANSWER_BYTES, self.timeout)
            .await
            .map(|(status, body)| Answer { status, body })
            .map_err(|why| format!("{url}: {why}"))
    }
}
