//! `[identity] sign`: the JWT the gateway puts in `X-Portcullis-Assertion`,
//! verified here by an independent implementation — PyJWT, running the
//! README's own `verify_portcullis` example — for HS256 and EdDSA; refused
//! with a wrong key, for another request, and after expiry; never taken
//! from the client.

use std::path::{Path, PathBuf};

use crate::common::python::python;
use crate::common::routes::{life, public};
use crate::common::*;
use serde_json::Value;

const ROUTES: &str = concat!(public!(), life!());

/// The README's Python example, written out, plus a driver that prints
/// the claims or the PyJWT error's name.
struct Verifier {
    dir: tempfile::TempDir,
}

impl Verifier {
    fn new() -> Verifier {
        let readme =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
        let start = readme
            .find("```python\n# verify_portcullis.py")
            .expect("the README's verify_portcullis.py example")
            + "```python\n".len();
        let length = readme[start..].find("```").unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("verify_portcullis.py"),
            &readme[start..start + length],
        )
        .unwrap();
        std::fs::write(
            dir.path().join("driver.py"),
            r#"import json, sys
import jwt
from verify_portcullis import verify_portcullis
token, method, path, key_file, algorithm = sys.argv[1:6]
key = open(key_file, "rb").read().strip() if algorithm == "HS256" else open(key_file).read()
try:
    print(json.dumps({"claims": verify_portcullis({"X-Portcullis-Assertion": token}, method, path, key, algorithm)}))
except jwt.InvalidTokenError as error:
    print(json.dumps({"error": type(error).__name__}))
"#,
        )
        .unwrap();
        Verifier { dir }
    }

    fn verify(&self, token: &str, method: &str, path: &str, key: &Path, algorithm: &str) -> Value {
        crate::common::python::json_output(
            std::process::Command::new(python())
                .current_dir(self.dir.path())
                .arg("driver.py")
                .args([token, method, path])
                .arg(key)
                .arg(algorithm),
        )
    }
}

fn key_file(dir: &tempfile::TempDir, name: &str, contents: &str) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, contents).unwrap();
    path
}

fn signing(algorithm: &str, key: &Path, ttl: &str) -> String {
    format!(
        "[identity]\nsign = {{ algorithm = \"{algorithm}\", key_file = \"{}\", ttl = \"{ttl}\" }}\n{ROUTES}",
        key.display()
    )
}

fn assertion_of(reply: &Reply) -> String {
    let echoed = reply.echoed();
    let values = echoed_header(&echoed, "x-portcullis-assertion");
    assert_eq!(values.len(), 1, "{echoed}");
    values[0].to_string()
}

