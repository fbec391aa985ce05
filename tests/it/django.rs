//! `session.store = "django"` against a real Django + DRF project (copied
//! into a temporary directory), on SQLite and on a real PostgreSQL: users,
//! groups, permissions and sessions are made through Django's own APIs
//! (`manage.py fixture`, its test client's `login`), and the gateway must
//! decide exactly as Django does. The Django site also runs as a second
//! upstream, so the same requests are sent to both and the decisions
//! compared.

use crate::common::django::{Database, DjangoProject, Postgres};
use crate::common::*;

pub(crate) const SECRET_KEY: &str = "django-insecure-test-key-0123456789abcdefghijklmnop";

pub(crate) const ROUTES: &str = r#"
[[routes]]
name = "open"
path = "/api/open/**"
access = "anonymous"

[[routes]]
name = "me"
path = "/api/me/**"
access = "authenticated"

[[routes]]
name = "staff"
path = "/api/staff/**"
access = "staff"

[[routes]]
name = "widgets"
path = "/api/widgets/**"
access = "authenticated"
model = "shop.widget"

[[routes]]
name = "reports"
path = "/api/reports/**"
access = "authenticated"
permissions = ["shop.view_report"]
"#;

/// The gateway's config tail: the routes, and `[django]` pointing at the
/// project's database with `secret_key` and `fallbacks`.
fn django_config(
    project: &DjangoProject,
    secret_key: &str,
    fallbacks: &[&str],
    extra: &str,
) -> String {
    let key_file = project.dir.path().join("secret_key.txt");
    // As Django deployments keep it: a file, with a trailing newline.
    std::fs::write(&key_file, format!("{secret_key}\n")).unwrap();
    let use_sessions = if project.csrf_use_sessions {
        "[csrf]\nuse_sessions = true\n"
    } else {
        ""
    };
    format!(
        "{ROUTES}\n{use_sessions}\n[session]\nstore = \"django\"\n\n[django]\ndatabase = {:?}\nsecret_key_file = {:?}\nsecret_key_fallbacks = {:?}\n{extra}\n",
        project.database_url(),
        key_file.display().to_string(),
        fallbacks,
    )
}

async fn gateway(project: &DjangoProject, extra: &str) -> Harness {
    let tail = django_config(project, &project.secret_key.clone(), &[], extra);
    Harness::with_config(|upstream| config(upstream, &tail)).await
}

/// Users with what each route needs, made by Django.
pub(crate) fn people(project: &DjangoProject) {
    project.fixture(&[
        "user",
        "alice",
        "pw-alice",
        "--group",
        "ops",
        "--perm",
        "shop.view_report",
    ]);
    project.fixture(&["user", "bob", "pw-bob"]);
    project.fixture(&["user", "carol", "pw-carol", "--staff"]);
    project.fixture(&["user", "root", "pw-root", "--superuser"]);
    project.fixture(&["user", "gina", "pw-gina", "--group", "editors"]);
    project.fixture(&["group-perm", "editors", "shop.add_widget"]);
}

pub(crate) struct Login {
    pub sessionid: String,
    pub csrftoken: Option<String>,
    pub token: String,
}

pub(crate) fn login(project: &DjangoProject, name: &str) -> Login {
    let answer = project.fixture(&["login", name, &format!("pw-{name}")]);
    Login {
        sessionid: answer["sessionid"].as_str().unwrap().to_string(),
        csrftoken: answer["csrftoken"].as_str().map(str::to_string),
        token: answer["token"].as_str().unwrap().to_string(),
    }
}

pub(crate) fn cookie(login: &Login) -> String {
    match &login.csrftoken {
        Some(csrf) => format!("sessionid={}; csrftoken={csrf}", login.sessionid),
        None => format!("sessionid={}", login.sessionid),
    }
}

async fn get_as(h: &Harness, path: &str, login: &Login) -> Reply {
    h.get(path, &[("cookie", &cookie(login))]).await
}

