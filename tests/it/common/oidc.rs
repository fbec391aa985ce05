//! A real OpenID provider on loopback for the OIDC sign-in tests:
//! django-oauth-toolkit with OpenID Connect in tests/django_project
//! (`PJ_OIDC=1`, see settings.py) on SQLite, its users and its one relying
//! party made by the `fixture` command, signing ID tokens with an RSA key
//! made for it that can be rotated. Also both other sides of the
//! authorization code flow as plain HTTP: the browser's (a cookie jar,
//! redirects, the sign-in form) and the relying party's (PKCE, state and
//! nonce, token requests, ID token checks), for the provider's own test and
//! the gateway's.

use std::collections::BTreeMap;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use bytes::Bytes;
use http::StatusCode;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use ring::rand::SecureRandom;
use serde_json::Value;

use super::django::{Database, DjangoProject, DjangoServer};
use super::{build_request, read_reply, Reply, EXCHANGE_LIMIT};

/// What the relying party asks for: every claim the provider hands out
/// (`groups` has its own scope, see shop/oidc.py).
pub const SCOPE: &str = "openid profile email groups";

/// The provider's users, made by `OpenIdProvider::start`: alice is in the
/// group "ops", bob in none.
pub const ALICE: &str = "alice";
pub const ALICE_PASSWORD: &str = "alice-at-the-provider";
pub const ALICE_EMAIL: &str = "alice@example.test";
pub const BOB: &str = "bob";
pub const BOB_PASSWORD: &str = "bob-at-the-provider";
pub const BOB_EMAIL: &str = "bob@example.test";

/// The provider's own Django `SECRET_KEY` (its sessions and CSRF tokens).
const SECRET_KEY: &str = "django-insecure-openid-provider-0123456789abcdefghij";

/// The provider, served until dropped.
pub struct OpenIdProvider {
    /// The Django project (its `fixture` command makes more users).
    pub project: DjangoProject,
    /// `None` only between `stop` and `restart`.
    server: Option<DjangoServer>,
    /// Kept across restarts: the issuer URL has it.
    pub port: u16,
    /// As discovery publishes it: `http://127.0.0.1:<port>/o`.
    pub issuer: String,
    pub client_id: String,
    /// The client secret in plain text, as the relying party sends it
    /// (DOT keeps only its hash).
    pub client_secret: String,
    /// Every signing key so far (PKCS#8 PEM), the one in use last.
    keys: Vec<String>,
    /// User name to `sub` (the user's primary key).
    subjects: BTreeMap<String, String>,
}

impl OpenIdProvider {
    /// A provider whose one client may redirect to `redirect_uri` (a
    /// gateway that listens later registers its callback with
    /// `set_redirect_uris`).
    pub async fn start(redirect_uri: &str) -> OpenIdProvider {
        OpenIdProvider::start_with(redirect_uri, &[]).await
    }

