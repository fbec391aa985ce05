//! The load tools `scripts/bench` needs beyond wrk, on loopback only:
//!
//! - `loadgen rate URL --rate R --duration D --connections C [-X M] [-H 'k: v']... [-d BODY]`:
//!   an open-loop, fixed-rate HTTP/1.1 load (as wrk2 or `oha -q` do). Every
//!   request has a scheduled send time; its latency counts from then, so a
//!   stall delays the schedule's requests and shows in the tail instead of
//!   hiding (coordinated omission corrected). Prints one JSON line.
//! - `loadgen idle ADDR --connections N --hold D`: opens N keep-alive
//!   connections, makes one request on each, prints `ready N`, and holds
//!   them open for D (the per-connection memory measurement).
//!
//! Build: `cargo build --release --example loadgen`.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, Request};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a Tokio runtime");
    let outcome = match args.first().map(String::as_str) {
        Some("rate") => runtime.block_on(rate(&args[1..])),
        Some("idle") => runtime.block_on(idle(&args[1..])),
        _ => Err("usage: loadgen rate URL --rate R --duration D --connections C [-X M] [-H 'k: v']... [-d BODY]\n       loadgen idle ADDR --connections N --hold D".into()),
    };
    if let Err(problem) = outcome {
        eprintln!("loadgen: {problem}");
        std::process::exit(2);
    }
}

/// `--name value` options, in any order after the positional argument.
struct Options<'a> {
    args: &'a [String],
}

impl Options<'_> {
    fn one(&self, name: &str) -> Option<&str> {
        self.args
            .windows(2)
            .find(|pair| pair[0] == name)
            .map(|pair| pair[1].as_str())
    }

    fn all(&self, name: &str) -> Vec<&str> {
        self.args
            .windows(2)
            .filter(|pair| pair[0] == name)
            .map(|pair| pair[1].as_str())
            .collect()
    }

    fn number(&self, name: &str, default: u64) -> Result<u64, String> {
        self.one(name).map_or(Ok(default), |v| {
            v.parse().map_err(|_| format!("{name} {v:?}"))
        })
    }

    fn duration(&self, name: &str, default: &str) -> Result<Duration, String> {
        humantime::parse_duration(self.one(name).unwrap_or(default))
            .map_err(|e| format!("{name}: {e}"))
    }
}

/// One request to send, again and again.
#[derive(Clone)]
struct Template {
    method: Method,
    path: String,
    host: String,
    headers: Vec<(String, String)>,
    body: Bytes,
}

impl Template {
    fn request(&self) -> Request<Full<Bytes>> {
        let mut request = Request::builder()
            .method(self.method.clone())
            .uri(&self.path)
            .header("host", &self.host);
        for (name, value) in &self.headers {
            request = request.header(name, value);
        }
        request
            .body(Full::new(self.body.clone()))
            .expect("a valid request")
    }
}

fn loopback(addr: SocketAddr) -> Result<SocketAddr, String> {
    if addr.ip().is_loopback() {
        Ok(addr)
    } else {
        Err(format!(
            "{addr} is not a loopback address: loadgen only loads this machine"
        ))
    }
}

