//! DRF's throttles through a real gateway: the same requests sent to the
//! real Django + DRF project (its `AnonRateThrottle`, `UserRateThrottle`
//! and `ScopedRateThrottle` views) and to the gateway must get the same
//! answers, 429 and DRF's body and `Retry-After` included; users counted
//! by user, anonymous clients by the address `trusted_proxies` make;
//! shared across replicas through Redis; counted by nothing `explain`
//! does; reported, not enforced, under `mode = "report"`.

use std::net::SocketAddr;

use serde_json::json;

use crate::common::django::{Database, DjangoProject};
use crate::common::redis::RedisServer;
use crate::common::*;

const SECRET_KEY: &str = "django-insecure-throttle-key-0123456789abcdefghijk";

/// The rates and views of tests/django_project (settings.py's
/// DEFAULT_THROTTLE_RATES, shop.views.Throttled, Burst and BurstToo).
const DRF_ROUTES: &str = r#"
[throttle]
anon = "3/min"
user = "5/min"

[throttle.scopes]
burst = "2/min"

[[routes]]
name = "throttled"
path = "/api/throttled/**"
access = "anonymous"

[[routes]]
name = "burst"
path = "/api/burst/**"
access = "anonymous"
throttle = { scope = "burst", anon = "none", user = "none" }

[[routes]]
name = "burst-too"
path = "/api/burst-too/**"
access = "anonymous"
throttle = { scope = "burst", anon = "none", user = "none" }
"#;

