//! `portcullis explain`: builds the request from the flags, has it
//! explained, prints the explanation. With the memory store the sessions
//! live only inside the running gateway, so it asks that gateway's admin
//! API (`POST /explain`); with Redis it can read the store itself.

use std::net::IpAddr;
use std::sync::Arc;

use anyhow::{bail, Context};
use bytes::Bytes;
use http::{Method, StatusCode};
use portcullis::config::snapshot::dialable;
use portcullis::config::startup::StoreKind;
use portcullis::config::Config;
use portcullis::explain::{render, ExplainRequest, Explanation};
use portcullis::session::{DjangoStore, RedisStore, Store};

use crate::ConfigPath;

#[derive(clap::Args)]
pub(crate) struct ExplainArgs {
    #[command(flatten)]
    config: ConfigPath,
    /// Request method.
    #[arg(long, short = 'X', default_value = "GET")]
    method: String,
    /// Path and query (`/life/1/`), or an absolute URL.
    #[arg(long)]
    url: String,
    /// The Cookie header: 'sessionid=...; csrftoken=...'.
    #[arg(long, short = 'b')]
    cookie: Option<String>,
    /// A request header, 'Name: value' (repeatable).
    #[arg(long = "header", short = 'H', value_name = "NAME: VALUE")]
    headers: Vec<String>,
    /// The Origin header.
    #[arg(long)]
    origin: Option<String>,
    /// The request body (a form with csrfmiddlewaretoken, say); set its
    /// Content-Type with --header.
    #[arg(long, short = 'd')]
    data: Option<String>,
    /// The request arrives over HTTPS (Django's Referer rules apply).
    #[arg(long)]
    https: bool,
    /// The client's address (default 127.0.0.1).
    #[arg(long)]
    peer: Option<IpAddr>,
    /// The request is an ingress's auth subrequest to the decision
    /// listener ([decision]): explain the request it asks about (add its
    /// X-Original-* or X-Forwarded-Method/-Uri with --header; --peer is
    /// the ingress).
    #[arg(long)]
    decision: bool,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
    /// The admin API to ask, e.g. http://127.0.0.1:9901 (default: the
    /// config's server.admin_listen). The memory store is always asked
    /// there; with Redis, giving it asks instead of reading the store.
    #[arg(long, value_name = "URL")]
    admin: Option<String>,
}

pub(crate) async fn run(args: ExplainArgs) -> anyhow::Result<()> {
    let path = args.config.path()?;
    let config = Arc::new(crate::load(&path)?);
    let request = ExplainRequest {
        method: Some(args.method.clone()),
        url: args.url.clone(),
        headers: args.headers.clone(),
        cookie: args.cookie.clone(),
        origin: args.origin.clone(),
        body: args.data.clone(),
        https: args.https,
        peer: args.peer,
        decision: args.decision,
    };
    let explanation = match (&config.startup.store, &args.admin) {
        (StoreKind::Redis(settings), None) => {
            let store = RedisStore::new(settings);
            store.start();
            connected(&store).await?;
            let store = Store::Redis(store);
            portcullis::explain::explain(&config, &store, &request)
                .await
                .map_err(anyhow::Error::msg)?
        }
        (StoreKind::Django(settings), None) => {
            // Read-only: explain asks Django's database as the gateway would.
            let store = Store::Django(DjangoStore::new(settings));
            portcullis::explain::explain(&config, &store, &request)
                .await
                .map_err(anyhow::Error::msg)?
        }
        (_, admin) => {
            let url = admin
                .clone()
                .unwrap_or_else(|| format!("http://{}", dialable(config.startup.admin_listen)));
            ask_admin(&config, &url, &request).await?
        }
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&explanation)?);
    } else {
        print!("{}", render::text(&explanation));
    }
    Ok(())
}

/// Waits (a few seconds at most) for the Redis store's first connection.
async fn connected(store: &RedisStore) -> anyhow::Result<()> {
    let mut last = String::new();
    for _ in 0..50 {
        match store.ready().await {
            Ok(()) => return Ok(()),
            Err(why) => last = why,
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    bail!("the Redis session store did not answer: {last}")
}

async fn ask_admin(
    config: &Config,
    base: &str,
    request: &ExplainRequest,
) -> anyhow::Result<Explanation> {
    let url = format!("{}/explain", base.trim_end_matches('/'));
    let headers = [
        ("content-type", b"application/json".to_vec()),
        (
            "authorization",
            [b"Bearer ".as_slice(), config.admin.token.secret()].concat(),
        ),
    ];
    let (status, body) = crate::cli::healthcheck::call(
        Method::POST,
        &url,
        &headers,
        Bytes::from(serde_json::to_vec(request)?),
        std::time::Duration::from_secs(10),
    )
    .await
    .with_context(|| {
        format!("asking the running gateway at {url} (the memory store's sessions live only there; is it running?)")
    })?;
    if status != StatusCode::OK {
        bail!(
            "{url} answered {status}: {}",
            String::from_utf8_lossy(&body)
        );
    }
    serde_json::from_slice(&body).context("reading the explanation")
}
