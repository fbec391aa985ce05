//! Faults around the gateway, each answered as documented and bounded in
//! time: an upstream that answers garbage (502) or dies mid-body (the
//! client's response ends, nothing hangs, the next request works), and a
//! slowloris client dribbling its head one byte at a time (cut off by
//! `header_read_timeout` however steadily it sends).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const OPEN: &str = "[[routes]]\npath = \"/**\"\naccess = \"anonymous\"\n";

/// An upstream that reads each request head and answers with `answer`
/// (then closes the connection), for as long as the test runs.
async fn misbehaving_upstream(answer: &'static [u8]) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    match stream.read(&mut byte).await {
                        Ok(1) => head.push(byte[0]),
                        _ => return,
                    }
                }
                let _ = stream.write_all(answer).await;
                // Dropped: the connection closes (a reset if unread data remains).
            });
        }
    });
    addr
}

#[tokio::test]
async fn an_upstream_answering_garbage_is_502() {
    let upstream = misbehaving_upstream(b"this is not HTTP at all\r\n\r\n").await;
    let h = Harness::with_config(|_| config(&format!("http://{upstream}"), OPEN)).await;
    h.get("/x", &[]).await.assert_denied(
        502,
        "upstream_unavailable",
        r#"{"detail":"Upstream unavailable."}"#,
    );
}

#[tokio::test]
async fn an_upstream_dying_mid_body_ends_the_response_without_a_hang() {
    // Promises a megabyte, sends a kilobyte, and goes away.
    static PARTIAL: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 1048576\r\n\r\n\
        0123456789012345678901234567890123456789012345678901234567890123\
        0123456789012345678901234567890123456789012345678901234567890123";
    let upstream = misbehaving_upstream(PARTIAL).await;
    let h = Harness::with_config(|_| config(&format!("http://{upstream}"), OPEN)).await;
    let started = Instant::now();
    let mut client = TcpStream::connect(h.proxy).await.unwrap();
    client
        .write_all(b"GET /big HTTP/1.1\r\nHost: gateway.test\r\n\r\n")
        .await
        .unwrap();
    let mut received = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), client.read_to_end(&mut received))
        .await
        .expect("the client's response never ended");
    let text = String::from_utf8_lossy(&received);
    // The head was already on its way: the client sees 200, then the
    // connection closes short of the promised length (never a hang, never
    // a body padded or retried).
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(
        read.is_err() || received.len() < 1_048_576,
        "{}",
        received.len()
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    // The gateway itself is fine.
    let after = h.admin("GET", "/healthz", None, "").await;
    assert_eq!(after.status, 200);
}

#[tokio::test]
async fn a_slowloris_head_is_cut_off_by_the_header_timeout_however_steady() {
    let h = Harness::with_config(|upstream| {
        config(upstream, OPEN).replace(
            "admin_listen = \"127.0.0.1:0\"",
            "admin_listen = \"127.0.0.1:0\"\nheader_read_timeout = \"1s\"",
        )
    })
    .await;
    let mut client = TcpStream::connect(h.proxy).await.unwrap();
    let head = b"GET /x HTTP/1.1\r\nHost: gateway.test\r\nX-Pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    let started = Instant::now();
    let mut cut_off = false;
    // One byte every 100 ms: the whole head would take about 10 s.
    for byte in head.iter() {
        if client.write_all(&[*byte]).await.is_err() {
            cut_off = true;
            break;
        }
        let mut probe = [0u8; 512];
        match tokio::time::timeout(Duration::from_millis(100), client.read(&mut probe)).await {
            // Closed, or answered (408) and closed: cut off either way.
            Ok(Ok(_)) | Ok(Err(_)) => {
                cut_off = true;
                break;
            }
            Err(_) => {}
        }
    }
    let elapsed = started.elapsed();
    assert!(cut_off, "the dribbled head was read to the end");
    assert!(
        elapsed < Duration::from_secs(4),
        "cut off only after {elapsed:?}"
    );
    assert!(h.seen().is_empty(), "nothing may be forwarded");
}

