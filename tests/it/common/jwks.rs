//! A real JWKS issuer on loopback for the bearer tests: an HTTP/1 server
//! (hyper) on 127.0.0.1:0, plain or over TLS with an rcgen certificate,
//! serving whatever key set the test gives it. The set can be rotated
//! mid-test, fetches are counted, answers can be slowed down, and the
//! server can be stopped (its listener and every open connection closed),
//! so the issuer becomes unreachable. Also the test's signing keys: ES256
//! and Ed25519 made with ring, RSA made by Python's `cryptography`.
#![allow(dead_code)]

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use ring::signature::KeyPair;
use serde_json::{json, Value};
use tokio::net::TcpListener;

/// What the issuer answers, changeable while it runs.
struct State {
    status: Mutex<StatusCode>,
    body: Mutex<String>,
    delay: Mutex<Duration>,
    fetches: AtomicUsize,
}

/// The issuer. Stops on drop.
pub struct JwksServer {
    /// The JWKS URL: `http://127.0.0.1:<port>/jwks.json`, or `https://localhost:<port>/...`.
    pub url: String,
    state: Arc<State>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl JwksServer {
    /// Serves `keys` (`{"keys": [...]}`) over plain HTTP.
    pub async fn start(keys: Value) -> JwksServer {
        JwksServer::serve(keys, None).await
    }

    /// Serves `keys` over HTTPS with the certificate and key in these PEM files.
    pub async fn start_tls(keys: Value, cert: &str, key: &str) -> JwksServer {
        let tls = portcullis::tls::server::load(cert.as_ref(), key.as_ref()).unwrap();
        JwksServer::serve(keys, Some(tokio_rustls::TlsAcceptor::from(tls))).await
    }

    async fn serve(keys: Value, tls: Option<tokio_rustls::TlsAcceptor>) -> JwksServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let url = match tls {
            Some(_) => format!("https://localhost:{port}/jwks.json"),
            None => format!("http://127.0.0.1:{port}/jwks.json"),
        };
        let state = Arc::new(State {
            status: Mutex::new(StatusCode::OK),
            body: Mutex::new(keys.to_string()),
            delay: Mutex::new(Duration::ZERO),
            fetches: AtomicUsize::new(0),
        });
        let shared = Arc::clone(&state);
        let task = tokio::spawn(async move {
            // Dropped with the accept loop (on stop): aborts every connection.
            let mut connections = tokio::task::JoinSet::new();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let state = Arc::clone(&shared);
                let tls = tls.clone();
                connections.spawn(async move {
                    let service = service_fn(move |_request| {
                        let state = Arc::clone(&state);
                        async move { Ok::<_, Infallible>(answer(&state).await) }
                    });
                    let http = hyper::server::conn::http1::Builder::new();
                    match tls {
                        Some(tls) => {
                            let Ok(stream) = tls.accept(stream).await else {
                                return;
                            };
                            let _ = http.serve_connection(TokioIo::new(stream), service).await;
                        }
                        None => {
                            let _ = http.serve_connection(TokioIo::new(stream), service).await;
                        }
                    }
                });
                while connections.try_join_next().is_some() {}
            }
        });
        JwksServer {
            url,
            state,
            task: Some(task),
        }
    }

    /// Serves another key set from now on (a rotation).
    pub fn rotate(&self, keys: Value) {
        self.set_body(keys.to_string());
    }

    /// Serves `body` as it is (not a JWKS, or a huge one).
    pub fn set_body(&self, body: String) {
        *self.state.body.lock().unwrap() = body;
    }

    /// Answers with `status` from now on.
    pub fn set_status(&self, status: StatusCode) {
        *self.state.status.lock().unwrap() = status;
    }

    /// Waits this long before each answer.
    pub fn set_delay(&self, delay: Duration) {
        *self.state.delay.lock().unwrap() = delay;
    }

    /// How many requests reached the issuer.
    pub fn fetches(&self) -> usize {
        self.state.fetches.load(Ordering::SeqCst)
    }

    /// Closes the listener and every open connection: the issuer is gone.
    pub async fn stop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }
}

