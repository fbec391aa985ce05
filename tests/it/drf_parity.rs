//! The last differences from Django + DRF (issue 17, point 6), each request
//! sent as the same raw bytes to the real Django project (served by the
//! stdlib's `wsgiref`, so repeated header lines are joined as WSGI joins
//! them) and to a gateway whose upstream is that same site: the answers
//! must be equal, status and body, computed here. Where Django refuses, the
//! gateway must have refused by itself (its `X-Portcullis-Reason` is
//! there); where Django lets the request through, the gateway must have
//! forwarded it. So the gateway is never more permissive than Django, and
//! says what Django says.
//!
//! Also: Python's own `json` module, through DRF's `JSONParser`, judges
//! generated bodies, and the gateway's reporter must say the same.

use std::net::SocketAddr;

use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::TestRunner;

use crate::common::django::{Database, DjangoProject, DjangoServer};
use crate::common::python::python;
use crate::common::*;
use portcullis::parsers::python_json::{self, Verdict};

const SECRET_KEY: &str = "django-insecure-parity-key-0123456789abcdefghijklm";

const ROUTES: &str = r#"
[[routes]]
name = "open"
path = "/api/open/**"
access = "anonymous"

[[routes]]
name = "me"
path = "/api/me/**"
access = "authenticated"

[[routes]]
name = "catalog"
path = "/api/catalog/**"
access = "authenticated_or_read_only"
model = "shop.widget"
"#;

/// The Django site, and a gateway in front of it that reads the site's
/// sessions and trusts 127.0.0.1's `X-Forwarded-Proto` (as the site does).
struct Pair {
    project: DjangoProject,
    site: DjangoServer,
    gateway: Harness,
}

impl Pair {
    async fn start() -> Pair {
        let project = DjangoProject::new(Database::Sqlite, SECRET_KEY, false);
        project.fixture(&["user", "alice", "pw-alice"]);
        let site = project.serve();
        let key_file = project.dir.path().join("secret_key.txt");
        std::fs::write(&key_file, format!("{SECRET_KEY}\n")).unwrap();
        let tail = format!(
            "{ROUTES}\n[session]\nstore = \"django\"\n\n[django]\ndatabase = {:?}\nsecret_key_file = {:?}\n",
            project.database_url(),
            key_file.display().to_string(),
        );
        let site_url = site.url();
        let gateway = Harness::with_config(|_echo| {
            config(&site_url, &tail).replace(
                "admin_listen = \"127.0.0.1:0\"",
                "admin_listen = \"127.0.0.1:0\"\ntrusted_proxies = [\"127.0.0.1\"]",
            )
        })
        .await;
        Pair {
            project,
            site,
            gateway,
        }
    }

    /// alice signed in by Django: her session id, csrftoken cookie, and a
    /// masked token for it.
    fn alice(&self) -> (String, String, String) {
        let answer = self.project.fixture(&["login", "alice", "pw-alice"]);
        let field = |name: &str| answer[name].as_str().unwrap().to_string();
        (field("sessionid"), field("csrftoken"), field("token"))
    }

    /// `same`, for a request the gateway decides itself: it refuses it
    /// exactly when Django does (so never lets through what Django
    /// refuses), and forwards the rest.
    async fn decided(&self, case: &str, request_line: &str, head: &[u8], body: &[u8]) {
        let (django, refused_by_gateway) = self.same(case, request_line, head, body).await;
        assert_eq!(
            refused_by_gateway,
            django.status >= 400,
            "{case}: Django answered {} {}, and the gateway {}",
            django.status,
            django.body,
            if refused_by_gateway {
                "refused it"
            } else {
                "forwarded it"
            },
        );
    }