/// The seconds a 429 body names, and the body with them taken out.
fn wait_in(body: &str) -> (Option<u64>, String) {
    let prefix = "Expected available in ";
    let Some(at) = body.find(prefix) else {
        return (None, body.to_string());
    };
    let rest = &body[at + prefix.len()..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    let without = format!("{}{}", &body[..at + prefix.len()], &rest[digits.len()..]);
    (digits.parse().ok(), without)
}

/// Asserts DRF's 429 for a throttle whose oldest request was made just
/// now in a window of `window` seconds: the wait is the window, less the
/// (few) seconds the test took since, and `Retry-After` says the same.
fn assert_throttled(reply: &Reply, window: u64) {
    assert_eq!(reply.status.as_u16(), 429, "{}", reply.text());
    assert_eq!(reply.reason(), Some("throttled"));
    assert_eq!(reply.headers["content-type"], "application/json");
    let body = reply.text();
    let (wait, without) = wait_in(&body);
    let wait = wait.unwrap_or_else(|| panic!("no wait in {body}"));
    assert_eq!(
        without,
        r#"{"detail":"Request was throttled. Expected available in  seconds."}"#
    );
    assert!(wait <= window && wait + 5 > window, "{body}");
    assert_eq!(reply.headers["retry-after"], wait.to_string().as_str());
}

fn retry_after(head: &str) -> Option<u64> {
    head.lines()
        .find_map(|line| {
            line.strip_prefix("retry-after: ")
                .or_else(|| line.strip_prefix("Retry-After: "))
        })
        .and_then(|value| value.trim().parse().ok())
}

/// Sends `GET path` (with `head` lines) to Django and to the gateway, and
/// asserts the same status; for a 429 also the same body (the seconds
/// within one of each other: the two clocks start a few milliseconds
/// apart) and the same `Retry-After`. Returns the status.
async fn same(site: SocketAddr, h: &Harness, path: &str, head: &str, case: &str) -> u16 {
    let bytes = format!(
        "GET {path} HTTP/1.1\r\nHost: testserver\r\nAccept: application/json\r\n{head}Connection: close\r\n\r\n"
    );
    let django = raw_exchange(site, bytes.as_bytes()).await;
    let ours = h.raw(bytes.as_bytes()).await;
    assert_eq!(
        ours.status, django.status,
        "{case}: django said {}, we said {}",
        django.body, ours.body
    );
    if ours.status != 429 {
        // Let through: the gateway's upstream (an echo) answered, not DRF.
        assert!(
            !ours.head.contains("x-portcullis-reason:"),
            "{case}: {}",
            ours.head
        );
        return ours.status;
    }
    let (django_wait, django_text) = wait_in(&django.body);
    let (our_wait, our_text) = wait_in(&ours.body);
    assert_eq!(our_text, django_text, "{case}");
    if let (Some(d), Some(o)) = (django_wait, our_wait) {
        assert!(d.abs_diff(o) <= 1, "{case}: django waits {d} s, we {o} s");
        assert_eq!(
            retry_after(&django.head),
            Some(d),
            "{case}: {}",
            django.head
        );
        assert_eq!(retry_after(&ours.head), Some(o), "{case}: {}", ours.head);
    } else {
        assert_eq!(django_wait, our_wait, "{case}");
    }
    ours.status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymous_and_scoped_throttles_answer_as_drf_does() {
    let project = DjangoProject::new(Database::Sqlite, SECRET_KEY, false);
    let site = project.serve();
    let site: SocketAddr = ([127, 0, 0, 1], site.port).into();
    let h = Harness::start(DRF_ROUTES).await;
    // anon 3/min and user 5/min both count an anonymous client (by
    // address): the fourth request is the anon throttle's 429.
    let statuses: Vec<u16> = {
        let mut out = Vec::new();
        for n in 1..=7 {
            out.push(same(site, &h, "/api/throttled/", "", &format!("anonymous #{n}")).await);
        }
        out
    };
    assert_eq!(statuses, [200, 200, 200, 429, 429, 429, 429]);
    let refused = h
        .get("/api/throttled/", &[("accept", "application/json")])
        .await;
    assert_throttled(&refused, 60);
    // One scope, two views: one history.
    assert_eq!(same(site, &h, "/api/burst/", "", "burst #1").await, 200);
    assert_eq!(
        same(site, &h, "/api/burst-too/", "", "burst-too #1").await,
        200
    );
    assert_eq!(same(site, &h, "/api/burst/", "", "burst #2").await, 429);
    assert_eq!(
        same(site, &h, "/api/burst-too/", "", "burst-too #2").await,
        429
    );
    // A refused request reached no upstream.
    let forwarded = h.seen().len();
    assert_eq!(
        forwarded,
        3 + 2,
        "{:?}",
        h.seen().iter().map(|s| &s.target).collect::<Vec<_>>()
    );
}

/// A user of Django's sessions, counted by user: the same session from
/// any address shares one history, as DRF keys `UserRateThrottle` by
/// user id; the anon rate does not count them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_in_user_is_counted_by_user_as_drf_does() {
    let project = DjangoProject::new(Database::Sqlite, SECRET_KEY, false);
    project.fixture(&["user", "alice", "pw-alice"]);
    let site = project.serve();
    let site: SocketAddr = ([127, 0, 0, 1], site.port).into();
    let key_file = project.dir.path().join("secret_key.txt");
    std::fs::write(&key_file, format!("{SECRET_KEY}\n")).unwrap();
    let tail = format!(
        "{DRF_ROUTES}\n[session]\nstore = \"django\"\n\n[django]\ndatabase = {:?}\nsecret_key_file = {:?}\n",
        project.database_url(),
        key_file.display().to_string(),
    );
    let h = Harness::start(&tail).await;
    let login = project.fixture(&["login", "alice", "pw-alice"]);
    let cookie = format!(
        "Cookie: sessionid={}\r\n",
        login["sessionid"].as_str().unwrap()
    );
    let mut statuses = Vec::new();
    for n in 1..=6 {
        statuses.push(same(site, &h, "/api/throttled/", &cookie, &format!("alice #{n}")).await);
    }
    // user 5/min; anon 3/min does not count her.
    assert_eq!(statuses, [200, 200, 200, 200, 200, 429]);
    // An anonymous client is counted apart from her.
    assert_eq!(
        same(site, &h, "/api/throttled/", "", "anonymous").await,
        200
    );
}

const OWN_RATES: &str = r#"
[throttle]
anon = "2/min"

[[routes]]
name = "search"
path = "/search/**"
access = "anonymous"
throttle = { anon = "1/min" }

[[routes]]
name = "health"
path = "/health/**"
access = "anonymous"
throttle = { anon = "none" }

[[routes]]
name = "trial"
path = "/trial/**"
access = "anonymous"
mode = "report"
throttle = { anon = "1/min" }

[[routes]]
name = "staff"
path = "/staff/**"
access = "staff"

[[routes]]
name = "free"
path = "/free/**"
access = "anonymous"
throttle = { anon = "none", scope = "unlimited" }

[throttle.scopes]
unlimited = "none"

[[routes]]
name = "rest"
path = "/**"
access = "anonymous"
"#;

/// Behind a proxy on 127.0.0.1: clients are whom X-Forwarded-For names.
async fn behind_a_proxy(tail: &str) -> Harness {
    Harness::with_config(|upstream| {
        config(upstream, tail).replace(
            "admin_listen = \"127.0.0.1:0\"",
            "admin_listen = \"127.0.0.1:0\"\ntrusted_proxies = [\"127.0.0.1\"]",
        )
    })
    .await
}

#[tokio::test]
async fn each_client_address_has_its_own_history_and_routes_their_own_rates() {
    let h = behind_a_proxy(OWN_RATES).await;
    let from = |address: &'static str| [("x-forwarded-for", address)];
    // The top-level anon rate, by the address the trusted proxy saw.
    assert_eq!(h.get("/a", &from("192.0.2.1")).await.status, 200);
    assert_eq!(h.get("/b", &from("192.0.2.1")).await.status, 200);
    assert_throttled(&h.get("/c", &from("192.0.2.1")).await, 60);
    // A client cannot pose as another by writing the header itself: the
    // proxy appends the address it saw, and that one counts.
    let posing = h.get("/d", &from("192.0.2.2, 192.0.2.1")).await;
    assert_eq!(posing.status, 429, "{}", posing.text());
    assert_eq!(h.get("/d", &from("192.0.2.2")).await.status, 200);
    // A route's own rate counts its own requests only.
    assert_eq!(h.get("/search/x", &from("192.0.2.1")).await.status, 200);
    assert_eq!(h.get("/search/x", &from("192.0.2.1")).await.status, 429);
    // "none": not throttled at all; a scope whose rate is "none" neither.
    for _ in 0..5 {
        assert_eq!(h.get("/health/x", &from("192.0.2.1")).await.status, 200);
        assert_eq!(h.get("/free/x", &from("192.0.2.1")).await.status, 200);
    }
    // No renderer suits `Accept: image/png` (DRF would answer 406 before
    // counting): the gateway counts it all the same, since the upstream
    // may serve it, so such a header is no way around a throttle.
    let png = |address: &'static str| [("x-forwarded-for", address), ("accept", "image/png")];
    assert_eq!(h.get("/e", &png("192.0.2.5")).await.status, 200);
    assert_eq!(h.get("/e?format=xml", &png("192.0.2.5")).await.status, 200);
    assert_eq!(h.get("/e", &png("192.0.2.5")).await.status, 429);
    // Report mode: forwarded, counted as would_deny.
    assert_eq!(h.get("/trial/x", &from("192.0.2.3")).await.status, 200);
    let reported = h.get("/trial/x", &from("192.0.2.3")).await;
    assert_eq!(reported.status, 200, "{}", reported.text());
    assert_eq!(reported.echoed()["target"], "/trial/x");
    let metrics = h.admin("GET", "/metrics", None, "").await.text();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("portcullis_requests_total{")
                && l.contains("route=\"trial\"")
                && l.contains("decision=\"would_deny\"")
                && l.contains("reason=\"throttled\"")),
        "{metrics}"
    );
    // A request the permissions refuse is never counted (DRF checks
    // throttles after permissions).
    for _ in 0..3 {
        h.get("/staff/x", &from("192.0.2.4")).await.assert_denied(
            403,
            "not_authenticated",
            NOT_AUTHENTICATED,
        );
    }
    assert_eq!(h.get("/x", &from("192.0.2.4")).await.status, 200);
}

