//! The `portcullis` binary itself: `check` on good and bad configs, `serve`
//! answering and stopping cleanly on SIGTERM, and `demo` working as the
//! README says.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_portcullis");

/// `portcullis check` on `text`: its exit code and output.
pub(crate) fn check(text: &str) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("portcullis.toml");
    std::fs::write(&path, text).unwrap();
    check_file(&path)
}

fn check_file(path: &Path) -> (i32, String) {
    let out = Command::new(BIN)
        .args(["check", "--config"])
        .arg(path)
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

const GOOD: &str = r#"
[server]
listen = "127.0.0.1:8080"
admin_listen = "127.0.0.1:9901"
[upstream]
url = "http://127.0.0.1:8000"
[admin]
token = "t"
"#;

#[test]
fn the_shipped_config_is_ok() {
    let (code, out) = check_file(Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/config/portcullis.toml"
    )));
    assert_eq!((code, out.trim()), (0, "config OK"));
}

#[test]
fn the_config_can_be_a_plain_argument() {
    let out = Command::new(BIN)
        .args([
            "check",
            concat!(env!("CARGO_MANIFEST_DIR"), "/config/portcullis.toml"),
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "config OK");
    let none = Command::new(BIN)
        .arg("check")
        .env_remove("PORTCULLIS_CONFIG")
        .output()
        .unwrap();
    assert_eq!(none.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&none.stderr).contains("no config file"));
}

#[test]
fn a_minimal_config_is_ok() {
    assert_eq!(check(GOOD), (0, "config OK\n".to_string()));
}

#[test]
fn every_problem_is_reported_with_its_line() {
    let text = r#"[server]
listen = "localhost"
admin_listen = "127.0.0.1:9901"
[upstream]
url = "http://127.0.0.1:8000/api"
timeout = "soon"
[session]
ttl = "0s"
[admin]
token = "t"
[[routes]]
name = "api"
path = "/api/**"
access = "anonymous"
[[routes]]
name = "api-admin"
path = "/api/admin/**"
access = "staff"
[[routes]]
path = "/x/**/y"
access = "authenticated"
[[routes]]
path = "/z"
access = "everyone"
[[routes]]
path = "/m"
access = "authenticated"
model = "LifeApp.Life"
methods = ["get"]
[[routes]]
path = "/p/**"
access = "anonymous"
permissions = ["a.b"]
"#;
    let (code, out) = check(text);
    assert_eq!(code, 1, "{out}");
    let expected = [
        (":2:10:", "server.listen"),
        (":5:7:", "must not have a path"),
        (":6:11:", "is not a duration"),
        (":8:7:", "greater than zero"),
        (":17:8:", "route \"api-admin\" can never match"),
        (":20:8:", "'**' may only be the last segment"),
        (":24:10:", "unknown access level \"everyone\""),
        (":28:9:", "lower case"),
        (":29:11:", "methods are case-sensitive"),
        (":32:10:", "have no effect with access = \"anonymous\""),
    ];
    assert_exactly(&out, &expected);
}

#[test]
fn more_problems_check_reports() {
    let text = GOOD
        .replace(
            "admin_listen = \"127.0.0.1:9901\"",
            "admin_listen = \"127.0.0.1:9901\"\ntrusted_proxies = [\"10.0.0.0/8\", \"lb.internal\"]",
        )
        .replace("[admin]", "[session]\nttl = \"1000y\"\n[admin]")
        + "[[routes]]\npath = \"/export?format=csv\"\naccess = \"deny\"\n";
    let (code, out) = check(&text);
    assert_eq!(code, 1);
    for message in [
        "\"lb.internal\" is not an IP address or CIDR range",
        ":9:7: duration must be at most 100 years",
        "can never match: a request path cannot contain '?'",
    ] {
        assert!(out.contains(message), "missing {message:?} in:\n{out}");
    }
}

