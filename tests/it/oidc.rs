//! Sign-in through an OpenID provider (`[oidc]`), against a real one:
//! django-oauth-toolkit started by the test (tests/it/common/oidc.rs). The
//! browser's part is plain HTTP with a cookie jar: denied, sent to the
//! provider, signed in there, back at the callback, signed in at the
//! gateway with the identity the upstream then sees. Then what must fail:
//! a wrong or missing state, a replayed code, an open redirect in `next`,
//! a user outside `allowed_groups`, an unreachable provider; and key
//! rotation at the provider, and RP-initiated logout; and ID tokens forged,
//! tampered, expired, replayed or meant for another client, refused by the
//! gateway's verifier with the real provider's keys.

use crate::common::oidc::*;
use crate::common::routes::{life, public};
use crate::common::*;

const ROUTES: &str = concat!(public!(), life!());

/// The gateway's session cookie (Django's name; the provider's own are
/// `op_sessionid` and `op_csrftoken`: both live on 127.0.0.1, and a
/// browser keeps cookies per host, not per port).
const SESSION_COOKIE: &str = "sessionid";

/// A gateway signing people in at `provider`, with `more` in `[oidc]`.
async fn gateway(provider: &OpenIdProvider, more: &str) -> Harness {
    // Each gateway reads its own variable: tests run in parallel.
    let variable = format!("PORTCULLIS_TEST_OIDC_SECRET_{}", random_token());
    std::env::set_var(&variable, &provider.client_secret);
    let tail = format!(
        "{ROUTES}\n[login]\nredirect_browsers = true\n\n[oidc]\nissuer = \"{}\"\nclient_id = \"{}\"\nclient_secret_env = \"{variable}\"\nscopes = [\"openid\", \"profile\", \"email\", \"groups\"]\n{more}\n",
        provider.issuer, provider.client_id
    );
    let h = Harness::start(&tail).await;
    let base = format!("http://{}", h.proxy);
    provider.set_redirect_uris(
        &[&format!("{base}/_portcullis/oidc/callback")],
        &[&format!("{base}/")],
    );
    h
}

const HTML: (&str, &str) = ("accept", "text/html");

