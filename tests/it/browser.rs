//! End to end in a real browser: headless Chromium (Debian's chromium and
//! chromium-driver), driven over WebDriver (fantoccini), signs in through
//! the gateway's login page, uses an upstream page whose script sends a
//! CSRF-protected PUT, proves a page from another origin cannot, and signs
//! out; and signs in at a real OpenID provider (`[oidc]`) on its own form.
//! Fails, never skips, when the browser is missing.

use std::convert::Infallible;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::*;
use bytes::Bytes;
use fantoccini::{Client, ClientBuilder, Locator};
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

const PASSWORD: &str = "open sesame 42";

/// What the app upstream saw of state-changing requests.
#[derive(Debug, Clone)]
struct Write {
    method: String,
    path: String,
    user: Option<String>,
    body: String,
}

/// A small real web app: an HTML page whose script reads the csrftoken
/// cookie and PUTs with it, and a JSON API that records writes.
async fn start_app(writes: Arc<Mutex<Vec<Write>>>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let writes = Arc::clone(&writes);
            tokio::spawn(async move {
                let service = service_fn(move |request: Request<Incoming>| {
                    let writes = Arc::clone(&writes);
                    async move { Ok::<_, Infallible>(app(request, writes).await) }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

const APP_PAGE: &str = r#"<!doctype html><html><head><title>Life app</title></head><body>
<h1>Welcome to the app</h1>
<p>Signed in as <span id="user">USER</span></p>
<button id="save">Save</button> <button id="logout">Sign out</button>
<p id="result"></p>
<script>
function csrftoken() {
  const match = document.cookie.match(/(?:^|; )csrftoken=([^;]*)/);
  return match ? match[1] : "";
}
document.getElementById("save").onclick = async () => {
  const response = await fetch("/app/api/life/1/", {
    method: "PUT",
    headers: {"X-CSRFToken": csrftoken(), "Content-Type": "application/json"},
    credentials: "same-origin",
    body: JSON.stringify({answer: 24}),
  });
  document.getElementById("result").textContent = response.status + " " + await response.text();
};
document.getElementById("logout").onclick = async () => {
  const response = await fetch("/_portcullis/logout", {
    method: "POST", headers: {"X-CSRFToken": csrftoken()}, credentials: "same-origin",
  });
  document.getElementById("result").textContent = "logged out " + response.status;
};
</script></body></html>"#;

async fn app(request: Request<Incoming>, writes: Arc<Mutex<Vec<Write>>>) -> Response<Full<Bytes>> {
    let user = request
        .headers()
        .get("x-remote-user")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let method = request.method().to_string();
    let path = request.uri().path().to_string();
    if method == "GET" && path == "/app/" {
        let page = APP_PAGE.replace("USER", user.as_deref().unwrap_or("nobody"));
        let mut response = Response::new(Full::new(Bytes::from(page)));
        response
            .headers_mut()
            .insert("content-type", "text/html; charset=utf-8".parse().unwrap());
        return response;
    }
    let body = request
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    if method != "GET" {
        writes.lock().unwrap().push(Write {
            method,
            path,
            user,
            body: String::from_utf8_lossy(&body).into_owned(),
        });
    }
    let mut response = Response::new(Full::new(Bytes::from_static(br#"{"saved":true}"#)));
    response
        .headers_mut()
        .insert("content-type", "application/json".parse().unwrap());
    response
}

/// A page on another origin (same host, other port: same-site, so the
/// browser does send the cookies) that tries to change data through the
/// gateway, reading the csrftoken cookie the way a real attack would.
async fn start_evil_site(gateway: SocketAddr) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let page = format!(
        r#"<!doctype html><html><body><h1>Totally harmless</h1><p id="result"></p><script>
const gateway = "http://{gateway}";
const token = (document.cookie.match(/(?:^|; )csrftoken=([^;]*)/) || [])[1] || "";
const outcomes = [];
async function attempt(name, options) {{
  try {{ const r = await fetch(gateway + "/app/api/life/1/", options); outcomes.push(name + ":" + r.status); }}
  catch (e) {{ outcomes.push(name + ":blocked"); }}
}}
(async () => {{
  await attempt("put", {{method: "PUT", credentials: "include",
    headers: {{"X-CSRFToken": token, "Content-Type": "application/json"}}, body: "{{}}"}});
  await attempt("post", {{method: "POST", credentials: "include",
    headers: {{"Content-Type": "application/x-www-form-urlencoded"}}, body: "csrfmiddlewaretoken=" + token}});
  document.getElementById("result").textContent = "done " + outcomes.join(" ");
}})();
</script></body></html>"#
    );
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let page = page.clone();
            tokio::spawn(async move {
                let service = service_fn(move |_request: Request<Incoming>| {
                    let page = page.clone();
                    async move {
                        let mut response = Response::new(Full::new(Bytes::from(page)));
                        response
                            .headers_mut()
                            .insert("content-type", "text/html".parse().unwrap());
                        Ok::<_, Infallible>(response)
                    }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

/// chromedriver on a free loopback port; killed on drop.
struct Driver {
    child: Child,
    port: u16,
    _profile: tempfile::TempDir,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_chromedriver() -> Driver {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver is required (scripts/test installs Debian's chromium-driver)");
    // Wait for its own "started successfully" line rather than sleeping.
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    for _ in 0..50 {
        line.clear();
        if out.read_line(&mut line).unwrap_or(0) == 0 || line.contains("started successfully") {
            break;
        }
    }
    assert!(
        line.contains("started successfully"),
        "chromedriver did not start: {line:?}"
    );
    // Keep draining its output so it never blocks on a full pipe.
    std::thread::spawn(move || for _ in out.lines() {});
    Driver {
        child,
        port,
        _profile: tempfile::tempdir().unwrap(),
    }
}

async fn browser(driver: &Driver) -> Client {
    let profile = driver._profile.path().display().to_string();
    let capabilities = serde_json::json!({
        "goog:chromeOptions": {
            "binary": "/usr/bin/chromium",
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-quic", "--no-first-run", format!("--user-data-dir={profile}"),
            ],
        }
    });
    let capabilities = match capabilities {
        serde_json::Value::Object(map) => map,
        _ => unreachable!(),
    };
    ClientBuilder::new(HttpConnector::new())
        .capabilities(capabilities)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .expect("connect to chromedriver")
}

/// Waits (bounded) until element `css` has non-empty text, and returns it.
async fn text_of(client: &Client, css: &str) -> String {
    let xpath = format!(
        "//*[@id='{}'][normalize-space(.)!='']",
        css.trim_start_matches('#')
    );
    client
        .wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::XPath(&xpath))
        .await
        .unwrap_or_else(|e| panic!("{css} never got text: {e}"))
        .text()
        .await
        .unwrap()
}

/// Fills a sign-in form's `#username` and `#password` and clicks `submit`
/// (the gateway's form and the provider's alike).
async fn submit_sign_in(client: &Client, username: &str, password: &str, submit: &str) {
    for (field, value) in [("#username", username), ("#password", password)] {
        client
            .find(Locator::Css(field))
            .await
            .unwrap()
            .send_keys(value)
            .await
            .unwrap();
    }
    client
        .find(Locator::Css(submit))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

/// Waits (at most 20 s) for the element `css` on the current page;
/// panics with `what` when it never comes.
async fn wait_for(client: &Client, css: &str, what: &str) {
    if let Err(error) = client
        .wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css(css))
        .await
    {
        panic!("{what}: {error}");
    }
}

/// A PNG's width, height and how many distinct byte values its pixel data
/// holds (inflated IDAT, filter bytes included).
fn png_shape(png: &[u8]) -> (u32, u32, usize) {
    use std::io::Read;
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    let be32 = |at: usize| u32::from_be_bytes(png[at..at + 4].try_into().unwrap());
    let (width, height) = (be32(16), be32(20));
    let (mut at, mut idat) = (8, Vec::new());
    while at + 8 <= png.len() {
        let length = be32(at) as usize;
        if &png[at + 4..at + 8] == b"IDAT" {
            idat.extend_from_slice(&png[at + 8..at + 8 + length]);
        }
        at += 12 + length;
    }
    let mut pixels = Vec::new();
    flate2::read::ZlibDecoder::new(&idat[..])
        .read_to_end(&mut pixels)
        .unwrap();
    let mut seen = [false; 256];
    for byte in pixels {
        seen[usize::from(byte)] = true;
    }
    (width, height, seen.iter().filter(|s| **s).count())
}

async fn body_text(client: &Client) -> String {
    client
        .find(Locator::Css("body"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_use_the_app_and_sign_out_in_a_real_browser() {
    let writes = Arc::new(Mutex::new(Vec::new()));
    let app_addr = start_app(Arc::clone(&writes)).await;
    let hash = portcullis::auth::password::hash_password(PASSWORD);
    let h = Harness::with_config(|_| {
        config(
            &format!("http://{app_addr}"),
            &format!(
                "[login]\nredirect_browsers = true\n\n[[users]]\nusername = \"alice\"\npassword_hash = \"{hash}\"\n\n\
                 [[routes]]\npath = \"/app/**\"\naccess = \"authenticated\"\n"
            ),
        )
    })
    .await;
    let gateway = format!("http://{}", h.proxy);
    let driver = start_chromedriver();
    let client = browser(&driver).await;

    // A protected page sends the browser to the login page.
    client.goto(&format!("{gateway}/app/")).await.unwrap();
    let url = client.current_url().await.unwrap();
    assert_eq!(url.path(), "/_portcullis/login", "{url}");
    assert!(body_text(&client).await.contains("Sign in"));

    // Sign in with the form; land back on the page.
    submit_sign_in(&client, "alice", PASSWORD, "button[type=submit]").await;
    wait_for(&client, "#save", "back on the app page after signing in").await;
    assert_eq!(client.current_url().await.unwrap().path(), "/app/");
    let page = body_text(&client).await;
    assert!(page.contains("Welcome to the app"), "{page}");
    assert!(page.contains("Signed in as alice"), "{page}");

    // Who am I to the gateway: the page renders the signed-in user.
    client
        .goto(&format!("{gateway}/_portcullis/whoami"))
        .await
        .unwrap();
    assert_eq!(text_of(&client, "#user").await, "Signed in as alice");
    assert_eq!(text_of(&client, "#authenticated-by").await, "session");
    assert_eq!(text_of(&client, "#csrf-cookie").await, "valid");
    let user = client.find(Locator::Css("#user")).await.unwrap();
    let shot = user.screenshot().await.unwrap();
    let (width, height, shades) = png_shape(&shot);
    assert!(
        width > 100 && height > 10,
        "the user line is {width}x{height}"
    );
    // Rendered text is anti-aliased: dozens of byte values. A blank or
    // one-colour box has a handful.
    assert!(
        shades > 32,
        "the user line looks blank ({shades} byte values)"
    );
    client.goto(&format!("{gateway}/app/")).await.unwrap();
    wait_for(&client, "#save", "back on the app page").await;

    // The page's script reads the csrftoken cookie and PUTs with it.
    client
        .find(Locator::Css("#save"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let result = text_of(&client, "#result").await;
    assert_eq!(result, r#"200 {"saved":true}"#);
    {
        let writes = writes.lock().unwrap();
        assert_eq!(writes.len(), 1, "{writes:?}");
        assert_eq!(writes[0].method, "PUT");
        assert_eq!(writes[0].path, "/app/api/life/1/");
        assert_eq!(writes[0].user.as_deref(), Some("alice"));
        assert_eq!(writes[0].body, r#"{"answer":24}"#);
    }

    // A page from another origin cannot change anything, even with the
    // cookies sent and the token readable.
    let evil = start_evil_site(h.proxy).await;
    client.goto(&format!("http://{evil}/")).await.unwrap();
    let outcome = text_of(&client, "#result").await;
    // The PUT dies at the CORS preflight (which carries no session); the
    // simple POST reaches the gateway with the cookies and is refused by
    // the Origin check (403, no CORS headers, so the script sees an error).
    assert_eq!(outcome, "done put:blocked post:blocked");
    assert_eq!(
        writes.lock().unwrap().len(),
        1,
        "the upstream saw the cross-origin attempt"
    );

    // Sign out; the protected page redirects again.
    client.goto(&format!("{gateway}/app/")).await.unwrap();
    client
        .find(Locator::Css("#logout"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    assert_eq!(text_of(&client, "#result").await, "logged out 204");
    client.goto(&format!("{gateway}/app/")).await.unwrap();
    assert_eq!(
        client.current_url().await.unwrap().path(),
        "/_portcullis/login"
    );
    assert!(body_text(&client).await.contains("Sign in"));

    client.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_at_the_identity_provider_in_a_real_browser() {
    use crate::common::oidc::{random_token, OpenIdProvider, ALICE, ALICE_PASSWORD};
    // A real OpenID provider (django-oauth-toolkit): the browser is sent
    // there, signs in on its form, and comes back signed in at the gateway.
    let provider = OpenIdProvider::start("http://127.0.0.1:1/unused").await;
    let writes = Arc::new(Mutex::new(Vec::new()));
    let app_addr = start_app(Arc::clone(&writes)).await;
    let variable = format!("PORTCULLIS_TEST_OIDC_SECRET_{}", random_token());
    std::env::set_var(&variable, &provider.client_secret);
    let h = Harness::with_config(|_| {
        config(
            &format!("http://{app_addr}"),
            &format!(
                "[login]\nredirect_browsers = true\n\n\
                 [oidc]\nissuer = \"{}\"\nclient_id = \"{}\"\nclient_secret_env = \"{variable}\"\nname = \"Example SSO\"\n\n\
                 [[routes]]\npath = \"/app/**\"\naccess = \"authenticated\"\n",
                provider.issuer, provider.client_id
            ),
        )
    })
    .await;
    let gateway = format!("http://{}", h.proxy);
    provider.set_redirect_uris(
        &[&format!("{gateway}/_portcullis/oidc/callback")],
        &[&format!("{gateway}/")],
    );
    let driver = start_chromedriver();
    let client = browser(&driver).await;

    // A protected page: no local users, so straight to the provider's
    // sign-in form.
    client.goto(&format!("{gateway}/app/")).await.unwrap();
    wait_for(&client, "#username", "the provider's sign-in form").await;
    let url = client.current_url().await.unwrap();
    assert_eq!(
        url.port(),
        Some(provider.port),
        "at the provider, not the gateway: {url}"
    );
    submit_sign_in(&client, ALICE, ALICE_PASSWORD, "#submit").await;
    // Back on the app's page, through the gateway, signed in as alice.
    wait_for(
        &client,
        "#save",
        "back on the app page after signing in at the provider",
    )
    .await;
    let url = client.current_url().await.unwrap();
    assert_eq!(
        (url.port(), url.path()),
        (Some(h.proxy.port()), "/app/"),
        "{url}"
    );
    let page = body_text(&client).await;
    assert!(page.contains("Signed in as alice"), "{page}");

    // Sign out with a form, as a site's "Sign out" button does: through
    // the provider's end_session_endpoint and back to the site.
    client
        .execute(
            r#"const form = document.createElement("form");
               form.method = "POST";
               form.action = "/_portcullis/logout";
               const token = document.createElement("input");
               token.name = "csrfmiddlewaretoken";
               token.value = csrftoken();
               form.appendChild(token);
               document.body.appendChild(form);
               form.submit();"#,
            vec![],
        )
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let url = client.current_url().await.unwrap();
        if (url.port(), url.path()) == (Some(h.proxy.port()), "/") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not back at the site after signing out: {url}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Signed out at the provider too: the protected page leads to its
    // sign-in form again, not straight back in.
    client.goto(&format!("{gateway}/app/")).await.unwrap();
    wait_for(
        &client,
        "#username",
        "the provider's sign-in form after signing out",
    )
    .await;
    client.close().await.unwrap();
}
