//! Real ingress proxies in front of a gateway's decision listener: nginx
//! (`auth_request`) and Caddy (`forward_auth`) running the shipped
//! deploy/ingress/nginx.conf and Caddyfile, with only their addresses
//! changed to the test's. Each runs in its own
//! temporary directory on a free loopback port, and stops on drop.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct Ingress {
    child: Child,
    pub port: u16,
    _dir: tempfile::TempDir,
}

impl Ingress {
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// nginx with deploy/ingress/nginx.conf, asking `decision` and
    /// forwarding to `app` (`127.0.0.1:port`).
    pub fn nginx(decision: SocketAddr, app: &str) -> Ingress {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let site = shipped(
            "nginx.conf",
            &[
                ("127.0.0.1:9902", decision.to_string()),
                ("127.0.0.1:8000", app.to_string()),
                ("127.0.0.1:8080", format!("127.0.0.1:{port}")),
            ],
        );
        let d = dir.path().display();
        let config = format!(
            "pid {d}/nginx.pid; error_log {d}/error.log warn; worker_processes 1; daemon off;\n\
             events {{ worker_connections 256; }}\n\
             http {{\n  access_log off;\n  client_body_temp_path {d}/body; proxy_temp_path {d}/proxy;\n  \
             fastcgi_temp_path {d}/fcgi; uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;\n{site}\n}}\n"
        );
        std::fs::write(dir.path().join("nginx.conf"), config).unwrap();
        let child = Command::new(nginx_binary())
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(dir.path().join("nginx.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("nginx is installed (scripts/test installs nginx-light)");
        let ingress = Ingress {
            child,
            port,
            _dir: dir,
        };
        ingress.wait_until_listening();
        ingress
    }

    /// Caddy with deploy/ingress/Caddyfile, asking `decision` and
    /// forwarding to `app` (`127.0.0.1:port`).
    pub fn caddy(decision: SocketAddr, app: &str) -> Ingress {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let site = shipped(
            "Caddyfile",
            &[
                ("127.0.0.1:9902", decision.to_string()),
                ("127.0.0.1:8000", app.to_string()),
                (":8080 {", format!(":{port} {{")),
            ],
        );
        let file = dir.path().join("Caddyfile");
        std::fs::write(&file, site).unwrap();
        let child = Command::new("caddy")
            .args(["run", "--adapter", "caddyfile", "--config"])
            .arg(&file)
            // Caddy keeps state under these; the test's own directory.
            .env("HOME", dir.path())
            .env("XDG_DATA_HOME", dir.path())
            .env("XDG_CONFIG_HOME", dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("caddy is installed (scripts/test installs Debian's caddy)");
        let ingress = Ingress {
            child,
            port,
            _dir: dir,
        };
        ingress.wait_until_listening();
        ingress
    }

    fn wait_until_listening(&self) {
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!("the ingress never listened on {}", self.port);
    }
}

impl Drop for Ingress {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// deploy/ingress/`file` with its default addresses replaced by the
/// test's; each default must still be there, or the test would run
/// something other than what is shipped.
fn shipped(file: &str, replacements: &[(&str, String)]) -> String {
    let mut text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("deploy/ingress")
            .join(file),
    )
    .unwrap();
    for (default, test) in replacements {
        assert!(text.contains(default), "{file} no longer names {default}");
        text = text.replace(default, test);
    }
    text
}

fn nginx_binary() -> &'static str {
    if Path::new("/usr/sbin/nginx").exists() {
        "/usr/sbin/nginx"
    } else {
        "nginx"
    }
}

/// A port free a moment ago (bound and released).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