#[test]
fn route_lint_finds_mistakes_with_their_place() {
    let routes = r#"
[[routes]]
name = "api"
path = "/api/**"
access = "authenticated"
permissions = ["change_life", "lifeapp.view_life"]
any_permissions = ["two words.x"]

[[routes]]
name = "api"
path = "/api/admin/**"
access = "staff"

[[routes]]
name = "own"
path = "/_portcullis/login"
access = "anonymous"

[[routes]]
name = "mode"
path = "/m"
access = "anonymous"
mode = "dry"
"#;
    let (code, out) = check(&format!("{GOOD}{routes}"));
    assert_eq!(code, 1, "{out}");
    for message in [
        ":14:16: warning: permission \"change_life\" is not \"app_label.codename\"",
        ":15:20: warning: permission \"two words.x\" is not",
        ":19:8: route name \"api\" is already used by the route on line",
        ":19:8: route \"api\" can never match: every request it covers is already matched by the earlier route \"api\"",
        ":24:8: route \"own\" can never match: /_portcullis/* is the gateway's own endpoints",
        ":31:8: unknown mode \"dry\"",
    ] {
        assert!(out.contains(message), "missing {message:?} in:\n{out}");
    }
    assert!(!out.contains("lifeapp.view_life"), "{out}");
}

#[test]
fn suspicious_but_valid_configs_pass_check_with_warnings() {
    let text = GOOD.replace("[server]", "mode = \"report\"\n\n[server]")
        + r#"
[[routes]]
name = "reads"
path = "/**"
methods = ["GET"]
access = "authenticated"

[[routes]]
name = "webhook"
path = "/hooks/**"
access = "anonymous"
"#;
    let (code, out) = check(&text);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(":2:8: warning: mode = \"report\": nothing is enforced"),
        "{out}"
    );
    assert!(
        out.contains(
            ":20:8: warning: anonymous route \"webhook\" comes after the catch-all \"reads\" (/**)"
        ),
        "{out}"
    );
    assert!(out.ends_with("config OK (2 warnings)\n"), "{out}");
}

#[test]
fn csrf_settings_are_checked() {
    let text = format!(
        "{GOOD}[csrf]\nenforce = \"sometimes\"\ntrusted_origins = [\"app.example.com\"]\ncookie_samesite = \"lax\"\n\
         header_name = \"X_CSRF\"\ncookie_domain = \"exa mple.com\"\nform_body_limit = 10\n"
    );
    let (code, out) = check(&text);
    assert_eq!(code, 1);
    for message in [
        "csrf.enforce \"sometimes\"",
        "must start with a scheme",
        "csrf.cookie_samesite \"lax\"",
        "csrf.header_name must not contain '_'",
        "csrf.cookie_domain \"exa mple.com\" is not a domain name",
        "csrf.form_body_limit must be between",
    ] {
        assert!(out.contains(message), "missing {message:?} in:\n{out}");
    }
    let good = format!(
        "{GOOD}[csrf]\nenforce = \"always\"\ntrusted_origins = [\"https://*.example.com\"]\ncookie_samesite = \"Strict\"\n"
    );
    assert_eq!(check(&good).0, 0);
}

#[test]
fn hash_password_reads_stdin_and_prints_a_phc_string() {
    use std::io::Write;
    let mut child = Command::new(BIN)
        .arg("hash-password")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"hunter2 and more\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let phc = String::from_utf8(out.stdout).unwrap();
    let phc = phc.trim();
    assert!(phc.starts_with("$argon2id$"), "{phc}");
    assert!(portcullis::auth::password::verify(phc, "hunter2 and more"));
    // The config accepts it.
    let with_user = format!("{GOOD}[[users]]\nusername = \"a\"\npassword_hash = \"{phc}\"\n");
    assert_eq!(check(&with_user).0, 0);
}

