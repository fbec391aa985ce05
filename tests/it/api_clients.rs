//! API clients' credentials against a real Django + DRF +
//! djangorestframework-simplejwt project: DRF tokens made by
//! `Token.objects.create`, JWTs by simplejwt's `RefreshToken.for_user`,
//! and forged ones made here. Every request goes to the Django site and to
//! the gateway (reading the same database), for several orders of
//! authentication classes, and the answers must agree: the status, and for
//! a 401 or 403 the exact body and `WWW-Authenticate`, computed by DRF in
//! the same test. Then the gateway's own tokens (memory and Redis stores,
//! made through the admin API), the identity the upstream sees, and
//! `explain`.

use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};

use crate::common::django::{Database, DjangoProject};
use crate::common::*;
use crate::django::{cookie, login, people, ROUTES, SECRET_KEY};

/// What a server answered, as far as the comparison goes.
#[derive(Debug, PartialEq)]
struct Answer {
    status: u16,
    challenge: Option<String>,
    body: String,
}

/// One request with raw header bytes (a client may send non-UTF-8).
async fn send(base: &str, method: &str, path: &str, headers: &[(&str, Vec<u8>)]) -> Answer {
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Full<Bytes>>();
    let mut request = http::Request::builder()
        .method(method)
        .uri(format!("{base}{path}"));
    for (name, value) in headers {
        request = request.header(*name, http::HeaderValue::from_bytes(value).unwrap());
    }
    let response = tokio::time::timeout(
        std::time::Duration::from_secs(20),
        client.request(request.body(Full::new(Bytes::new())).unwrap()),
    )
    .await
    .expect("answered in time")
    .unwrap();
    let status = response.status().as_u16();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let body = response.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        challenge,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Forgeries of a real access token: `alg: none`, a changed payload, the
/// same claims signed with another key.
fn forgeries(access: &str) -> Vec<(&'static str, String)> {
    let parts: Vec<&str> = access.split('.').collect();
    let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(parts[1])
        .unwrap();
    let mut claims: serde_json::Value = serde_json::from_slice(&payload).unwrap();
    let none = format!("{}.{}.", b64(br#"{"alg":"none","typ":"JWT"}"#), parts[1]);
    claims["user_id"] = serde_json::json!("4");
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        b64(claims.to_string().as_bytes()),
        parts[2]
    );
    let other_key = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(b"not-the-secret-key"),
    )
    .unwrap();
    let wrong_alg = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS512),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(SECRET_KEY.as_bytes()),
    )
    .unwrap();
    vec![
        ("alg none", none),
        ("tampered", tampered),
        ("other key", other_key),
        ("HS512 with the right key", wrong_alg),
    ]
}