/// Signs `user` in through the gateway from a denied page: the answers
/// along the way, and the final one (the callback's).
async fn sign_in(h: &Harness, user: &str, password: &str, jar: &mut CookieJar) -> Reply {
    let base = format!("http://{}", h.proxy);
    let denied = fetch("GET", &format!("{base}/life/1/"), &[HTML], "", jar).await;
    assert_eq!(denied.status, 302, "{}", denied.text());
    let start = absolute(&base, location(&denied));
    assert!(
        start.starts_with(&format!("{base}/_portcullis/oidc/login?next=")),
        "{start}"
    );
    let to_provider = fetch("GET", &start, &[HTML], "", jar).await;
    assert_eq!(to_provider.status, 302, "{}", to_provider.text());
    assert!(jar.get(&base, "portcullis_oidc").is_some());
    let authorize = location(&to_provider).to_string();
    for param in ["state", "nonce", "code_challenge"] {
        assert!(
            query_param(&authorize, param).is_some(),
            "{param}: {authorize}"
        );
    }
    assert_eq!(
        query_param(&authorize, "code_challenge_method").as_deref(),
        Some("S256")
    );
    let back = sign_in_at_provider(&authorize, user, password, jar).await;
    assert!(
        back.starts_with(&format!("{base}/_portcullis/oidc/callback?")),
        "{back}"
    );
    fetch("GET", &back, &[HTML], "", jar).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_signs_in_at_the_provider_and_the_upstream_sees_who() {
    let provider = OpenIdProvider::start("http://127.0.0.1:1/unused").await;
    let h = gateway(&provider, "").await;
    let base = format!("http://{}", h.proxy);
    let mut jar = CookieJar::default();
    let done = sign_in(&h, ALICE, ALICE_PASSWORD, &mut jar).await;
    assert_eq!(done.status, 303, "{}", done.text());
    assert_eq!(location(&done), "/life/1/");
    assert!(
        jar.get(&base, SESSION_COOKIE).is_some(),
        "no session cookie"
    );
    assert!(
        jar.get(&base, "csrftoken").is_some(),
        "the csrftoken is rotated"
    );
    assert!(
        jar.get(&base, "portcullis_oidc").is_none(),
        "the sign-in cookie is used up"
    );
    let page = fetch("GET", &format!("{base}/life/1/"), &[], "", &mut jar).await;
    assert_eq!(page.status, 200, "{}", page.text());
    let seen = h.seen().pop().unwrap();
    let header = |name: &str| {
        seen.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(header("x-remote-user").as_deref(), Some(ALICE));
    assert_eq!(header("x-remote-groups").as_deref(), Some("ops"));
    // explain names a session made at the provider.
    let session = jar.get(&base, SESSION_COOKIE).unwrap().to_string();
    let explained = explain_session(&h, &session).await;
    assert_eq!(
        explained["session"]["signed_in_with"], "oidc",
        "{explained}"
    );
    assert_eq!(explained["session"]["via"], "session", "{explained}");

    // The callback again, with the used code and a copy of the old sign-in
    // cookie: the provider refuses the code.
    let mut replay = CookieJar::default();
    let again = sign_in_cookie_and_callback(&h, &mut replay).await;
    let (callback, cookie) = again;
    let first = with_cookie(&callback, &cookie).await;
    assert_eq!(first.status, 303, "{}", first.text());
    let replayed = with_cookie(&callback, &cookie).await;
    assert_eq!(replayed.status, 403, "{}", replayed.text());
    assert_eq!(replayed.reason(), Some("oidc_token_invalid"));

    // Logout goes through the provider's end_session_endpoint.
    let csrf = jar.get(&base, "csrftoken").unwrap().to_string();
    let logout = fetch(
        "POST",
        &format!("{base}/_portcullis/logout"),
        &[
            ("content-type", "application/x-www-form-urlencoded"),
            ("origin", &base),
        ],
        &format!("csrfmiddlewaretoken={csrf}"),
        &mut jar,
    )
    .await;
    assert_eq!(logout.status, 303, "{}", logout.text());
    let to_provider = location(&logout).to_string();
    assert!(
        to_provider.starts_with(&provider.end_session_endpoint()),
        "{to_provider}"
    );
    // With the ID token as the hint: the provider ends its own session
    // and sends the browser back to the site.
    assert!(
        query_param(&to_provider, "id_token_hint").is_some(),
        "{to_provider}"
    );
    let back = fetch("GET", &to_provider, &[], "", &mut jar).await;
    assert_eq!(back.status, 302, "{}", back.text());
    assert!(
        location(&back).starts_with(&format!("{base}/")),
        "{}",
        location(&back)
    );
    let after = fetch("GET", &format!("{base}/life/1/"), &[], "", &mut jar).await;
    assert_eq!(after.status, 403, "signed out at the gateway");
}

/// A GET from a browser that holds only `cookie` (a `Cookie` header).
async fn with_cookie(url: &str, cookie: &str) -> Reply {
    fetch(
        "GET",
        url,
        &[("cookie", cookie)],
        "",
        &mut CookieJar::default(),
    )
    .await
}

/// A sign-in up to the provider's redirect back: the callback URL and the
/// sign-in cookie that goes with it (as a `Cookie` header).
async fn sign_in_cookie_and_callback(h: &Harness, jar: &mut CookieJar) -> (String, String) {
    let base = format!("http://{}", h.proxy);
    let start = fetch(
        "GET",
        &format!("{base}/_portcullis/oidc/login?next=/life/2/"),
        &[],
        "",
        jar,
    )
    .await;
    assert_eq!(start.status, 302, "{}", start.text());
    let cookie = format!(
        "portcullis_oidc={}",
        jar.get(&base, "portcullis_oidc").unwrap()
    );
    let back = sign_in_at_provider(location(&start), ALICE, ALICE_PASSWORD, jar).await;
    (back, cookie)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callback_without_this_browsers_sign_in_is_refused() {
    let provider = OpenIdProvider::start("http://127.0.0.1:1/unused").await;
    let h = gateway(&provider, "").await;
    let base = format!("http://{}", h.proxy);
    let mut jar = CookieJar::default();
    let (callback, cookie) = sign_in_cookie_and_callback(&h, &mut jar).await;
    // No sign-in cookie (another browser, a link sent to a victim).
    let bare = fetch("GET", &callback, &[], "", &mut CookieJar::default()).await;
    assert_eq!(bare.status, 400, "{}", bare.text());
    assert_eq!(bare.reason(), Some("oidc_state_invalid"));
    // Another state.
    let code = query_param(&callback, "code").unwrap();
    let forged = with_query(
        &format!("{base}/_portcullis/oidc/callback"),
        &[("code", &code), ("state", "forged")],
    );
    let wrong = with_cookie(&forged, &cookie).await;
    assert_eq!(wrong.status, 400, "{}", wrong.text());
    assert_eq!(wrong.reason(), Some("oidc_state_invalid"));
    // A tampered sign-in cookie.
    let tampered = format!("{cookie}x");
    let bad = with_cookie(&callback, &tampered).await;
    assert_eq!(bad.status, 400, "{}", bad.text());
    // The provider's error comes through by its code.
    let state = query_param(&callback, "state").unwrap();
    let refused_url = with_query(
        &format!("{base}/_portcullis/oidc/callback"),
        &[("error", "access_denied"), ("state", &state)],
    );
    let refused = with_cookie(&refused_url, &cookie).await;
    assert_eq!(refused.status, 403, "{}", refused.text());
    assert_eq!(refused.reason(), Some("oidc_provider_error"));
    assert!(
        refused.text().contains("access_denied"),
        "{}",
        refused.text()
    );
    // And the real callback still works once.
    let ok = with_cookie(&callback, &cookie).await;
    assert_eq!(ok.status, 303, "{}", ok.text());
    assert_eq!(location(&ok), "/life/2/");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn next_never_leaves_the_site() {
    let provider = OpenIdProvider::start("http://127.0.0.1:1/unused").await;
    let h = gateway(&provider, "").await;
    let base = format!("http://{}", h.proxy);
    for next in [
        "https://evil.test/",
        "//evil.test/x",
        "/\\evil.test",
        "javascript:alert(1)",
    ] {
        let mut jar = CookieJar::default();
        let start_url = with_query(&format!("{base}/_portcullis/oidc/login"), &[("next", next)]);
        let start = fetch("GET", &start_url, &[], "", &mut jar).await;
        assert_eq!(start.status, 302, "{}", start.text());
        let back = sign_in_at_provider(location(&start), ALICE, ALICE_PASSWORD, &mut jar).await;
        let done = fetch("GET", &back, &[], "", &mut jar).await;
        assert_eq!(done.status, 303, "{next}: {}", done.text());
        assert_eq!(location(&done), "/", "{next}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_allowed_groups_sign_in_and_keys_rotate() {
    let mut provider = OpenIdProvider::start("http://127.0.0.1:1/unused").await;
    let h = gateway(&provider, "allowed_groups = [\"ops\"]").await;
    let mut jar = CookieJar::default();
    let bob = sign_in(&h, BOB, BOB_PASSWORD, &mut jar).await;
    assert_eq!(bob.status, 403, "{}", bob.text());
    assert_eq!(bob.reason(), Some("oidc_not_allowed"));
    let base = format!("http://{}", h.proxy);
    assert!(jar.get(&base, SESSION_COOKIE).is_none());
    let mut jar = CookieJar::default();
    assert_eq!(
        sign_in(&h, ALICE, ALICE_PASSWORD, &mut jar).await.status,
        303
    );
    // The provider signs with a new key: the gateway fetches the keys
    // again for the unknown kid.
    provider.rotate_key().await;
    let mut jar = CookieJar::default();
    let after = sign_in(&h, ALICE, ALICE_PASSWORD, &mut jar).await;
    assert_eq!(after.status, 303, "{}", after.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_provider_is_a_clear_502() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let variable = format!("PORTCULLIS_TEST_OIDC_SECRET_{}", random_token());
    std::env::set_var(&variable, "secret");
    let h = Harness::start(&format!(
        "{ROUTES}\n[oidc]\nissuer = \"http://127.0.0.1:{port}/o\"\nclient_id = \"c\"\nclient_secret_env = \"{variable}\"\ntimeout = \"2s\"\n"
    ))
    .await;
    let mut jar = CookieJar::default();
    let start = fetch(
        "GET",
        &format!("http://{}/_portcullis/oidc/login", h.proxy),
        &[],
        "",
        &mut jar,
    )
    .await;
    assert_eq!(start.status, 502, "{}", start.text());
    assert_eq!(start.reason(), Some("oidc_unavailable"));
    let page = fetch(
        "GET",
        &format!("http://{}/_portcullis/oidc/login", h.proxy),
        &[HTML],
        "",
        &mut jar,
    )
    .await;
    assert!(
        page.text()
            .contains("identity provider could not be reached"),
        "{}",
        page.text()
    );
}

/// A real ID token from the provider for alice, and the nonce it carries.
async fn id_token_from(provider: &OpenIdProvider) -> (String, String) {
    let redirect_uri = "http://127.0.0.1:1/callback";
    let request = AuthRequest::new();
    let mut jar = CookieJar::default();
    let back = sign_in_at_provider(
        &provider.authorize_url(redirect_uri, &request),
        ALICE,
        ALICE_PASSWORD,
        &mut jar,
    )
    .await;
    let code = query_param(&back, "code").expect("a code");
    let tokens = provider
        .exchange_code(&code, redirect_uri, &request.verifier)
        .await;
    assert_eq!(tokens.status, 200, "{}", tokens.text());
    let id_token = tokens.json()["id_token"].as_str().unwrap().to_string();
    (id_token, request.nonce)
}

/// The gateway's ID token verifier for `provider` (as `[oidc]` builds it
/// from discovery), with `audience` and `leeway`.
fn verifier(
    provider: &OpenIdProvider,
    audience: &str,
    leeway: std::time::Duration,
) -> portcullis::credentials::bearer::BearerVerifier {
    use portcullis::credentials::bearer::{BearerSettings, BearerVerifier};
    BearerVerifier::new(BearerSettings {
        issuer: provider.issuer.clone(),
        audiences: vec![audience.to_string()],
        jwks_url: provider.jwks_uri().parse().unwrap(),
        algorithms: vec![jsonwebtoken::Algorithm::RS256],
        username_claim: "preferred_username".into(),
        groups_claim: Some("groups".into()),
        permissions_claim: None,
        staff_claim: None,
        superuser_claim: None,
        staff_groups: Vec::new(),
        superuser_groups: Vec::new(),
        leeway,
        jwks_cache_ttl: std::time::Duration::from_secs(600),
        jwks_refetch_interval: std::time::Duration::from_secs(30),
        timeout: std::time::Duration::from_secs(5),
        ca_file: None,
    })
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_expired_and_foreign_id_tokens_are_refused() {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    use portcullis::credentials::bearer::{BearerError, BearerProblem, IdTokenFrom};
    let provider = OpenIdProvider::start("http://127.0.0.1:1/callback").await;
    let (token, nonce) = id_token_from(&provider).await;
    let ours = verifier(
        &provider,
        &provider.client_id,
        std::time::Duration::from_secs(60),
    );
    let id = provider.client_id.as_str();
    let verified = ours
        .verify_id_token(&token, IdTokenFrom::SignIn { nonce: &nonce }, id)
        .await
        .unwrap();
    assert_eq!(verified.user.username, ALICE);
    assert_eq!(verified.user.groups, ["ops"]);
    let refused = |result: Result<_, BearerError>| match result {
        Err(BearerError::Invalid(problem)) => problem,
        other => panic!("not refused: {other:?}"),
    };
    // Another sign-in's nonce (a replayed ID token).
    assert_eq!(
        refused(
            ours.verify_id_token(&token, IdTokenFrom::SignIn { nonce: "another" }, id)
                .await
        ),
        BearerProblem::WrongNonce
    );
    // As a refresh's ID token: it must name the sign-in's subject.
    let alice = provider.subject(ALICE);
    assert!(ours
        .verify_id_token(&token, IdTokenFrom::Refresh { subject: alice }, id)
        .await
        .is_ok());
    let bob = provider.subject(BOB);
    assert_eq!(
        refused(
            ours.verify_id_token(&token, IdTokenFrom::Refresh { subject: bob }, id)
                .await
        ),
        BearerProblem::WrongSubject
    );
    // Meant for another client.
    let theirs = verifier(
        &provider,
        "another-client",
        std::time::Duration::from_secs(60),
    );
    assert_eq!(
        refused(
            theirs
                .verify_id_token(
                    &token,
                    IdTokenFrom::SignIn { nonce: &nonce },
                    "another-client"
                )
                .await
        ),
        BearerProblem::WrongAudience
    );
    // The payload changed (another user), the signature kept.
    let parts: Vec<&str> = token.split('.').collect();
    let mut claims: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    claims["preferred_username"] = "root".into();
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        parts[2]
    );
    assert_eq!(
        refused(
            ours.verify_id_token(&tampered, IdTokenFrom::SignIn { nonce: &nonce }, id)
                .await
        ),
        BearerProblem::BadSignature
    );
    // Signed with a key of the forger's, under the provider's kid.
    let header = jsonwebtoken::decode_header(&token).unwrap();
    let forger = jsonwebtoken::EncodingKey::from_rsa_pem(rsa_private_key().as_bytes()).unwrap();
    let forged = jsonwebtoken::encode(&header, &claims, &forger).unwrap();
    assert_eq!(
        refused(
            ours.verify_id_token(&forged, IdTokenFrom::SignIn { nonce: &nonce }, id)
                .await
        ),
        BearerProblem::BadSignature
    );
    // Expired: a provider whose ID tokens live 0 s, and no leeway.
    let brief = OpenIdProvider::start_with(
        "http://127.0.0.1:1/callback",
        &[("PJ_OIDC_ID_TOKEN_TTL", "0")],
    )
    .await;
    let (stale, nonce) = id_token_from(&brief).await;
    let strict = verifier(&brief, &brief.client_id, std::time::Duration::ZERO);
    assert_eq!(
        refused(
            strict
                .verify_id_token(
                    &stale,
                    IdTokenFrom::SignIn { nonce: &nonce },
                    &brief.client_id
                )
                .await
        ),
        BearerProblem::Expired
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn email_domains_need_a_verified_address() {
    // A provider that does not say it verified the address: refused, even
    // in an allowed domain.
    let unverified = OpenIdProvider::start("http://127.0.0.1:1/unused").await;
    let h = gateway(&unverified, "allowed_email_domains = [\"example.test\"]").await;
    let refused = sign_in(&h, ALICE, ALICE_PASSWORD, &mut CookieJar::default()).await;
    assert_eq!(refused.status, 403, "{}", refused.text());
    assert_eq!(refused.reason(), Some("oidc_not_allowed"));
    // One that vouches for it: in the domain, signed in; elsewhere, not.
    let verified = OpenIdProvider::start_with(
        "http://127.0.0.1:1/unused",
        &[("PJ_OIDC_EMAIL_VERIFIED", "1")],
    )
    .await;
    let h = gateway(&verified, "allowed_email_domains = [\"EXAMPLE.test\"]").await;
    let signed_in = sign_in(&h, ALICE, ALICE_PASSWORD, &mut CookieJar::default()).await;
    assert_eq!(signed_in.status, 303, "{}", signed_in.text());
    let h = gateway(&verified, "allowed_email_domains = [\"example.com\"]").await;
    let elsewhere = sign_in(&h, ALICE, ALICE_PASSWORD, &mut CookieJar::default()).await;
    assert_eq!(elsewhere.status, 403, "{}", elsewhere.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_name_never_becomes_a_local_user_and_hosts_are_plain() {
    let provider = OpenIdProvider::start("http://127.0.0.1:1/unused").await;
    // A local "alice" too: the provider's alice must not become her.
    let hash = portcullis::auth::password::hash_password("local secret 42");
    let h = gateway(
        &provider,
        &format!("\n[[users]]\nusername = \"alice\"\npassword_hash = \"{hash}\"\n"),
    )
    .await;
    let mut jar = CookieJar::default();
    let (callback, cookie) = sign_in_cookie_and_callback(&h, &mut jar).await;
    let refused = with_cookie(&callback, &cookie).await;
    assert_eq!(refused.status, 403, "{}", refused.text());
    assert_eq!(refused.reason(), Some("oidc_not_allowed"));
    // With both, a browser's sign-in page offers the provider too.
    let page = fetch(
        "GET",
        &format!("http://{}/_portcullis/login?next=/life/1/", h.proxy),
        &[HTML],
        "",
        &mut CookieJar::default(),
    )
    .await;
    assert!(
        page.text()
            .contains("/_portcullis/oidc/login?next=%2Flife%2F1%2F"),
        "{}",
        page.text()
    );
    // A Host a URL parser would read as more than a name and a port never
    // becomes the redirect URI.
    for host in ["shop.example.com:443@evil.test", "evil.test/x"] {
        let start = fetch(
            "GET",
            &format!("http://{}/_portcullis/oidc/login", h.proxy),
            &[("host", host)],
            "",
            &mut CookieJar::default(),
        )
        .await;
        assert_eq!(start.status, 400, "{host}: {}", start.text());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_url_pins_the_redirect_uri_whatever_the_host() {
    let provider = OpenIdProvider::start("http://127.0.0.1:1/unused").await;
    let h = gateway(&provider, "public_url = \"http://shop.test/\"").await;
    for host in [None, Some("evil.test")] {
        let headers: Vec<(&str, &str)> = host.map(|h| ("host", h)).into_iter().collect();
        let start = fetch(
            "GET",
            &format!("http://{}/_portcullis/oidc/login", h.proxy),
            &headers,
            "",
            &mut CookieJar::default(),
        )
        .await;
        assert_eq!(start.status, 302, "{host:?}: {}", start.text());
        assert_eq!(
            query_param(location(&start), "redirect_uri").as_deref(),
            Some("http://shop.test/_portcullis/oidc/callback"),
            "{host:?}"
        );
    }
    // Only a site's URL: no path, no user part.
    std::env::set_var("PORTCULLIS_TEST_OIDC_SECRET_CHECK", "secret");
    for bad in ["https://shop.test/app", "shop.test", "https://a@shop.test"] {
        let text = config(
            "http://127.0.0.1:1",
            &format!(
                "[oidc]\nissuer = \"https://idp.test\"\nclient_id = \"c\"\nclient_secret_env = \"PORTCULLIS_TEST_OIDC_SECRET_CHECK\"\npublic_url = \"{bad}\"\n"
            ),
        );
        let errors = portcullis::config::parse(&text, "test config")
            .map(|_| ())
            .expect_err(bad);
        assert!(
            errors.to_string().contains("oidc.public_url"),
            "{bad}: {errors}"
        );
    }
}

/// `explain` of a GET of /life/1/ with the session cookie `session`.
async fn explain_session(h: &Harness, session: &str) -> serde_json::Value {
    h.admin(
        "POST",
        "/explain",
        Some(ADMIN_TOKEN),
        &serde_json::json!({
            "url": "/life/1/",
            "headers": [format!("Cookie: {SESSION_COOKIE}={session}")],
        })
        .to_string(),
    )
    .await
    .json()
}

/// ID tokens that live this long: the claims are due a refresh this soon.
const SHORT_ID_TOKEN: (&str, &str) = ("PJ_OIDC_ID_TOKEN_TTL", "2");

/// Waits until claims signed in (or refreshed) now are due a refresh.
async fn until_due() {
    tokio::time::sleep(std::time::Duration::from_millis(2600)).await;
}

/// The identity header `name` the upstream saw last.
fn last_seen(h: &Harness, name: &str) -> Option<String> {
    let seen = h.seen().pop()?;
    seen.headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claims_are_refreshed_when_due_and_a_refused_refresh_ends_the_session() {
    let provider = OpenIdProvider::start_with("http://127.0.0.1:1/unused", &[SHORT_ID_TOKEN]).await;
    let h = gateway(&provider, "").await;
    let base = format!("http://{}", h.proxy);
    let page = format!("{base}/life/1/");
    let mut jar = CookieJar::default();
    assert_eq!(
        sign_in(&h, ALICE, ALICE_PASSWORD, &mut jar).await.status,
        303
    );
    let session = jar.get(&base, SESSION_COOKIE).unwrap().to_string();
    assert_eq!(fetch("GET", &page, &[], "", &mut jar).await.status, 200);
    assert_eq!(last_seen(&h, "x-remote-groups").as_deref(), Some("ops"));

    // The provider's directory changes; the claims go stale.
    provider.set_groups(ALICE, &["auditors", "ops"]);
    until_due().await;
    // explain says a refresh is due, and does not spend the token.
    let explained = explain_session(&h, &session).await;
    assert!(
        explained.to_string().contains("due a refresh"),
        "{explained}"
    );
    assert_eq!(explained["session"]["groups"], serde_json::json!(["ops"]));
    // The next request is decided on refreshed claims, same session.
    let refreshed = fetch("GET", &page, &[], "", &mut jar).await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.text());
    assert_eq!(
        last_seen(&h, "x-remote-groups").as_deref(),
        Some("auditors,ops")
    );
    assert_eq!(last_seen(&h, "x-remote-user").as_deref(), Some(ALICE));
    assert_eq!(jar.get(&base, SESSION_COOKIE), Some(session.as_str()));
    let explained = explain_session(&h, &session).await;
    assert_eq!(
        explained["session"]["groups"],
        serde_json::json!(["auditors", "ops"]),
        "{explained}"
    );
    assert_eq!(explained["session"]["signed_in_with"], "oidc");

    // The provider cuts alice's grants off: the next refresh is refused,
    // and the session ends.
    assert!(provider.revoke_refresh_tokens(ALICE) >= 1);
    until_due().await;
    let ended = fetch("GET", &page, &[], "", &mut jar).await;
    assert_eq!(ended.status, 403, "{}", ended.text());
    assert_eq!(ended.reason(), Some("not_authenticated"));
    assert_eq!(
        ended.json()["detail"],
        "Authentication credentials were not provided."
    );
    let explained = explain_session(&h, &session).await;
    assert_eq!(explained["session"]["why"], "not_found", "{explained}");
    // A browser is sent to sign in again.
    let browser = fetch("GET", &page, &[HTML], "", &mut jar).await;
    assert_eq!(browser.status, 302, "{}", browser.text());
    assert!(location(&browser).starts_with("/_portcullis/oidc/login?next="));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_provider_at_refresh_time_is_a_502_and_the_session_stays() {
    let mut provider =
        OpenIdProvider::start_with("http://127.0.0.1:1/unused", &[SHORT_ID_TOKEN]).await;
    let h = gateway(&provider, "timeout = \"2s\"").await;
    let base = format!("http://{}", h.proxy);
    let page = format!("{base}/life/1/");
    let open = format!("{base}/public/x");
    let mut jar = CookieJar::default();
    assert_eq!(
        sign_in(&h, ALICE, ALICE_PASSWORD, &mut jar).await.status,
        303
    );
    provider.stop();
    until_due().await;
    // Claims past their time decide nothing: 502 where a user is needed,
    // anonymous where that is enough.
    let down = fetch("GET", &page, &[], "", &mut jar).await;
    assert_eq!(down.status, 502, "{}", down.text());
    assert_eq!(down.reason(), Some("oidc_unavailable"));
    let anonymous = fetch("GET", &open, &[], "", &mut jar).await;
    assert_eq!(anonymous.status, 200, "{}", anonymous.text());
    assert_eq!(last_seen(&h, "x-remote-user"), None);
    // The provider is back: the same session refreshes and goes on.
    provider.restart().await;
    let back = fetch("GET", &page, &[], "", &mut jar).await;
    assert_eq!(back.status, 200, "{}", back.text());
    assert_eq!(last_seen(&h, "x-remote-user").as_deref(), Some(ALICE));

    // The client's secret is rotated at the provider before the gateway
    // knows: `invalid_client` is the gateway's trouble, not the user's,
    // and signs nobody out.
    let secret = provider.client_secret.clone();
    provider.set_client_secret(&random_token());
    until_due().await;
    let refused_client = fetch("GET", &page, &[], "", &mut jar).await;
    assert_eq!(refused_client.status, 502, "{}", refused_client.text());
    assert_eq!(refused_client.reason(), Some("oidc_unavailable"));
    provider.set_client_secret(&secret);
    let again = fetch("GET", &page, &[], "", &mut jar).await;
    assert_eq!(again.status, 200, "{}", again.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_sharing_redis_refresh_a_session_once() {
    // The provider rotates refresh tokens (DOT's default, no grace
    // period): a second refresh with a spent token is refused, and would
    // end the session. Concurrent requests on two replicas must not.
    let provider = OpenIdProvider::start_with("http://127.0.0.1:1/unused", &[SHORT_ID_TOKEN]).await;
    let redis = crate::common::redis::RedisServer::start();
    let store = format!(
        "\n[session]\nstore = \"redis\"\nredis_url = \"{}\"\n",
        redis.url()
    );
    let first = gateway(&provider, &store).await;
    let mut jar = CookieJar::default();
    assert_eq!(
        sign_in(&first, ALICE, ALICE_PASSWORD, &mut jar)
            .await
            .status,
        303
    );
    let base = format!("http://{}", first.proxy);
    let cookie = format!(
        "{SESSION_COOKIE}={}",
        jar.get(&base, SESSION_COOKIE).unwrap()
    );
    let second = gateway(&provider, &store).await;
    for round in 0..2 {
        provider.set_groups(ALICE, &["ops", &format!("round{round}")]);
        until_due().await;
        let mut requests = Vec::new();
        for n in 0..8 {
            let proxy = if n % 2 == 0 {
                first.proxy
            } else {
                second.proxy
            };
            let url = format!("http://{proxy}/life/1/");
            let cookie = cookie.clone();
            requests.push(tokio::spawn(
                async move { with_cookie(&url, &cookie).await },
            ));
        }
        for request in requests {
            let reply = request.await.unwrap();
            assert_eq!(reply.status, 200, "round {round}: {}", reply.text());
        }
        for h in [&first, &second] {
            assert_eq!(
                last_seen(h, "x-remote-groups"),
                Some(format!("ops,round{round}")),
                "round {round}"
            );
        }
        // The sign-in's refresh token, and one per round: one refresh.
        assert_eq!(
            provider.refresh_tokens_issued(ALICE),
            2 + round,
            "round {round}"
        );
    }
}
