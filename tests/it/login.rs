//! Signing in and out at the gateway through a real gateway and upstream:
//! JSON and form logins, CSRF like LoginView, fresh session ids, cookie
//! attributes, next-redirects, identical failures, inactive users,
//! throttling, logout, the login page, HTML errors, browser redirects and
//! sliding sessions.

use std::sync::OnceLock;

use crate::common::*;

const PASSWORD: &str = "correct horse battery staple";

/// One real argon2id hash for every test (hashing is deliberately slow).
fn hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| portcullis::auth::password::hash_password(PASSWORD))
}

fn users_and_routes(extra: &str) -> String {
    format!(
        r#"
[[users]]
username = "alice"
password_hash = "{hash}"
groups = ["readers"]
permissions = ["lifeapp.change_life"]

[[users]]
username = "root"
password_hash = "{hash}"
staff = true
superuser = true

[[users]]
username = "ghost"
password_hash = "{hash}"
active = false

[[routes]]
path = "/public/**"
access = "anonymous"

[[routes]]
path = "/life/**"
access = "authenticated"

{extra}
"#,
        hash = hash()
    )
}

async fn harness(extra: &str) -> Harness {
    Harness::start(&users_and_routes(extra)).await
}

/// Every `Set-Cookie` of a reply, whole.
fn set_cookies(reply: &Reply) -> Vec<String> {
    reply
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect()
}

fn cookie_named(reply: &Reply, name: &str) -> Option<String> {
    set_cookies(reply)
        .into_iter()
        .find(|c| c.starts_with(&format!("{name}=")))
}

fn cookie_value(set_cookie: &str) -> String {
    set_cookie
        .split(';')
        .next()
        .unwrap()
        .split_once('=')
        .unwrap()
        .1
        .to_string()
}

const CSRF_COOKIE: &str = "csrftoken=abcdefghijklmnopqrstuvwxyzABCDEF";

async fn json_login(h: &Harness, username: &str, password: &str) -> Reply {
    let body = serde_json::json!({ "username": username, "password": password }).to_string();
    h.send(
        "POST",
        "/_portcullis/login",
        &[
            ("content-type", "application/json"),
            ("cookie", CSRF_COOKIE),
            CSRF_HEADER,
        ],
        &body,
    )
    .await
}

#[tokio::test]
async fn json_login_makes_a_session_that_works() {
    let h = harness("").await;
    let reply = json_login(&h, "alice", PASSWORD).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.text(), r#"{"username":"alice"}"#);
    let session = cookie_named(&reply, "sessionid").expect("a session cookie");
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=1209600"] {
        assert!(
            session.contains(attribute),
            "{attribute} missing in {session}"
        );
    }
    assert!(!session.contains("Secure"), "plain HTTP: {session}");
    let id = cookie_value(&session);
    assert_eq!(id.len(), 32);
    // The CSRF secret is rotated.
    let csrf = cookie_named(&reply, "csrftoken").expect("a rotated csrftoken");
    assert_ne!(cookie_value(&csrf), CSRF_SECRET);
    // The session carries the user's rights to the upstream.
    let echo = h
        .get("/life/1/", &[("cookie", &format!("sessionid={id}"))])
        .await
        .echoed();
    assert_eq!(echoed_header(&echo, "x-remote-user"), ["alice"]);
    assert_eq!(echoed_header(&echo, "x-remote-groups"), ["readers"]);
    assert_eq!(
        echoed_header(&echo, "x-remote-permissions"),
        ["lifeapp.change_life"]
    );
    // Never forwarded itself.
    assert_eq!(h.seen().len(), 1);
}