    /// `start` with more settings (`PJ_OIDC_ID_TOKEN_TTL` and the others
    /// in settings.py).
    pub async fn start_with(redirect_uri: &str, env: &[(&str, &str)]) -> OpenIdProvider {
        let mut project = DjangoProject::new(Database::Sqlite, SECRET_KEY, false);
        let key = rsa_private_key();
        set_env(&mut project.env, "PJ_OIDC", "1");
        set_env(&mut project.env, "PJ_OIDC_KEY", &key);
        for (name, value) in env {
            set_env(&mut project.env, name, value);
        }
        // `new` migrated without PJ_OIDC: now DOT's tables too.
        project.manage(&["migrate", "-v0"]);
        let mut subjects = BTreeMap::new();
        for (name, password, email, groups) in [
            (ALICE, ALICE_PASSWORD, ALICE_EMAIL, &["ops"][..]),
            (BOB, BOB_PASSWORD, BOB_EMAIL, &[][..]),
        ] {
            subjects.insert(
                name.to_string(),
                add_user(&project, name, password, email, groups),
            );
        }
        // Hex: a secret starting with "-" would read as an option.
        let client_secret = random_token();
        let client = project.fixture(&["oidc-client", &client_secret, redirect_uri]);
        let client_id = client["client_id"].as_str().unwrap().to_string();
        let server = project.serve();
        let mut provider = OpenIdProvider {
            project,
            port: server.port,
            server: Some(server),
            issuer: String::new(),
            client_id,
            client_secret,
            keys: vec![key],
            subjects,
        };
        provider.issuer = provider.discovered_issuer().await;
        provider
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn authorization_endpoint(&self) -> String {
        format!("{}/authorize/", self.issuer)
    }

    pub fn token_endpoint(&self) -> String {
        format!("{}/token/", self.issuer)
    }

    pub fn userinfo_endpoint(&self) -> String {
        format!("{}/userinfo/", self.issuer)
    }

    pub fn jwks_uri(&self) -> String {
        format!("{}/.well-known/jwks.json", self.issuer)
    }

    pub fn end_session_endpoint(&self) -> String {
        format!("{}/logout/", self.issuer)
    }

    /// The `sub` of a user `start` made.
    pub fn subject(&self, name: &str) -> &str {
        &self.subjects[name]
    }

    /// Another user, in these groups.
    pub fn add_user(&mut self, name: &str, password: &str, email: &str, groups: &[&str]) {
        let id = add_user(&self.project, name, password, email, groups);
        self.subjects.insert(name.to_string(), id);
    }

    /// Replaces the user's groups at the provider.
    pub fn set_groups(&self, name: &str, groups: &[&str]) {
        let mut args = vec!["set-groups", name];
        for group in groups {
            args.extend_from_slice(&["--group", *group]);
        }
        self.project.fixture(&args);
    }

    /// Revokes the user's refresh tokens at the provider; how many were
    /// live.
    pub fn revoke_refresh_tokens(&self, name: &str) -> u64 {
        self.project.fixture(&["oidc-revoke", name])["revoked"]
            .as_u64()
            .unwrap()
    }

    /// Replaces the client's secret at the provider (the relying party
    /// still has the old one).
    pub fn set_client_secret(&self, secret: &str) {
        self.project
            .fixture(&["oidc-secret", &self.client_id, secret]);
    }

    /// How many refresh tokens the provider has issued the user: one per
    /// sign-in and one per refresh (it rotates them).
    pub fn refresh_tokens_issued(&self, name: &str) -> u64 {
        self.project.fixture(&["oidc-grants", name])["issued"]
            .as_u64()
            .unwrap()
    }

    /// Replaces the client's registered redirect URIs and the URIs a
    /// sign-out may return to (`post_logout_redirect_uri`).
    pub fn set_redirect_uris(&self, redirect_uris: &[&str], post_logout: &[&str]) {
        let mut args = vec!["oidc-redirects", self.client_id.as_str()];
        args.extend_from_slice(redirect_uris);
        for uri in post_logout {
            args.extend_from_slice(&["--post-logout", *uri]);
        }
        self.project.fixture(&args);
    }

    /// `/o/.well-known/openid-configuration`.
    pub async fn discovery(&self) -> Value {
        let url = format!("{}/o/.well-known/openid-configuration", self.url());
        let reply = fetch("GET", &url, &[], "", &mut CookieJar::default()).await;
        assert_eq!(reply.status, StatusCode::OK, "{url}: {}", reply.text());
        reply.json()
    }

    /// The published key set.
    pub async fn jwks(&self) -> Value {
        let reply = fetch("GET", &self.jwks_uri(), &[], "", &mut CookieJar::default()).await;
        assert_eq!(reply.status, StatusCode::OK, "JWKS: {}", reply.text());
        reply.json()
    }

    /// The authorization request a relying party redirects to: code flow,
    /// `SCOPE`, and `request`'s state, nonce and S256 challenge.
    pub fn authorize_url(&self, redirect_uri: &str, request: &AuthRequest) -> String {
        with_query(
            &self.authorization_endpoint(),
            &[
                ("response_type", "code"),
                ("client_id", &self.client_id),
                ("redirect_uri", redirect_uri),
                ("scope", SCOPE),
                ("state", &request.state),
                ("nonce", &request.nonce),
                ("code_challenge", &request.challenge),
                ("code_challenge_method", "S256"),
            ],
        )
    }

    /// Redeems an authorization code (client_secret_basic).
    pub async fn exchange_code(&self, code: &str, redirect_uri: &str, verifier: &str) -> Reply {
        self.token_request(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("code_verifier", verifier),
        ])
        .await
    }

