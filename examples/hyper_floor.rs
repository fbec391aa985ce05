//! The floor under a proxied request through portcullis: hyper's HTTP/1
//! server (built as the gateway builds it) and the gateway's own upstream
//! pool (`keepalive`), with nothing of the gateway between them: no route,
//! session, CSRF, header or log work. `scripts/bench` runs it as S1y on the
//! same core as the others; what portcullis spends above it is the
//! gateway's own, what it spends itself is hyper's and Tokio's.
//!
//! `hyper_floor LISTEN_ADDR UPSTREAM_URL` (one thread, the current-thread
//! scheduler, as portcullis runs on one CPU).
//!
//! Build: `cargo build --release --example hyper_floor`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use http::header::HOST;
use http::{HeaderValue, Request, Response, StatusCode, Uri};
use http_body_util::{Either, Full};
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use portcullis::body::ForwardBody;
use portcullis::keepalive::{Pool, UpstreamBody};
use tokio::net::TcpListener;

type Answer = Response<Either<UpstreamBody, Full<Bytes>>>;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(listen), Some(upstream)) = (args.first(), args.get(1)) else {
        eprintln!("usage: hyper_floor LISTEN_ADDR UPSTREAM_URL");
        std::process::exit(2);
    };
    let listen: SocketAddr = listen.parse().expect("LISTEN_ADDR is host:port");
    let upstream: Uri = upstream.parse().expect("UPSTREAM_URL is a URL");
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a Tokio runtime")
        .block_on(serve(listen, upstream));
}

async fn serve(listen: SocketAddr, upstream: Uri) {
    let tls = portcullis::tls::client::client_config(None, false).expect("a TLS client config");
    let pool = Pool::new(portcullis::tls::client::http_connector(
        Duration::from_secs(5),
        &tls,
    ));
    let listener = TcpListener::bind(listen).await.expect("the listen address");
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let (pool, upstream) = (pool.clone(), upstream.clone());
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let (pool, upstream) = (pool.clone(), upstream.clone());
                async move { Ok::<_, Infallible>(forward(&pool, &upstream, request).await) }
            });
            // The gateway's HTTP/1 settings (src/server/mod.rs).
            let mut builder = auto::Builder::new(TokioExecutor::new());
            builder
                .http1()
                .timer(TokioTimer::new())
                .header_read_timeout(Duration::from_secs(10));
            let _ = builder
                .serve_connection_with_upgrades(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// The request as it came, to the upstream's address; its answer as it
/// came, or a bare 502.
async fn forward(pool: &Pool, upstream: &Uri, request: Request<Incoming>) -> Answer {
    let (mut parts, body) = request.into_parts();
    let path = parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    let mut target = upstream.clone().into_parts();
    target.path_and_query = path.parse().ok();
    parts.uri = Uri::from_parts(target).unwrap_or_else(|_| upstream.clone());
    if !parts.headers.contains_key(HOST) {
        parts
            .headers
            .insert(HOST, HeaderValue::from_static("upstream"));
    }
    let body = ForwardBody::new(body, Duration::from_secs(30));
    match pool.send(Request::from_parts(parts, body)).await {
        Ok((response, sender)) => {
            response.map(|body| Either::Left(UpstreamBody::new(body, sender, pool.clone())))
        }
        Err(_) => {
            let mut bad_gateway = Response::new(Either::Right(Full::new(Bytes::new())));
            *bad_gateway.status_mut() = StatusCode::BAD_GATEWAY;
            bad_gateway
        }
    }
}
