//! The `portcullis` command: `serve`, `check`, `demo`, `explain`,
//! `healthcheck` and `hash-password`.

// Unsafe code is denied; the one exception (cli/heap_trim.rs) says why.
#![deny(unsafe_code)]
#![deny(clippy::unwrap_used)]

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use portcullis::config::{self, Config};
use portcullis::Gateway;
use tokio::net::TcpListener;
use tokio::sync::watch;

mod cli;

/// The example configuration shipped in `config/portcullis.toml`; `demo`
/// uses it when no `--config` is given, so it works from any directory.
const SHIPPED_CONFIG: &str = include_str!("../config/portcullis.toml");

#[derive(Parser)]
#[command(
    name = "portcullis",
    version,
    about = "An access gateway that answers 403s the way Django REST Framework does"
)]
struct Cli {
    /// Log format: "text" or "json" (also PORTCULLIS_LOG_FORMAT). Filter with RUST_LOG.
    #[arg(
        long,
        global = true,
        env = "PORTCULLIS_LOG_FORMAT",
        default_value = "text"
    )]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway.
    Serve(ConfigPath),
    /// Validate a config file: prints "config OK" or every problem, exits 0 or 1.
    Check(ConfigPath),
    /// Explain why a request would be allowed or denied: runs it through
    /// the gateway's decision stages, forwarding nothing, and prints each
    /// stage, the decision, the response the client gets and the fix.
    Explain(cli::explain::ExplainArgs),
    /// Exit 0 when the URL (default: the admin API's /readyz on this host)
    /// answers 2xx within the timeout, 1 otherwise: a container
    /// HEALTHCHECK that needs no shell tools.
    Healthcheck {
        /// What to ask (default: /readyz on the config's admin listener,
        /// or http://127.0.0.1:9901/readyz without a config).
        #[arg(long)]
        url: Option<String>,
        #[command(flatten)]
        config: ConfigPath,
        /// Longest wait for the answer.
        #[arg(long, default_value = "3s", value_parser = humantime::parse_duration)]
        timeout: std::time::Duration,
    },
    /// Read a password from stdin (without echo on a terminal) and print its
    /// argon2id hash, for `password_hash` in `[[users]]`.
    HashPassword,
    /// Run the gateway in front of a built-in echo upstream, with two demo
    /// sessions, and print curl commands to try.
    Demo {
        /// Config to use (default: the shipped config/portcullis.toml).
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
}

/// The config file, as `FILE`, `--config FILE` or `PORTCULLIS_CONFIG`.
#[derive(clap::Args)]
pub(crate) struct ConfigPath {
    /// Config file.
    #[arg(value_name = "FILE")]
    file: Option<PathBuf>,
    /// Config file (same as FILE).
    #[arg(
        long = "config",
        short = 'c',
        env = "PORTCULLIS_CONFIG",
        value_name = "FILE"
    )]
    flag: Option<PathBuf>,
}