    /// Sends the request (the request line; head lines without the Host,
    /// `Content-Length` and the final blank line; the body) to both and
    /// asserts the answers agree, and that the gateway never refuses what
    /// Django lets through. Returns Django's answer, and whether the
    /// gateway refused the request itself.
    async fn same(
        &self,
        case: &str,
        request_line: &str,
        head: &[u8],
        body: &[u8],
    ) -> (RawReply, bool) {
        let mut bytes = format!("{request_line}\r\nHost: testserver\r\n").into_bytes();
        bytes.extend_from_slice(head);
        bytes.extend_from_slice(
            format!(
                "Content-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            )
            .as_bytes(),
        );
        bytes.extend_from_slice(body);
        let site: SocketAddr = ([127, 0, 0, 1], self.site.port).into();
        let django = raw_exchange(site, &bytes).await;
        let ours = self.gateway.raw(&bytes).await;
        assert_eq!(
            ours.status, django.status,
            "{case}: django said {}, we said {}",
            django.body, ours.body
        );
        let refused_by_gateway = ours.head.contains("x-portcullis-reason:");
        assert!(
            !refused_by_gateway || django.status >= 400,
            "{case}: the gateway refused what Django lets through: {}",
            ours.body
        );
        let html = |reply: &RawReply| {
            reply
                .head
                .to_ascii_lowercase()
                .contains("content-type: text/html")
        };
        assert_eq!(html(&ours), html(&django), "{case}: {}", ours.head);
        // DRF's HTML is its browsable page, the gateway's its own page:
        // only JSON bodies are compared byte for byte. (wsgiref sends a
        // body even for HEAD; hyper rightly does not.)
        if !html(&django) && !request_line.starts_with("HEAD ") {
            assert_eq!(ours.body, django.body, "{case}");
        }
        (django, refused_by_gateway)
    }
}

/// Point 1: DRF picks the renderer ignoring q values (JSON wins a tie in
/// precedence), honours `?format=`, and negotiates before it checks
/// permissions (an unknown format is a 404, no acceptable renderer a 406).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renderer_choice_and_format_as_drf_negotiates() {
    let pair = Pair::start().await;
    let (session, csrf, _) = pair.alice();
    let cases: &[(&str, &str)] = &[
        (
            "/api/me/",
            "Accept: text/html;q=1, application/json;q=0.1\r\n",
        ),
        ("/api/me/", "Accept: application/json;q=0, text/html\r\n"),
        ("/api/me/", "Accept: text/html\r\n"),
        (
            "/api/me/",
            "Accept: text/html;level=1, application/json\r\n",
        ),
        (
            "/api/me/",
            "Accept: text/*\r\nAccept: application/json;q=0.1\r\n",
        ),
        (
            "/api/me/",
            "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n",
        ),
        ("/api/me/?format=json", "Accept: text/html\r\n"),
        ("/api/me/?format=json", ""),
        ("/api/me/?format=api", ""),
        ("/api/me/?form%61t=api", "Accept: application/json\r\n"),
        ("/api/me/?format=xml", ""),
        ("/api/me/?format=", ""),
        ("/api/me/", "Accept: image/png\r\n"),
        ("/api/me/", "Accept: \r\n"),
    ];
    for (path, head) in cases {
        pair.decided(
            &format!("GET {path} {head:?}"),
            &format!("GET {path} HTTP/1.1"),
            head.as_bytes(),
            b"",
        )
        .await;
    }
    // An open route is forwarded, and DRF refuses it itself.
    for (path, head) in [
        ("/api/open/?format=xml", ""),
        ("/api/open/", "Accept: image/png\r\n"),
    ] {
        let (django, refused_by_gateway) = pair
            .same(path, &format!("GET {path} HTTP/1.1"), head.as_bytes(), b"")
            .await;
        assert!(django.status >= 400 && !refused_by_gateway, "{path}");
    }
    // A CSRF refusal (SessionAuthentication, inside DRF's view) comes
    // after negotiation too.
    let cookie = format!("Cookie: sessionid={session}; csrftoken={csrf}\r\n");
    for query in ["?format=xml", "?format=json", ""] {
        let head = format!("{cookie}Accept: text/html\r\n");
        pair.decided(
            &format!("POST {query} without a token"),
            &format!("POST /api/me/{query} HTTP/1.1"),
            head.as_bytes(),
            b"",
        )
        .await;
    }
}