    pub async fn refresh(&self, refresh_token: &str) -> Reply {
        self.token_request(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ])
        .await
    }

    /// A token endpoint request with the client's credentials.
    pub async fn token_request(&self, form: &[(&str, &str)]) -> Reply {
        token_request(
            &self.token_endpoint(),
            &self.client_id,
            &self.client_secret,
            form,
        )
        .await
    }

    pub async fn userinfo(&self, access_token: &str) -> Reply {
        let bearer = format!("Bearer {access_token}");
        fetch(
            "GET",
            &self.userinfo_endpoint(),
            &[("authorization", &bearer)],
            "",
            &mut CookieJar::default(),
        )
        .await
    }

    /// The RP-initiated sign-out a relying party redirects to.
    pub fn end_session_url(
        &self,
        id_token_hint: &str,
        post_logout_redirect_uri: &str,
        state: &str,
    ) -> String {
        with_query(
            &self.end_session_endpoint(),
            &[
                ("id_token_hint", id_token_hint),
                ("post_logout_redirect_uri", post_logout_redirect_uri),
                ("state", state),
            ],
        )
    }

    /// `verify_id_token` against the key set the provider publishes now.
    pub async fn verify_id_token(&self, id_token: &str) -> Value {
        verify_id_token(id_token, &self.jwks().await, &self.issuer, &self.client_id)
    }

    /// Stops the server (the provider is unreachable until `restart`).
    pub fn stop(&mut self) {
        self.server = None;
    }

    /// Serves again on the same port (so the same issuer), same database:
    /// users, sessions, grants and tokens survive.
    pub async fn restart(&mut self) {
        self.stop();
        let port = self.port.to_string();
        set_env(&mut self.project.env, "PJ_PORT", &port);
        let server = self.project.serve();
        assert_eq!(server.port, self.port);
        self.server = Some(server);
        let issuer = self.discovered_issuer().await;
        assert_eq!(issuer, self.issuer, "the issuer changed on restart");
    }

    /// Signs with a new key from now on; every earlier key stays in the
    /// JWKS (`PJ_OIDC_OLD_KEYS`), as a provider rotating keys keeps them
    /// until the tokens they signed have expired. Restarts the server.
    pub async fn rotate_key(&mut self) {
        self.keys.push(rsa_private_key());
        let (current, old) = self.keys.split_last().unwrap();
        let old: String = old.iter().rev().map(String::as_str).collect();
        let current = current.clone();
        set_env(&mut self.project.env, "PJ_OIDC_KEY", &current);
        set_env(&mut self.project.env, "PJ_OIDC_OLD_KEYS", &old);
        self.restart().await;
    }

    /// The issuer discovery publishes; DOT derives it from the request's
    /// `Host`, so it is checked to be the loopback URL the tests use.
    async fn discovered_issuer(&self) -> String {
        let issuer = self.discovery().await["issuer"]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(issuer, format!("{}/o", self.url()));
        issuer
    }
}

/// Makes a user at the provider; returns its `sub`.
fn add_user(
    project: &DjangoProject,
    name: &str,
    password: &str,
    email: &str,
    groups: &[&str],
) -> String {
    let mut args = vec!["user", name, password, "--email", email];
    for group in groups {
        args.extend_from_slice(&["--group", *group]);
    }
    project.fixture(&args)["id"].as_str().unwrap().to_string()
}