#[tokio::test]
async fn the_session_id_is_brand_new_and_an_old_one_is_revoked() {
    let h = harness("").await;
    let old = h.session(r#"{"username":"mallory"}"#).await;
    let body = serde_json::json!({ "username": "alice", "password": PASSWORD }).to_string();
    let cookies = format!("sessionid={old}; {CSRF_COOKIE}");
    let reply = h
        .send(
            "POST",
            "/_portcullis/login",
            &[
                ("content-type", "application/json"),
                ("cookie", &cookies),
                CSRF_HEADER,
            ],
            &body,
        )
        .await;
    assert_eq!(reply.status, 200);
    let new = cookie_value(&cookie_named(&reply, "sessionid").unwrap());
    assert_ne!(new, old);
    assert_eq!(
        h.show_session(&old).await.status,
        404,
        "the session the client came with is gone"
    );
    // A client-chosen id is never adopted.
    let chosen = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    let cookies = format!("sessionid={chosen}; {CSRF_COOKIE}");
    let reply = h
        .send(
            "POST",
            "/_portcullis/login",
            &[
                ("content-type", "application/json"),
                ("cookie", &cookies),
                CSRF_HEADER,
            ],
            &body,
        )
        .await;
    assert_ne!(
        cookie_value(&cookie_named(&reply, "sessionid").unwrap()),
        chosen
    );
}

#[tokio::test]
async fn login_is_csrf_protected_like_loginview() {
    let h = harness("").await;
    let body = serde_json::json!({ "username": "alice", "password": PASSWORD }).to_string();
    let json = ("content-type", "application/json");
    h.send("POST", "/_portcullis/login", &[json], &body)
        .await
        .assert_denied(
            403,
            "csrf_cookie_missing",
            r#"{"detail":"CSRF Failed: CSRF cookie not set."}"#,
        );
    h.send(
        "POST",
        "/_portcullis/login",
        &[json, ("cookie", CSRF_COOKIE)],
        &body,
    )
    .await
    .assert_denied(
        403,
        "csrf_token_missing",
        r#"{"detail":"CSRF Failed: CSRF token missing."}"#,
    );
    let reply = h
        .send(
            "POST",
            "/_portcullis/login",
            &[
                json,
                ("cookie", CSRF_COOKIE),
                CSRF_HEADER,
                ("origin", "https://evil.example"),
            ],
            &body,
        )
        .await;
    assert_eq!(reply.reason(), Some("csrf_bad_origin"));
}

#[tokio::test]
async fn failures_look_the_same_whoever_fails() {
    let h = harness("").await;
    let expected = r#"{"detail":"Invalid username/password."}"#;
    for (username, password) in [
        ("alice", "wrong"),
        ("nobody", PASSWORD),
        ("ghost", PASSWORD),
        ("alice", ""),
    ] {
        let reply = json_login(&h, username, password).await;
        reply.assert_denied(403, "invalid_credentials", expected);
        assert!(cookie_named(&reply, "sessionid").is_none());
    }
}

#[tokio::test]
async fn unknown_users_cost_a_full_password_check() {
    // The dummy hash checked for unknown usernames has the real hashes'
    // parameters, so the time taken does not tell whether a user exists.
    let runtime =
        portcullis::config::parse(&config("http://127.0.0.1:1", &users_and_routes("")), "t")
            .unwrap();
    let dummy = runtime.users.dummy_params();
    let real = portcullis::auth::password::parse(hash()).unwrap();
    assert_eq!(
        (dummy.m_cost(), dummy.t_cost(), dummy.p_cost()),
        (real.m_cost(), real.t_cost(), real.p_cost())
    );
}

#[tokio::test]
async fn form_login_redirects_to_a_local_next_only() {
    let h = harness("").await;
    let form = ("content-type", "application/x-www-form-urlencoded");
    let cases = [
        ("/life/1/?x=1", "/life/1/?x=1"),
        ("https://evil.example/", "/"),
        ("//evil.example/x", "/"),
        ("/\\evil.example", "/"),
        ("", "/"),
    ];
    for (next, expected) in cases {
        let body = form_urlencoded::Serializer::new(String::new())
            .append_pair("csrfmiddlewaretoken", CSRF_SECRET)
            .append_pair("username", "alice")
            .append_pair("password", PASSWORD)
            .append_pair("next", next)
            .finish();
        let reply = h
            .send(
                "POST",
                "/_portcullis/login",
                &[form, ("cookie", CSRF_COOKIE)],
                &body,
            )
            .await;
        assert_eq!(reply.status, 303, "{next}: {}", reply.text());
        assert_eq!(reply.headers["location"], expected, "{next}");
        assert!(cookie_named(&reply, "sessionid").is_some());
    }
    // `next` may also come from the login URL's query.
    let body = format!(
        "csrfmiddlewaretoken={CSRF_SECRET}&username=alice&password={}",
        PASSWORD.replace(' ', "+")
    );
    let reply = h
        .send(
            "POST",
            "/_portcullis/login?next=%2Fpublic%2Fhome",
            &[form, ("cookie", CSRF_COOKIE)],
            &body,
        )
        .await;
    assert_eq!(reply.headers["location"], "/public/home");
}

#[tokio::test]
async fn other_body_types_are_415() {
    let h = harness("").await;
    h.send(
        "POST",
        "/_portcullis/login",
        &[
            ("content-type", "text/plain"),
            ("cookie", CSRF_COOKIE),
            CSRF_HEADER,
        ],
        "x",
    )
    .await
    .assert_denied(
        415,
        "unsupported_media_type",
        r#"{"detail":"Unsupported media type \"text/plain\" in request."}"#,
    );
    let reply = h
        .send(
            "POST",
            "/_portcullis/login",
            &[
                ("content-type", "application/json"),
                ("cookie", CSRF_COOKIE),
                CSRF_HEADER,
            ],
            "{",
        )
        .await;
    assert_eq!(reply.status, 400);
    assert!(reply.json()["detail"]
        .as_str()
        .unwrap()
        .starts_with("JSON parse error - "));
}

#[tokio::test]
async fn failed_logins_are_throttled_per_address_and_username() {
    let h = harness("[login]\nmax_failures = 3\nfailure_window = \"1h\"").await;
    for _ in 0..3 {
        json_login(&h, "alice", "wrong").await.assert_denied(
            403,
            "invalid_credentials",
            r#"{"detail":"Invalid username/password."}"#,
        );
    }
    let reply = json_login(&h, "alice", "wrong").await;
    assert_eq!(reply.status, 429, "{}", reply.text());
    assert_eq!(reply.reason(), Some("throttled"));
    let detail = reply.json()["detail"].as_str().unwrap().to_string();
    let seconds: u64 = detail
        .strip_prefix("Request was throttled. Expected available in ")
        .and_then(|rest| rest.strip_suffix(" seconds."))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("DRF wording: {detail}"));
    assert_eq!(
        reply.headers["retry-after"].to_str().unwrap(),
        seconds.to_string()
    );
    // Now even the right password is refused, for this address and user.
    assert_eq!(json_login(&h, "alice", PASSWORD).await.status, 429);
    assert_eq!(
        json_login(&h, "root", PASSWORD).await.status,
        429,
        "same address"
    );
}