impl ConfigPath {
    pub(crate) fn path(self) -> anyhow::Result<PathBuf> {
        self.file
            .or(self.flag)
            .context("no config file: pass FILE, --config FILE, or set PORTCULLIS_CONFIG")
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    let result = match cli.command {
        Command::Check(config) => match config.path() {
            Ok(path) => return check(&path),
            Err(error) => Err(error),
        },
        Command::HashPassword => hash_password(),
        Command::Explain(args) => run(cli::explain::run(args)),
        Command::Healthcheck {
            url,
            config,
            timeout,
        } => healthcheck_url(url, config).and_then(|url| run(healthcheck(url, timeout))),
        Command::Serve(config) => config
            .path()
            .and_then(|path| Ok((load(&path)?, path)))
            .and_then(|(config, path)| {
                let threads = config.startup.worker_threads;
                run_on(threads, serve(config, path))
            }),
        Command::Demo { config } => {
            let config = match &config {
                Some(path) => load(path),
                None => config::parse(SHIPPED_CONFIG, "config/portcullis.toml (built in)")
                    .map_err(anyhow::Error::from),
            };
            config.and_then(|config| run(cli::demo::run(config)))
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("portcullis: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
}

fn check(path: &Path) -> ExitCode {
    match config::load(path) {
        Ok(config) => {
            let origin = path.display().to_string();
            for warning in &config.warnings {
                println!("{}", warning.placed(&origin, "warning: "));
            }
            match config.warnings.len() {
                0 => println!("config OK"),
                1 => println!("config OK (1 warning)"),
                n => println!("config OK ({n} warnings)"),
            }
            ExitCode::SUCCESS
        }
        Err(errors) => {
            println!("{errors}");
            ExitCode::FAILURE
        }
    }
}

/// `--url`, or `/readyz` on the admin listener of the config (with the
/// environment's overrides, as `serve` sees it), or the image's default.
fn healthcheck_url(url: Option<String>, config: ConfigPath) -> anyhow::Result<String> {
    if let Some(url) = url {
        return Ok(url);
    }
    match config.path() {
        Ok(path) => {
            let config = load(&path)?;
            let admin = config::snapshot::dialable(config.startup.admin_listen);
            Ok(format!("http://{admin}/readyz"))
        }
        Err(_) => Ok("http://127.0.0.1:9901/readyz".to_string()),
    }
}

async fn healthcheck(url: String, timeout: std::time::Duration) -> anyhow::Result<()> {
    let (status, body) =
        cli::healthcheck::call(http::Method::GET, &url, &[], bytes::Bytes::new(), timeout).await?;
    if !status.is_success() {
        anyhow::bail!(
            "{url} answered {status}: {}",
            String::from_utf8_lossy(&body)
        );
    }
    println!("{url}: {status}");
    Ok(())
}

fn hash_password() -> anyhow::Result<()> {
    let password = if std::io::stdin().is_terminal() {
        rpassword::prompt_password("Password: ").context("reading the password")?
    } else {
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .context("reading the password from stdin")?;
        line.trim_end_matches(['\r', '\n']).to_string()
    };
    if password.is_empty() {
        anyhow::bail!("the password is empty");
    }
    println!("{}", portcullis::auth::password::hash_password(&password));
    Ok(())
}

pub(crate) fn load(path: &Path) -> anyhow::Result<Config> {
    config::load(path).map_err(anyhow::Error::from)
}

/// The worker threads by default: `TOKIO_WORKER_THREADS` when set, else
/// the CPUs this process may use (its affinity mask and cgroup quota), as
/// Tokio itself would count them.
fn usable_cpus() -> usize {
    // Tokio's own override, honoured as its default builder would.
    let from_env = std::env::var("TOKIO_WORKER_THREADS")
        .ok()
        .and_then(|value| value.trim().parse::<usize>().ok())
        .filter(|threads| (1..=1024).contains(threads));
    from_env.unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    })
}

fn run(future: impl std::future::Future<Output = anyhow::Result<()>>) -> anyhow::Result<()> {
    run_on(None, future)
}

/// Runs `future` on a runtime with `threads` workers (default: one per CPU
/// this process may run on).
fn run_on(
    threads: Option<usize>,
    future: impl std::future::Future<Output = anyhow::Result<()>>,
) -> anyhow::Result<()> {
    let mut builder = match threads.unwrap_or_else(usable_cpus) {
        // One worker: the single-threaded scheduler, without the
        // work-stealing machinery one thread cannot use (about 15% less
        // CPU per request; docs/benchmarks.md). A sidecar given one CPU
        // (affinity or a cgroup quota) gets it by default.
        1 => tokio::runtime::Builder::new_current_thread(),
        threads => {
            let mut builder = tokio::runtime::Builder::new_multi_thread();
            builder.worker_threads(threads);
            builder
        }
    };
    builder
        .enable_all()
        .build()
        .context("starting the async runtime")?
        .block_on(future)
}

/// Both listeners, bound before anything is served so a busy port is an
/// error at startup rather than later.
pub(crate) struct Listeners {
    pub(crate) proxy: TcpListener,
    pub(crate) admin: TcpListener,
    /// `[decision]`'s, when configured.
    pub(crate) decision: Option<TcpListener>,
}

pub(crate) async fn bind(config: &Config) -> anyhow::Result<Listeners> {
    let bind = |addr: SocketAddr, what: &'static str| async move {
        TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding the {what} listener on {addr}"))
    };
    Ok(Listeners {
        proxy: bind(config.startup.listen, "proxy").await?,
        admin: bind(config.startup.admin_listen, "admin").await?,
        decision: match config.startup.decision_listen {
            Some(addr) => Some(bind(addr, "decision").await?),
            None => None,
        },
    })
}

async fn serve(config: Config, config_file: PathBuf) -> anyhow::Result<()> {
    // Anyone who can reach a non-loopback admin listener could use the
    // example token: refuse rather than warn.
    if let Some(why) = config.exposed_example_token() {
        anyhow::bail!(why);
    }
    if config.admin.token.is_default() {
        tracing::warn!("admin.token is the example value \"change-me\"; set a secret before exposing the admin listener");
    }
    config.log_warnings(&config_file);
    let listeners = bind(&config).await?;
    let gateway = Arc::new(Gateway::new(config));
    gateway.set_config_file(config_file);
    cli::heap_trim::spawn(&gateway);
    // Signal handlers before "listening": a SIGTERM sent as soon as the
    // line appears must drain, not kill the process.
    let signals = Signals::register();
    announce(&listeners)?;
    run_until_signal(listeners, gateway, signals).await
}

fn announce(listeners: &Listeners) -> anyhow::Result<()> {
    let decision = match &listeners.decision {
        Some(listener) => Some(listener.local_addr()?),
        None => None,
    };
    tracing::info!(
        proxy = %listeners.proxy.local_addr()?,
        admin = %listeners.admin.local_addr()?,
        decision = decision.map(tracing::field::display),
        "portcullis listening"
    );
    Ok(())
}

/// SIGTERM and SIGHUP handlers, registered up front (tokio registers a
/// signal handler when the stream is created, not when first awaited).
pub(crate) struct Signals {
    #[cfg(unix)]
    terminate: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    hangup: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    pub(crate) fn register() -> Signals {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Signals {
                terminate: signal(SignalKind::terminate()).ok(),
                hangup: signal(SignalKind::hangup()).ok(),
            }
        }
        #[cfg(not(unix))]
        Signals {}
    }
}