/// Sets (or replaces) one variable of a `DjangoProject::env`.
fn set_env(env: &mut Vec<(String, String)>, name: &str, value: &str) {
    env.retain(|(n, _)| n != name);
    env.push((name.to_string(), value.to_string()));
}

/// A fresh 2048-bit RSA private key, PKCS#8 PEM, by Python's `cryptography`
/// (ring cannot make RSA keys; the virtualenv has it for PyJWT).
pub fn rsa_private_key() -> String {
    super::jwks::new_rsa_key()["pem"]
        .as_str()
        .unwrap()
        .to_string()
}

/// One authorization request's secrets, kept by the relying party: the
/// state and nonce it checks on return, the PKCE verifier it redeems the
/// code with, and the verifier's S256 challenge it sends.
#[derive(Clone, Debug)]
pub struct AuthRequest {
    pub state: String,
    pub nonce: String,
    pub verifier: String,
    pub challenge: String,
}

impl AuthRequest {
    pub fn new() -> AuthRequest {
        let verifier = random_token();
        AuthRequest {
            state: random_token(),
            nonce: random_token(),
            challenge: pkce_challenge(&verifier),
            verifier,
        }
    }
}

impl Default for AuthRequest {
    fn default() -> AuthRequest {
        AuthRequest::new()
    }
}

/// RFC 7636 S256: base64url(SHA-256(verifier)), unpadded.
pub fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(ring::digest::digest(
        &ring::digest::SHA256,
        verifier.as_bytes(),
    ))
}

/// 32 random bytes in hex: a state, nonce, PKCE verifier or secret.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    ring::rand::SystemRandom::new().fill(&mut bytes).unwrap();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A browser's cookies, kept per host and not per port, as browsers do
/// (RFC 6265): the gateway and the provider on 127.0.0.1 share one jar.
/// Paths, expiry dates and `Secure` are not modelled; a cookie set with
/// `Max-Age=0` (how Django deletes one) is removed.
#[derive(Clone, Debug, Default)]
pub struct CookieJar {
    hosts: BTreeMap<String, BTreeMap<String, String>>,
}

impl CookieJar {
    /// The `Cookie` header a browser sends to `url`, if any.
    pub fn header(&self, url: &str) -> Option<String> {
        let cookies = self.hosts.get(&host(url))?;
        (!cookies.is_empty()).then(|| {
            cookies
                .iter()
                .map(|(name, value)| format!("{name}={value}"))
                .collect::<Vec<_>>()
                .join("; ")
        })
    }

    /// Takes the `Set-Cookie` lines of an answer from `url`.
    pub fn store(&mut self, url: &str, reply: &Reply) {
        let cookies = self.hosts.entry(host(url)).or_default();
        for line in reply.headers.get_all("set-cookie") {
            let line = line.to_str().unwrap();
            let mut parts = line.split(';');
            let (name, value) = parts.next().unwrap().split_once('=').unwrap();
            let deleted = parts.any(|attribute| {
                attribute
                    .trim()
                    .to_ascii_lowercase()
                    .strip_prefix("max-age=")
                    .is_some_and(|age| age.parse::<i64>().is_ok_and(|age| age <= 0))
            });
            let name = name.trim().to_string();
            if deleted {
                cookies.remove(&name);
            } else {
                cookies.insert(name, value.trim().trim_matches('"').to_string());
            }
        }
    }

    /// A cookie's value for `url`.
    pub fn get(&self, url: &str, name: &str) -> Option<&str> {
        self.hosts.get(&host(url))?.get(name).map(String::as_str)
    }
}

/// One exchange as a browser makes it (the jar's cookies sent, its
/// `Set-Cookie` kept), redirects not followed.
pub async fn fetch(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &str,
    jar: &mut CookieJar,
) -> Reply {
    let cookie = jar.header(url);
    let mut all = headers.to_vec();
    if let Some(cookie) = &cookie {
        all.push(("cookie", cookie.as_str()));
    }
    let request = build_request(method, url, &all, body);
    // A client per exchange: the provider's server closes every connection
    // (HTTP/1.0) and may have been restarted since the last one.
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let response = tokio::time::timeout(EXCHANGE_LIMIT, client.request(request))
        .await
        .unwrap_or_else(|_| panic!("{method} {url} timed out"))
        .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let reply = read_reply(response).await;
    jar.store(url, &reply);
    reply
}