#[tokio::test]
async fn logout_revokes_the_session_and_expires_both_cookies() {
    let h = harness("").await;
    let id =
        cookie_value(&cookie_named(&json_login(&h, "alice", PASSWORD).await, "sessionid").unwrap());
    let cookies = format!("sessionid={id}; {CSRF_COOKIE}");
    // CSRF-protected.
    h.send("POST", "/_portcullis/logout", &[("cookie", &cookies)], "")
        .await
        .assert_denied(
            403,
            "csrf_token_missing",
            r#"{"detail":"CSRF Failed: CSRF token missing."}"#,
        );
    let reply = h
        .send(
            "POST",
            "/_portcullis/logout",
            &[("cookie", &cookies), CSRF_HEADER],
            "",
        )
        .await;
    assert_eq!(reply.status, 204);
    for name in ["sessionid", "csrftoken"] {
        let cookie = cookie_named(&reply, name).unwrap_or_else(|| panic!("{name} not expired"));
        assert!(cookie.contains("Max-Age=0"), "{cookie}");
    }
    assert_eq!(h.show_session(&id).await.status, 404);
    h.get("/life/1/", &[("cookie", &format!("sessionid={id}"))])
        .await
        .assert_denied(403, "not_authenticated", NOT_AUTHENTICATED);
    // A form logout goes home.
    let id =
        cookie_value(&cookie_named(&json_login(&h, "alice", PASSWORD).await, "sessionid").unwrap());
    let form = ("content-type", "application/x-www-form-urlencoded");
    let body = format!("csrfmiddlewaretoken={CSRF_SECRET}");
    let reply = h
        .send(
            "POST",
            "/_portcullis/logout",
            &[form, ("cookie", &format!("sessionid={id}; {CSRF_COOKIE}"))],
            &body,
        )
        .await;
    assert_eq!(reply.status, 303);
    assert_eq!(reply.headers["location"], "/");
}