/// Everything a Django-made session must and must not do at the gateway.
async fn sessions_made_by_django_decide_routes(database: Database) {
    let project = DjangoProject::new(database, SECRET_KEY, false);
    people(&project);
    // Every lookup asks the database, so each change shows at once.
    let h = gateway(&project, "cache_size = 0").await;
    let alice = login(&project, "alice");

    let reply = get_as(&h, "/api/me/", &alice).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let echo = reply.echoed();
    assert_eq!(echoed_header(&echo, "x-remote-user"), ["alice"]);
    assert_eq!(echoed_header(&echo, "x-remote-groups"), ["ops"]);
    assert_eq!(
        echoed_header(&echo, "x-remote-permissions"),
        ["shop.view_report"]
    );
    assert_eq!(get_as(&h, "/api/reports/", &alice).await.status, 200);
    get_as(&h, "/api/staff/", &alice).await.assert_denied(
        403,
        "permission_denied",
        PERMISSION_DENIED,
    );

    // Permissions through a group, via django_content_type.
    let gina = login(&project, "gina");
    let echo = get_as(&h, "/api/me/", &gina).await.echoed();
    assert_eq!(
        echoed_header(&echo, "x-remote-permissions"),
        ["shop.add_widget"]
    );
    let post = |login: &Login, path: &'static str| {
        let cookies = cookie(login);
        let token = login.token.clone();
        let h = &h;
        async move {
            h.send(
                "POST",
                path,
                &[("cookie", &cookies), ("x-csrftoken", &token)],
                "",
            )
            .await
        }
    };
    assert_eq!(post(&gina, "/api/widgets/").await.status, 200);
    post(&alice, "/api/widgets/")
        .await
        .assert_denied(403, "permission_denied", PERMISSION_DENIED);

    // Staff and superuser flags; a superuser holds every permission.
    let carol = login(&project, "carol");
    assert_eq!(get_as(&h, "/api/staff/", &carol).await.status, 200);
    get_as(&h, "/api/reports/", &login(&project, "bob"))
        .await
        .assert_denied(403, "permission_denied", PERMISSION_DENIED);
    let root = login(&project, "root");
    let echo = get_as(&h, "/api/reports/", &root).await.echoed();
    let all = echoed_header(&echo, "x-remote-permissions")[0];
    for permission in [
        "auth.add_user",
        "shop.add_widget",
        "shop.view_report",
        "sessions.delete_session",
    ] {
        assert!(
            all.split(',').any(|p| p == permission),
            "{permission} not in {all}"
        );
    }

    // Every user's identity headers are what Django itself says of them:
    // groups, and exactly `user.get_all_permissions()`.
    for (name, person) in [
        ("alice", &alice),
        ("gina", &gina),
        ("carol", &carol),
        ("root", &root),
    ] {
        let django = project.fixture(&["identity", name]);
        let echo = get_as(&h, "/api/me/", person).await.echoed();
        let list = |header: &str| -> Vec<String> {
            echoed_header(&echo, header)
                .first()
                .filter(|v| !v.is_empty())
                .map(|v| v.split(',').map(str::to_string).collect())
                .unwrap_or_default()
        };
        let strings = |key: &str| -> Vec<String> {
            django[key]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_string())
                .collect()
        };
        assert_eq!(list("x-remote-groups"), strings("groups"), "{name}");
        assert_eq!(
            list("x-remote-permissions"),
            strings("permissions"),
            "{name}"
        );
    }

    // CSRF: Django's csrftoken cookie and the token its page handed out.
    assert_eq!(post(&alice, "/api/me/").await.status, 200);
    h.send("POST", "/api/me/", &[("cookie", &cookie(&alice))], "")
        .await
        .assert_denied(
            403,
            "csrf_token_missing",
            r#"{"detail":"CSRF Failed: CSRF token missing."}"#,
        );

    // Forged, tampered, expired: anonymous.
    let anonymous = |reply: Reply| reply.assert_denied(403, "not_authenticated", NOT_AUTHENTICATED);
    let unknown = Login {
        sessionid: "abcdefghijklmnopqrstuvwxyz012345".into(),
        csrftoken: None,
        token: String::new(),
    };
    anonymous(get_as(&h, "/api/me/", &unknown).await);
    let forged = project.fixture(&["forge", "alice"]);
    let forged = Login {
        sessionid: forged["sessionid"].as_str().unwrap().into(),
        csrftoken: None,
        token: String::new(),
    };
    anonymous(get_as(&h, "/api/me/", &forged).await);
    let tampered = login(&project, "alice");
    assert_eq!(get_as(&h, "/api/me/", &tampered).await.status, 200);
    project.fixture(&["tamper", &tampered.sessionid]);
    anonymous(get_as(&h, "/api/me/", &tampered).await);
    let expiring = login(&project, "alice");
    project.fixture(&["expire", &expiring.sessionid]);
    anonymous(get_as(&h, "/api/me/", &expiring).await);

    // A password change logs every session out, as in Django.
    assert_eq!(get_as(&h, "/api/me/", &carol).await.status, 200);
    project.fixture(&["password", "carol", "a-new-password"]);
    anonymous(get_as(&h, "/api/me/", &carol).await);
    // `explain` says why, in Django's terms.
    let request = serde_json::json!({"method": "GET", "url": "/api/me/", "cookie": cookie(&carol)});
    let explained = h
        .admin("POST", "/explain", Some(ADMIN_TOKEN), &request.to_string())
        .await
        .json();
    assert_eq!(explained["reason"], "not_authenticated");
    let steps = explained["steps"].to_string();
    assert!(
        steps.contains("_auth_user_hash no longer matches"),
        "{steps}"
    );
    // So does deactivating the user.
    assert_eq!(get_as(&h, "/api/me/", &gina).await.status, 200);
    project.fixture(&["deactivate", "gina"]);
    anonymous(get_as(&h, "/api/me/", &gina).await);

    // Every request that reached the upstream carried one gateway identity.
    for seen in h.seen() {
        assert!(seen.header_values("x-remote-user").len() == 1, "{seen:?}");
    }
    // The admin API reads Django's sessions and writes none.
    let shown = h.show_session(&alice.sessionid).await;
    assert_eq!(shown.json()["username"], "alice", "{}", shown.text());
    assert_eq!(h.delete_session(&alice.sessionid).await.status, 409);
    let created = h
        .admin(
            "POST",
            "/sessions",
            Some(ADMIN_TOKEN),
            r#"{"username":"mallory"}"#,
        )
        .await;
    assert_eq!(created.status, 409, "{}", created.text());
    assert_eq!(get_as(&h, "/api/me/", &alice).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_sessions_made_by_django_decide_routes() {
    sessions_made_by_django_decide_routes(Database::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_sessions_made_by_django_decide_routes() {
    sessions_made_by_django_decide_routes(Database::Postgres(Postgres::start())).await;
}

/// `AUTH_USER_MODEL = "shop.Account"`: a custom user table with UUID keys
/// and its own many-to-many tables, named in `[django]`.
async fn a_custom_user_model_with_uuid_keys(database: Database) {
    let project = DjangoProject::with_account_model(database, SECRET_KEY);
    people(&project);
    let mut tail = django_config(
        &project,
        SECRET_KEY,
        &[],
        "cache_size = 0\nuser_table = \"shop_account\"\nuser_column = \"account_id\"",
    );
    if let Database::Postgres(pg) = &project.database {
        // And PostgreSQL through its unix socket rather than TCP.
        tail = tail.replace(&project.database_url(), &pg.socket_url());
        assert!(tail.contains("?host=/"), "{tail}");
    }
    let h = Harness::with_config(|upstream| config(upstream, &tail)).await;
    let alice = login(&project, "alice");
    let reply = get_as(&h, "/api/reports/", &alice).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let echo = reply.echoed();
    assert_eq!(echoed_header(&echo, "x-remote-user"), ["alice"]);
    assert_eq!(echoed_header(&echo, "x-remote-groups"), ["ops"]);
    assert_eq!(
        echoed_header(&echo, "x-remote-permissions"),
        ["shop.view_report"]
    );
    let gina = login(&project, "gina");
    let echo = get_as(&h, "/api/me/", &gina).await.echoed();
    assert_eq!(
        echoed_header(&echo, "x-remote-permissions"),
        ["shop.add_widget"]
    );
    get_as(&h, "/api/staff/", &alice).await.assert_denied(
        403,
        "permission_denied",
        PERMISSION_DENIED,
    );
    project.fixture(&["password", "alice", "changed"]);
    get_as(&h, "/api/me/", &alice)
        .await
        .assert_denied(403, "not_authenticated", NOT_AUTHENTICATED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_custom_user_model_with_uuid_keys() {
    a_custom_user_model_with_uuid_keys(Database::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_custom_user_model_with_uuid_keys() {
    a_custom_user_model_with_uuid_keys(Database::Postgres(Postgres::start())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_over_verified_tls() {
    // The server refuses plain TCP (pg_hba: hostssl only).
    let (pg, ca) = Postgres::start_tls();
    let port = pg.port;
    let project = DjangoProject::new(Database::Postgres(pg), SECRET_KEY, false);
    people(&project);
    let alice = login(&project, "alice");
    let plain = format!("postgres://postgres@localhost:{port}/postgres");
    let with = |url: &str, extra: &str| {
        django_config(&project, SECRET_KEY, &[], extra).replace(&project.database_url(), url)
    };
    let tls_url = format!("{plain}?sslmode=require");
    let ca_file = format!("database_ca_file = {:?}", ca.display().to_string());
    let tail = with(&tls_url, &ca_file);
    let h = Harness::with_config(|upstream| config(upstream, &tail)).await;
    let echo = get_as(&h, "/api/me/", &alice).await.echoed();
    assert_eq!(echoed_header(&echo, "x-remote-user"), ["alice"]);
    // Plain TCP is refused by the server; a certificate the gateway cannot
    // verify (system roots, not the test CA) is refused by the gateway:
    // both fail closed.
    for tail in [with(&plain, ""), with(&tls_url, "")] {
        let h = Harness::unready(|upstream| config(upstream, &tail)).await;
        get_as(&h, "/api/me/", &alice).await.assert_denied(
            503,
            "store_unavailable",
            r#"{"detail":"Session store unavailable."}"#,
        );
        assert!(h.seen().is_empty());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csrf_use_sessions_reads_the_secret_from_djangos_session() {
    let project = DjangoProject::new(Database::Sqlite, SECRET_KEY, true);
    people(&project);
    let h = gateway(&project, "").await;
    let alice = login(&project, "alice");
    assert_eq!(alice.csrftoken, None, "CSRF_USE_SESSIONS sets no cookie");
    let session = format!("sessionid={}", alice.sessionid);
    let reply = h
        .send(
            "POST",
            "/api/me/",
            &[("cookie", &session), ("x-csrftoken", &alice.token)],
            "",
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    h.send("POST", "/api/me/", &[("cookie", &session)], "")
        .await
        .assert_denied(
            403,
            "csrf_token_missing",
            r#"{"detail":"CSRF Failed: CSRF token missing."}"#,
        );
    // A token for another secret, even with a matching csrftoken cookie.
    let other = format!("{session}; csrftoken={CSRF_SECRET}");
    h.send("POST", "/api/me/", &[("cookie", &other), CSRF_HEADER], "")
        .await
        .assert_denied(
            403,
            "csrf_token_incorrect",
            r#"{"detail":"CSRF Failed: CSRF token from the 'X-Csrftoken' HTTP header incorrect."}"#,
        );
    // No csrftoken cookie is handed out, and no token endpoint exists.
    let reply = h.get("/api/open/", &[]).await;
    assert!(
        reply.headers.get("set-cookie").is_none(),
        "{:?}",
        reply.headers
    );
    assert_eq!(h.get("/_portcullis/csrf", &[]).await.status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fallback_secret_key_still_verifies() {
    let mut project = DjangoProject::new(Database::Sqlite, "the-old-key", false);
    people(&project);
    let alice = login(&project, "alice");
    // The key is rotated: the old one moves to SECRET_KEY_FALLBACKS.
    project.with_secret_key(SECRET_KEY, &["the-old-key"]);
    let tail = django_config(&project, SECRET_KEY, &["the-old-key"], "");
    let rotated = Harness::with_config(|upstream| config(upstream, &tail)).await;
    assert_eq!(get_as(&rotated, "/api/me/", &alice).await.status, 200);
    // Without the fallback the session and its user hash no longer verify.
    let tail = django_config(&project, SECRET_KEY, &[], "");
    let forgotten = Harness::with_config(|upstream| config(upstream, &tail)).await;
    get_as(&forgotten, "/api/me/", &alice).await.assert_denied(
        403,
        "not_authenticated",
        NOT_AUTHENTICATED,
    );
    // Django agrees on both.
    let site = project.serve();
    assert_eq!(
        direct(&site.url(), "GET", "/api/me/", &cookie(&alice), None)
            .await
            .0,
        200
    );
}

/// A request sent straight to the Django site: status and body.
async fn direct(
    base: &str,
    method: &str,
    path: &str,
    cookies: &str,
    token: Option<&str>,
) -> (u16, String) {
    use http_body_util::BodyExt;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Full<bytes::Bytes>>();
    let mut request = http::Request::builder()
        .method(method)
        .uri(format!("{base}{path}"))
        .header("cookie", cookies);
    if let Some(token) = token {
        request = request.header("x-csrftoken", token);
    }
    let response = client
        .request(
            request
                .body(http_body_util::Full::new(bytes::Bytes::new()))
                .unwrap(),
        )
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

async fn the_gateway_decides_as_django_does(database: Database) {
    let project = DjangoProject::new(database, SECRET_KEY, false);
    people(&project);
    let h = gateway(&project, "").await;
    let site = project.serve();
    let anonymous = Login {
        sessionid: "notasessionidnotasessionid123456".into(),
        csrftoken: None,
        token: String::new(),
    };
    let people: Vec<(&str, Login)> = vec![
        ("anonymous", anonymous),
        ("alice", login(&project, "alice")),
        ("bob", login(&project, "bob")),
        ("carol", login(&project, "carol")),
        ("root", login(&project, "root")),
        ("gina", login(&project, "gina")),
    ];
    let mut compared = 0;
    for (name, person) in &people {
        for path in [
            "/api/open/",
            "/api/me/",
            "/api/staff/",
            "/api/widgets/",
            "/api/reports/",
        ] {
            for (method, token) in [
                ("GET", None),
                ("POST", Some(person.token.as_str())),
                ("POST", None),
                ("DELETE", Some(person.token.as_str())),
            ] {
                let cookies = cookie(person);
                let (django_status, django_body) =
                    direct(&site.url(), method, path, &cookies, token).await;
                let mut headers = vec![("cookie", cookies.as_str())];
                if let Some(token) = token {
                    headers.push(("x-csrftoken", token));
                }
                let ours = h.send(method, path, &headers, "").await;
                let case = format!("{name} {method} {path} token={}", token.is_some());
                assert_eq!(
                    ours.status.as_u16(),
                    django_status,
                    "{case}: django said {django_body}, we said {}",
                    ours.text()
                );
                if django_status == 403 {
                    assert_eq!(ours.text(), django_body, "{case}");
                }
                compared += 1;
            }
        }
    }
    assert_eq!(compared, 6 * 5 * 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_the_gateway_decides_as_django_does() {
    the_gateway_decides_as_django_does(Database::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_the_gateway_decides_as_django_does() {
    the_gateway_decides_as_django_does(Database::Postgres(Postgres::start())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_fails_closed_and_recovery_needs_no_restart() {
    let project = DjangoProject::new(Database::Postgres(Postgres::start()), SECRET_KEY, false);
    people(&project);
    let h = gateway(&project, "cache_size = 0\ntimeout = \"500ms\"").await;
    let alice = login(&project, "alice");
    assert_eq!(get_as(&h, "/api/me/", &alice).await.status, 200);
    let Database::Postgres(pg) = &project.database else {
        unreachable!()
    };
    pg.stop();
    get_as(&h, "/api/me/", &alice).await.assert_denied(
        503,
        "store_unavailable",
        r#"{"detail":"Session store unavailable."}"#,
    );
    // Anonymous routes keep working; nothing protected was forwarded.
    assert_eq!(h.get("/api/open/", &[]).await.status, 200);
    assert_eq!(h.seen().len(), 2);
    assert_eq!(h.admin("GET", "/readyz", None, "").await.status, 503);
    // The database comes back: so do the users, without a restart.
    pg.restart();
    let mut status = 0;
    for _ in 0..100 {
        status = get_as(&h, "/api/me/", &alice).await.status.as_u16();
        if status == 200 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(status, 200);
    assert_eq!(h.admin("GET", "/readyz", None, "").await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_are_cached_for_the_configured_ttl() {
    use std::time::{Duration, Instant};
    let project = DjangoProject::new(Database::Sqlite, SECRET_KEY, false);
    people(&project);
    // The TTL must outlast one run of manage.py (the password change
    // below), which takes seconds on a busy machine: at least 2 s, and at
    // least four times what the login's run took here.
    let started = Instant::now();
    let carol = login(&project, "carol");
    let ttl = (started.elapsed() * 4).max(Duration::from_secs(2));
    let h = gateway(&project, &format!("cache_ttl = \"{}ms\"", ttl.as_millis())).await;
    let cached = Instant::now();
    assert_eq!(get_as(&h, "/api/staff/", &carol).await.status, 200);
    project.fixture(&["password", "carol", "changed"]);
    // Within the TTL the cached answer stands (one database read per
    // session per TTL); after it, the password change has logged her out.
    assert!(
        cached.elapsed() < ttl,
        "the password change outlasted the {ttl:?} TTL"
    );
    assert_eq!(get_as(&h, "/api/staff/", &carol).await.status, 200);
    tokio::time::sleep(
        (cached + ttl + Duration::from_millis(500)).saturating_duration_since(Instant::now()),
    )
    .await;
    get_as(&h, "/api/staff/", &carol).await.assert_denied(
        403,
        "not_authenticated",
        NOT_AUTHENTICATED,
    );
}

#[test]
fn the_explain_command_reads_djangos_database_itself() {
    let project = DjangoProject::new(Database::Sqlite, SECRET_KEY, false);
    people(&project);
    let alice = login(&project, "alice");
    let tail = django_config(&project, SECRET_KEY, &[], "");
    let file = project.dir.path().join("portcullis.toml");
    std::fs::write(&file, config("http://127.0.0.1:9", &tail)).unwrap();
    let explain = |cookie: &str| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_portcullis"))
            .args(["explain", "--config"])
            .arg(&file)
            .args(["--url", "/api/reports/", "--cookie", cookie])
            .output()
            .unwrap();
        assert!(output.status.success(), "{output:?}");
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    // No gateway is running: the command asks the database directly.
    let text = explain(&cookie(&alice));
    assert!(
        text.contains("user alice; groups: ops; permissions: shop.view_report"),
        "{text}"
    );
    assert!(text.contains("decision: forward"), "{text}");
    project.fixture(&["deactivate", "alice"]);
    let text = explain(&cookie(&alice));
    assert!(text.contains("the user is inactive"), "{text}");
    assert!(
        text.contains("decision: deny (not_authenticated)"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_misnamed_column_is_unready_and_fails_closed_never_a_shared_identity() {
    // SQLite reads an unknown "column" as a string literal; every user
    // would then be named "e_mail". The gateway must refuse instead.
    let project = DjangoProject::new(Database::Sqlite, SECRET_KEY, false);
    people(&project);
    let alice = login(&project, "alice");
    let tail = django_config(&project, SECRET_KEY, &[], "username_column = \"e_mail\"");
    let h = Harness::unready(|upstream| config(upstream, &tail)).await;
    let ready = h.admin("GET", "/readyz", None, "").await;
    assert_eq!(ready.status, 503, "{}", ready.text());
    assert!(ready.text().contains("e_mail"), "{}", ready.text());
    get_as(&h, "/api/me/", &alice).await.assert_denied(
        503,
        "store_unavailable",
        r#"{"detail":"Session store unavailable."}"#,
    );
    assert!(h.seen().is_empty());
}

#[test]
fn check_refuses_what_means_nothing_with_djangos_sessions() {
    let base = |tail: &str| config("http://127.0.0.1:9", tail);
    let django = "[session]\nstore = \"django\"\n\n[django]\ndatabase = \"sqlite:///tmp/x.sqlite3\"\nsecret_key = \"k\"\n";
    let cases = [
        (
            format!("{django}\n[[users]]\nusername = \"a\"\npassword_hash = \"x\"\n"),
            "the gateway's own sign-in",
        ),
        (
            django.replace("store = \"django\"", "store = \"django\"\nsliding = true"),
            "Django decides when its sessions end",
        ),
        (
            "[csrf]\nuse_sessions = true\n".to_string(),
            "needs session.store = \"django\"",
        ),
        (
            "[django]\ndatabase = \"sqlite:///x\"\nsecret_key = \"k\"\n".to_string(),
            "[django] is used only with",
        ),
        (
            "[session]\nstore = \"django\"\n".to_string(),
            "needs a [django] section",
        ),
        (
            django.replace(
                "secret_key = \"k\"",
                "secret_key = \"k\"\nsecret_key_env = \"K\"",
            ),
            "exactly one of secret_key",
        ),
        (
            format!("{django}secret_key_fallbacks = [\"\"]\n"),
            "an empty key in django.secret_key_fallbacks",
        ),
        (
            format!("[csrf]\nuse_sessions = true\nenforce = \"always\"\n\n{django}"),
            "use it with csrf.enforce = \"authenticated\"",
        ),
        (
            django.replace("sqlite:///tmp/x.sqlite3", "mysql://x"),
            "neither sqlite:///path nor postgres",
        ),
        (
            django.replace(
                "secret_key = \"k\"",
                "secret_key = \"k\"\nsession_table = \"s; drop table x\"",
            ),
            "is not a table or column name",
        ),
    ];
    for (tail, expected) in cases {
        let errors = portcullis::config::parse(&base(&tail), "test")
            .err()
            .unwrap_or_else(|| panic!("accepted:\n{tail}"))
            .to_string();
        assert!(errors.contains(expected), "{expected:?} not in {errors}");
    }
    assert!(portcullis::config::parse(&base(django), "test").is_ok());
}