/// The browser's part of signing in at the provider: from the
/// authorization request `authorize_url`, follows the provider's redirects,
/// fills in and posts its sign-in form when it shows one (not when the jar
/// already holds a session there), and returns the first redirect that
/// leaves the provider: the relying party's redirect URI with `code` and
/// `state` (or `error`). Panics when the provider refuses the sign-in or
/// answers anything else.
pub async fn sign_in_at_provider(
    authorize_url: &str,
    username: &str,
    password: &str,
    jar: &mut CookieJar,
) -> String {
    let provider = origin(authorize_url);
    let mut url = authorize_url.to_string();
    let mut posted = false;
    for _ in 0..10 {
        let reply = fetch("GET", &url, &[], "", jar).await;
        let reply = if reply.status.is_redirection() {
            reply
        } else {
            assert!(!posted, "{username} was not signed in: {}", reply.text());
            posted = true;
            post_login_form(&url, &reply, username, password, jar).await
        };
        assert!(
            reply.status.is_redirection(),
            "signing in as {username} at {url}: {} {}",
            reply.status,
            reply.text()
        );
        url = absolute(&url, location(&reply));
        if origin(&url) != provider {
            return url;
        }
    }
    panic!("more than 10 redirects at the provider, the last to {url}");
}

/// Fills in the sign-in form `page` (the answer from `page_url`) and posts
/// it back as a browser would: every hidden field (the CSRF token, `next`)
/// with the user name and password. The provider answers 302 to `next` on
/// success, 200 with the form again on failure.
pub async fn post_login_form(
    page_url: &str,
    page: &Reply,
    username: &str,
    password: &str,
    jar: &mut CookieJar,
) -> Reply {
    let html = page.text();
    assert_eq!(page.status, StatusCode::OK, "{page_url}: {html}");
    assert!(
        html.contains("<form") && html.contains(r#"name="password""#),
        "{page_url} is no sign-in page: {html}"
    );
    let mut form = hidden_inputs(&html);
    form.push(("username".into(), username.into()));
    form.push(("password".into(), password.into()));
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&form)
        .finish();
    fetch(
        "POST",
        page_url,
        &[("content-type", "application/x-www-form-urlencoded")],
        &body,
        jar,
    )
    .await
}

/// The name and value of every `<input type="hidden">` in a page.
pub fn hidden_inputs(html: &str) -> Vec<(String, String)> {
    html.split("<input")
        .skip(1)
        .filter_map(|rest| {
            let tag = &rest[..rest.find('>')?];
            if attribute(tag, "type")? != "hidden" {
                return None;
            }
            Some((attribute(tag, "name")?, attribute(tag, "value")?))
        })
        .collect()
}

/// A double-quoted attribute of a tag, its entities decoded (what Django's
/// templates escape).
fn attribute(tag: &str, name: &str) -> Option<String> {
    let start = tag.find(&format!(" {name}=\""))? + name.len() + 3;
    let value = &tag[start..start + tag[start..].find('"')?];
    Some(
        value
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&#x27;", "'")
            .replace("&#39;", "'")
            .replace("&amp;", "&"),
    )
}

/// A token endpoint request authenticated with client_secret_basic (id and
/// secret form-encoded first, as RFC 6749 2.3.1 says).
pub async fn token_request(
    token_endpoint: &str,
    client_id: &str,
    client_secret: &str,
    form: &[(&str, &str)],
) -> Reply {
    let encode = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let basic = format!(
        "Basic {}",
        STANDARD.encode(format!("{}:{}", encode(client_id), encode(client_secret)))
    );
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    fetch(
        "POST",
        token_endpoint,
        &[
            ("authorization", &basic),
            ("content-type", "application/x-www-form-urlencoded"),
        ],
        &body,
        &mut CookieJar::default(),
    )
    .await
}

