//! The container contract: the release binary run the way the Dockerfile
//! runs it — as the image's non-root user (when the test may switch users),
//! a clean environment, the default config from `PORTCULLIS_CONFIG`, the
//! listen addresses, upstream and admin token from the environment, JSON
//! logs — answering, passing its own `healthcheck`, and exiting 0 on
//! SIGTERM. Needs `target/release/portcullis` (scripts/test builds it).

use std::io::{BufRead, BufReader};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use portcullis::echo::EchoUpstream;

/// The image's user (distroless `nonroot`).
const IMAGE_UID: u32 = 65532;
const ADMIN_TOKEN: &str = "contract-admin-token";

fn release_binary() -> PathBuf {
    let path = match std::env::var_os("PORTCULLIS_RELEASE_BIN") {
        Some(path) => PathBuf::from(path),
        None => {
            let debug = PathBuf::from(env!("CARGO_BIN_EXE_portcullis"));
            debug
                .parent()
                .and_then(Path::parent)
                .map(|target| target.join("release/portcullis"))
                .unwrap()
        }
    };
    assert!(
        path.exists(),
        "{} is missing: build it with `cargo build --release --locked` (scripts/test does)",
        path.display()
    );
    path
}

/// `/usr/local/bin/portcullis` and `/etc/portcullis/portcullis.toml`, as
/// in the image, readable by the image's user.
struct ImageRoot {
    dir: tempfile::TempDir,
}

impl ImageRoot {
    fn new() -> ImageRoot {
        let dir = tempfile::tempdir().unwrap();
        let open = |path: &Path, mode: u32| {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
        };
        open(dir.path(), 0o755);
        for sub in ["usr", "usr/local", "usr/local/bin", "etc", "etc/portcullis"] {
            std::fs::create_dir(dir.path().join(sub)).unwrap();
            open(&dir.path().join(sub), 0o755);
        }
        let binary = dir.path().join("usr/local/bin/portcullis");
        std::fs::copy(release_binary(), &binary).unwrap();
        open(&binary, 0o755);
        let config = dir.path().join("etc/portcullis/portcullis.toml");
        std::fs::copy(
            concat!(env!("CARGO_MANIFEST_DIR"), "/config/portcullis.toml"),
            &config,
        )
        .unwrap();
        open(&config, 0o644);
        ImageRoot { dir }
    }

    fn binary(&self) -> PathBuf {
        self.dir.path().join("usr/local/bin/portcullis")
    }

    /// The Dockerfile's ENV, with ports the test can bind and the
    /// operator's overrides.
    fn command(&self, args: &[&str], upstream: &str, admin_listen: &str) -> Command {
        let mut command = Command::new(self.binary());
        command
            .args(args)
            .env_clear()
            .env(
                "PORTCULLIS_CONFIG",
                self.dir.path().join("etc/portcullis/portcullis.toml"),
            )
            .env("PORTCULLIS_LISTEN", "127.0.0.1:0")
            .env("PORTCULLIS_ADMIN_LISTEN", admin_listen)
            .env("PORTCULLIS_LOG_FORMAT", "json")
            .env("RUST_LOG", "info")
            .env("PORTCULLIS_UPSTREAM", upstream)
            .env("PORTCULLIS_ADMIN_TOKEN", ADMIN_TOKEN);
        if running_as_root() {
            use std::os::unix::process::CommandExt;
            command.uid(IMAGE_UID).gid(IMAGE_UID);
        }
        command
    }
}

/// Runs a process start again while exec fails with ETXTBSY ("text file
/// busy"): each test copies the binary, and another test thread's fork can
/// hold the copy's descriptor open for an instant. Bounded: 50 tries.
fn unbusy<T>(mut start: impl FnMut() -> std::io::Result<T>) -> T {
    const ETXTBSY: i32 = 26;
    for _ in 0..50 {
        match start() {
            Err(error) if error.raw_os_error() == Some(ETXTBSY) => {
                std::thread::sleep(Duration::from_millis(20));
            }
            other => return other.unwrap(),
        }
    }
    panic!("the copied binary stayed busy");
}

fn running_as_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(1)
        == 0
}

struct Gateway {
    child: Child,
    proxy: String,
    admin: String,
    log: std::sync::mpsc::Receiver<String>,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port nothing listens on now (the admin port must be known before
/// start, for `healthcheck`'s default).
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

fn start(root: &ImageRoot, upstream: &str, admin_listen: &str) -> Gateway {
    let mut command = root.command(&["serve"], upstream, admin_listen);
    command.stderr(Stdio::piped()).stdout(Stdio::null());
    let mut child = unbusy(|| command.spawn());
    let (sender, log) = std::sync::mpsc::channel();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            let _ = sender.send(line);
        }
    });
    let listening = loop {
        let line = log
            .recv_timeout(Duration::from_secs(20))
            .expect("no 'portcullis listening' log line");
        let value: serde_json::Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"));
        if value["message"] == "portcullis listening" {
            break value;
        }
    };
    Gateway {
        proxy: listening["proxy"].as_str().unwrap().to_string(),
        admin: listening["admin"].as_str().unwrap().to_string(),
        child,
        log,
    }
}

