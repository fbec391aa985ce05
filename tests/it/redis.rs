//! The Redis session store against real redis-server processes: replicas
//! sharing sessions, revocation through invalidation (not cache expiry),
//! outages and recovery, starting with Redis down, sessions written by
//! other programs, and negative caching.

use std::time::{Duration, Instant};

use crate::common::process::ServeProcess;
use crate::common::redis::RedisServer;
use crate::common::*;

/// Sessions cached for a minute: a refusal within seconds can only come
/// from an invalidation, never from the cache entry running out.
const LONG_CACHE: &str = "cache_ttl = \"60s\"\nnegative_cache_ttl = \"60s\"\n";

fn routes() -> String {
    format!(
        "[[users]]\nusername = \"alice\"\npassword_hash = \"{}\"\n\n\
         [[routes]]\npath = \"/public/**\"\naccess = \"anonymous\"\n\n\
         [[routes]]\npath = \"/life/**\"\naccess = \"authenticated\"\n",
        password_hash()
    )
}

const PASSWORD: &str = "replica test password";

fn password_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| portcullis::auth::password::hash_password(PASSWORD))
}

fn redis_config(upstream: &str, redis: &RedisServer, extra: &str) -> String {
    format!(
        "{}\n[session]\nstore = \"redis\"\nredis_url = \"{}\"\nredis_timeout = \"250ms\"\n{extra}",
        config(upstream, &routes()),
        redis.url()
    )
}

async fn replica(redis: &RedisServer, extra: &str) -> Harness {
    let h = Harness::with_config(|upstream| redis_config(upstream, redis, extra)).await;
    wait_for_cache(&h).await;
    h
}