/// Every credential the comparison sends: a name, and its headers.
/// Request headers as raw bytes.
type Headers = Vec<(&'static str, Vec<u8>)>;

fn credentials(project: &DjangoProject) -> Vec<(String, Headers)> {
    project.fixture(&["user", "dave", "pw-dave", "--inactive"]);
    project.fixture(&["user", "erin", "pw-erin"]);
    let key = |name: &str| {
        project.fixture(&["token", name])["key"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (alice_key, dave_key) = (key("alice"), key("dave"));
    let jwts = |name: &str| project.fixture(&["jwt", name]);
    let (alice, dave, erin) = (jwts("alice"), jwts("dave"), jwts("erin"));
    project.fixture(&["delete", "erin"]);
    let jwt = |tokens: &serde_json::Value, which: &str| tokens[which].as_str().unwrap().to_string();
    let auth = |value: Vec<u8>| vec![("authorization", value)];
    let mut all: Vec<(String, Headers)> = vec![
        ("nothing".into(), vec![]),
        (
            "alice's token".into(),
            auth(format!("Token {alice_key}").into_bytes()),
        ),
        (
            "lower-case keyword".into(),
            auth(format!("token {alice_key}").into_bytes()),
        ),
        (
            "an inactive user's token".into(),
            auth(format!("Token {dave_key}").into_bytes()),
        ),
        (
            "an unknown token".into(),
            auth(b"Token 0123456789abcdef0123456789abcdef01234567".to_vec()),
        ),
        (
            "a token over 40 characters".into(),
            auth(format!("Token {alice_key}x").into_bytes()),
        ),
        ("Token alone".into(), auth(b"Token".to_vec())),
        ("Token with spaces".into(), auth(b"Token a b".to_vec())),
        ("Token not UTF-8".into(), auth(b"Token \xff\xfe".to_vec())),
        (
            "Token in UTF-8".into(),
            auth("Token café".as_bytes().to_vec()),
        ),
        (
            "two Authorization lines".into(),
            vec![
                ("authorization", format!("Token {alice_key}").into_bytes()),
                ("authorization", format!("Token {alice_key}").into_bytes()),
            ],
        ),
        (
            "alice's access token".into(),
            auth(format!("Bearer {}", jwt(&alice, "access")).into_bytes()),
        ),
        (
            "an expired access token".into(),
            auth(format!("Bearer {}", jwt(&alice, "expired")).into_bytes()),
        ),
        (
            "a refresh token".into(),
            auth(format!("Bearer {}", jwt(&alice, "refresh")).into_bytes()),
        ),
        (
            "an access token without jti".into(),
            auth(format!("Bearer {}", jwt(&alice, "no_jti")).into_bytes()),
        ),
        (
            "an access token without user_id".into(),
            auth(format!("Bearer {}", jwt(&alice, "no_user_id")).into_bytes()),
        ),
        (
            "an inactive user's access token".into(),
            auth(format!("Bearer {}", jwt(&dave, "access")).into_bytes()),
        ),
        (
            "a deleted user's access token".into(),
            auth(format!("Bearer {}", jwt(&erin, "access")).into_bytes()),
        ),
        ("Bearer alone".into(), auth(b"Bearer".to_vec())),
        ("Bearer with spaces".into(), auth(b"Bearer a b".to_vec())),
        (
            "lower-case bearer".into(),
            auth(format!("bearer {}", jwt(&alice, "access")).into_bytes()),
        ),
        (
            "garbage as a JWT".into(),
            auth(b"Bearer not.a.jwt".to_vec()),
        ),
    ];
    for (what, token) in forgeries(&jwt(&alice, "access")) {
        all.push((
            format!("forged JWT: {what}"),
            auth(format!("Bearer {token}").into_bytes()),
        ));
    }
    let session = login(project, "bob");
    all.push((
        "bob's session".into(),
        vec![("cookie", cookie(&session).into_bytes())],
    ));
    all.push((
        "bob's session and alice's token".into(),
        vec![
            ("cookie", cookie(&session).into_bytes()),
            ("authorization", format!("Token {alice_key}").into_bytes()),
        ],
    ));
    all
}

/// One order of classes, as Django's `PJ_AUTH` and the gateway's
/// `authentication` name it, and the gateway's extra config.
struct Classes {
    django: &'static str,
    gateway: &'static str,
    jwt: &'static str,
}

const ORDERS: [Classes; 5] = [
    Classes {
        django: "session,token",
        gateway: r#"["session", "token"]"#,
        jwt: "",
    },
    Classes {
        django: "token,session",
        gateway: r#"["token", "session"]"#,
        jwt: "",
    },
    Classes {
        django: "jwt,session,token",
        gateway: r#"["jwt", "session", "token"]"#,
        jwt: "[jwt]\n",
    },
    Classes {
        django: "session,jwt",
        gateway: r#"["session", "jwt"]"#,
        jwt: "[jwt]\n",
    },
    Classes {
        django: "jwt_stateless,token",
        gateway: r#"["jwt", "token"]"#,
        jwt: "[jwt]\nstateless = true\n",
    },
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_and_jwts_are_answered_as_drf_answers_them() {
    let mut project = DjangoProject::new(Database::Sqlite, SECRET_KEY, false);
    people(&project);
    let credentials = credentials(&project);
    let requests = [
        ("GET", "/api/open/"),
        ("GET", "/api/me/"),
        ("POST", "/api/me/"),
        ("GET", "/api/staff/"),
        ("DELETE", "/api/widgets/"),
        ("GET", "/api/reports/"),
    ];
    let mut compared = 0;
    let mut bodies = std::collections::BTreeSet::new();
    for order in &ORDERS {
        project.env = vec![("PJ_AUTH".into(), order.django.into())];
        let site = project.serve();
        let key_file = project.dir.path().join("secret_key.txt");
        std::fs::write(&key_file, SECRET_KEY).unwrap();
        let tail = format!(
            "{ROUTES}\n[session]\nstore = \"django\"\n\n[django]\ndatabase = {:?}\nsecret_key_file = {:?}\n\n{}",
            project.database_url(),
            key_file.display().to_string(),
            order.jwt,
        );
        let h = Harness::with_config(|upstream| {
            format!(
                "authentication = {}\n{}",
                order.gateway,
                config(upstream, &tail)
            )
        })
        .await;
        let gateway = format!("http://{}", h.proxy);
        for (what, headers) in &credentials {
            for (method, path) in requests {
                let django = send(&site.url(), method, path, headers).await;
                let ours = send(&gateway, method, path, headers).await;
                let case = format!("[{}] {what}: {method} {path}", order.django);
                assert_eq!(
                    ours.status, django.status,
                    "{case}: Django answered {django:?}, the gateway {ours:?}"
                );
                if matches!(django.status, 401 | 403) {
                    assert_eq!(ours, django, "{case}");
                    bodies.insert((django.status, django.body));
                }
                compared += 1;
            }
        }
    }
    assert_eq!(compared, ORDERS.len() * credentials.len() * requests.len());
    // Every DRF and simplejwt answer was met, as a 401 and as a 403.
    for message in [
        "Authentication credentials were not provided.",
        "Invalid token.",
        "User inactive or deleted.",
        "Invalid token header. No credentials provided.",
        "Invalid token header. Token string should not contain spaces.",
        "Invalid token header. Token string should not contain invalid characters.",
        "Token is expired",
        "Token is invalid",
        "Token has wrong type",
        "Token has no id",
        "Token contained no recognizable user identification",
        "User not found",
        "User is inactive",
        "Authorization header must contain two space-delimited values",
        "CSRF Failed: CSRF token missing.",
        "You do not have permission to perform this action.",
    ] {
        for status in [401, 403] {
            // Permission failures are 403 whatever the classes.
            let permission = message.starts_with("CSRF") || message.starts_with("You do not");
            if permission && status == 401 {
                continue;
            }
            assert!(
                bodies
                    .iter()
                    .any(|(s, body)| *s == status && body.contains(message)),
                "no {status} with {message:?} among {bodies:#?}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_upstream_is_told_who_and_by_which_class() {
    let project = DjangoProject::new(Database::Sqlite, SECRET_KEY, false);
    people(&project);
    let key = project.fixture(&["token", "alice"])["key"]
        .as_str()
        .unwrap()
        .to_string();
    let access = project.fixture(&["jwt", "gina"])["access"]
        .as_str()
        .unwrap()
        .to_string();
    let key_file = project.dir.path().join("secret_key.txt");
    std::fs::write(&key_file, SECRET_KEY).unwrap();
    let assertion_key = project.dir.path().join("assertion.key");
    std::fs::write(&assertion_key, "a".repeat(40)).unwrap();
    let tail = format!(
        "[identity]\nsign = {{ algorithm = \"HS256\", key_file = {:?} }}\n{ROUTES}\n[session]\nstore = \"django\"\n\n[django]\ndatabase = {:?}\nsecret_key_file = {:?}\n\n[jwt]\n",
        assertion_key.display().to_string(),
        project.database_url(),
        key_file.display().to_string(),
    );
    let h = Harness::with_config(|upstream| {
        format!(
            "authentication = [\"session\", \"token\", \"jwt\"]\n{}",
            config(upstream, &tail)
        )
    })
    .await;
    let token = format!("Token {key}");
    let reply = h
        .get(
            "/api/reports/",
            &[("authorization", &token), ("x-remote-auth", "session")],
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let seen = h.seen().pop().unwrap();
    assert_eq!(seen.header_values("x-remote-user"), ["alice"]);
    assert_eq!(
        seen.header_values("x-remote-auth"),
        ["token"],
        "the client's copy is stripped"
    );
    assert_eq!(
        seen.header_values("x-remote-permissions"),
        ["shop.view_report"]
    );

    // POST without a CSRF token: no CSRF check for a JWT (only the
    // session class is CSRF-checked, as DRF does).
    let bearer = format!("Bearer {access}");
    let reply = h
        .send("POST", "/api/widgets/", &[("authorization", &bearer)], "")
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let seen = h.seen().pop().unwrap();
    assert_eq!(seen.header_values("x-remote-user"), ["gina"]);
    assert_eq!(seen.header_values("x-remote-auth"), ["jwt"]);
    // The signed assertion says so too.
    let assertion = seen.header_values("x-portcullis-assertion")[0].to_string();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.validate_aud = false;
    let claims = jsonwebtoken::decode::<serde_json::Value>(
        &assertion,
        &jsonwebtoken::DecodingKey::from_secret("a".repeat(40).as_bytes()),
        &validation,
    )
    .unwrap()
    .claims;
    assert_eq!(claims["auth"], "jwt", "{claims}");
    assert_eq!(claims["sub"], "gina", "{claims}");

    // explain names the class.
    let explained = h
        .admin(
            "POST",
            "/explain",
            Some(ADMIN_TOKEN),
            &serde_json::json!({
                "method": "GET",
                "url": "/api/me/",
                "headers": [format!("Authorization: {token}")],
            })
            .to_string(),
        )
        .await;
    assert_eq!(explained.status, 200, "{}", explained.text());
    let view: serde_json::Value = serde_json::from_str(&explained.text()).unwrap();
    assert_eq!(view["session"]["via"], "token", "{view}");
    assert_eq!(view["session"]["username"], "alice", "{view}");
    // And a refused token, with its reason code.
    let refused = h
        .get("/api/open/", &[("authorization", "Token nosuchtoken")])
        .await;
    refused.assert_denied(403, "token_invalid", r#"{"detail":"Invalid token."}"#);
}

/// The gateway's own tokens: made and revoked through the admin API, kept
/// by the store as a digest only.
async fn admin_tokens(h: &Harness) {
    let made = h
        .admin(
            "POST",
            "/tokens",
            Some(ADMIN_TOKEN),
            r#"{"username": "ci-bot", "groups": ["deployers"], "permissions": ["shop.add_widget"]}"#,
        )
        .await;
    assert_eq!(made.status, 201, "{}", made.text());
    let made: serde_json::Value = serde_json::from_str(&made.text()).unwrap();
    let key = made["token"].as_str().unwrap();
    let id = made["id"].as_str().unwrap();
    assert_eq!(key.len(), 40, "DRF's key shape");
    assert_ne!(key, id, "the id is a digest, not the key");
    let header = format!("Token {key}");
    let reply = h.get("/api/me/", &[("authorization", &header)]).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let seen = h.seen().pop().unwrap();
    assert_eq!(seen.header_values("x-remote-user"), ["ci-bot"]);
    assert_eq!(seen.header_values("x-remote-groups"), ["deployers"]);
    assert_eq!(seen.header_values("x-remote-auth"), ["token"]);
    // The key is no session id, and the id is no key.
    let as_cookie = format!("sessionid={id}");
    h.get("/api/me/", &[("cookie", &as_cookie)])
        .await
        .assert_denied(401, "not_authenticated", NOT_AUTHENTICATED_JSON);
    let by_id = format!("Token {id}");
    h.get("/api/me/", &[("authorization", &by_id)])
        .await
        .assert_denied(401, "token_invalid", r#"{"detail":"Invalid token."}"#);
    // Revoked: the very next request is refused.
    let revoked = h
        .admin("DELETE", &format!("/tokens/{id}"), Some(ADMIN_TOKEN), "")
        .await;
    assert_eq!(revoked.status, 204, "{}", revoked.text());
    let denied = h.get("/api/me/", &[("authorization", &header)]).await;
    denied.assert_denied(401, "token_invalid", r#"{"detail":"Invalid token."}"#);
    assert_eq!(denied.headers["www-authenticate"], "Token");
    let again = h
        .admin("DELETE", &format!("/tokens/{id}"), Some(ADMIN_TOKEN), "")
        .await;
    assert_eq!(again.status, 404);
    // Revoking a user revokes their tokens too (offboarding).
    let made = h
        .admin(
            "POST",
            "/tokens",
            Some(ADMIN_TOKEN),
            r#"{"username": "leaver"}"#,
        )
        .await;
    let key = made.json()["token"].as_str().unwrap().to_string();
    let header = format!("Token {key}");
    assert_eq!(
        h.get("/api/me/", &[("authorization", &header)])
            .await
            .status,
        200
    );
    let revoked = h
        .admin("DELETE", "/users/leaver/sessions", Some(ADMIN_TOKEN), "")
        .await;
    assert_eq!(revoked.json()["revoked"], 1, "{}", revoked.text());
    h.get("/api/me/", &[("authorization", &header)])
        .await
        .assert_denied(401, "token_invalid", r#"{"detail":"Invalid token."}"#);
    let unsafe_name = h
        .admin(
            "POST",
            "/tokens",
            Some(ADMIN_TOKEN),
            r#"{"username": "a\r\nb"}"#,
        )
        .await;
    assert_eq!(unsafe_name.status, 400, "{}", unsafe_name.text());
}

const NOT_AUTHENTICATED_JSON: &str =
    r#"{"detail":"Authentication credentials were not provided."}"#;

const TOKEN_FIRST: &str = r#"
[[routes]]
name = "me"
path = "/api/me/**"
access = "authenticated"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_tokens_on_the_memory_store() {
    let h = Harness::with_config(|upstream| {
        format!(
            "authentication = [\"token\", \"session\"]\n{}",
            config(upstream, TOKEN_FIRST)
        )
    })
    .await;
    admin_tokens(&h).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_tokens_on_the_redis_store() {
    let redis = crate::common::redis::RedisServer::start();
    let tail = format!(
        "{TOKEN_FIRST}\n[session]\nstore = \"redis\"\nredis_url = \"{}\"\n",
        redis.url()
    );
    let h = Harness::with_config(|upstream| {
        format!(
            "authentication = [\"token\", \"session\"]\n{}",
            config(upstream, &tail)
        )
    })
    .await;
    admin_tokens(&h).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_django_store_leaves_tokens_to_django() {
    let project = DjangoProject::new(Database::Sqlite, SECRET_KEY, false);
    let key_file = project.dir.path().join("secret_key.txt");
    std::fs::write(&key_file, SECRET_KEY).unwrap();
    let tail = format!(
        "{ROUTES}\n[session]\nstore = \"django\"\n\n[django]\ndatabase = {:?}\nsecret_key_file = {:?}\n",
        project.database_url(),
        key_file.display().to_string(),
    );
    let h = Harness::with_config(|upstream| config(upstream, &tail)).await;
    let made = h
        .admin("POST", "/tokens", Some(ADMIN_TOKEN), r#"{"username": "x"}"#)
        .await;
    assert_eq!(made.status, 409, "{}", made.text());
    assert!(
        made.text().contains("Token.objects.create"),
        "{}",
        made.text()
    );
}

/// An EC P-256 key pair made now, by Python's `cryptography`: (private
/// PKCS#8 PEM, public SPKI PEM).
fn es256_keys() -> (String, String) {
    let script = "from cryptography.hazmat.primitives.asymmetric import ec\n\
        from cryptography.hazmat.primitives import serialization as s\n\
        k = ec.generate_private_key(ec.SECP256R1())\n\
        print(k.private_bytes(s.Encoding.PEM, s.PrivateFormat.PKCS8, s.NoEncryption()).decode(), end='')\n\
        print('--split--')\n\
        print(k.public_key().public_bytes(s.Encoding.PEM, s.PublicFormat.SubjectPublicKeyInfo).decode(), end='')\n";
    let output = std::process::Command::new(crate::common::python::python())
        .args(["-c", script])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).unwrap();
    let (private, public) = text.split_once("--split--\n").unwrap();
    (private.to_string(), public.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn es256_with_audience_and_issuer_as_simplejwt_checks_them() {
    let mut project = DjangoProject::new(Database::Sqlite, SECRET_KEY, false);
    people(&project);
    let (private, public) = es256_keys();
    let settings = |audience: &str, issuer: &str| {
        vec![
            ("PJ_AUTH".to_string(), "jwt,session".to_string()),
            ("PJ_JWT_ALGORITHM".into(), "ES256".into()),
            ("PJ_JWT_SIGNING_KEY".into(), private.clone()),
            ("PJ_JWT_VERIFYING_KEY".into(), public.clone()),
            ("PJ_JWT_AUDIENCE".into(), audience.into()),
            ("PJ_JWT_ISSUER".into(), issuer.into()),
        ]
    };
    let access = |project: &DjangoProject| {
        project.fixture(&["jwt", "alice"])["access"]
            .as_str()
            .unwrap()
            .to_string()
    };
    project.env = settings("other-api", "https://issuer.test");
    let wrong_audience = access(&project);
    project.env = settings("orders-api", "https://elsewhere.test");
    let wrong_issuer = access(&project);
    project.env = settings("orders-api", "https://issuer.test");
    let good = access(&project);
    let expired = project.fixture(&["jwt", "alice"])["expired"]
        .as_str()
        .unwrap()
        .to_string();
    // Algorithm confusion: HS256 "signed" with the public key as secret.
    let claims: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(good.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap();
    let confused = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(public.as_bytes()),
    )
    .unwrap();
    let mut tokens = vec![
        ("good", good.clone()),
        ("wrong audience", wrong_audience),
        ("wrong issuer", wrong_issuer),
        ("expired", expired),
        ("HS256 with the public key", confused),
    ];
    tokens.extend(forgeries(&good));
    let site = project.serve();
    let key_file = project.dir.path().join("verifying_key.pem");
    std::fs::write(&key_file, &public).unwrap();
    let secret_file = project.dir.path().join("secret_key.txt");
    std::fs::write(&secret_file, SECRET_KEY).unwrap();
    let tail = format!(
        "{ROUTES}\n[session]\nstore = \"django\"\n\n[django]\ndatabase = {:?}\nsecret_key_file = {:?}\n\n\
         [jwt]\nalgorithm = \"ES256\"\nverifying_key_file = {:?}\naudience = \"orders-api\"\nissuer = \"https://issuer.test\"\n",
        project.database_url(),
        secret_file.display().to_string(),
        key_file.display().to_string(),
    );
    let h = Harness::with_config(|upstream| {
        format!(
            "authentication = [\"jwt\", \"session\"]\n{}",
            config(upstream, &tail)
        )
    })
    .await;
    let gateway = format!("http://{}", h.proxy);
    for (what, token) in &tokens {
        let headers = vec![("authorization", format!("Bearer {token}").into_bytes())];
        let django = send(&site.url(), "GET", "/api/me/", &headers).await;
        let ours = send(&gateway, "GET", "/api/me/", &headers).await;
        assert_eq!(
            ours.status, django.status,
            "{what}: Django {django:?}, gateway {ours:?}"
        );
        if django.status != 200 {
            assert_eq!(ours, django, "{what}");
        }
        assert_eq!(django.status == 200, *what == "good", "{what}: {django:?}");
    }
}

#[test]
fn check_names_what_each_class_needs_at_its_line() {
    let with = |top: &str, tail: &str| format!("{top}\n{}", config("http://127.0.0.1:9", tail));
    let django = "[session]\nstore = \"django\"\n\n[django]\ndatabase = \"sqlite:///tmp/x.sqlite3\"\nsecret_key = \"k\"\n";
    let cases = [
        (with("authentication = [\"session\", \"cookie\"]", ""), "unknown authentication class \"cookie\""),
        (with("authentication = []", ""), "authentication must name at least one"),
        (with("authentication = [\"token\", \"token\"]", ""), "names \"token\" twice"),
        (with("authentication = [\"jwt\"]", ""), "needs a [jwt] section"),
        (with("authentication = [\"bearer\"]", ""), "needs a [bearer] section"),
        (with("", "[jwt]\nsigning_key = \"s\"\n"), "needs session.store = \"django\", or stateless = true"),
        (with("", "[jwt]\nstateless = true\n"), "an HS* algorithm needs signing_key_env"),
        (with("", "[jwt]\nstateless = true\nalgorithm = \"none\"\n"), "jwt.algorithm \"none\" is not one of"),
        (with("", "[jwt]\nstateless = true\nalgorithm = \"RS256\"\n"), "needs exactly one of verifying_key"),
        (
            with("", "[jwt]\nstateless = true\nalgorithm = \"ES256\"\nverifying_key = \"not a pem\"\n"),
            "is not a PEM public key",
        ),
        (with("", &format!("{django}\n[jwt]\nuser_id_field = \"uuid\"\n")), "only \"id\" is supported"),
        (with("", "[token]\nkeyword = \"Two words\"\n"), "token.keyword must be one word"),
        (with("", "[jwt]\nstateless = true\nsigning_key = \"s\"\ntoken_classes = [\"refresh\"]\n"), "is not \"access\" or \"sliding\""),
        (with("", "[jwt]\nstateless = true\nsigning_key = \"s\"\nblacklist = true\n"), "jwt.blacklist reads simplejwt's token_blacklist"),
        (
            with("", "[[routes]]\nname = \"r\"\npath = \"/**\"\naccess = \"authenticated\"\nauthentication = [\"jwt\"]\n"),
            "needs a [jwt] section",
        ),
    ];
    for (text, expected) in cases {
        let errors = portcullis::config::parse(&text, "test")
            .err()
            .unwrap_or_else(|| panic!("accepted:\n{text}"))
            .to_string();
        assert!(errors.contains(expected), "{expected:?} not in {errors}");
    }
    // Line and column of the offending value.
    let errors = portcullis::config::parse(
        &with("authentication = [\"session\", \"cookie\"]", ""),
        "test",
    )
    .err()
    .unwrap()
    .to_string();
    assert!(errors.contains("test:1:30"), "{errors}");
    // Django's SECRET_KEY is simplejwt's default signing key.
    assert!(portcullis::config::parse(
        &with(
            "authentication = [\"jwt\", \"token\"]",
            &format!("{django}\n[jwt]\n")
        ),
        "test"
    )
    .is_ok());
}

/// `[bearer]` through the gateway: the authentication class, its 401,
/// the identity the upstream is told, and 503 when the issuer is gone
/// and no key is cached.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bearer_jwts_from_an_issuer_through_the_gateway() {
    use crate::common::jwks::{key_set, JwksServer, TestKey};
    let issuer = "https://login.example.test/realms/shop";
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = |sub: &str| {
        serde_json::json!({
            "iss": issuer, "aud": "shop-api", "sub": sub, "iat": now, "exp": now + 300,
            "groups": ["ops"],
        })
    };
    let first = TestKey::es256("k1");
    let mut jwks = JwksServer::start(key_set(&[&first])).await;
    let tail = format!(
        "{TOKEN_FIRST}\n[[routes]]\nname = \"ops\"\npath = \"/ops/**\"\naccess = \"authenticated\"\ngroups = [\"admins\"]\n\n\
         [bearer]\nissuer = {issuer:?}\naudiences = [\"shop-api\"]\njwks_url = {:?}\ngroups_claim = \"groups\"\njwks_refetch_interval = \"1s\"\n",
        jwks.url
    );
    let h = Harness::with_config(|upstream| {
        format!(
            "authentication = [\"bearer\", \"session\"]\n{}",
            config(upstream, &tail)
        )
    })
    .await;
    let bearer = |token: &str| format!("Bearer {token}");
    let good = bearer(&first.sign(&claims("alice")));
    let reply = h.get("/api/me/", &[("authorization", &good)]).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let seen = h.seen().pop().unwrap();
    assert_eq!(seen.header_values("x-remote-user"), ["alice"]);
    assert_eq!(seen.header_values("x-remote-groups"), ["ops"]);
    assert_eq!(seen.header_values("x-remote-auth"), ["bearer"]);
    // Signed-in but lacking the group: 403, whatever the class.
    h.get("/ops/x", &[("authorization", &good)])
        .await
        .assert_denied(
            403,
            "permission_denied",
            r#"{"detail":"You do not have permission to perform this action."}"#,
        );
    // No credential: 401 with the bearer class's challenge.
    let anonymous = h.get("/api/me/", &[]).await;
    anonymous.assert_denied(401, "not_authenticated", NOT_AUTHENTICATED_JSON);
    assert_eq!(
        anonymous.headers["www-authenticate"],
        "Bearer realm=\"api\""
    );
    // Refused tokens: 401, the problem's code, on an open route too.
    let mut expired = claims("alice");
    expired["exp"] = serde_json::json!(now - 600);
    let denied = h
        .get(
            "/api/me/",
            &[("authorization", &bearer(&first.sign(&expired)))],
        )
        .await;
    denied.assert_denied(
        401,
        "bearer_invalid",
        r#"{"detail":"Token is expired","code":"expired"}"#,
    );
    let mut stranger = claims("alice");
    stranger["aud"] = serde_json::json!("other-api");
    h.get(
        "/api/me/",
        &[("authorization", &bearer(&first.sign(&stranger)))],
    )
    .await
    .assert_denied(
        401,
        "bearer_invalid",
        r#"{"detail":"Token has the wrong audience","code":"wrong_audience"}"#,
    );
    h.get("/api/me/", &[("authorization", "Bearer a b")])
        .await
        .assert_denied(
            401,
            "bearer_invalid",
            r#"{"detail":"Authorization header must contain two space-delimited values","code":"bad_authorization_header"}"#,
        );
    // Rotation: a key the gateway has not seen is fetched again, once the
    // refetch interval (1s here) since the last fetch has passed.
    let second = TestKey::es256("k2");
    jwks.rotate(key_set(&[&first, &second]));
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let rotated = bearer(&second.sign(&claims("bob")));
    assert_eq!(
        h.get("/api/me/", &[("authorization", &rotated)])
            .await
            .status,
        200
    );
    // The issuer gone: cached keys still verify; an unknown key fails
    // closed with 503 once the refetch interval allows a fetch.
    jwks.stop().await;
    assert_eq!(
        h.get("/api/me/", &[("authorization", &good)]).await.status,
        200
    );
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let third = TestKey::es256("k3");
    let unknown = h
        .get(
            "/api/me/",
            &[("authorization", &bearer(&third.sign(&claims("carol"))))],
        )
        .await;
    assert_eq!(unknown.status, 503, "{}", unknown.text());
    assert_eq!(unknown.reason(), Some("issuer_unavailable"));
    assert!(h
        .seen()
        .iter()
        .all(|s| s.header_values("x-remote-user") != ["carol"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sliding_tokens_and_the_blacklist_as_simplejwt() {
    let mut project = DjangoProject::new(Database::Sqlite, SECRET_KEY, false);
    people(&project);
    let sliding = project.fixture(&["sliding", "alice"]);
    let jwts = project.fixture(&["jwt", "alice"]);
    project.env = vec![
        ("PJ_AUTH".into(), "jwt,session".into()),
        ("PJ_JWT_TOKEN_CLASSES".into(), "access,sliding".into()),
    ];
    let site = project.serve();
    let key_file = project.dir.path().join("secret_key.txt");
    std::fs::write(&key_file, SECRET_KEY).unwrap();
    let tail = format!(
        "{ROUTES}\n[session]\nstore = \"django\"\n\n[django]\ndatabase = {:?}\nsecret_key_file = {:?}\n\n\
         [jwt]\ntoken_classes = [\"access\", \"sliding\"]\nblacklist = true\n",
        project.database_url(),
        key_file.display().to_string(),
    );
    let h = Harness::with_config(|upstream| {
        format!(
            "authentication = [\"jwt\", \"session\"]\n{}",
            config(upstream, &tail)
        )
    })
    .await;
    let gateway = format!("http://{}", h.proxy);
    let token = |v: &serde_json::Value, k: &str| v[k].as_str().unwrap().to_string();
    for (what, token, allowed) in [
        ("an access token", token(&jwts, "access"), true),
        ("a sliding token", token(&sliding, "live"), true),
        (
            "a blacklisted sliding token",
            token(&sliding, "blacklisted"),
            false,
        ),
        (
            "an expired sliding token",
            token(&sliding, "expired"),
            false,
        ),
        ("a refresh token", token(&jwts, "refresh"), false),
    ] {
        let headers = vec![("authorization", format!("Bearer {token}").into_bytes())];
        let django = send(&site.url(), "GET", "/api/me/", &headers).await;
        let ours = send(&gateway, "GET", "/api/me/", &headers).await;
        assert_eq!(django.status == 200, allowed, "{what}: {django:?}");
        assert_eq!(
            ours.status, django.status,
            "{what}: Django {django:?}, gateway {ours:?}"
        );
        if !allowed {
            assert_eq!(ours, django, "{what}");
        }
    }
}