impl Drop for JwksServer {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

async fn answer(state: &State) -> Response<Full<Bytes>> {
    state.fetches.fetch_add(1, Ordering::SeqCst);
    let delay = *state.delay.lock().unwrap();
    tokio::time::sleep(delay).await;
    let status = *state.status.lock().unwrap();
    let body = state.body.lock().unwrap().clone();
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .unwrap()
}

/// A signing key made in the test, with its public JWK.
#[derive(Clone)]
pub struct TestKey {
    pub kid: String,
    pub alg: Algorithm,
    pub encoding: EncodingKey,
    /// The public key as a JWK (with `kid`).
    pub jwk: Value,
    /// The public key's raw bytes (what an algorithm-confusion attack
    /// would use as an HMAC secret).
    pub public: Vec<u8>,
}

impl TestKey {
    /// A fresh P-256 key (ES256), made with ring.
    pub fn es256(kid: &str) -> TestKey {
        TestKey::ecdsa(kid, Algorithm::ES256)
    }

    /// A fresh P-384 key (ES384), made with ring.
    pub fn es384(kid: &str) -> TestKey {
        TestKey::ecdsa(kid, Algorithm::ES384)
    }

    fn ecdsa(kid: &str, alg: Algorithm) -> TestKey {
        use ring::signature::{
            EcdsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING, ECDSA_P384_SHA384_FIXED_SIGNING,
        };
        let (signing, curve, size) = match alg {
            Algorithm::ES256 => (&ECDSA_P256_SHA256_FIXED_SIGNING, "P-256", 32),
            _ => (&ECDSA_P384_SHA384_FIXED_SIGNING, "P-384", 48),
        };
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(signing, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(signing, pkcs8.as_ref(), &rng).unwrap();
        // Uncompressed point: 0x04, x, y.
        let point = pair.public_key().as_ref().to_vec();
        TestKey {
            kid: kid.into(),
            alg,
            encoding: EncodingKey::from_ec_der(pkcs8.as_ref()),
            jwk: json!({
                "kty": "EC", "crv": curve, "kid": kid, "use": "sig", "alg": format!("{alg:?}"),
                "x": b64(&point[1..1 + size]), "y": b64(&point[1 + size..]),
            }),
            public: point,
        }
    }

    /// A fresh Ed25519 key (EdDSA), made with ring.
    pub fn ed25519(kid: &str) -> TestKey {
        use ring::signature::Ed25519KeyPair;
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
        let public = pair.public_key().as_ref().to_vec();
        TestKey {
            kid: kid.into(),
            alg: Algorithm::EdDSA,
            encoding: EncodingKey::from_ed_der(pkcs8.as_ref()),
            jwk: json!({"kty": "OKP", "crv": "Ed25519", "kid": kid, "x": b64(&public)}),
            public,
        }
    }

    /// A fresh 2048-bit RSA key (RS256), made by Python's `cryptography`
    /// (ring cannot make RSA keys).
    pub fn rs256(kid: &str) -> TestKey {
        let made = new_rsa_key();
        let n = made["n"].as_str().unwrap();
        TestKey {
            kid: kid.into(),
            alg: Algorithm::RS256,
            encoding: EncodingKey::from_rsa_pem(made["pem"].as_str().unwrap().as_bytes()).unwrap(),
            jwk: json!({"kty": "RSA", "kid": kid, "use": "sig", "n": n, "e": made["e"]}),
            public: URL_SAFE_NO_PAD.decode(n).unwrap(),
        }
    }

    /// The same key under another `kid`.
    pub fn renamed(&self, kid: &str) -> TestKey {
        let mut key = self.clone();
        key.kid = kid.into();
        key.jwk["kid"] = json!(kid);
        key
    }

    /// A token with these claims, signed by this key (header `kid` set).
    pub fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(self.alg);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding).unwrap()
    }
}

/// `{"keys": [...]}` of these keys' public JWKs.
pub fn key_set(keys: &[&TestKey]) -> Value {
    json!({"keys": keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>()})
}

pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A fresh 2048-bit RSA key made by Python's `cryptography` (ring cannot
/// make RSA keys): `{"pem": PKCS#8 private key, "n", "e": base64url}`.
pub fn new_rsa_key() -> Value {
    let script = r#"
import base64, json
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
numbers = key.public_key().public_numbers()
b64 = lambda n: base64.urlsafe_b64encode(n.to_bytes((n.bit_length() + 7) // 8, "big")).rstrip(b"=").decode()
pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
print(json.dumps({"pem": pem, "n": b64(numbers.n), "e": b64(numbers.e)}))
"#;
    super::python::json_output(
        std::process::Command::new(super::python::python()).args(["-c", script]),
    )
}
