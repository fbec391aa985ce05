//! Bearer JWTs from any issuer (`[bearer]`): `BearerVerifier` driven
//! directly against a real JWKS issuer on loopback (tests/it/common/jwks.rs)
//! with keys and tokens made in the test: the claims mapped, every
//! refusal, algorithm confusion, key rotation and the refetch rate limit,
//! an issuer that stops answering (stale keys kept; nothing cached: fail
//! closed), HTTPS with a private CA; and `check` on bad sections.

use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use portcullis::credentials::bearer::{
    BearerError, BearerProblem, BearerSettings, BearerVerifier, VerifiedBearer,
};
use serde_json::{json, Value};

use crate::common::jwks::{b64, key_set, JwksServer, TestKey};

const ISSUER: &str = "https://login.example.test/realms/shop";
const AUDIENCE: &str = "shop-api";

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Claims of a good token for `sub`, valid for five minutes.
fn claims(sub: &str) -> Value {
    json!({
        "iss": ISSUER,
        "aud": [AUDIENCE, "account"],
        "sub": sub,
        "iat": now(),
        "exp": now() + 300,
    })
}

/// `claims("alice")` with `changes` applied (`null` removes a claim).
fn claims_with(changes: Value) -> Value {
    let mut all = claims("alice");
    for (name, value) in changes.as_object().unwrap() {
        match value {
            Value::Null => all.as_object_mut().unwrap().remove(name),
            value => all
                .as_object_mut()
                .unwrap()
                .insert(name.clone(), value.clone()),
        };
    }
    all
}

fn settings(jwks_url: &str) -> BearerSettings {
    BearerSettings {
        issuer: ISSUER.into(),
        audiences: vec![AUDIENCE.into()],
        jwks_url: jwks_url.parse().unwrap(),
        algorithms: vec![Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA],
        username_claim: "sub".into(),
        groups_claim: None,
        permissions_claim: None,
        staff_claim: None,
        superuser_claim: None,
        staff_groups: Vec::new(),
        superuser_groups: Vec::new(),
        leeway: Duration::from_secs(5),
        jwks_cache_ttl: Duration::from_secs(600),
        jwks_refetch_interval: Duration::from_millis(500),
        timeout: Duration::from_secs(2),
        ca_file: None,
    }
}

fn verifier(server: &JwksServer) -> BearerVerifier {
    BearerVerifier::new(settings(&server.url)).unwrap()
}

fn invalid(problem: BearerProblem) -> Result<VerifiedBearer, BearerError> {
    Err(BearerError::Invalid(problem))
}