#[test]
fn check_rejects_users_without_a_valid_hash() {
    let text = format!(
        "{GOOD}[[users]]\nusername = \"a\"\npassword_hash = \"hunter2\"\n\
         [[users]]\nusername = \"b\"\npassword_hash = \"$argon2i$v=19$m=16,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo\"\n\
         [[users]]\nusername = \"bad\\nname\"\npassword_hash = \"x\"\n"
    );
    let (code, out) = check(&text);
    assert_eq!(code, 1);
    for message in [
        "user \"a\": password_hash: not a PHC string",
        "user \"b\": password_hash: algorithm \"argon2i\" is not argon2id",
        "username \"bad\\nname\" must be printable ASCII",
    ] {
        assert!(out.contains(message), "missing {message:?} in:\n{out}");
    }
}

#[test]
fn users_hashes_must_cost_the_same() {
    let cheap = "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaGhhc2g";
    let normal = portcullis::auth::password::hash_password("x");
    let text = format!(
        "{GOOD}[[users]]\nusername = \"a\"\npassword_hash = \"{normal}\"\n[[users]]\nusername = \"b\"\npassword_hash = \"{cheap}\"\n"
    );
    let (code, out) = check(&text);
    assert_eq!(code, 1);
    assert!(out.contains("different argon2 parameters"), "{out}");
}

#[test]
fn a_users_file_is_checked_with_its_own_lines() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("users.toml"),
        "[[users]]\nusername = \"x\"\npassword_hash = \"nope\"\n",
    )
    .unwrap();
    let config = dir.path().join("portcullis.toml");
    std::fs::write(
        &config,
        GOOD.replace("[admin]", "[session]\nusers_file = \"users.toml\"\n[admin]"),
    )
    .unwrap();
    let (code, out) = check_file(&config);
    assert_eq!(code, 1);
    assert!(
        out.contains("users.toml:3:17: user \"x\": password_hash: not a PHC string"),
        "{out}"
    );
}

#[test]
fn unknown_keys_are_errors_with_a_place() {
    let (code, out) = check(&GOOD.replace("token = \"t\"", "token = \"t\"\ntokn = \"x\""));
    assert_eq!(code, 1);
    assert!(out.contains(":9:1: unknown field `tokn`"), "{out}");
}

#[test]
fn a_top_level_key_below_a_table_gets_a_hint() {
    let (code, out) = check(&format!("{GOOD}default_access = \"deny\"\n"));
    assert_eq!(code, 1);
    assert!(out.contains("put it above the first [table]"), "{out}");
}

#[test]
fn toml_syntax_errors_are_reported() {
    let (code, out) = check("[server\nlisten = 1");
    assert_eq!(code, 1);
    assert!(out.contains(":1:"), "{out}");
}

#[test]
fn a_missing_file_is_an_error() {
    let (code, out) = check_file(Path::new("/nonexistent/portcullis.toml"));
    assert_eq!(code, 1);
    assert!(out.contains("cannot read the file"), "{out}");
}

#[test]
fn admin_token_can_come_from_the_environment() {
    let text = GOOD.replace(
        "token = \"t\"",
        "token_env = \"PORTCULLIS_TEST_TOKEN_ABSENT\"",
    );
    let (code, out) = check(&text);
    assert_eq!(code, 1);
    assert!(out.contains("PORTCULLIS_TEST_TOKEN_ABSENT"), "{out}");

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.toml");
    std::fs::write(&path, text.replace("_ABSENT", "_SET")).unwrap();
    let out = Command::new(BIN)
        .args(["check", "--config"])
        .arg(&path)
        .env("PORTCULLIS_TEST_TOKEN_SET", "s3cret")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// Kills the child when dropped, so a failing test leaves no process behind.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Reads lines from `reader` until one contains `needle` (bounded in time by
/// the child's own output; the process is killed on drop if it stalls).
fn read_until(reader: &mut impl BufRead, needle: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap() == 0 {
            break;
        }
        let done = line.contains(needle);
        lines.push(line);
        if done {
            return lines;
        }
    }
    panic!("never saw {needle:?}; got {lines:?}");
}