#[tokio::test]
async fn the_login_page_embeds_a_working_token() {
    let h = harness("").await;
    let reply = h
        .get(
            "/_portcullis/login?next=/life/1/",
            &[("accept", "text/html")],
        )
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.headers["content-type"], "text/html; charset=utf-8");
    assert!(reply.headers["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("default-src 'none'"));
    let page = reply.text();
    assert!(page.contains("<form method=\"post\" action=\"/_portcullis/login\">"));
    assert!(page.contains("<label for=\"username\">Username</label>"));
    assert!(page.contains("name=\"next\" value=\"/life/1/\""));
    let token = page
        .split("name=\"csrfmiddlewaretoken\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap();
    let secret =
        cookie_value(&cookie_named(&reply, "csrftoken").expect("the page sets the cookie"));
    // Submitting the page's form works.
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("csrfmiddlewaretoken", token)
        .append_pair("next", "/life/1/")
        .append_pair("username", "alice")
        .append_pair("password", PASSWORD)
        .finish();
    let reply = h
        .send(
            "POST",
            "/_portcullis/login",
            &[
                ("content-type", "application/x-www-form-urlencoded"),
                ("cookie", &format!("csrftoken={secret}")),
            ],
            &body,
        )
        .await;
    assert_eq!(reply.status, 303, "{}", reply.text());
    assert_eq!(reply.headers["location"], "/life/1/");
}

#[tokio::test]
async fn a_failed_form_login_shows_the_page_again_escaped() {
    let h = harness("").await;
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("csrfmiddlewaretoken", CSRF_SECRET)
        .append_pair("username", "<script>alert(1)</script>")
        .append_pair("password", "nope")
        .finish();
    let reply = h
        .send(
            "POST",
            "/_portcullis/login",
            &[
                ("content-type", "application/x-www-form-urlencoded"),
                ("cookie", CSRF_COOKIE),
                ("accept", "text/html"),
            ],
            &body,
        )
        .await;
    assert_eq!(reply.status, 403);
    let page = reply.text();
    assert!(page.contains("Invalid username/password."));
    assert!(!page.contains("<script>alert(1)</script>"));
    assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
}

#[tokio::test]
async fn errors_are_html_for_browsers_and_json_otherwise() {
    let h = harness("").await;
    let browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
    let reply = h.get("/life/1/", &[("accept", browser)]).await;
    assert_eq!(reply.status, 403);
    assert_eq!(reply.reason(), Some("not_authenticated"));
    assert_eq!(reply.headers["content-type"], "text/html; charset=utf-8");
    assert!(reply
        .text()
        .contains("Authentication credentials were not provided."));
    for accept in [
        "*/*",
        "application/json",
        "application/json, text/html;q=0.5",
    ] {
        h.get("/life/1/", &[("accept", accept)])
            .await
            .assert_denied(403, "not_authenticated", NOT_AUTHENTICATED);
    }
    let reply = h.get("/nowhere", &[("accept", "text/html")]).await;
    assert_eq!(reply.reason(), Some("no_route"));
    assert!(reply
        .text()
        .contains("You do not have permission to perform this action."));
}

#[tokio::test]
async fn browsers_are_sent_to_the_login_page_when_configured() {
    let h = harness("[login]\nredirect_browsers = true").await;
    let reply = h
        .get("/life/1/?tab=a%20b", &[("accept", "text/html")])
        .await;
    assert_eq!(reply.status, 302);
    assert_eq!(
        reply.headers["location"],
        "/_portcullis/login?next=%2Flife%2F1%2F%3Ftab%3Da%2520b"
    );
    // API clients and unsafe methods still get the 403.
    h.get("/life/1/", &[("accept", "application/json")])
        .await
        .assert_denied(403, "not_authenticated", NOT_AUTHENTICATED);
    assert_eq!(
        h.send("POST", "/life/1/", &[("accept", "text/html")], "")
            .await
            .status,
        403
    );
}

#[tokio::test]
async fn sliding_sessions_are_renewed_and_capped() {
    // The default config does not slide.
    let plain = harness("").await;
    let id = plain.session(r#"{"username":"alice","ttl":"5m"}"#).await;
    let reply = plain
        .get("/life/1/", &[("cookie", &format!("sessionid={id}"))])
        .await;
    assert!(cookie_named(&reply, "sessionid").is_none());

    let sliding = Harness::start(&users_and_routes("").replacen(
        "[[users]]",
        "[session]\nttl = \"1h\"\nsliding = true\nmax_age = \"30m\"\n\n[[users]]",
        1,
    ))
    .await;
    // A session made with 5 minutes left is renewed on use, up to max_age.
    let id = sliding.session(r#"{"username":"alice","ttl":"5m"}"#).await;
    let before = sliding.show_session(&id).await.json();
    let reply = sliding
        .get("/life/1/", &[("cookie", &format!("sessionid={id}"))])
        .await;
    assert_eq!(reply.status, 200);
    let renewed = cookie_named(&reply, "sessionid").expect("a renewed session cookie");
    assert!(renewed.contains("HttpOnly"));
    let after = sliding.show_session(&id).await.json();
    let created = humantime::parse_rfc3339(after["created_at"].as_str().unwrap()).unwrap();
    let expires = humantime::parse_rfc3339(after["expires_at"].as_str().unwrap()).unwrap();
    assert_ne!(before["expires_at"], after["expires_at"]);
    let life = expires.duration_since(created).unwrap().as_secs();
    assert!((1799..=1801).contains(&life), "capped at max_age: {life}s");
    // Just renewed: the next request does not write again.
    let again = sliding
        .get("/life/1/", &[("cookie", &format!("sessionid={id}"))])
        .await;
    assert!(cookie_named(&again, "sessionid").is_none());
}

#[tokio::test]
async fn users_can_live_in_a_users_file() {
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users.toml");
    std::fs::write(
        &users,
        format!(
            "[[users]]\nusername = \"filed\"\npassword_hash = \"{}\"\n",
            hash()
        ),
    )
    .unwrap();
    let h = Harness::with_config(|upstream| {
        config(upstream, &format!("[session]\nusers_file = \"{}\"\n[[routes]]\npath = \"/**\"\naccess = \"authenticated\"\n", users.display()))
    })
    .await;
    assert_eq!(json_login(&h, "filed", PASSWORD).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parallel_burst_of_guesses_gets_no_more_checks_than_the_quota() {
    let h =
        std::sync::Arc::new(harness("[login]\nmax_failures = 3\nfailure_window = \"1h\"").await);
    let mut tasks = Vec::new();
    for i in 0..30 {
        let h = std::sync::Arc::clone(&h);
        tasks.push(tokio::spawn(async move {
            json_login(&h, "alice", &format!("guess {i}"))
                .await
                .status
                .as_u16()
        }));
    }
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap());
    }
    assert!(
        statuses.iter().all(|s| *s == 403 || *s == 429),
        "{statuses:?}"
    );
    let mut checked = statuses.iter().filter(|s| **s == 403).count();
    assert!(checked <= 3, "{checked} guesses were checked: {statuses:?}");
    // Guess on, one at a time, until refused: in all, exactly the quota of
    // guesses was ever checked, burst included.
    for i in 0..10 {
        match json_login(&h, "alice", &format!("late guess {i}"))
            .await
            .status
            .as_u16()
        {
            403 => checked += 1,
            429 => break,
            other => panic!("status {other}"),
        }
    }
    assert_eq!(checked, 3, "{statuses:?}");
    // Now the right password is refused too.
    let reply = json_login(&h, "alice", PASSWORD).await;
    assert_eq!(reply.status, 429, "{}", reply.text());
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_client_is_throttled_on_its_own() {
    let h = Harness::with_config(|upstream| {
        config(
            upstream,
            &users_and_routes("[login]\nmax_failures = 2\nfailure_window = \"1h\""),
        )
        .replace(
            "admin_listen = \"127.0.0.1:0\"",
            "admin_listen = \"127.0.0.1:0\"\ntrusted_proxies = [\"127.0.0.1\"]",
        )
    })
    .await;
    let attempt = |client: &'static str, username: &'static str, password: &'static str| {
        let body = serde_json::json!({ "username": username, "password": password }).to_string();
        let h = &h;
        async move {
            h.send(
                "POST",
                "/_portcullis/login",
                &[
                    ("content-type", "application/json"),
                    ("cookie", CSRF_COOKIE),
                    CSRF_HEADER,
                    ("x-forwarded-for", client),
                ],
                &body,
            )
            .await
            .status
            .as_u16()
        }
    };
    assert_eq!(attempt("203.0.113.1", "nobody1", "x").await, 403);
    assert_eq!(attempt("203.0.113.1", "nobody2", "x").await, 403);
    assert_eq!(
        attempt("203.0.113.1", "nobody3", "x").await,
        429,
        "this client is over its quota"
    );
    // Another client behind the same proxy is not locked out.
    assert_eq!(attempt("198.51.100.7", "alice", PASSWORD).await, 200);
}