#[tokio::test]
async fn gateway_users_are_counted_by_user_and_explain_counts_nothing() {
    let h = Harness::start("[throttle]\nuser = \"2/min\"\n\n[[routes]]\nname = \"api\"\npath = \"/**\"\naccess = \"authenticated\"\n").await;
    let alice = Harness::cookie(&h.session(r#"{"username":"alice"}"#).await);
    let bob = Harness::cookie(&h.session(r#"{"username":"bob"}"#).await);
    // explain, as often as anyone likes, counts nothing.
    let explain =
        json!({"method": "GET", "url": "/x", "headers": [format!("Cookie: {alice}")]}).to_string();
    for _ in 0..3 {
        let explained = h
            .admin("POST", "/explain", Some(ADMIN_TOKEN), &explain)
            .await
            .json();
        assert_eq!(explained["decision"], "forward", "{explained:#}");
        let step = explained["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["stage"] == "throttle")
            .cloned()
            .unwrap_or_default();
        assert!(
            step["detail"]
                .as_str()
                .unwrap_or("")
                .contains("user 2/minute counts user:name:alice"),
            "{explained:#}"
        );
    }
    assert_eq!(h.get("/x", &[("cookie", &alice)]).await.status, 200);
    assert_eq!(h.get("/x", &[("cookie", &alice)]).await.status, 200);
    assert_throttled(&h.get("/x", &[("cookie", &alice)]).await, 60);
    assert_eq!(h.get("/x", &[("cookie", &bob)]).await.status, 200);
}

/// Two replicas on one Redis count one history: whichever a client
/// reaches, its fourth request in the minute is refused; every throttle
/// counts what it lets through even when another refuses; and with Redis
/// gone, nothing is let through uncounted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_sharing_redis_count_one_history() {
    let mut redis = RedisServer::start();
    let tail = format!(
        "[throttle]\nanon = \"3/min\"\nuser = \"5/min\"\n\n[[routes]]\nname = \"open\"\npath = \"/**\"\naccess = \"anonymous\"\n\n[session]\nstore = \"redis\"\nredis_url = \"{}\"\nredis_timeout = \"250ms\"\n",
        redis.url()
    );
    let one = Harness::start(&tail).await;
    let two = Harness::start(&tail).await;
    assert_eq!(one.get("/a", &[]).await.status, 200);
    assert_eq!(two.get("/a", &[]).await.status, 200);
    assert_eq!(one.get("/a", &[]).await.status, 200);
    assert_throttled(&two.get("/a", &[]).await, 60);
    assert_eq!(one.get("/a", &[]).await.status, 429);
    // The history lives in Redis, under the store's prefix, newest first.
    let keys = redis.cli(&["--scan", "--pattern", "*throttle:anon:ip:127.0.0.1"]);
    let key = keys
        .lines()
        .next()
        .unwrap_or_else(|| panic!("no history key in {keys:?}"))
        .trim()
        .to_string();
    assert_eq!(redis.cli(&["LLEN", &key]).trim(), "3");
    // The user throttle (5/min, which counts an anonymous client by
    // address too) recorded the two the anon throttle refused: DRF asks
    // every throttle, and each counts what it lets through.
    let user_keys = redis.cli(&["--scan", "--pattern", "*throttle:user:ip:127.0.0.1"]);
    let user_key = user_keys
        .lines()
        .next()
        .unwrap_or_else(|| panic!("no user history in {user_keys:?}"))
        .trim()
        .to_string();
    assert_eq!(redis.cli(&["LLEN", &user_key]).trim(), "5");
    let ttl: i64 = redis.cli(&["PTTL", &key]).trim().parse().unwrap();
    assert!(ttl > 0 && ttl <= 60_000, "{ttl}");
    redis.stop();
    one.get("/a", &[]).await.assert_denied(
        503,
        "store_unavailable",
        r#"{"detail":"Session store unavailable."}"#,
    );
}

/// Client → the shipped nginx.conf → the decision listener: the throttle's
/// 429 reaches the client as 429 with DRF's body and `Retry-After`
/// (nginx's `auth_request` passes only 401 and 403 itself), each client
/// counted by the address nginx appends to X-Forwarded-For.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_nginx_a_throttled_client_gets_the_429() {
    let h = Harness::start(
        "[throttle]\nanon = \"2/min\"\n\n[[routes]]\nname = \"open\"\npath = \"/**\"\naccess = \"anonymous\"\n\n[decision]\ntrusted_ingress = [\"127.0.0.1\"]\nclient_address = \"x-forwarded-for\"\n",
    )
    .await;
    let app = h.upstream.url().trim_start_matches("http://").to_string();
    let nginx = crate::common::ingress::Ingress::nginx(h.decision.unwrap(), &app);
    let url = format!("{}/x", nginx.url());
    for _ in 0..2 {
        let allowed = crate::decision::send(&url, "GET", &[]).await;
        assert_eq!(allowed.status, 200, "{}", allowed.body);
    }
    let refused = crate::decision::send(&url, "GET", &[]).await;
    assert_eq!(refused.status, 429, "{}", refused.body);
    assert_eq!(refused.header("x-portcullis-reason"), Some("throttled"));
    let (wait, without) = wait_in(&refused.body);
    assert_eq!(
        without,
        r#"{"detail":"Request was throttled. Expected available in  seconds."}"#
    );
    let wait = wait.unwrap();
    assert!(wait <= 60 && wait > 55, "{}", refused.body);
    assert_eq!(
        refused.header("retry-after"),
        Some(wait.to_string().as_str())
    );
    // The upstream saw the two let through, and nothing of the third.
    assert_eq!(h.seen().len(), 2);
}