fn http_get(addr: &str, path: &str, cookie: Option<&str>) -> String {
    let cookie = cookie
        .map(|c| format!("Cookie: {c}\r\n"))
        .unwrap_or_default();
    crate::common::blocking::exchange(
        addr,
        &format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n{cookie}Connection: close\r\n\r\n"),
    )
}

fn port_zero_config() -> tempfile::NamedTempFile {
    let shipped = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/config/portcullis.toml"
    ))
    .unwrap();
    let text = shipped
        .replace("127.0.0.1:8080", "127.0.0.1:0")
        .replace("127.0.0.1:9901", "127.0.0.1:0");
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), text).unwrap();
    file
}

#[test]
fn demo_works_as_the_readme_says() {
    let config = port_zero_config();
    let child = Command::new(BIN)
        .args(["demo", "--config"])
        .arg(config.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut running = Running(child);
    let mut out = BufReader::new(running.0.stdout.take().unwrap());
    let text = read_until(&mut out, "Stop with").concat();
    let gateway = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("gateway   http://"))
        .unwrap()
        .to_string();
    let alice = text
        .split("sessionid=")
        .nth(1)
        .map(|rest| &rest[..32])
        .unwrap()
        .to_string();

    let public = http_get(&gateway, "/public/hello", None);
    assert!(public.starts_with("HTTP/1.1 200"), "{public}");
    let anonymous = http_get(&gateway, "/life/1/", None);
    assert!(anonymous.starts_with("HTTP/1.1 403"), "{anonymous}");
    assert!(anonymous.ends_with(r#"{"detail":"Authentication credentials were not provided."}"#));
    let cookie = format!("sessionid={alice}");
    let life = http_get(&gateway, "/life/1/", Some(&cookie));
    assert!(life.contains(r#"["x-remote-user","alice"]"#), "{life}");
    let admin = http_get(&gateway, "/admin/", Some(&cookie));
    assert!(
        admin.ends_with(r#"{"detail":"You do not have permission to perform this action."}"#),
        "{admin}"
    );
}

#[test]
fn serve_answers_then_stops_cleanly_on_sigterm() {
    let config = port_zero_config();
    let child = Command::new(BIN)
        .args(["serve", "--config"])
        .arg(config.path())
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut running = Running(child);
    let mut err = BufReader::new(running.0.stderr.take().unwrap());
    let lines = read_until(&mut err, "portcullis listening").concat();
    let field = |name: &str| {
        let start = lines.find(&format!("{name}=")).unwrap() + name.len() + 1;
        lines[start..]
            .split_whitespace()
            .next()
            .unwrap()
            .trim_matches('"')
            .to_string()
    };
    let admin = field("admin");
    let proxy = field("proxy");
    assert!(http_get(&admin, "/healthz", None).starts_with("HTTP/1.1 200"));
    // The shipped upstream (127.0.0.1:8000) is not running here: the
    // gateway must answer for it.
    let reply = http_get(&proxy, "/public/x", None);
    assert!(
        reply.contains("upstream_unavailable") || reply.contains("upstream_timeout"),
        "{reply}"
    );

    let pid = running.0.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = running.0.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "did not stop after SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status}");
}

#[test]
fn check_names_a_bad_address_rule_by_line_and_column() {
    let routes = r#"
[[routes]]
name = "office"
path = "/office/**"
access = "anonymous"
allow_ips = ["10.0.0.0/8", "10.0.0.300/8"]
deny_ips = ["lan"]

[[routes]]
name = "nobody"
path = "/nobody/**"
access = "anonymous"
allow_ips = []
"#;
    let (code, out) = check(&format!("{GOOD}{routes}"));
    assert_eq!(code, 1, "{out}");
    for message in [
        ":14:28: \"10.0.0.300/8\" is not an IP address or CIDR range",
        ":15:13: \"lan\" is not an IP address or CIDR range",
        ":21:13: route \"nobody\": allow_ips = [] admits no address",
    ] {
        assert!(out.contains(message), "missing {message:?} in:\n{out}");
    }
}

#[test]
fn check_warns_when_an_address_rule_overlaps_trusted_proxies() {
    let text = GOOD.replace(
        "admin_listen = \"127.0.0.1:9901\"",
        "admin_listen = \"127.0.0.1:9901\"\ntrusted_proxies = [\"10.0.0.0/8\"]",
    ) + r#"
[[routes]]
name = "office"
path = "/office/**"
access = "anonymous"
deny_ips = ["10.9.0.0/16", "192.0.2.0/24"]
"#;
    let (code, out) = check(&text);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(":15:13: warning: route \"office\": 10.9.0.0/16 overlaps server.trusted_proxies (10.0.0.0/8)"),
        "{out}"
    );
    assert!(!out.contains("192.0.2.0/24 overlaps"), "{out}");
}

#[test]
fn check_warns_when_address_rules_meet_a_decision_listener_that_knows_no_client() {
    let rules = r#"
[[routes]]
name = "office"
path = "/office/**"
access = "anonymous"
allow_ips = ["10.0.0.0/8"]
"#;
    let (code, out) = check(&format!("{GOOD}{rules}\n[decision]\n"));
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("warning: routes with allow_ips or deny_ips (the first: \"/office/**\") refuse every subrequest on the decision listener"),
        "{out}"
    );
    let (code, out) = check(&format!(
        "{GOOD}{rules}\n[decision]\nclient_address = \"x-forwarded-for\"\n"
    ));
    assert_eq!((code, out.trim()), (0, "config OK"), "{out}");
    let (code, out) = check(&format!(
        "{GOOD}{rules}\n[decision]\nclient_address = \"xff\"\n"
    ));
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("decision.client_address \"xff\": expected"),
        "{out}"
    );
}

#[test]
fn check_names_a_bad_throttle_rate_or_scope_by_line_and_column() {
    let throttles = r#"
[throttle]
anon = "100/month"
user = "0/day"

[throttle.scopes]
"bad name" = "1/s"
burst = "1/fortnight"

[[routes]]
name = "up"
path = "/up/**"
access = "anonymous"
throttle = { scope = "uploads" }
"#;
    let (code, out) = check(&format!("{GOOD}{throttles}"));
    assert_eq!(code, 1, "{out}");
    for message in [
        ":11:8: throttle.anon: \"100/month\": \"month\" is not a period",
        ":12:8: throttle.user: \"0/day\": a rate of 0 refuses every request",
        ":15:14: throttle.scopes: \"bad name\" is not a scope name",
        ":16:9: throttle.scopes.burst: \"1/fortnight\": \"fortnight\" is not a period",
        ":22:22: route \"up\": no rate is set for the throttle scope \"uploads\"",
    ] {
        assert!(out.contains(message), "missing {message:?} in:\n{out}");
    }
    let unknown = "\n[[routes]]\npath = \"/**\"\naccess = \"anonymous\"\nthrottle = { anon = \"1/s\", burst = \"2/s\" }\n";
    let (code, out) = check(&format!("{GOOD}{unknown}"));
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(":13:") && out.contains("unknown field `burst`"),
        "{out}"
    );
}