/// Point 2: repeated `Cookie` lines (HTTP/1.1) and `Referer` lines reach
/// Django joined with ",".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_cookie_and_referer_lines_as_wsgi_joins_them() {
    let pair = Pair::start().await;
    let (session, csrf, token) = pair.alice();
    let cases = [
        format!("Cookie: sessionid={session}\r\nCookie: csrftoken={csrf}\r\nX-CSRFToken: {token}\r\n"),
        format!("Cookie: csrftoken={csrf}\r\nCookie: sessionid={session}\r\nX-CSRFToken: {token}\r\n"),
        format!("Cookie: sessionid={session}; csrftoken={csrf}\r\nCookie: theme=dark\r\nX-CSRFToken: {token}\r\n"),
        format!("Cookie: theme=dark\r\nCookie: sessionid={session}; csrftoken={csrf}\r\nX-CSRFToken: {token}\r\n"),
        // One line: the control, allowed.
        format!("Cookie: sessionid={session}; csrftoken={csrf}\r\nX-CSRFToken: {token}\r\n"),
    ];
    for head in &cases {
        pair.decided(head, "POST /api/me/ HTTP/1.1", head.as_bytes(), b"")
            .await;
    }
    // Over HTTPS (a trusted proxy says so) without Origin, the Referer
    // decides; two lines are one value.
    let signed_in = format!(
        "Cookie: sessionid={session}; csrftoken={csrf}\r\nX-CSRFToken: {token}\r\nX-Forwarded-Proto: https\r\n"
    );
    for referers in [
        "Referer: https://testserver/page\r\n",
        "Referer: https://testserver\r\nReferer: x\r\n",
        "Referer: https://testserver/a\r\nReferer: https://testserver/b\r\n",
        "Referer: https://evil.example/\r\nReferer: https://testserver/\r\n",
        "Referer: https://testserver/\r\nReferer: https://evil.example/\r\n",
        "Referer: https://testserver\r\nReferer: https://testserver\r\n",
        "Referer: http://testserver/\r\nReferer: https://testserver/\r\n",
    ] {
        let head = format!("{signed_in}{referers}");
        pair.decided(referers, "POST /api/me/ HTTP/1.1", head.as_bytes(), b"")
            .await;
    }
}

/// Point 3: DjangoModelPermissionsOrAnonReadOnly lets an anonymous request
/// reach the perms map: a method it has no entry for is a 405.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn model_permissions_or_anon_read_only_answer_405_to_unmapped_methods() {
    let pair = Pair::start().await;
    let (session, csrf, token) = pair.alice();
    let signed_in =
        format!("Cookie: sessionid={session}; csrftoken={csrf}\r\nX-CSRFToken: {token}\r\n");
    for method in [
        "GET", "HEAD", "OPTIONS", "POST", "PUT", "DELETE", "PURGE", "TRACE", "REPORT",
    ] {
        for (who, head) in [("anonymous", ""), ("alice", signed_in.as_str())] {
            pair.decided(
                &format!("{who} {method} /api/catalog/"),
                &format!("{method} /api/catalog/ HTTP/1.1"),
                head.as_bytes(),
                b"",
            )
            .await;
        }
    }
}