/// Waits (bounded) until the replica's invalidation connection is up, so
/// it caches — the case where revocation speed matters.
async fn wait_for_cache(h: &Harness) {
    for _ in 0..200 {
        let ready = h.admin("GET", "/readyz", None, "").await;
        if ready.status == 200 && ready.json()["local_cache"] == "on" {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the local cache never turned on");
}

/// Polls (bounded) until `h` refuses `cookie` on a protected route;
/// returns how long that took.
async fn until_refused(h: &Harness, cookie: &str) -> Duration {
    let started = Instant::now();
    for _ in 0..500 {
        let reply = h.get("/life/1/", &[("cookie", cookie)]).await;
        if reply.status == 403 {
            reply.assert_denied(403, "not_authenticated", NOT_AUTHENTICATED);
            return started.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    panic!("still accepted after {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_share_sessions_and_revocations() {
    let redis = RedisServer::start();
    let a = replica(&redis, LONG_CACHE).await;
    let b = replica(&redis, LONG_CACHE).await;

    // Made through A, works on B (and is now cached on both).
    let id = a.session(r#"{"username":"carol","groups":["ops"]}"#).await;
    let cookie = format!("sessionid={id}");
    let echo = b.get("/life/1/", &[("cookie", &cookie)]).await.echoed();
    assert_eq!(echoed_header(&echo, "x-remote-user"), ["carol"]);
    assert_eq!(a.get("/life/1/", &[("cookie", &cookie)]).await.status, 200);

    // Revoked through B's admin API: A refuses it long before its cache
    // entry (60 s) could run out.
    assert_eq!(b.delete_session(&id).await.status, 204);
    let delay = until_refused(&a, &cookie).await;
    eprintln!("revocation through another replica honoured after {delay:?}");

    // A direct DEL in Redis, by another program, is honoured too.
    let id = a.session(r#"{"username":"dave"}"#).await;
    let cookie = format!("sessionid={id}");
    assert_eq!(a.get("/life/1/", &[("cookie", &cookie)]).await.status, 200);
    assert_eq!(b.get("/life/1/", &[("cookie", &cookie)]).await.status, 200);
    assert_eq!(
        redis.cli(&["DEL", &format!("portcullis:session:{id}")]),
        "1"
    );
    let delay_a = until_refused(&a, &cookie).await;
    let delay_b = until_refused(&b, &cookie).await;
    eprintln!("direct DEL honoured after {delay_a:?} (A) and {delay_b:?} (B)");

    // Revoking a user's sessions uses the per-user set, on any replica.
    let ids = [
        a.session(r#"{"username":"erin"}"#).await,
        b.session(r#"{"username":"erin"}"#).await,
    ];
    for id in &ids {
        assert_eq!(
            b.get("/life/1/", &[("cookie", &format!("sessionid={id}"))])
                .await
                .status,
            200
        );
    }
    let revoked = a
        .admin("DELETE", "/users/erin/sessions", Some(ADMIN_TOKEN), "")
        .await;
    assert_eq!(revoked.text(), r#"{"revoked":2}"#);
    for id in &ids {
        until_refused(&b, &format!("sessionid={id}")).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_on_one_replica_is_logout_on_both() {
    let redis = RedisServer::start();
    let a = replica(&redis, LONG_CACHE).await;
    let b = replica(&redis, LONG_CACHE).await;
    let body = serde_json::json!({ "username": "alice", "password": PASSWORD }).to_string();
    let csrf = format!("csrftoken={CSRF_SECRET}");
    let login = a
        .send(
            "POST",
            "/_portcullis/login",
            &[
                ("content-type", "application/json"),
                ("cookie", &csrf),
                CSRF_HEADER,
            ],
            &body,
        )
        .await;
    assert_eq!(login.status, 200, "{}", login.text());
    let session = login
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .find_map(|c| c.strip_prefix("sessionid="))
        .map(|c| c.split(';').next().unwrap().to_string())
        .unwrap();
    let cookie = format!("sessionid={session}");
    assert_eq!(b.get("/life/1/", &[("cookie", &cookie)]).await.status, 200);
    let both = format!("{cookie}; {csrf}");
    assert_eq!(
        b.send(
            "POST",
            "/_portcullis/logout",
            &[("cookie", &both), CSRF_HEADER],
            ""
        )
        .await
        .status,
        204
    );
    until_refused(&a, &cookie).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_outage_fails_closed_and_recovers_without_a_restart() {
    let mut redis = RedisServer::start();
    let h = replica(&redis, "").await;
    let cached = h.session(r#"{"username":"frank"}"#).await;
    assert_eq!(
        h.get("/life/1/", &[("cookie", &format!("sessionid={cached}"))])
            .await
            .status,
        200
    );
    let never_seen = h.session(r#"{"username":"grace"}"#).await;

    redis.stop();
    // Protected routes: 503, answered within the Redis timeout (the
    // exchange itself is bounded; nothing hangs).
    let started = Instant::now();
    h.get(
        "/life/1/",
        &[("cookie", &format!("sessionid={never_seen}"))],
    )
    .await
    .assert_denied(
        503,
        "store_unavailable",
        r#"{"detail":"Session store unavailable."}"#,
    );
    eprintln!("503 during the outage after {:?}", started.elapsed());
    // explain reaches the same decision, and says why.
    let explained = h
        .admin(
            "POST",
            "/explain",
            Some(ADMIN_TOKEN),
            &format!(r#"{{"url":"/life/1/","cookie":"sessionid={never_seen}"}}"#),
        )
        .await
        .json();
    assert_eq!(explained["reason"], "store_unavailable", "{explained:#}");
    assert_eq!(explained["response"]["status"], 503);
    assert_eq!(explained["session"]["state"], "store_unavailable");
    // Anonymous routes keep working, with or without a session cookie.
    assert_eq!(h.get("/public/x", &[]).await.status, 200);
    assert_eq!(
        h.get(
            "/public/x",
            &[("cookie", &format!("sessionid={never_seen}"))]
        )
        .await
        .status,
        200
    );
    let ready = h.admin("GET", "/readyz", None, "").await;
    assert_eq!(ready.status, 503);
    assert!(ready.json()["detail"]
        .as_str()
        .unwrap()
        .starts_with("Session store unavailable"));
    // Creating sessions fails closed too.
    let reply = h
        .admin(
            "POST",
            "/sessions",
            Some(ADMIN_TOKEN),
            r#"{"username":"x"}"#,
        )
        .await;
    assert_eq!(reply.status, 503);

    // Redis comes back (empty): the gateway recovers by itself.
    redis.restart();
    h.wait_until_ready().await;
    let fresh = h.session(r#"{"username":"heidi"}"#).await;
    assert_eq!(
        h.get("/life/1/", &[("cookie", &format!("sessionid={fresh}"))])
            .await
            .status,
        200
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_starts_with_redis_down_and_becomes_ready_when_it_appears() {
    let mut redis = RedisServer::start();
    redis.stop();
    let h = Harness::unready(|upstream| redis_config(upstream, &redis, "")).await;
    let ready = h.admin("GET", "/readyz", None, "").await;
    assert_eq!(ready.status, 503);
    assert_eq!(ready.json()["store"], "redis");
    assert_eq!(h.get("/public/x", &[]).await.status, 200);
    h.get(
        "/life/1/",
        &[("cookie", "sessionid=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")],
    )
    .await
    .assert_denied(
        503,
        "store_unavailable",
        r#"{"detail":"Session store unavailable."}"#,
    );
    redis.restart();
    h.wait_until_ready().await;
    assert_eq!(
        h.get(
            "/life/1/",
            &[("cookie", "sessionid=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")]
        )
        .await
        .status,
        403
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_written_by_other_programs_are_honoured() {
    let redis = RedisServer::start();
    let h = replica(&redis, "").await;
    let id = "z".repeat(32);
    let expires = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 600;
    let json = format!(
        r#"{{"v":1,"username":"ivan","groups":["ops"],"permissions":["a.b"],"expires_at":{expires}}}"#
    );
    assert_eq!(
        redis.cli(&[
            "SET",
            &format!("portcullis:session:{id}"),
            &json,
            "EX",
            "600"
        ]),
        "OK"
    );
    let echo = h
        .get("/life/1/", &[("cookie", &format!("sessionid={id}"))])
        .await
        .echoed();
    assert_eq!(echoed_header(&echo, "x-remote-user"), ["ivan"]);
    assert_eq!(echoed_header(&echo, "x-remote-groups"), ["ops"]);
    // A schema version the gateway does not know is no session.
    let other = "y".repeat(32);
    let v2 = format!(r#"{{"v":2,"username":"ivan","expires_at":{expires}}}"#);
    redis.cli(&[
        "SET",
        &format!("portcullis:session:{other}"),
        &v2,
        "EX",
        "600",
    ]);
    h.get("/life/1/", &[("cookie", &format!("sessionid={other}"))])
        .await
        .assert_denied(403, "not_authenticated", NOT_AUTHENTICATED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_ids_are_answered_from_the_cache_not_redis() {
    let redis = RedisServer::start();
    let h = replica(&redis, LONG_CACHE).await;
    let misses = || -> u64 {
        redis
            .cli(&["INFO", "stats"])
            .lines()
            .find_map(|l| l.strip_prefix("keyspace_misses:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap()
    };
    let before = misses();
    let cookie = format!("sessionid={}", "q".repeat(32));
    for _ in 0..25 {
        h.get("/life/1/", &[("cookie", &cookie)])
            .await
            .assert_denied(403, "not_authenticated", NOT_AUTHENTICATED);
    }
    assert_eq!(misses() - before, 1, "one Redis lookup for 25 requests");
    // The gateway's own metrics agree: 24 answers from the cache.
    let text = h.admin("GET", "/metrics", None, "").await.text();
    let hits: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("portcullis_session_cache_hits_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap();
    assert!(hits >= 24.0, "{hits} cache hits");
    // Sessions are stored with a Redis TTL ending at their expiry.
    let id = h.session(r#"{"username":"judy","ttl":"90s"}"#).await;
    let ttl: u64 = redis
        .cli(&["TTL", &format!("portcullis:session:{id}")])
        .parse()
        .unwrap();
    assert!((85..=90).contains(&ttl), "ttl {ttl}");
    assert_eq!(
        redis.cli(&["SISMEMBER", "portcullis:session:user:judy", &id]),
        "1"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_redis_is_cut_off_by_the_timeout() {
    let redis = RedisServer::start();
    let h = replica(&redis, "").await;
    let id = h.session(r#"{"username":"kim"}"#).await;
    redis.signal("-STOP");
    let started = Instant::now();
    let reply = h
        .get("/life/1/", &[("cookie", &format!("sessionid={id}"))])
        .await;
    let took = started.elapsed();
    redis.signal("-CONT");
    reply.assert_denied(
        503,
        "store_unavailable",
        r#"{"detail":"Session store unavailable."}"#,
    );
    eprintln!("503 from a frozen Redis after {took:?} (redis_timeout 250ms)");
    assert_eq!(h.get("/public/x", &[]).await.status, 200);
    h.wait_until_ready().await;
    assert_eq!(
        h.get("/life/1/", &[("cookie", &format!("sessionid={id}"))])
            .await
            .status,
        200
    );
}

/// Three masters joined into a Redis Cluster by `redis-cli --cluster create`.
fn start_cluster() -> Vec<RedisServer> {
    let nodes: Vec<RedisServer> = (0..3)
        .map(|_| {
            RedisServer::start_with(&[
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                "nodes.conf",
            ])
        })
        .collect();
    let addresses: Vec<String> = nodes
        .iter()
        .map(|n| format!("127.0.0.1:{}", n.port))
        .collect();
    let created = std::process::Command::new("redis-cli")
        .args(["--cluster", "create"])
        .args(&addresses)
        .args(["--cluster-replicas", "0", "--cluster-yes"])
        .output()
        .expect("redis-cli");
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stdout)
    );
    // The cluster converges by gossip: wait (bounded) until every node says ok.
    for _ in 0..200 {
        if nodes
            .iter()
            .all(|n| n.cli(&["CLUSTER", "INFO"]).contains("cluster_state:ok"))
        {
            return nodes;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!("the cluster never reached cluster_state:ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_cluster_spreads_sessions_over_its_slots() {
    let nodes = start_cluster();
    let urls: Vec<String> = nodes
        .iter()
        .map(|n| format!("\"{}\"", n.url().trim_end_matches("/0")))
        .collect();
    let h = Harness::with_config(|upstream| {
        format!(
            "{}\n[session]\nstore = \"redis\"\nredis_cluster_urls = [{}]\n{LONG_CACHE}",
            config(upstream, &routes()),
            urls.join(", ")
        )
    })
    .await;
    wait_for_cache(&h).await;
    let mut ids = Vec::new();
    for _ in 0..30 {
        let id = h
            .session(r#"{"username":"mallory","permissions":["a.b"]}"#)
            .await;
        let echo = h
            .get("/life/1/", &[("cookie", &format!("sessionid={id}"))])
            .await
            .echoed();
        assert_eq!(echoed_header(&echo, "x-remote-user"), ["mallory"]);
        ids.push(id);
    }
    // Spread over the masters (by hash slot), not piled on one.
    let holding = nodes
        .iter()
        .filter(|n| n.cli(&["DBSIZE"]).parse::<u64>().unwrap() > 0)
        .count();
    assert!(holding >= 2, "sessions on only {holding} node(s)");
    // A direct DEL on whichever node owns the key reaches this cache.
    let victim = &ids[0];
    let deleted = std::process::Command::new("redis-cli")
        .args([
            "-c",
            "-p",
            &nodes[0].port.to_string(),
            "DEL",
            &format!("portcullis:session:{victim}"),
        ])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&deleted.stdout).trim(), "1");
    until_refused(&h, &format!("sessionid={victim}")).await;
    // Revoking the user finds sessions on every node.
    let revoked = h
        .admin("DELETE", "/users/mallory/sessions", Some(ADMIN_TOKEN), "")
        .await;
    assert_eq!(revoked.text(), r#"{"revoked":29}"#);
    for id in &ids[1..] {
        until_refused(&h, &format!("sessionid={id}")).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sentinel_failover_is_followed_without_a_restart() {
    use crate::common::redis::Sentinel;
    let mut master = RedisServer::start();
    let master_port = master.port.to_string();
    let replica = RedisServer::start_with(&["--replicaof", "127.0.0.1", &master_port]);
    for _ in 0..200 {
        if replica
            .cli(&["INFO", "replication"])
            .contains("master_link_status:up")
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    assert!(replica
        .cli(&["INFO", "replication"])
        .contains("master_link_status:up"));
    let sentinel = Sentinel::watch("sessions", master.port);
    let h = Harness::with_config(|upstream| {
        format!(
            "{}\n[session]\nstore = \"redis\"\nredis_sentinel = {{ master = \"sessions\", urls = [\"{}\"] }}\n",
            config(upstream, &routes()),
            sentinel.url()
        )
    })
    .await;
    let id = h.session(r#"{"username":"olivia"}"#).await;
    let cookie = format!("sessionid={id}");
    assert_eq!(h.get("/life/1/", &[("cookie", &cookie)]).await.status, 200);
    // Make sure the replica has the session before the master dies.
    let key = format!("portcullis:session:{id}");
    for _ in 0..200 {
        if replica.cli(&["EXISTS", &key]) == "1" {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(replica.cli(&["EXISTS", &key]), "1");

    master.stop();
    // The sentinel promotes the replica; the gateway asks it again and
    // carries on with the same session, without a restart (bounded wait).
    let started = Instant::now();
    let mut recovered = false;
    for _ in 0..300 {
        let reply = h.get("/life/1/", &[("cookie", &cookie)]).await;
        if reply.status == 200 {
            recovered = true;
            break;
        }
        assert_eq!(reply.status, 503, "{}", reply.text());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(recovered, "never followed the failover");
    eprintln!(
        "sessions served again {:?} after the master died",
        started.elapsed()
    );
    // Reads may already be answered by the replica before the sentinel has
    // promoted it: wait (bounded) for the promotion itself.
    let mut promoted = false;
    for _ in 0..200 {
        if replica.cli(&["ROLE"]).starts_with("master") {
            promoted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(promoted, "the sentinel never promoted the replica");
    // And writes go to the new master. A write that still reaches the
    // demoted connection gets 503 (READONLY makes the gateway ask the
    // sentinel again); a client retrying (bounded) then succeeds.
    let mut fresh = None;
    for _ in 0..100 {
        let reply = h
            .admin(
                "POST",
                "/sessions",
                Some(ADMIN_TOKEN),
                r#"{"username":"peggy"}"#,
            )
            .await;
        if reply.status == 201 {
            fresh = Some(reply.json()["session_id"].as_str().unwrap().to_string());
            break;
        }
        assert_eq!(reply.status, 503, "{}", reply.text());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let fresh = fresh.expect("writes never reached the new master");
    assert_eq!(
        h.get("/life/1/", &[("cookie", &format!("sessionid={fresh}"))])
            .await
            .status,
        200
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rediss_with_a_private_ca_and_unix_sockets() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = crate::common::tls::tls_files(dir.path());
    let tls_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string();
    let socket = dir.path().join("redis.sock").display().to_string();
    let _redis = RedisServer::start_with(&[
        "--tls-port",
        &tls_port,
        "--tls-cert-file",
        &cert,
        "--tls-key-file",
        &key,
        "--tls-ca-cert-file",
        &ca,
        "--tls-auth-clients",
        "no",
        "--unixsocket",
        &socket,
    ]);
    let over = |url: String, extra: String| {
        move |upstream: &str| {
            format!(
                "{}\n[session]\nstore = \"redis\"\nredis_url = \"{url}\"\n{extra}",
                config(upstream, &routes())
            )
        }
    };
    let tls = Harness::with_config(over(
        format!("rediss://localhost:{tls_port}/0"),
        format!("redis_tls_ca_file = \"{ca}\"\n"),
    ))
    .await;
    wait_for_cache(&tls).await;
    let unix = Harness::with_config(over(format!("unix://{socket}"), String::new())).await;
    wait_for_cache(&unix).await;
    // A session made over TLS works over the unix socket, and back.
    let id = tls.session(r#"{"username":"trent"}"#).await;
    let echo = unix
        .get("/life/1/", &[("cookie", &format!("sessionid={id}"))])
        .await
        .echoed();
    assert_eq!(echoed_header(&echo, "x-remote-user"), ["trent"]);
    assert_eq!(unix.delete_session(&id).await.status, 204);
    until_refused(&tls, &format!("sessionid={id}")).await;
    // Without the CA, the server's certificate is not trusted: not ready.
    let untrusting = Harness::unready(over(
        format!("rediss://localhost:{tls_port}/0"),
        String::new(),
    ))
    .await;
    let ready = untrusting.admin("GET", "/readyz", None, "").await;
    assert_eq!(ready.status, 503);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cache_size_zero_asks_redis_every_time() {
    let redis = RedisServer::start();
    let h =
        Harness::with_config(|upstream| redis_config(upstream, &redis, "cache_size = 0\n")).await;
    let ready = h.admin("GET", "/readyz", None, "").await;
    assert_eq!(ready.json()["local_cache"], "off");
    let misses = || -> u64 {
        redis
            .cli(&["INFO", "stats"])
            .lines()
            .find_map(|l| l.strip_prefix("keyspace_misses:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap()
    };
    let before = misses();
    let cookie = format!("sessionid={}", "r".repeat(32));
    for _ in 0..10 {
        assert_eq!(h.get("/life/1/", &[("cookie", &cookie)]).await.status, 403);
    }
    assert_eq!(misses() - before, 10);
}

/// A `portcullis serve` process on this Redis; the config file lives as
/// long as the process.
fn serve_process(redis: &RedisServer, upstream: &str) -> (ServeProcess, tempfile::NamedTempFile) {
    let config = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(config.path(), redis_config(upstream, redis, LONG_CACHE)).unwrap();
    (ServeProcess::start(config.path()), config)
}

/// One HTTP/1.1 exchange over a fresh connection: (status, body).
async fn exchange(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    let reply = raw_exchange(addr.parse().unwrap(), request.as_bytes()).await;
    (reply.status, reply.body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gateway_processes_share_one_redis() {
    let redis = RedisServer::start();
    let upstream = portcullis::echo::EchoUpstream::start("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let (a, _a_config) = serve_process(&redis, &upstream.url());
    let (b, _b_config) = serve_process(&redis, &upstream.url());
    let auth = format!("Bearer {ADMIN_TOKEN}");
    // Both become ready once they reach Redis (bounded wait).
    for gateway in [&a, &b] {
        let mut ready = false;
        for _ in 0..200 {
            let (status, body) = exchange(&gateway.admin, "GET", "/readyz", &[], "").await;
            if status == 200 && body.contains(r#""local_cache":"on""#) {
                ready = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        assert!(ready, "a gateway process never became ready");
    }
    let (status, body) = exchange(
        &a.admin,
        "POST",
        "/sessions",
        &[("authorization", &auth)],
        r#"{"username":"quinn"}"#,
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let id = serde_json::from_str::<serde_json::Value>(&body).unwrap()["session_id"]
        .as_str()
        .unwrap()
        .to_string();
    let cookie = format!("sessionid={id}");
    // Made on A, used on A and B (cached on both now).
    for gateway in [&a, &b] {
        let (status, body) = exchange(
            &gateway.proxy,
            "GET",
            "/life/1/",
            &[("cookie", &cookie)],
            "",
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert!(body.contains(r#"["x-remote-user","quinn"]"#));
    }
    // Revoked through B: A refuses it (its cache entry would last 60 s).
    let (status, _) = exchange(
        &b.admin,
        "DELETE",
        &format!("/sessions/{id}"),
        &[("authorization", &auth)],
        "",
    )
    .await;
    assert_eq!(status, 204);
    let started = Instant::now();
    let mut refused = false;
    for _ in 0..500 {
        if exchange(&a.proxy, "GET", "/life/1/", &[("cookie", &cookie)], "")
            .await
            .0
            == 403
        {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert!(
        refused,
        "process A still accepts a session revoked through B"
    );
    eprintln!(
        "revocation across processes honoured after {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_explain_command_reads_sessions_from_redis_itself() {
    let redis = RedisServer::start();
    let h = replica(&redis, "").await;
    let id = h.session(r#"{"username":"ivan","groups":["ops"]}"#).await;
    let config = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        config.path(),
        redis_config("http://127.0.0.1:1", &redis, ""),
    )
    .unwrap();
    // No gateway process is asked: the command reads Redis directly.
    let explain = |path: &str| {
        crate::common::python::json_output(
            std::process::Command::new(env!("CARGO_BIN_EXE_portcullis"))
                .arg("explain")
                .arg("--config")
                .arg(config.path())
                .args([
                    "--url",
                    path,
                    "--cookie",
                    &format!("sessionid={id}"),
                    "--json",
                ]),
        )
    };
    let e = explain("/life/1/");
    assert_eq!(e["decision"], "forward", "{e:#}");
    assert_eq!(e["session"]["username"], "ivan");
    assert_eq!(e["session"]["groups"], serde_json::json!(["ops"]));
    let denied = explain("/nowhere");
    assert_eq!(denied["reason"], "no_route");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_frozen_killed_and_restarted_under_load_fails_closed_and_recovers() {
    use std::collections::BTreeMap;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};

    let mut redis = RedisServer::start();
    // Every lookup asks Redis, so every protected request meets the fault.
    let h = Arc::new(replica_uncached(&redis).await);
    let cookie = Arc::new(Mutex::new(format!(
        "sessionid={}",
        h.session(r#"{"username":"lee"}"#).await
    )));
    let stop = Arc::new(AtomicBool::new(false));
    let answers = Arc::new(Mutex::new(BTreeMap::<(String, u16), usize>::new()));
    let mut load = Vec::new();
    for path in ["/life/1/", "/life/2/", "/public/x"] {
        let (h, cookie, stop, answers) = (
            Arc::clone(&h),
            Arc::clone(&cookie),
            Arc::clone(&stop),
            Arc::clone(&answers),
        );
        load.push(tokio::spawn(async move {
            // Bounded: at most 5,000 requests per task.
            for _ in 0..5000 {
                if stop.load(Ordering::Acquire) {
                    break;
                }
                let cookie = cookie.lock().unwrap().clone();
                let started = Instant::now();
                let reply = h.get(path, &[("cookie", &cookie)]).await;
                // Every answer within the store timeout's reach, never a hang.
                assert!(
                    started.elapsed() < Duration::from_secs(5),
                    "{path} took {:?}",
                    started.elapsed()
                );
                *answers
                    .lock()
                    .unwrap()
                    .entry((path.to_string(), reply.status.as_u16()))
                    .or_default() += 1;
            }
        }));
    }
    let phase = |ms| tokio::time::sleep(Duration::from_millis(ms));
    phase(300).await;
    redis.signal("-STOP");
    phase(800).await;
    redis.signal("-CONT");
    phase(300).await;
    redis.stop();
    phase(800).await;
    redis.restart();
    h.wait_until_ready().await;
    // Redis came back empty: sign in again; the load picks the new cookie up.
    *cookie.lock().unwrap() = format!("sessionid={}", h.session(r#"{"username":"lee"}"#).await);
    phase(500).await;
    stop.store(true, Ordering::Release);
    for task in load {
        task.await.expect("a request hung or failed");
    }

    let answers = answers.lock().unwrap().clone();
    eprintln!("answers under faults: {answers:?}");
    let count = |path: &str, status: u16| {
        answers
            .get(&(path.to_string(), status))
            .copied()
            .unwrap_or(0)
    };
    for (path, status) in answers.keys() {
        let allowed: &[u16] = if path == "/public/x" {
            &[200]
        } else {
            &[200, 403, 503]
        };
        assert!(allowed.contains(status), "{path} answered {status}");
    }
    // It failed closed while the store was away, and recovered.
    assert!(
        count("/life/1/", 503) + count("/life/2/", 503) > 0,
        "{answers:?}"
    );
    assert!(
        count("/life/1/", 200) > 0 && count("/life/2/", 200) > 0,
        "{answers:?}"
    );
    // Nothing reached the upstream without a decision: it saw exactly the
    // requests that were answered 200.
    let seen = h.seen();
    for path in ["/life/1/", "/life/2/", "/public/x"] {
        let forwarded = seen.iter().filter(|s| s.target == path).count();
        assert_eq!(forwarded, count(path, 200), "{path}");
    }
}

/// A replica whose every session lookup asks Redis (no local cache).
async fn replica_uncached(redis: &RedisServer) -> Harness {
    Harness::with_config(|upstream| redis_config(upstream, redis, "cache_size = 0\n")).await
}