async fn rate(args: &[String]) -> Result<(), String> {
    let url: http::Uri = args
        .first()
        .ok_or("rate needs a URL")?
        .parse()
        .map_err(|e| format!("URL: {e}"))?;
    let options = Options { args: &args[1..] };
    let authority = url
        .authority()
        .ok_or("the URL needs host:port")?
        .to_string();
    let addr = loopback(
        authority
            .parse()
            .map_err(|_| format!("{authority} is not IP:port"))?,
    )?;
    let rate = options.number("--rate", 1000)?.max(1);
    let duration = options.duration("--duration", "10s")?;
    let connections = options.number("--connections", 16)?.clamp(1, 10_000);
    let template = Template {
        method: Method::from_bytes(options.one("-X").unwrap_or("GET").as_bytes())
            .map_err(|e| e.to_string())?,
        path: url.path_and_query().map_or("/", |p| p.as_str()).to_string(),
        host: authority.clone(),
        headers: options
            .all("-H")
            .into_iter()
            .filter_map(|h| h.split_once(':'))
            .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
            .collect(),
        body: Bytes::from(options.one("-d").unwrap_or("").to_string()),
    };
    // Each connection takes every `connections`-th slot of one schedule.
    let interval = Duration::from_secs_f64(connections as f64 / rate as f64);
    let per_connection = (duration.as_secs_f64() / interval.as_secs_f64()).ceil() as u64;
    let start = Instant::now() + Duration::from_millis(50);
    let offset = Duration::from_secs_f64(1.0 / rate as f64);
    let mut tasks = Vec::new();
    for c in 0..connections {
        let template = template.clone();
        let first = start + offset * c as u32;
        tasks.push(tokio::spawn(connection(
            addr,
            template,
            first,
            interval,
            per_connection,
        )));
    }
    let mut latencies = Vec::new();
    let mut errors = 0u64;
    for task in tasks {
        let (done, failed) = task.await.map_err(|e| e.to_string())?;
        latencies.extend(done);
        errors += failed;
    }
    let elapsed = start.elapsed().as_secs_f64();
    latencies.sort_unstable();
    let pick = |q: f64| -> u64 {
        if latencies.is_empty() {
            return 0;
        }
        let at = ((latencies.len() as f64 * q).ceil() as usize).clamp(1, latencies.len()) - 1;
        latencies[at]
    };
    println!(
        "{{\"rate\":{rate},\"completed\":{},\"errors\":{errors},\"achieved_rps\":{:.0},\"p50_us\":{},\"p90_us\":{},\"p99_us\":{},\"max_us\":{}}}",
        latencies.len(),
        latencies.len() as f64 / elapsed,
        pick(0.50),
        pick(0.90),
        pick(0.99),
        latencies.last().copied().unwrap_or(0)
    );
    Ok(())
}

/// One keep-alive connection sending on its schedule; returns latencies
/// (µs, from the scheduled time) and the number of failures.
async fn connection(
    addr: SocketAddr,
    template: Template,
    first: Instant,
    interval: Duration,
    count: u64,
) -> (Vec<u64>, u64) {
    let mut latencies = Vec::with_capacity(count as usize);
    let mut errors = 0;
    let mut sender = None;
    for k in 0..count {
        let scheduled = first + interval * k as u32;
        tokio::time::sleep_until(scheduled.into()).await;
        if sender.is_none() {
            sender = open(addr).await.ok();
        }
        let Some(send) = sender.as_mut() else {
            errors += 1;
            continue;
        };
        let answered = async {
            let response = send.send_request(template.request()).await.ok()?;
            // Anything but 2xx is an error: a benchmark of refusals measures nothing.
            let ok = response.status().is_success();
            response.into_body().collect().await.ok()?;
            Some(ok)
        }
        .await;
        match answered {
            Some(true) => latencies.push(scheduled.elapsed().as_micros() as u64),
            Some(false) => errors += 1,
            None => {
                errors += 1;
                sender = None;
            }
        }
    }
    (latencies, errors)
}

async fn open(addr: SocketAddr) -> Result<http1::SendRequest<Full<Bytes>>, String> {
    let stream = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let _ = stream.set_nodelay(true);
    let (sender, connection) = http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(connection);
    Ok(sender)
}

async fn idle(args: &[String]) -> Result<(), String> {
    let addr: SocketAddr = args
        .first()
        .ok_or("idle needs ADDR")?
        .parse()
        .map_err(|_| "ADDR must be IP:port".to_string())?;
    let addr = loopback(addr)?;
    let options = Options { args: &args[1..] };
    let count = options.number("--connections", 1000)?;
    let hold = options.duration("--hold", "10s")?;
    let path = options.one("--path").unwrap_or("/").to_string();
    let template = Template {
        method: Method::GET,
        path,
        host: addr.to_string(),
        headers: Vec::new(),
        body: Bytes::new(),
    };
    let mut held = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let mut sender = open(addr).await?;
        let response = sender
            .send_request(template.request())
            .await
            .map_err(|e| e.to_string())?;
        response
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?;
        held.push(sender);
    }
    println!("ready {}", held.len());
    tokio::time::sleep(hold).await;
    drop(held);
    Ok(())
}