/// Point 4: a POST DRF would refuse for its CSRF token is refused for its
/// body first: 415 without a parser for its type, 400 with Python's json
/// message for JSON that does not parse.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_body_is_parsed_as_drf_parses_it_before_the_token() {
    let pair = Pair::start().await;
    let (session, csrf, token) = pair.alice();
    let cookie = format!("Cookie: sessionid={session}; csrftoken={csrf}\r\n");
    let json = "Content-Type: application/json\r\n";
    let bodies: &[(&str, &[u8])] = &[
        (json, b""),
        (json, b"{"),
        (json, b"{'a': 1}"),
        (json, b"{\"a\": 1,}"),
        (json, b"[1, 2"),
        (json, b"\"abc"),
        (json, b"1 2"),
        (json, b"NaN"),
        (json, b"[Infinity]"),
        (json, b"{\"a\": \"\x01\"}"),
        (json, b"{\"a\": \"\\q\"}"),
        (json, b"\"\\u12x4\""),
        (json, b"\xff"),
        (json, b"[\"\xc3\xa9\", \xe2\x82x]"),
        (json, b"{\"\xc3\xa9\":\n  tru }"),
        (json, b"\xef\xbb\xbf{}"),
        (json, b"{\"a\": [1, 2]}"),
        ("Content-Type: */*\r\n", b"{"),
        ("Content-Type: application/*; charset=utf-8\r\n", b"nope"),
        ("Content-Type: text/plain\r\n", b"x"),
        ("Content-Type: application/xml\r\n", b"<a/>"),
        ("", b"x"),
        (
            "Content-Type: application/x-www-form-urlencoded\r\n",
            b"a=1",
        ),
    ];
    for (content_type, body) in bodies {
        let case = format!("{content_type:?} {:?}", String::from_utf8_lossy(body));
        for token_header in [String::new(), "X-CSRFToken: short\r\n".to_string()] {
            let head = format!("{cookie}{content_type}{token_header}");
            pair.decided(&case, "POST /api/me/ HTTP/1.1", head.as_bytes(), body)
                .await;
        }
        // With the right token the gateway forwards, and DRF answers.
        let head = format!("{cookie}{content_type}X-CSRFToken: {token}\r\n");
        let (_, refused_by_gateway) = pair
            .same(&case, "POST /api/me/ HTTP/1.1", head.as_bytes(), body)
            .await;
        assert!(!refused_by_gateway, "{case}");
    }
}

/// Point 5: the csrftoken cookie is checked in characters of the header
/// as Django decodes it (UTF-8, each invalid sequence one U+FFFD): 31
/// letters and a UTF-8 `é` (2 bytes) are 32 characters with an invalid
/// one, not 33.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_ascii_csrf_cookie_is_measured_as_django_decodes_it() {
    let pair = Pair::start().await;
    let (session, _, token) = pair.alice();
    let letters = "a".repeat(31);
    for tail in [
        &b"\xc3\xa9"[..],
        b"\xe9",
        b"\xe2\x82\xac",
        b"\xe2\x82",
        b"\xc3\xa9\xc3\xa9",
    ] {
        let mut head = format!("Cookie: sessionid={session}; csrftoken={letters}").into_bytes();
        head.extend_from_slice(tail);
        head.extend_from_slice(format!("\r\nX-CSRFToken: {token}\r\n").as_bytes());
        pair.decided(
            &format!("csrftoken tail {tail:x?}"),
            "POST /api/me/ HTTP/1.1",
            &head,
            b"",
        )
        .await;
    }
}

/// Python's json module (through DRF's JSONParser, as DRF runs it) and the
/// gateway's reporter judge a few thousand generated bodies alike.
#[test]
fn python_json_errors_match_python_itself() {
    let mut runner = TestRunner::deterministic();
    let strategy = proptest::collection::vec(fragment(), 0..24).prop_map(|parts| parts.concat());
    let bodies: Vec<Vec<u8>> = (0..3000)
        .map(|_| strategy.new_tree(&mut runner).unwrap().current())
        .collect();
    let said = drf_says(&bodies);
    assert_eq!(said.len(), bodies.len());
    let mut failing = Vec::new();
    for (body, python) in bodies.iter().zip(&said) {
        let ours = match python_json::verdict(body) {
            Verdict::Parses => "OK".to_string(),
            Verdict::Fails(message) => message,
            Verdict::TooDeep => "TooDeep".to_string(),
        };
        if &ours != python {
            failing.push(format!(
                "{:?}: python {python:?}, ours {ours:?}",
                String::from_utf8_lossy(body)
            ));
        }
    }
    assert!(
        failing.is_empty(),
        "{} differ:\n{}",
        failing.len(),
        failing.join("\n")
    );
    // The bodies reach every kind of answer: a valid document, and each of
    // Python's messages.
    for kind in [
        "OK",
        "Expecting value",
        "Expecting property name enclosed in double quotes",
        "Expecting ':' delimiter",
        "Expecting ',' delimiter",
        "Unterminated string starting at",
        "Invalid control character at",
        "Invalid \\escape",
        "Invalid \\uXXXX escape",
        "Extra data",
        "Out of range float values are not JSON compliant",
        "'utf-8' codec can't decode byte",
        "'utf-8' codec can't decode bytes",
        "Unexpected UTF-8 BOM ",
    ] {
        assert!(
            said.iter().any(|m| m.starts_with(kind)),
            "no body got {kind:?}"
        );
    }
}

