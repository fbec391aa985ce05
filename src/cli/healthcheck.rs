//! The one HTTP call the CLI's own commands make (`explain` asking the
//! admin API, `healthcheck`), bounded in time.

use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// Sends one request to a plain-HTTP `url` and reads the whole answer,
/// all within `limit`.
pub(crate) async fn call(
    method: Method,
    url: &str,
    headers: &[(&str, Vec<u8>)],
    body: Bytes,
    limit: Duration,
) -> anyhow::Result<(StatusCode, Bytes)> {
    let mut request = Request::builder().method(method).uri(url);
    for (name, value) in headers {
        request = request.header(*name, value.as_slice());
    }
    let request = request
        .body(Full::new(body))
        .with_context(|| format!("{url} is not a usable URL"))?;
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let exchange = async {
        let answer = client.request(request).await?;
        let status = answer.status();
        let body = answer.into_body().collect().await?.to_bytes();
        anyhow::Ok((status, body))
    };
    tokio::time::timeout(limit, exchange)
        .await
        .with_context(|| format!("{url} did not answer within {limit:?}"))?
}
