//! Time per session lookup in the Django store with its cache off: one
//! `django_session` read, the signature and `_auth_user_hash` checks, and
//! the user with groups and permissions, against a real Django database.
//! Then the same with the cache on (the default), for comparison.
//!
//! `cargo run --release --example django_lookup -- DATABASE_URL SECRET_KEY SESSION_ID [N]`
//! e.g. `... sqlite:///tmp/pj/db.sqlite3 k1 e63yriw7ftpce84h0w20jug82hdzsblv 5000`

use std::time::{Duration, Instant};

use portcullis::session::django::settings::{DjangoConfig, DjangoSettings, DjangoTables};
use portcullis::session::{DjangoStore, SessionId, SessionStore};

fn store(database: &str, secret_key: &str, cache_capacity: u64) -> DjangoStore {
    let settings = DjangoSettings {
        database: database.to_string(),
        database_ca_file: None,
        secret_key: secret_key.as_bytes().to_vec(),
        secret_key_fallbacks: Vec::new(),
        tables: DjangoTables {
            session: "django_session".into(),
            user: "auth_user".into(),
            username_column: "username".into(),
            user_groups: "auth_user_groups".into(),
            user_permissions: "auth_user_user_permissions".into(),
            user_column: "user_id".into(),
            token: "authtoken_token".into(),
        },
        authentication_backends: vec!["django.contrib.auth.backends.ModelBackend".into()],
        timeout: Duration::from_secs(2),
        cache_ttl: Duration::from_secs(60),
        negative_cache_ttl: Duration::from_secs(60),
        cache_capacity,
    };
    let config = DjangoConfig::new(settings).unwrap_or_else(|e| panic!("{e}"));
    DjangoStore::new(&config)
}

async fn time(store: &DjangoStore, id: &SessionId, n: u32) -> Duration {
    // One warm-up lookup opens the connection and fills the cache.
    let first = store.get(id).await.expect("the database answers");
    assert!(first.is_some(), "the session is no signed-in user");
    let started = Instant::now();
    for _ in 0..n {
        let _ = store.get(id).await;
    }
    started.elapsed() / n
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, database, secret_key, session, rest @ ..] = args.as_slice() else {
        eprintln!("usage: django_lookup DATABASE_URL SECRET_KEY SESSION_ID [N]");
        std::process::exit(2);
    };
    let n: u32 = rest.first().and_then(|n| n.parse().ok()).unwrap_or(2000);
    let id = SessionId::parse(session).expect("a 32-character session id");
    let uncached = time(&store(database, secret_key, 0), &id, n).await;
    let cached = time(&store(database, secret_key, 100_000), &id, n).await;
    println!("django store, {n} lookups of one session:");
    println!(
        "  cache off: {:>8.1} µs per lookup",
        uncached.as_secs_f64() * 1e6
    );
    println!(
        "  cache on:  {:>8.2} µs per lookup",
        cached.as_secs_f64() * 1e6
    );
}
