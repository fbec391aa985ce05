//! Memory per session in the memory store: RSS before and after storing
//! N sessions shaped like real ones (a username, two groups, three
//! permissions), and the lookup time at that size. `scripts/bench` runs it.
//!
//! `cargo run --release --example session_memory -- 1000000`

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant, SystemTime};

use portcullis::session::{MemoryStore, NewSession, Session, SessionId, SessionStore};

/// The memory store's futures never wait: poll once.
fn ready<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("the memory store never waits"),
    }
}

fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

fn main() {
    let count: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000_000);
    let store = MemoryStore::new();
    let before = rss_bytes();
    let now = SystemTime::now();
    let mut ids = Vec::with_capacity(count);
    for i in 0..count {
        let session = NewSession {
            username: format!("user{i:07}"),
            user_id: Some(i.to_string()),
            groups: vec!["readers".into(), "editors".into()],
            permissions: vec![
                "lifeapp.view_life".into(),
                "lifeapp.change_life".into(),
                "lifeapp.add_life".into(),
            ],
            ..NewSession::default()
        };
        let id = SessionId::generate();
        let session = Session::new(session, now, now + Duration::from_secs(3600));
        ready(store.insert(id, session)).expect("memory insert");
        ids.push(id);
    }
    let ids_bytes = std::mem::size_of_val(ids.as_slice()) as u64;
    let after = rss_bytes();
    let per_session = (after.saturating_sub(before).saturating_sub(ids_bytes)) / count as u64;
    let probes = 1_000_000usize;
    let started = Instant::now();
    let mut found = 0usize;
    for k in 0..probes {
        let id = &ids[(k.wrapping_mul(2_654_435_761)) % count];
        found += usize::from(ready(store.get(id)).ok().flatten().is_some());
    }
    let lookup_ns = started.elapsed().as_nanos() as f64 / probes as f64;
    assert_eq!(found, probes);
    println!(
        "{{\"sessions\":{count},\"rss_before\":{before},\"rss_after\":{after},\"bytes_per_session\":{per_session},\"lookup_ns\":{lookup_ns:.0}}}"
    );
}