#[tokio::test]
async fn hs256_assertions_verify_with_pyjwt_and_only_for_their_request() {
    let keys = tempfile::tempdir().unwrap();
    let key = key_file(
        &keys,
        "assertion.key",
        "k1-0123456789abcdefghijklmnopqrstuvwxyz\n",
    );
    let other = key_file(
        &keys,
        "other.key",
        "k2-0123456789abcdefghijklmnopqrstuvwxyz\n",
    );
    let h = Harness::start(&signing("HS256", &key, "30s")).await;
    let alice = h
        .session(r#"{"username":"alice","groups":["readers"],"permissions":["lifeapp.view_life"]}"#)
        .await;
    let reply = h
        .get(
            "/life/1/?page=2",
            &[
                ("cookie", &Harness::cookie(&alice)),
                ("x-portcullis-assertion", "forged.by.client"),
            ],
        )
        .await;
    let token = assertion_of(&reply);
    assert_ne!(token, "forged.by.client");

    let verifier = Verifier::new();
    let verified = verifier.verify(&token, "GET", "/life/1/", &key, "HS256");
    let claims = &verified["claims"];
    assert_eq!(claims["iss"], "portcullis", "{verified}");
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["groups"], serde_json::json!(["readers"]));
    assert_eq!(
        claims["permissions"],
        serde_json::json!(["lifeapp.view_life"])
    );
    assert_eq!(claims["staff"], false);
    assert_eq!(claims["route"], "life");
    assert_eq!(
        claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
        30
    );
    assert!(claims["would_deny"].is_null());
    let jti = claims["jti"].as_str().unwrap();
    assert!(
        jti.len() == 32 && jti.bytes().all(|b| b.is_ascii_hexdigit()),
        "{jti}"
    );
    let again = assertion_of(
        &h.get("/life/1/", &[("cookie", &Harness::cookie(&alice))])
            .await,
    );
    let again = verifier.verify(&again, "GET", "/life/1/", &key, "HS256");
    assert_ne!(again["claims"]["jti"], claims["jti"]);

    // explain shows the claims, never a token an upstream would accept.
    let explained = h
        .admin(
            "POST",
            "/explain",
            Some(ADMIN_TOKEN),
            &format!(
                r#"{{"url":"/life/1/","cookie":"{}"}}"#,
                Harness::cookie(&alice)
            ),
        )
        .await
        .json();
    let shown = explained["upstream_request"]["headers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h[0] == "x-portcullis-assertion")
        .map(|h| h[1].as_str().unwrap().to_string())
        .expect("the assertion's claims");
    assert!(
        shown.starts_with("(not signed by explain) HS256 claims {"),
        "{shown}"
    );
    assert!(shown.contains("\"sub\":\"alice\""), "{shown}");

    assert_eq!(
        verifier.verify(&token, "GET", "/life/1/", &other, "HS256")["error"],
        "InvalidSignatureError"
    );
    assert_eq!(
        verifier.verify(&token, "GET", "/life/2/", &key, "HS256")["error"],
        "InvalidTokenError"
    );
    assert_eq!(
        verifier.verify(&token, "DELETE", "/life/1/", &key, "HS256")["error"],
        "InvalidTokenError"
    );
}

#[tokio::test]
async fn an_expired_assertion_is_refused() {
    let keys = tempfile::tempdir().unwrap();
    let key = key_file(&keys, "assertion.key", &"s".repeat(40));
    let h = Harness::start(&signing("HS256", &key, "2s")).await;
    let token = assertion_of(&h.get("/public/x", &[]).await);
    let verifier = Verifier::new();
    assert!(verifier.verify(&token, "GET", "/public/x", &key, "HS256")["claims"].is_object());
    // Bounded: the token lives two seconds from its whole-second `iat`.
    tokio::time::sleep(std::time::Duration::from_millis(2200)).await;
    assert_eq!(
        verifier.verify(&token, "GET", "/public/x", &key, "HS256")["error"],
        "ExpiredSignatureError"
    );
}

#[tokio::test]
async fn eddsa_assertions_verify_with_the_public_key_only() {
    let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
    let keys = tempfile::tempdir().unwrap();
    let private = key_file(&keys, "assertion.pem", &pair.serialize_pem());
    let public = key_file(&keys, "assertion.pub", &pair.public_key_pem());
    let h = Harness::start(&signing("EdDSA", &private, "30s")).await;
    let token = assertion_of(&h.get("/public/caf%C3%A9", &[]).await);
    let verifier = Verifier::new();
    let verified = verifier.verify(&token, "GET", "/public/café", &public, "EdDSA");
    let claims = &verified["claims"];
    // Anonymous: no subject, but the gateway vouches it passed.
    assert!(claims["sub"].is_null(), "{verified}");
    assert_eq!(claims["route"], "public");
    assert_eq!(claims["path"], "/public/caf%C3%A9");
    let stranger = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
    let stranger = key_file(&keys, "stranger.pub", &stranger.public_key_pem());
    assert_eq!(
        verifier.verify(&token, "GET", "/public/café", &stranger, "EdDSA")["error"],
        "InvalidSignatureError"
    );
}

#[test]
fn check_refuses_weak_or_unreadable_keys() {
    let keys = tempfile::tempdir().unwrap();
    let short = key_file(&keys, "short.key", "too-short\n");
    let not_pem = key_file(&keys, "bad.pem", "not a key");
    for (algorithm, key, message) in [
        (
            "HS256",
            short.clone(),
            "an HS256 key must be at least 32 bytes (it has 9)",
        ),
        ("EdDSA", not_pem, "not an Ed25519 private key in PEM"),
        (
            "RS256",
            short,
            "algorithm \"RS256\": expected \"HS256\" or \"EdDSA\"",
        ),
        (
            "HS256",
            keys.path().join("missing.key"),
            "cannot read identity.sign.key_file",
        ),
    ] {
        let text = config("http://127.0.0.1:1", &signing(algorithm, &key, "30s"));
        let error = portcullis::config::parse(&text, "t")
            .unwrap_err()
            .to_string();
        assert!(error.contains(message), "{algorithm}: {error}");
    }
}

#[tokio::test]
async fn a_request_let_through_by_report_mode_says_so_in_its_assertion() {
    let keys = tempfile::tempdir().unwrap();
    let key = key_file(&keys, "assertion.key", &"r".repeat(40));
    let h = Harness::start(&format!(
        "{}\n[[routes]]\nname = \"trial\"\npath = \"/trial/**\"\naccess = \"staff\"\nmode = \"report\"\n",
        signing("HS256", &key, "30s")
    ))
    .await;
    let token = assertion_of(&h.get("/trial/x", &[]).await);
    let verified = Verifier::new().verify(&token, "GET", "/trial/x", &key, "HS256");
    assert_eq!(
        verified["claims"]["would_deny"], "not_authenticated",
        "{verified}"
    );
    assert_eq!(verified["claims"]["route"], "trial");
}