#[test]
fn check_warns_when_throttles_meet_a_decision_listener_that_knows_no_client() {
    let text = format!("{GOOD}\n[throttle]\nanon = \"100/day\"\n\n[decision]\n");
    let (code, out) = check(&text);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("warning: throttles count anonymous requests by client address, and an HTTP subrequest names none"),
        "{out}"
    );
    let (code, out) = check(&format!("{text}client_address = \"x-forwarded-for\"\n"));
    assert_eq!((code, out.trim()), (0, "config OK"), "{out}");
}

#[test]
fn check_places_telemetry_problems_by_line_and_column() {
    // GOOD is 8 lines (a blank one first); [telemetry] is on line 9.
    let telemetry = r#"[telemetry]
otlp_endpoint = "ftp://collector:4318/v1/traces"
sample_ratio = 1.5
max_queue_size = 0
scheduled_delay = "soon"
headers = { "content-type" = "text/plain" }
"#;
    let (code, out) = check(&format!("{GOOD}{telemetry}"));
    assert_eq!(code, 1, "{out}");
    let expected = [
        (":10:17:", "telemetry.otlp_endpoint = \"ftp://collector:4318/v1/traces\" must start with http:// or https://"),
        (":11:16:", "telemetry.sample_ratio = 1.5 must be between 0.0"),
        (":12:18:", "telemetry.max_queue_size must be between 1 and"),
        (":13:19:", "is not a duration"),
        (":14:11:", "\"content-type\" is set by the export itself"),
    ];
    assert_exactly(&out, &expected);

    let (code, out) = check(&format!(
        "{GOOD}[telemetry]\notlp_endpoint = \"http://127.0.0.1:4318/v1/traces\"\nsample_rate = 0.5\n"
    ));
    assert_eq!(code, 1);
    assert!(
        out.contains(":11:1:") && out.contains("unknown field `sample_rate`"),
        "{out}"
    );

    let (code, out) = check(&format!("{GOOD}[telemetry]\nservice_name = \"gw\"\n"));
    assert_eq!(code, 1);
    assert!(
        out.contains(":9:1:") && out.contains("[telemetry] needs otlp_endpoint"),
        "{out}"
    );

    let good = format!(
        "{GOOD}[telemetry]\notlp_endpoint = \"https://collector.example:4318/v1/traces\"\nsample_ratio = 0.25\nheaders = {{ \"x-api-key\" = \"k\" }}\n"
    );
    assert_eq!(check(&good), (0, "config OK\n".to_string()));
}