/// One HTTP/1.1 exchange over a plain socket; the status and body.
fn http(addr: &str, request: &str) -> (u16, String) {
    let answer = crate::common::blocking::exchange(addr, request);
    let (status, body) = crate::common::blocking::status_and_body(&answer);
    (status, body.to_string())
}

/// `portcullis healthcheck [--url URL]` in the image's environment.
fn healthcheck(root: &ImageRoot, url: Option<&str>, admin_listen: &str) -> bool {
    let mut args = vec!["healthcheck", "--timeout", "2s"];
    args.extend(url.map(|url| ["--url", url]).into_iter().flatten());
    let mut command = root.command(&args, "http://127.0.0.1:1", admin_listen);
    command.stdout(Stdio::null()).stderr(Stdio::null());
    unbusy(|| command.status()).success()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_release_binary_keeps_the_image_contract() {
    let upstream = EchoUpstream::start(std::net::SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let root = ImageRoot::new();
    // Blocking calls below run on this worker; the echo upstream on the other.
    let admin_listen = format!("127.0.0.1:{}", free_port());
    let mut gateway = start(&root, &upstream.url(), &admin_listen);

    // The image's user, when the test could switch to it.
    if running_as_root() {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", gateway.child.id())).unwrap();
        let uid_line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
        assert!(
            uid_line
                .split_whitespace()
                .all(|f| f == "Uid:" || f == IMAGE_UID.to_string()),
            "{uid_line}"
        );
    }

    // PORTCULLIS_UPSTREAM: the shipped config's upstream is replaced.
    let (status, body) = http(
        &gateway.proxy,
        "GET /public/hello HTTP/1.1\r\nHost: app\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"target\":\"/public/hello\""), "{body}");
    // The rules still apply.
    let (status, _) = http(
        &gateway.proxy,
        "GET /life/1/ HTTP/1.1\r\nHost: app\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(status, 403);

    // PORTCULLIS_ADMIN_TOKEN replaces the file's "change-me".
    let session = |token: &str| {
        http(
            &gateway.admin,
            &format!(
                "POST /sessions HTTP/1.1\r\nHost: admin\r\nAuthorization: Bearer {token}\r\nContent-Length: 20\r\nConnection: close\r\n\r\n{{\"username\":\"alice\"}}"
            ),
        )
        .0
    };
    assert_eq!(session(ADMIN_TOKEN), 201);
    assert_eq!(session("change-me"), 401);

    // The HEALTHCHECK command.
    // The HEALTHCHECK as the Dockerfile writes it: no URL, so /readyz on
    // the admin listener the config and environment name.
    assert!(healthcheck(&root, None, &admin_listen));
    let readyz = format!("http://{}/readyz", gateway.admin);
    assert!(healthcheck(&root, Some(&readyz), &admin_listen));
    assert!(!healthcheck(
        &root,
        Some("http://127.0.0.1:1/readyz"),
        &admin_listen
    ));

    // STOPSIGNAL SIGTERM: drain, exit 0, within the shutdown timeout.
    let stopped = Command::new("kill")
        .args(["-TERM", &gateway.child.id().to_string()])
        .status()
        .expect("kill(1) is needed (procps)");
    assert!(stopped.success());
    let started = Instant::now();
    let code = loop {
        if let Some(status) = gateway.child.try_wait().unwrap() {
            break status.code();
        }
        assert!(
            started.elapsed() < Duration::from_secs(35),
            "did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(code, Some(0));
    let log: Vec<String> = gateway.log.try_iter().collect();
    assert!(
        log.iter().any(|l| l.contains("\"message\":\"stopped\"")),
        "{log:#?}"
    );
    assert!(!log.iter().any(|l| l.contains("change-me")), "{log:#?}");
}

#[test]
fn a_bad_override_is_refused_naming_the_variable() {
    let root = ImageRoot::new();
    let mut command = root.command(&["serve"], "ftp://nowhere", "127.0.0.1:0");
    let output = unbusy(|| command.output());
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("PORTCULLIS_UPSTREAM (environment): "),
        "{stderr}"
    );
    // `check` sees the same environment.
    let mut command = root.command(&["check"], "http://127.0.0.1:8000", "127.0.0.1:0");
    let output = unbusy(|| command.output());
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
}

#[test]
fn the_example_admin_token_is_refused_on_a_reachable_admin_listener() {
    let root = ImageRoot::new();
    // The image's own admin address, without PORTCULLIS_ADMIN_TOKEN: the
    // shipped config's "change-me" would be open to the network.
    let mut command = root.command(&["serve"], "http://127.0.0.1:8000", "0.0.0.0:0");
    command.env_remove("PORTCULLIS_ADMIN_TOKEN");
    let output = unbusy(|| command.output());
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("admin.token is the example value \"change-me\""),
        "{stderr}"
    );
}