/// An ID token checked as a relying party must (OIDC Core 3.1.3.7): its
/// RS256 signature by the key of its `kid` in `jwks`, `iss`, `aud` and
/// `exp`; returns its claims. The nonce is the caller's to compare.
pub fn verify_id_token(id_token: &str, jwks: &Value, issuer: &str, audience: &str) -> Value {
    check_id_token(id_token, jwks, issuer, audience)
        .unwrap_or_else(|e| panic!("the ID token does not verify: {e}"))
}

/// `verify_id_token`, saying why not instead of panicking.
pub fn check_id_token(
    id_token: &str,
    jwks: &Value,
    issuer: &str,
    audience: &str,
) -> Result<Value, String> {
    let header = jsonwebtoken::decode_header(id_token).map_err(|e| e.to_string())?;
    if header.alg != jsonwebtoken::Algorithm::RS256 {
        return Err(format!("alg {:?}", header.alg));
    }
    let kid = header.kid.ok_or("no kid")?;
    let jwk = jwks["keys"]
        .as_array()
        .ok_or("no keys in the JWKS")?
        .iter()
        .find(|key| key["kid"] == kid.as_str())
        .ok_or_else(|| format!("kid {kid} is not in the JWKS {jwks}"))?;
    let (Some(n), Some(e)) = (jwk["n"].as_str(), jwk["e"].as_str()) else {
        return Err(format!("not an RSA key: {jwk}"));
    };
    let key = jsonwebtoken::DecodingKey::from_rsa_components(n, e).map_err(|e| e.to_string())?;
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_issuer(&[issuer]);
    validation.set_audience(&[audience]);
    jsonwebtoken::decode::<Value>(id_token, &key, &validation)
        .map(|data| data.claims)
        .map_err(|e| e.to_string())
}

/// A JWT's header and payload, decoded without any check.
pub fn jwt_parts(token: &str) -> (Value, Value) {
    let mut parts = token.split('.');
    let mut decode = || -> Value {
        let part = parts.next().expect("a JWT has three parts");
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
    };
    let header = decode();
    (header, decode())
}

/// OIDC Core 3.1.3.6 `at_hash` for an RS256 ID token: the left half of the
/// access token's SHA-256, base64url.
pub fn at_hash(access_token: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, access_token.as_bytes());
    URL_SAFE_NO_PAD.encode(&digest.as_ref()[..16])
}

/// `url` with these query parameters added.
pub fn with_query(url: &str, params: &[(&str, &str)]) -> String {
    let query = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish();
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}{query}")
}

/// One query parameter of a URL, decoded.
pub fn query_param(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    let query = query.split('#').next().unwrap();
    form_urlencoded::parse(query.as_bytes())
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.into_owned())
}

/// An answer's `Location`.
pub fn location(reply: &Reply) -> &str {
    reply
        .headers
        .get("location")
        .unwrap_or_else(|| panic!("no Location in a {} answer", reply.status))
        .to_str()
        .unwrap()
}

/// `location` resolved against the URL it came from (Django redirects to
/// paths).
pub fn absolute(base: &str, location: &str) -> String {
    if location.starts_with("http://") || location.starts_with("https://") {
        location.to_string()
    } else if location.starts_with('/') {
        format!("{}{location}", origin(base))
    } else {
        panic!("a relative redirect to {location:?} from {base}")
    }
}

/// `scheme://host:port` of a URL.
pub fn origin(url: &str) -> String {
    let uri: http::Uri = url.parse().unwrap();
    format!(
        "{}://{}",
        uri.scheme_str().unwrap(),
        uri.authority().unwrap()
    )
}

/// The host of a URL, without its port.
fn host(url: &str) -> String {
    let uri: http::Uri = url.parse().unwrap();
    uri.host().unwrap().to_string()
}