/// The problem a refused token has (panics on anything else).
async fn problem(verifier: &BearerVerifier, token: &str) -> BearerProblem {
    match verifier.verify(token).await {
        Err(BearerError::Invalid(problem)) => problem,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn a_valid_token_becomes_its_user_with_groups_and_permissions() {
    let key = TestKey::es256("k1");
    let server = JwksServer::start(key_set(&[&key])).await;
    let mut s = settings(&server.url);
    s.username_claim = "preferred_username".into();
    s.groups_claim = Some("realm_access.roles".into());
    s.permissions_claim = Some("scope".into());
    s.staff_groups = vec!["shop-staff".into()];
    s.superuser_claim = Some("https://example.test/superuser".into());
    let verifier = BearerVerifier::new(s).unwrap();
    let exp = now() + 300;
    let token = key.sign(&claims_with(json!({
        "sub": "f81d4fae-7dec-11d0-a765-00a0c91e6bf6",
        "preferred_username": "alice",
        "realm_access": {"roles": ["shop-staff", "buyers"]},
        "scope": "shop.view_order shop.change_order",
        "https://example.test/superuser": false,
        "exp": exp,
    })));
    let verified = verifier.verify(&token).await.unwrap();
    assert_eq!(verified.user.username, "alice");
    assert_eq!(
        verified.user.user_id.as_deref(),
        Some("f81d4fae-7dec-11d0-a765-00a0c91e6bf6")
    );
    assert_eq!(verified.user.groups, ["shop-staff", "buyers"]);
    assert_eq!(
        verified.user.permissions,
        ["shop.view_order", "shop.change_order"]
    );
    assert!(verified.user.staff && !verified.user.superuser);
    assert_eq!(verified.expires_at, UNIX_EPOCH + Duration::from_secs(exp));
    assert_eq!(server.fetches(), 1);
    // Cached: the next token costs no fetch.
    verifier.verify(&token).await.unwrap();
    assert_eq!(server.fetches(), 1);

    // A name that cannot go in an identity header refuses the token.
    let token = key.sign(&claims_with(
        json!({"preferred_username": "bob\r\nX-Admin: 1"}),
    ));
    assert_eq!(
        problem(&verifier, &token).await,
        BearerProblem::BadClaim("preferred_username".into())
    );
}

#[tokio::test]
async fn eddsa_es384_and_rs256_tokens_verify_with_their_keys() {
    let ed = TestKey::ed25519("ed");
    let rsa = TestKey::rs256("rsa");
    let p384 = TestKey::es384("p384");
    let server = JwksServer::start(key_set(&[&ed, &rsa, &p384])).await;
    let mut s = settings(&server.url);
    s.algorithms.push(Algorithm::ES384);
    let verifier = BearerVerifier::new(s).unwrap();
    for key in [&ed, &rsa, &p384] {
        let verified = verifier.verify(&key.sign(&claims("carol"))).await.unwrap();
        assert_eq!(verified.user.username, "carol", "{:?}", key.alg);
    }
    // The same RSA key published with a leading zero byte in `n` (as
    // Java's BigInteger writes it) still verifies.
    let padded = rsa.renamed("rsa0");
    let mut n = vec![0u8];
    n.extend_from_slice(&rsa.public);
    let mut jwk = padded.jwk.clone();
    jwk["n"] = json!(b64(&n));
    server.rotate(json!({"keys": [ed.jwk, rsa.jwk, p384.jwk, jwk]}));
    tokio::time::sleep(Duration::from_millis(550)).await;
    let verified = verifier
        .verify(&padded.sign(&claims("erin")))
        .await
        .unwrap();
    assert_eq!(verified.user.username, "erin");
    // A token without `kid` is tried against the keys that fit its alg.
    let token = jsonwebtoken::encode(
        &Header::new(Algorithm::RS256),
        &claims("dan"),
        &rsa.encoding,
    )
    .unwrap();
    assert_eq!(verifier.verify(&token).await.unwrap().user.username, "dan");
    assert_eq!(server.fetches(), 2);
}

#[tokio::test]
async fn time_issuer_and_audience_refusals() {
    let key = TestKey::es256("k1");
    let server = JwksServer::start(key_set(&[&key])).await;
    let verifier = verifier(&server);
    let t = now();
    let cases = [
        (json!({"exp": t - 60}), BearerProblem::Expired),
        (
            json!({"exp": null}),
            BearerProblem::MissingClaim("exp".into()),
        ),
        (json!({"nbf": t + 120}), BearerProblem::NotYetValid),
        (json!({"iat": t + 120}), BearerProblem::IssuedInFuture),
        (json!({"aud": "another-api"}), BearerProblem::WrongAudience),
        (json!({"aud": ["account"]}), BearerProblem::WrongAudience),
        (
            json!({"aud": null}),
            BearerProblem::MissingClaim("aud".into()),
        ),
        (
            json!({"iss": "https://evil.example.test"}),
            BearerProblem::WrongIssuer,
        ),
        (
            json!({"iss": format!("{ISSUER}/")}),
            BearerProblem::WrongIssuer,
        ),
        (
            json!({"sub": null}),
            BearerProblem::MissingClaim("sub".into()),
        ),
    ];
    for (changes, expected) in cases {
        let token = key.sign(&claims_with(changes.clone()));
        assert_eq!(problem(&verifier, &token).await, expected, "{changes}");
    }
    // Within the leeway (5 s here) a just-expired token still passes.
    let token = key.sign(&claims_with(json!({"exp": t - 1, "nbf": t + 2})));
    assert!(verifier.verify(&token).await.is_ok());
    let messages: Vec<String> = [BearerProblem::Expired, BearerProblem::WrongAudience]
        .iter()
        .map(|p| format!("{}: {}", p.as_str(), p.message()))
        .collect();
    assert_eq!(
        messages,
        [
            "expired: Token is expired",
            "wrong_audience: Token has the wrong audience"
        ]
    );
}

#[tokio::test]
async fn alg_none_and_algorithm_confusion_are_refused() {
    let key = TestKey::es256("k1");
    let server = JwksServer::start(key_set(&[&key])).await;
    let verifier = verifier(&server);
    let payload = b64(claims("mallory").to_string().as_bytes());

    // An unsecured JWT (RFC 7519 §6), by hand: empty signature, or any.
    for alg in ["none", "None", "NONE"] {
        let header = b64(format!(r#"{{"alg":"{alg}","kid":"k1"}}"#).as_bytes());
        for signature in ["", "c2lnbmF0dXJl"] {
            let token = format!("{header}.{payload}.{signature}");
            assert_eq!(
                problem(&verifier, &token).await,
                BearerProblem::AlgorithmNotAllowed,
                "{alg} {signature:?}"
            );
        }
    }

    // HS256 "signed" with the issuer's public key as the secret, in each
    // form an attacker might try: never checked as an HMAC.
    let pem_like = format!("{}", key.jwk);
    for secret in [key.public.clone(), pem_like.into_bytes()] {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some("k1".into());
        let token = jsonwebtoken::encode(
            &header,
            &claims("mallory"),
            &EncodingKey::from_secret(&secret),
        )
        .unwrap();
        assert_eq!(
            problem(&verifier, &token).await,
            BearerProblem::AlgorithmNotAllowed
        );
    }
    // And no verifier can be made that would accept one.
    let mut s = settings(&server.url);
    s.algorithms = vec![Algorithm::HS256];
    assert!(BearerVerifier::new(s)
        .unwrap_err()
        .contains("shared-secret"));
    // The refusals came before any key was needed.
    assert_eq!(server.fetches(), 0);
}

#[tokio::test]
async fn an_algorithm_outside_the_allow_list_is_refused_even_with_its_key_published() {
    let ed = TestKey::ed25519("ed");
    let es = TestKey::es256("es");
    let server = JwksServer::start(key_set(&[&ed, &es])).await;
    let mut s = settings(&server.url);
    s.algorithms = vec![Algorithm::ES256];
    let verifier = BearerVerifier::new(s).unwrap();
    assert_eq!(
        problem(&verifier, &ed.sign(&claims("x"))).await,
        BearerProblem::AlgorithmNotAllowed
    );
    assert!(verifier.verify(&es.sign(&claims("x"))).await.is_ok());

    // A key whose own `alg` contradicts the token's is not used: an RSA
    // key published for RS256 does not verify a PS256 token.
    let rsa = TestKey::rs256("rsa");
    let mut jwk = rsa.jwk.clone();
    jwk["alg"] = json!("RS256");
    server.rotate(json!({"keys": [jwk]}));
    let mut s = settings(&server.url);
    s.algorithms = vec![Algorithm::RS256, Algorithm::PS256];
    let verifier = BearerVerifier::new(s).unwrap();
    let mut header = Header::new(Algorithm::PS256);
    header.kid = Some("rsa".into());
    let token = jsonwebtoken::encode(&header, &claims("x"), &rsa.encoding).unwrap();
    assert_eq!(problem(&verifier, &token).await, BearerProblem::UnknownKey);
    assert!(verifier.verify(&rsa.sign(&claims("x"))).await.is_ok());
}

#[tokio::test]
async fn tampered_and_forged_tokens_fail_the_signature() {
    let key = TestKey::es256("k1");
    let server = JwksServer::start(key_set(&[&key])).await;
    let verifier = verifier(&server);
    let token = key.sign(&claims("alice"));
    let parts: Vec<&str> = token.split('.').collect();
    let forged_payload = b64(claims("admin").to_string().as_bytes());
    let tampered = format!("{}.{forged_payload}.{}", parts[0], parts[2]);
    assert_eq!(
        problem(&verifier, &tampered).await,
        BearerProblem::BadSignature
    );
    // A signature bit flipped.
    let mut signature = parts[2].as_bytes().to_vec();
    signature[5] = if signature[5] == b'A' { b'B' } else { b'A' };
    let flipped = format!(
        "{}.{}.{}",
        parts[0],
        parts[1],
        String::from_utf8(signature).unwrap()
    );
    assert_eq!(
        problem(&verifier, &flipped).await,
        BearerProblem::BadSignature
    );
    // Another key claiming the issuer's kid.
    let impostor = TestKey::es256("k1");
    assert_eq!(
        problem(&verifier, &impostor.sign(&claims("alice"))).await,
        BearerProblem::BadSignature
    );
    // Not a JWT at all.
    for garbage in ["", "Bearer", "a.b", "a.b.c.d", "%%%.e30.e30"] {
        assert_eq!(
            problem(&verifier, garbage).await,
            BearerProblem::Malformed,
            "{garbage}"
        );
    }
    assert!(verifier.verify(&token).await.is_ok());
}

#[tokio::test]
async fn an_unknown_kid_refetches_once_and_a_rotated_key_then_works() {
    let old = TestKey::es256("2024");
    let server = JwksServer::start(key_set(&[&old])).await;
    let verifier = verifier(&server);
    verifier.verify(&old.sign(&claims("a"))).await.unwrap();
    assert_eq!(server.fetches(), 1);

    // The issuer publishes a new key and starts signing with it.
    let new = TestKey::ed25519("2025");
    server.rotate(key_set(&[&old, &new]));
    tokio::time::sleep(Duration::from_millis(550)).await; // past jwks_refetch_interval
    let verified = verifier.verify(&new.sign(&claims("b"))).await.unwrap();
    assert_eq!(verified.user.username, "b");
    assert_eq!(server.fetches(), 2, "exactly one refetch");
    verifier.verify(&new.sign(&claims("b"))).await.unwrap();
    verifier.verify(&old.sign(&claims("a"))).await.unwrap();
    assert_eq!(server.fetches(), 2);

    // The old key is withdrawn: once the keys are fetched again it fails.
    server.rotate(key_set(&[&new]));
    tokio::time::sleep(Duration::from_millis(550)).await;
    let unknown = TestKey::es256("never-published");
    assert_eq!(
        problem(&verifier, &unknown.sign(&claims("c"))).await,
        BearerProblem::UnknownKey
    );
    assert_eq!(server.fetches(), 3);
    assert_eq!(
        problem(&verifier, &old.sign(&claims("a"))).await,
        BearerProblem::UnknownKey
    );
    assert_eq!(server.fetches(), 3, "within the interval: no fetch");
}

#[tokio::test]
async fn a_burst_of_unknown_kids_fetches_at_most_once_per_interval() {
    let key = TestKey::es256("k1");
    let server = JwksServer::start(key_set(&[&key])).await;
    let mut s = settings(&server.url);
    s.jwks_refetch_interval = Duration::from_secs(1);
    let verifier = BearerVerifier::new(s).unwrap();
    verifier.verify(&key.sign(&claims("a"))).await.unwrap();
    assert_eq!(server.fetches(), 1);

    let start = Instant::now();
    let mut rounds = 0;
    // Unknown kids, 40 at a time, for a little over two intervals.
    while start.elapsed() < Duration::from_millis(2300) && rounds < 200 {
        rounds += 1;
        let tasks: Vec<_> = (0..40)
            .map(|i| {
                let verifier = verifier.clone();
                let token = key.renamed(&format!("kid-{rounds}-{i}")).sign(&claims("x"));
                tokio::spawn(async move { verifier.verify(&token).await })
            })
            .collect();
        for task in tasks {
            assert_eq!(task.await.unwrap(), invalid(BearerProblem::UnknownKey));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let fetches = server.fetches();
    assert!(rounds > 10, "{rounds} rounds");
    // One fetch per elapsed interval (the first may come at once), however
    // many requests asked.
    assert!(
        (2..=4).contains(&fetches),
        "{fetches} fetches for {rounds} rounds of 40"
    );
    // The known key never needed any of them.
    verifier.verify(&key.sign(&claims("a"))).await.unwrap();
}

#[tokio::test]
async fn concurrent_requests_on_a_cold_cache_share_one_fetch() {
    let key = TestKey::es256("k1");
    let server = JwksServer::start(key_set(&[&key])).await;
    server.set_delay(Duration::from_millis(300));
    let verifier = verifier(&server);
    let token = key.sign(&claims("a"));
    let tasks: Vec<_> = (0..30)
        .map(|_| {
            let (verifier, token) = (verifier.clone(), token.clone());
            tokio::spawn(async move { verifier.verify(&token).await })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap().unwrap().user.username, "a");
    }
    assert_eq!(server.fetches(), 1);
}

#[tokio::test]
async fn an_issuer_that_stops_answering_leaves_the_cached_keys_in_use() {
    let key = TestKey::es256("k1");
    let mut server = JwksServer::start(key_set(&[&key])).await;
    let mut s = settings(&server.url);
    s.jwks_cache_ttl = Duration::from_millis(200);
    s.jwks_refetch_interval = Duration::from_millis(100);
    let verifier = BearerVerifier::new(s).unwrap();
    verifier.verify(&key.sign(&claims("a"))).await.unwrap();
    server.stop().await;
    // Past the cache's TTL: the refetch fails, the stale key still verifies.
    tokio::time::sleep(Duration::from_millis(300)).await;
    for _ in 0..3 {
        assert_eq!(
            verifier
                .verify(&key.sign(&claims("a")))
                .await
                .unwrap()
                .user
                .username,
            "a"
        );
    }
    // Bad tokens are still refused as such.
    assert_eq!(
        problem(&verifier, &key.sign(&claims_with(json!({"exp": 1})))).await,
        BearerProblem::Expired
    );
    // A kid the cache does not hold cannot be checked: fail closed.
    tokio::time::sleep(Duration::from_millis(150)).await;
    let other = TestKey::es256("k2");
    match verifier.verify(&other.sign(&claims("a"))).await {
        Err(BearerError::IssuerUnavailable(why)) => assert!(why.contains("JWKS"), "{why}"),
        other => panic!("expected IssuerUnavailable, got {other:?}"),
    }
}

#[tokio::test]
async fn keys_past_their_ttl_are_refreshed_behind_the_request() {
    let key = TestKey::es256("k1");
    let server = JwksServer::start(key_set(&[&key])).await;
    let mut s = settings(&server.url);
    s.jwks_cache_ttl = Duration::from_millis(200);
    s.jwks_refetch_interval = Duration::from_millis(100);
    let verifier = BearerVerifier::new(s).unwrap();
    verifier.verify(&key.sign(&claims("a"))).await.unwrap();
    assert_eq!(server.fetches(), 1);
    // A slow issuer past the TTL: the cached key answers at once.
    server.set_delay(Duration::from_secs(3));
    tokio::time::sleep(Duration::from_millis(250)).await;
    let start = Instant::now();
    for _ in 0..20 {
        verifier.verify(&key.sign(&claims("a"))).await.unwrap();
    }
    assert!(
        start.elapsed() < Duration::from_millis(2000),
        "{:?}",
        start.elapsed()
    );
    // One fetch went out behind those requests, not one each.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(server.fetches(), 2);
    // Once it lands, a key the issuer withdrew meanwhile is gone.
    server.rotate(key_set(&[]));
    server.set_delay(Duration::ZERO);
    let deadline = Instant::now() + Duration::from_secs(8);
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        match verifier.verify(&key.sign(&claims("a"))).await {
            Err(BearerError::Invalid(BearerProblem::UnknownKey)) => break,
            Ok(_) if Instant::now() < deadline => continue,
            other => panic!("the withdrawn key is still in use: {other:?}"),
        }
    }
}

#[tokio::test]
async fn an_issuer_unreachable_with_nothing_cached_fails_closed() {
    let key = TestKey::es256("k1");
    let mut server = JwksServer::start(key_set(&[&key])).await;
    let verifier = verifier(&server);
    server.stop().await;
    let token = key.sign(&claims("a"));
    for _ in 0..2 {
        match verifier.verify(&token).await {
            Err(BearerError::IssuerUnavailable(why)) => {
                assert!(why.contains(&server.url), "{why}")
            }
            other => panic!("expected IssuerUnavailable, got {other:?}"),
        }
    }
    assert!(verifier.prefetch().await.is_err());
}

#[tokio::test]
async fn a_reloaded_verifier_keeps_the_keys_of_the_running_one() {
    let key = TestKey::es256("k1");
    let mut server = JwksServer::start(key_set(&[&key])).await;
    let running = verifier(&server);
    running.verify(&key.sign(&claims("a"))).await.unwrap();
    server.stop().await;
    // The reloaded config names another audience, same issuer and keys:
    // it verifies with the keys fetched before, the issuer being down.
    let mut s = settings(&server.url);
    s.audiences = vec!["reporting".into()];
    let mut reloaded = BearerVerifier::new(s.clone()).unwrap();
    reloaded.keep_keys_of(&running);
    let token = key.sign(&claims_with(json!({"aud": "reporting"})));
    assert_eq!(
        reloaded.verify(&token).await.unwrap().user.username,
        "alice"
    );
    assert_eq!(reloaded.settings().audiences, ["reporting"]);
    // Keys fetched another way are not shared.
    s.timeout = Duration::from_secs(3);
    let mut elsewhere = BearerVerifier::new(s).unwrap();
    elsewhere.keep_keys_of(&running);
    assert!(matches!(
        elsewhere.verify(&token).await,
        Err(BearerError::IssuerUnavailable(_))
    ));
}

#[tokio::test]
async fn slow_failing_and_oversized_jwks_answers_fail_closed_and_recover() {
    let key = TestKey::es256("k1");
    let server = JwksServer::start(key_set(&[&key])).await;
    let mut s = settings(&server.url);
    s.timeout = Duration::from_millis(300);
    s.jwks_refetch_interval = Duration::from_millis(50);
    let verifier = BearerVerifier::new(s).unwrap();
    let token = key.sign(&claims("a"));
    let unavailable = |result: Result<VerifiedBearer, BearerError>, needle: &str| match result {
        Err(BearerError::IssuerUnavailable(why)) => assert!(why.contains(needle), "{why}"),
        other => panic!("expected IssuerUnavailable ({needle}), got {other:?}"),
    };

    server.set_delay(Duration::from_secs(5));
    let start = Instant::now();
    unavailable(verifier.verify(&token).await, "no answer within");
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    server.set_delay(Duration::ZERO);

    let cases = [
        (
            http::StatusCode::INTERNAL_SERVER_ERROR,
            "{}".to_string(),
            "500",
        ),
        (
            http::StatusCode::OK,
            "<html>login</html>".to_string(),
            "not a JWKS",
        ),
        (
            http::StatusCode::OK,
            format!(r#"{{"keys":[],"pad":"{}"}}"#, "x".repeat(1_100_000)),
            "body",
        ),
    ];
    for (status, body, needle) in cases {
        server.set_status(status);
        server.set_body(body);
        tokio::time::sleep(Duration::from_millis(60)).await;
        unavailable(verifier.verify(&token).await, needle);
    }
    server.set_status(http::StatusCode::OK);
    server.rotate(key_set(&[&key]));
    tokio::time::sleep(Duration::from_millis(60)).await;
    assert!(verifier.verify(&token).await.is_ok());
}

#[tokio::test]
async fn an_https_jwks_is_trusted_through_ca_file() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, tls_key) = crate::common::tls::tls_files(dir.path());
    let key = TestKey::es256("k1");
    let server = JwksServer::start_tls(key_set(&[&key]), &cert, &tls_key).await;
    assert!(server.url.starts_with("https://localhost:"));
    let mut s = settings(&server.url);
    s.ca_file = Some(portcullis::tls::client::CaFile {
        path: ca.clone().into(),
        pem: std::fs::read(&ca).unwrap().into(),
    });
    let trusting = BearerVerifier::new(s).unwrap();
    assert_eq!(trusting.prefetch().await, Ok(1));
    assert!(trusting.verify(&key.sign(&claims("a"))).await.is_ok());

    // Without the CA the certificate is not trusted: no keys, fail closed.
    let untrusting = verifier(&server);
    match untrusting.verify(&key.sign(&claims("a"))).await {
        Err(BearerError::IssuerUnavailable(why)) => assert!(why.contains("certificate"), "{why}"),
        other => panic!("expected IssuerUnavailable, got {other:?}"),
    }
}

#[tokio::test]
async fn the_compiled_config_builds_the_verifier() {
    let key = TestKey::ed25519("k1");
    let server = JwksServer::start(key_set(&[&key])).await;
    let text = crate::common::config(
        "http://127.0.0.1:9",
        &format!(
            r#"
[bearer]
issuer = "{ISSUER}"
audiences = ["{AUDIENCE}"]
jwks_url = "{}"
algorithms = ["EdDSA"]
groups_claim = "groups"
superuser_groups = ["root"]
leeway = "0s"
"#,
            server.url
        ),
    );
    let config = portcullis::config::parse(&text, "bearer.toml").unwrap();
    let verifier = config.bearer.as_ref().expect("[bearer] compiled");
    assert_eq!(verifier.settings().leeway, Duration::ZERO);
    assert_eq!(verifier.settings().username_claim, "sub");
    assert_eq!(verifier.settings().jwks_cache_ttl, Duration::from_secs(600));
    let user = verifier
        .verify(&key.sign(&claims_with(json!({"groups": ["root"]}))))
        .await
        .unwrap()
        .user;
    assert!(user.superuser && !user.staff);
    // No section, no verifier.
    let plain = portcullis::config::parse(&crate::common::config("http://127.0.0.1:9", ""), "t");
    assert!(plain.unwrap().bearer.is_none());
}

const BIN: &str = env!("CARGO_BIN_EXE_portcullis");

fn check(text: &str) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("portcullis.toml");
    std::fs::write(&path, text).unwrap();
    let out = std::process::Command::new(BIN)
        .args(["check", "--config"])
        .arg(Path::new(&path))
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

const GOOD: &str = r#"[server]
listen = "127.0.0.1:8080"
admin_listen = "127.0.0.1:9901"
[upstream]
url = "http://127.0.0.1:8000"
[admin]
token = "t"
"#;

#[test]
fn check_reports_a_bad_bearer_section_with_its_places() {
    let text = format!(
        r#"{GOOD}[bearer]
issuer = "https://login.example.test"
jwks_url = "ftp://login.example.test/jwks"
algorithms = ["ES256", "HS256", "none"]
leeway = "1h"
staff_groups = ["ops"]
"#
    );
    let (code, out) = check(&text);
    assert_eq!(code, 1, "{out}");
    for (place, message) in [
        (":8:1:", "bearer.audiences: name at least one audience"),
        (":10:12:", "bearer.jwks_url must start with https://"),
        (":11:24:", "\"HS256\" is a shared-secret algorithm"),
        (":11:33:", "\"none\" is not a signature algorithm"),
        (":12:10:", "bearer.leeway must be at most 10m"),
        (
            ":8:1:",
            "bearer.staff_groups and bearer.superuser_groups need bearer.groups_claim",
        ),
    ] {
        assert!(
            out.lines()
                .any(|l| l.contains(place) && l.contains(message)),
            "missing {place} {message} in:\n{out}"
        );
    }
    assert_eq!(out.lines().count(), 6, "{out}");

    // Required keys and unknown ones are TOML errors, placed.
    let (code, out) = check(&format!(
        "{GOOD}[bearer]\nissuer = \"i\"\naudiences = [\"a\"]\n"
    ));
    assert_eq!(code, 1);
    assert!(out.contains("missing field `jwks_url`"), "{out}");
    let (code, out) = check(&format!(
        "{GOOD}[bearer]\nissuer = \"i\"\naudiences = [\"a\"]\njwks_url = \"https://i/jwks\"\naudience = \"a\"\n"
    ));
    assert_eq!(code, 1);
    assert!(out.contains("unknown field `audience`"), "{out}");
}

#[test]
fn check_accepts_a_good_bearer_section_and_warns_about_plain_http() {
    let section = "[bearer]\nissuer = \"https://login.example.test\"\naudiences = [\"api\"]\n";
    let (code, out) = check(&format!(
        "{GOOD}{section}jwks_url = \"https://login.example.test/jwks\"\n"
    ));
    assert_eq!((code, out.trim()), (0, "config OK"));
    let (code, out) = check(&format!(
        "{GOOD}{section}jwks_url = \"http://login.example.test/jwks\"\n"
    ));
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(":11:12: warning: bearer.jwks_url is plain http://"),
        "{out}"
    );
}