#[test]
fn otel_variables_fill_in_what_the_telemetry_section_leaves_unset() {
    let run = |text: &str, endpoint: &str| {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.toml");
        std::fs::write(&path, text).unwrap();
        let out = Command::new(BIN)
            .args(["check", "--config"])
            .arg(&path)
            .env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", endpoint)
            .output()
            .unwrap();
        (
            out.status.code().unwrap(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let section = format!("{GOOD}[telemetry]\n");
    assert_eq!(
        run(&section, "http://127.0.0.1:4318/v1/traces"),
        (0, "config OK\n".to_string())
    );
    // Named by the variable when it is what is wrong.
    let (code, out) = run(&section, "collector:4318");
    assert_eq!(code, 1);
    assert!(
        out.contains("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT (environment): telemetry.otlp_endpoint"),
        "{out}"
    );
    // The file's own endpoint wins.
    let own = format!("{section}otlp_endpoint = \"http://127.0.0.1:4318/v1/traces\"\n");
    assert_eq!(run(&own, "collector:4318"), (0, "config OK\n".to_string()));
    // Without the section the variable turns nothing on (nor is checked).
    assert_eq!(run(GOOD, "collector:4318"), (0, "config OK\n".to_string()));
}

/// `check`'s output holds exactly these problems: one line each, at its
/// place (`:line:column:`) and with its message.
fn assert_exactly(out: &str, expected: &[(&str, &str)]) {
    for (place, message) in expected {
        assert!(
            out.lines()
                .any(|l| l.contains(place) && l.contains(message)),
            "missing {place} {message} in:\n{out}"
        );
    }
    assert_eq!(out.lines().count(), expected.len(), "{out}");
}

#[test]
fn check_places_a_bad_trust_parent() {
    let telemetry = "[telemetry]\notlp_endpoint = \"http://127.0.0.1:4318/v1/traces\"\ntrust_parent = \"proxies\"\n";
    let (code, out) = check(&format!("{GOOD}{telemetry}"));
    assert_eq!(code, 1, "{out}");
    assert_exactly(
        &out,
        &[(
            ":11:16:",
            "telemetry.trust_parent \"proxies\": expected \"always\", \"trusted_proxies\" or \"never\"",
        )],
    );
}
