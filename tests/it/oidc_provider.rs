//! The OpenID provider the gateway's OIDC sign-in is tested against
//! (common::oidc: django-oauth-toolkit on loopback), checked on its own,
//! used as a relying party and a browser use it: discovery, the code flow
//! with PKCE, state and nonce through its sign-in page, the tokens and
//! their claims, userinfo, refresh, a replayed code and a wrong verifier
//! refused, RP-initiated sign-out, and a key rotation. If this fails, a
//! failing gateway OIDC test says nothing about the gateway.

use http::StatusCode;
use serde_json::{json, Value};

use crate::common::oidc::*;

/// The relying party's redirect URI. Nothing listens there: the code is
/// read from the provider's redirect, never followed.
const CALLBACK: &str = "http://127.0.0.1:9/oidc/callback";
/// Where the relying party's sign-out returns to.
const SIGNED_OUT: &str = "http://127.0.0.1:9/signed-out";

/// The provider's redirect back to `CALLBACK`, checked: the same `state`,
/// no error; returns the code.
fn code_from(callback: &str, request: &AuthRequest) -> String {
    assert!(
        callback.starts_with(&format!("{CALLBACK}?")),
        "not back at the callback: {callback}"
    );
    assert_eq!(query_param(callback, "error"), None, "{callback}");
    assert_eq!(
        query_param(callback, "state").as_deref(),
        Some(request.state.as_str())
    );
    query_param(callback, "code").expect("no code")
}

/// Signs `username` in (or not, when the jar has a session) and redeems
/// the code: the token answer.
async fn tokens_for(
    provider: &OpenIdProvider,
    username: &str,
    password: &str,
    jar: &mut CookieJar,
) -> (AuthRequest, Value) {
    let request = AuthRequest::new();
    let authorize = provider.authorize_url(CALLBACK, &request);
    let callback = sign_in_at_provider(&authorize, username, password, jar).await;
    let code = code_from(&callback, &request);
    let reply = provider
        .exchange_code(&code, CALLBACK, &request.verifier)
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    (request, reply.json())
}

fn kids(jwks: &Value) -> Vec<String> {
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|key| key["kid"].as_str().unwrap().to_string())
        .collect()
}