/// The resident memory of process `pid`, bytes.
fn rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .unwrap()
}

/// Holds `count` keep-alive connections to `addr` (one request made on
/// each) from a Python process with a raised descriptor limit; the
/// returned child exits, closing them all, when its stdin closes.
fn hold_connections(addr: &str, count: usize) -> std::process::Child {
    use std::io::{BufRead, BufReader};
    let script = r#"
import resource, socket, sys
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
host, port = sys.argv[1].rsplit(":", 1)
held = []
for _ in range(int(sys.argv[2])):
    s = socket.create_connection((host, int(port)), timeout=10)
    s.sendall(b"GET /x HTTP/1.1\r\nHost: g\r\n\r\n")
    data = b""
    while b"\r\n\r\n" not in data:
        data += s.recv(4096)
    held.append(s)
print("ready", len(held), flush=True)
sys.stdin.read()
"#;
    let mut child = std::process::Command::new("python3")
        .args(["-c", script, addr, &count.to_string()])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs the connection holder");
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), format!("ready {count}"), "{line}");
    child
}

#[test]
fn thousands_of_idle_connections_are_held_and_their_memory_is_given_back() {
    use crate::common::process::ServeProcess;
    let upstream = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    // Requests are answered by the gateway itself (no route: 403), so the
    // upstream is never needed.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("portcullis.toml");
    std::fs::write(
        &file,
        config(
            &format!("http://{}", upstream.local_addr().unwrap()),
            "[[routes]]\npath = \"/public/**\"\naccess = \"anonymous\"\n",
        )
        .replace(
            "admin_listen = \"127.0.0.1:0\"",
            "admin_listen = \"127.0.0.1:0\"\nidle_timeout = \"60s\"\nheader_read_timeout = \"60s\"",
        ),
    )
    .unwrap();
    let gateway = ServeProcess::start_with_open_files(&file, 20_000);
    let pid = gateway.child.id();
    let baseline = rss(pid);
    let count = 3000;
    let mut holder = hold_connections(&gateway.proxy, count);
    // Held long enough for the gateway's once-a-second look to see them.
    std::thread::sleep(Duration::from_millis(2500));
    let held = rss(pid);
    // Still serving while they are open.
    let (status, _) = raw_status(&gateway.proxy);
    assert_eq!(status, 403);
    drop(holder.stdin.take());
    holder.wait().unwrap();
    // Given back (bounded wait): within 25% of the growth, plus 2 MiB for
    // the allocator's own bookkeeping.
    let grown = held.saturating_sub(baseline);
    let mut after = rss(pid);
    for _ in 0..100 {
        if after <= baseline + grown / 4 + 2 * 1024 * 1024 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        after = rss(pid);
    }
    let open = http_metric(&gateway.admin, "portcullis_open_connections");
    eprintln!(
        "open connections after: {open}; RSS: {} KiB idle, {} KiB with {count} connections, {} KiB after they closed",
        baseline / 1024,
        held / 1024,
        after / 1024
    );
    assert!(grown > 0);
    assert!(
        after <= baseline + grown / 4 + 2 * 1024 * 1024,
        "memory not given back: {} KiB idle, {} KiB held, {} KiB after",
        baseline / 1024,
        held / 1024,
        after / 1024
    );
}

/// One request the gateway answers itself (no route): the status.
fn raw_status(addr: &str) -> (u16, String) {
    let answer = crate::common::blocking::exchange(
        addr,
        "GET /nowhere HTTP/1.1\r\nHost: g\r\nConnection: close\r\n\r\n",
    );
    (crate::common::blocking::status_and_body(&answer).0, answer)
}

/// The value of a gauge or counter from the admin API's /metrics.
fn http_metric(admin: &str, name: &str) -> f64 {
    let text = crate::common::blocking::exchange(
        admin,
        "GET /metrics HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    );
    text.lines()
        .find(|l| l.starts_with(name) && !l.starts_with('#'))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN)
}