pub(crate) async fn run_until_signal(
    listeners: Listeners,
    gateway: Arc<Gateway>,
    signals: Signals,
) -> anyhow::Result<()> {
    let (stop_tx, stop_rx) = watch::channel(false);
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    let proxy = tokio::spawn(portcullis::serve(
        listeners.proxy,
        Arc::clone(&gateway),
        stopped(stop_rx.clone()),
    ));
    let decision = listeners.decision.map(|listener| {
        tokio::spawn(portcullis::serve_decision(
            listener,
            Arc::clone(&gateway),
            stopped(stop_rx.clone()),
        ))
    });
    let admin = tokio::spawn(portcullis::serve_admin(
        listeners.admin,
        Arc::clone(&gateway),
        stopped(stop_rx),
    ));
    #[cfg(unix)]
    reload_on_sighup(Arc::clone(&gateway), signals.hangup);
    #[cfg(unix)]
    shutdown_signal(signals.terminate).await;
    #[cfg(not(unix))]
    {
        let _ = signals;
        let _ = tokio::signal::ctrl_c().await;
    }
    // Not ready first, so an orchestrator stops sending traffic; then stop
    // accepting and let in-flight requests finish.
    gateway.start_draining();
    tracing::info!("shutting down: not ready, no new connections, draining in-flight requests");
    let _ = stop_tx.send(true);
    let _ = tokio::join!(proxy, admin);
    if let Some(decision) = decision {
        let _ = decision.await;
    }
    // The drained requests' spans: sent, within telemetry.export_timeout.
    gateway.flush_telemetry().await;
    tracing::info!("stopped");
    Ok(())
}

/// SIGHUP re-reads the config file (as `POST /reload` does).
#[cfg(unix)]
fn reload_on_sighup(gateway: Arc<Gateway>, hangups: Option<tokio::signal::unix::Signal>) {
    let Some(mut hangups) = hangups else {
        tracing::warn!("cannot listen for SIGHUP; reload through POST /reload");
        return;
    };
    tokio::spawn(async move {
        while hangups.recv().await.is_some() {
            tracing::info!("SIGHUP: reloading the config");
            // The outcome is logged by reload itself.
            let _ = gateway.reload();
        }
    });
}

/// Resolves on SIGTERM or SIGINT.
#[cfg(unix)]
async fn shutdown_signal(terminate: Option<tokio::signal::unix::Signal>) {
    match terminate {
        Some(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        None => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