/// RFC 7638: the SHA-256 thumbprint of an RSA JWK, as DOT names its keys.
fn thumbprint(jwk: &Value) -> String {
    let members = format!(
        r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#,
        jwk["e"].as_str().unwrap(),
        jwk["n"].as_str().unwrap()
    );
    let digest = ring::digest::digest(&ring::digest::SHA256, members.as_bytes());
    base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, digest)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_code_flow_claims_and_sign_out() {
    let provider = OpenIdProvider::start(CALLBACK).await;
    let issuer = provider.issuer.clone();
    assert_eq!(issuer, format!("http://127.0.0.1:{}/o", provider.port));

    // Discovery: what a relying party configures itself from.
    let discovery = provider.discovery().await;
    assert_eq!(discovery["issuer"], issuer);
    assert_eq!(
        discovery["authorization_endpoint"],
        format!("{issuer}/authorize/")
    );
    assert_eq!(discovery["token_endpoint"], format!("{issuer}/token/"));
    assert_eq!(
        discovery["userinfo_endpoint"],
        format!("{issuer}/userinfo/")
    );
    assert_eq!(
        discovery["jwks_uri"],
        format!("{issuer}/.well-known/jwks.json")
    );
    assert_eq!(
        discovery["end_session_endpoint"],
        format!("{issuer}/logout/")
    );
    assert_eq!(
        discovery["code_challenge_methods_supported"],
        json!(["S256"])
    );
    assert_eq!(
        discovery["id_token_signing_alg_values_supported"][0],
        "RS256"
    );
    for method in ["client_secret_basic", "client_secret_post"] {
        let methods = discovery["token_endpoint_auth_methods_supported"]
            .as_array()
            .unwrap();
        assert!(methods.contains(&json!(method)), "{discovery}");
    }
    for claim in ["sub", "preferred_username", "email", "groups"] {
        let claims = discovery["claims_supported"].as_array().unwrap();
        assert!(claims.contains(&json!(claim)), "{discovery}");
    }
    for scope in SCOPE.split(' ') {
        let scopes = discovery["scopes_supported"].as_array().unwrap();
        assert!(scopes.contains(&json!(scope)), "{discovery}");
    }

    // The authorization request, step by step: no session, so the
    // sign-in page; its form signs alice in and returns to the
    // authorization endpoint, which redirects to the callback.
    let mut jar = CookieJar::default();
    let request = AuthRequest::new();
    let authorize = provider.authorize_url(CALLBACK, &request);
    let first = fetch("GET", &authorize, &[], "", &mut jar).await;
    assert_eq!(first.status, StatusCode::FOUND, "{}", first.text());
    let login = absolute(&authorize, location(&first));
    assert!(
        login.starts_with(&format!("{}/accounts/login/?next=", provider.url())),
        "{login}"
    );
    let page = fetch("GET", &login, &[], "", &mut jar).await;
    assert!(jar.get(&login, "op_csrftoken").is_some());
    let wrong = post_login_form(&login, &page, ALICE, "not-her-password", &mut jar).await;
    assert_eq!(wrong.status, StatusCode::OK);
    assert!(wrong.text().contains(r#"id="error""#), "{}", wrong.text());
    assert_eq!(jar.get(&login, "op_sessionid"), None);
    let signed_in = post_login_form(&login, &page, ALICE, ALICE_PASSWORD, &mut jar).await;
    assert_eq!(signed_in.status, StatusCode::FOUND, "{}", signed_in.text());
    assert!(jar.get(&login, "op_sessionid").is_some());
    let back = absolute(&login, location(&signed_in));
    assert!(
        back.starts_with(&provider.authorization_endpoint()),
        "{back}"
    );
    let approved = fetch("GET", &back, &[], "", &mut jar).await;
    assert_eq!(approved.status, StatusCode::FOUND, "{}", approved.text());
    let callback = location(&approved).to_string();
    let code = code_from(&callback, &request);

    // The code for tokens: client_secret_basic and the PKCE verifier.
    let reply = provider
        .exchange_code(&code, CALLBACK, &request.verifier)
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let tokens = reply.json();
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 3600);
    let mut granted: Vec<&str> = tokens["scope"].as_str().unwrap().split(' ').collect();
    granted.sort();
    assert_eq!(granted, ["email", "groups", "openid", "profile"]);
    let id_token = tokens["id_token"].as_str().unwrap();
    let access_token = tokens["access_token"].as_str().unwrap();
    let refresh_token = tokens["refresh_token"].as_str().unwrap();

    // The ID token's claims, as decoded by anyone, then as verified.
    let (header, claims) = jwt_parts(id_token);
    assert_eq!(header["alg"], "RS256");
    assert_eq!(claims["iss"], issuer);
    assert_eq!(claims["aud"], provider.client_id);
    assert_eq!(claims["sub"], provider.subject(ALICE));
    assert_eq!(claims["nonce"], request.nonce);
    assert_eq!(claims["preferred_username"], ALICE);
    assert_eq!(claims["email"], ALICE_EMAIL);
    assert_eq!(claims["groups"], json!(["ops"]));
    assert_eq!(claims["at_hash"], at_hash(access_token));
    let lifetime = claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap();
    assert!(
        (299..=301).contains(&lifetime),
        "ID token lifetime {lifetime}"
    );
    let jwks = provider.jwks().await;
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 1, "{jwks}");
    let key = &jwks["keys"][0];
    assert_eq!(key["kid"], header["kid"]);
    assert_eq!(key["kty"], "RSA");
    assert_eq!(key["alg"], "RS256");
    assert_eq!(key["use"], "sig");
    assert_eq!(key["kid"], thumbprint(key));
    assert_eq!(provider.verify_id_token(id_token).await, claims);

    // The same claims at the userinfo endpoint.
    let userinfo = provider.userinfo(access_token).await;
    assert_eq!(userinfo.status, StatusCode::OK, "{}", userinfo.text());
    let userinfo = userinfo.json();
    assert_eq!(userinfo["sub"], provider.subject(ALICE));
    assert_eq!(userinfo["preferred_username"], ALICE);
    assert_eq!(userinfo["email"], ALICE_EMAIL);
    assert_eq!(userinfo["groups"], json!(["ops"]));

    // A code is good once.
    let replayed = provider
        .exchange_code(&code, CALLBACK, &request.verifier)
        .await;
    assert_eq!(replayed.status, StatusCode::BAD_REQUEST);
    assert_eq!(replayed.json()["error"], "invalid_grant");

    // PKCE is enforced: no challenge is an error sent back to the
    // callback; a code redeemed without its verifier is refused. Alice's
    // session at the provider skips the sign-in page now.
    let unchallenged = with_query(
        &provider.authorization_endpoint(),
        &[
            ("response_type", "code"),
            ("client_id", &provider.client_id),
            ("redirect_uri", CALLBACK),
            ("scope", SCOPE),
            ("state", "no-pkce"),
        ],
    );
    let refused = sign_in_at_provider(&unchallenged, ALICE, ALICE_PASSWORD, &mut jar).await;
    assert_eq!(
        query_param(&refused, "error").as_deref(),
        Some("invalid_request")
    );
    assert_eq!(query_param(&refused, "code"), None);
    let other = AuthRequest::new();
    let callback = sign_in_at_provider(
        &provider.authorize_url(CALLBACK, &other),
        ALICE,
        ALICE_PASSWORD,
        &mut jar,
    )
    .await;
    let code = code_from(&callback, &other);
    let unverified = provider
        .exchange_code(&code, CALLBACK, &request.verifier)
        .await;
    assert_eq!(unverified.status, StatusCode::BAD_REQUEST);
    assert_eq!(unverified.json()["error"], "invalid_grant");
    // A wrong client secret is no client.
    let stranger = token_request(
        &provider.token_endpoint(),
        &provider.client_id,
        "not-the-secret",
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ],
    )
    .await;
    assert_eq!(stranger.status, StatusCode::UNAUTHORIZED);
    assert_eq!(stranger.json()["error"], "invalid_client");

    // Refresh: new tokens, the old access token gone.
    let refreshed = provider.refresh(refresh_token).await;
    assert_eq!(refreshed.status, StatusCode::OK, "{}", refreshed.text());
    let refreshed = refreshed.json();
    let new_access = refreshed["access_token"].as_str().unwrap();
    assert_ne!(new_access, access_token);
    assert_eq!(
        provider.userinfo(access_token).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(provider.userinfo(new_access).await.status, StatusCode::OK);

    // Bob: no groups, his own claims.
    let mut bobs_jar = CookieJar::default();
    let (bobs_request, bobs_tokens) = tokens_for(&provider, BOB, BOB_PASSWORD, &mut bobs_jar).await;
    let bob = provider
        .verify_id_token(bobs_tokens["id_token"].as_str().unwrap())
        .await;
    assert_eq!(bob["sub"], provider.subject(BOB));
    assert_eq!(bob["preferred_username"], BOB);
    assert_eq!(bob["email"], BOB_EMAIL);
    assert_eq!(bob["groups"], json!([]));
    assert_eq!(bob["nonce"], bobs_request.nonce);

    // RP-initiated sign-out with alice's ID token: back to the relying
    // party with its state, the provider session and her tokens gone.
    provider.set_redirect_uris(&[CALLBACK], &[SIGNED_OUT]);
    let sign_out = provider.end_session_url(id_token, SIGNED_OUT, "bye");
    let out = fetch("GET", &sign_out, &[], "", &mut jar).await;
    assert_eq!(out.status, StatusCode::FOUND, "{}", out.text());
    assert_eq!(location(&out), format!("{SIGNED_OUT}?state=bye"));
    assert_eq!(jar.get(&sign_out, "op_sessionid"), None);
    assert_eq!(
        provider.userinfo(new_access).await.status,
        StatusCode::UNAUTHORIZED
    );
    let again = fetch(
        "GET",
        &provider.authorize_url(CALLBACK, &AuthRequest::new()),
        &[],
        "",
        &mut jar,
    )
    .await;
    assert_eq!(again.status, StatusCode::FOUND);
    assert!(
        location(&again).starts_with("/accounts/login/"),
        "{}",
        location(&again)
    );
    // Bob is still signed in.
    let bobs = provider
        .userinfo(bobs_tokens["access_token"].as_str().unwrap())
        .await;
    assert_eq!(bobs.status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_key_signs_new_tokens_and_the_old_stays_published() {
    let mut provider = OpenIdProvider::start(CALLBACK).await;
    let mut jar = CookieJar::default();
    let (_, before) = tokens_for(&provider, ALICE, ALICE_PASSWORD, &mut jar).await;
    let old_token = before["id_token"].as_str().unwrap();
    let old_kid = jwt_parts(old_token).0["kid"].as_str().unwrap().to_string();
    assert_eq!(kids(&provider.jwks().await), std::slice::from_ref(&old_kid));

    provider.rotate_key().await;
    let issuer = format!("http://127.0.0.1:{}/o", provider.port);
    assert_eq!(provider.issuer, issuer);
    assert_eq!(provider.discovery().await["issuer"], issuer);
    let jwks = provider.jwks().await;
    let published = kids(&jwks);
    assert_eq!(published.len(), 2, "{jwks}");
    assert_ne!(published[0], old_kid);
    assert_eq!(published[1], old_kid);
    for key in jwks["keys"].as_array().unwrap() {
        assert_eq!(key["kid"], thumbprint(key));
    }

    // The session at the provider survived the restart: no sign-in page.
    let (request, after) = tokens_for(&provider, ALICE, "not-asked-for", &mut jar).await;
    let new_token = after["id_token"].as_str().unwrap();
    assert_eq!(jwt_parts(new_token).0["kid"], published[0]);
    let claims = provider.verify_id_token(new_token).await;
    assert_eq!(claims["nonce"], request.nonce);
    assert_eq!(claims["groups"], json!(["ops"]));
    // The old token still verifies by its key, which is still published.
    let old_claims = provider.verify_id_token(old_token).await;
    assert_eq!(old_claims["preferred_username"], ALICE);
    // A signature is checked: the old token's signature is not the new
    // key's.
    let mut forged_jwks = jwks.clone();
    forged_jwks["keys"][1]["n"] = jwks["keys"][0]["n"].clone();
    let forged = check_id_token(old_token, &forged_jwks, &issuer, &provider.client_id);
    assert_eq!(forged, Err("InvalidSignature".to_string()));

    // A second rotation keeps both earlier keys.
    provider.rotate_key().await;
    let published_again = kids(&provider.jwks().await);
    assert_eq!(published_again.len(), 3);
    assert_eq!(published_again[1..], published[..]);
}