/// Pieces of JSON, of almost-JSON and (rarely, or it would be every
/// answer) of broken UTF-8.
fn fragment() -> impl Strategy<Value = Vec<u8>> {
    let text: Vec<&'static [u8]> = vec![
        b"{",
        b"}",
        b"[",
        b"]",
        b"\"",
        b":",
        b",",
        b" ",
        b"\n",
        b"\t",
        b"\r",
        b"\\",
        b"u",
        b"0",
        b"1",
        b"7",
        b"-",
        b"+",
        b".",
        b"e",
        b"E",
        b"a",
        b"x",
        b"true",
        b"fals",
        b"null",
        b"NaN",
        b"Infinity",
        b"-Infinity",
        b"\"k\"",
        b"{\"k\": ",
        b"{\"k\" ",
        b"[1, ",
        b"\\u00e9",
        b"\\ud83d",
        b"\\ude00",
        b"\\n",
        b"\\/",
        b"\\x",
        b"\"\\q\"",
        b"\"\\u12\"",
        b"\"\\ud83d\\u",
        b"\x01",
        b"\x1f",
        b"\x7f",
        "\u{e9}".as_bytes(),
        "\u{1f600}".as_bytes(),
        b"'",
        b"/",
        b"00",
        b"12345678901234567890",
        b"{\"a\": [1, 2.5e-3, \"z\"]}",
    ];
    let broken: Vec<&'static [u8]> = vec![
        b"\xff",
        b"\xc3",
        b"\xe2\x82",
        b"\xed\xa0\x80",
        b"\xf0\x90",
        b"\xf4\x90",
        b"\xc0\xaf",
        b"\xef\xbb\xbf",
    ];
    proptest::prop_oneof![
        40 => proptest::sample::select(text),
        1 => proptest::sample::select(broken),
    ]
    .prop_map(<[u8]>::to_vec)
}

/// What DRF's JSONParser says of each body: `OK`, or `str(exc.detail)`
/// without DRF's `JSON parse error - `.
fn drf_says(bodies: &[Vec<u8>]) -> Vec<String> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    const SCRIPT: &str = r#"
import io, json, sys
from django.conf import settings
settings.configure()
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser
out = []
for line in sys.stdin.read().split():
    try:
        JSONParser().parse(io.BytesIO(bytes.fromhex(line[1:])), parser_context={"encoding": "utf-8"})
        out.append("OK")
    except ParseError as e:
        out.append(str(e.detail).removeprefix("JSON parse error - "))
    except RecursionError:
        out.append("TooDeep")
json.dump(out, sys.stdout)
"#;
    let mut child = Command::new(python())
        .args(["-c", SCRIPT])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let input: String = bodies
        .iter()
        .map(|body| {
            // A leading "x" keeps an empty body a word of its own.
            let hex: String = body.iter().map(|b| format!("{b:02x}")).collect();
            format!("x{hex}\n")
        })
        .collect();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success());
    serde_json::from_slice(&output.stdout).unwrap()
}
