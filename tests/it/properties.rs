//! Property tests for the parsers the security decision rests on: the path
//! canonicaliser, session cookie parsing, and first-match route selection.

use http::{HeaderMap, HeaderValue, Method};
use portcullis::canonical::canonicalize;
use portcullis::cookies::cookie_value;
use portcullis::routes::{
    Access, HostPattern, Mode, Pattern, Requirements, Route, RouteMiss, RouteTable, Selected,
};
use proptest::prelude::*;

/// Path-ish strings: heavy on the characters that matter (dots, slashes,
/// escapes, separators), plus arbitrary printable ASCII.
fn pathish() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("/".to_string()),
        Just(".".to_string()),
        Just("..".to_string()),
        Just("%2e".to_string()),
        Just("%2E".to_string()),
        Just("%2f".to_string()),
        Just("%5c".to_string()),
        Just("%25".to_string()),
        Just("%41".to_string()),
        Just("%c3%a9".to_string()),
        Just("%c0".to_string()),
        Just(";".to_string()),
        Just("admin".to_string()),
        Just("public".to_string()),
        "[ -~]{1,3}",
        "%[0-9a-fA-F]{2}",
    ];
    proptest::collection::vec(piece, 0..16).prop_map(|parts| format!("/{}", parts.concat()))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    #[test]
    fn canonicalisation_is_idempotent(raw in pathish()) {
        if let Ok(once) = canonicalize(&raw) {
            let twice = canonicalize(&once).expect("a canonical path is accepted");
            prop_assert_eq!(once.as_ref(), twice.as_ref());
        }
    }

    #[test]
    fn canonical_paths_have_no_traversal_or_control(raw in pathish()) {
        if let Ok(path) = canonicalize(&raw) {
            prop_assert!(path.starts_with('/'));
            prop_assert!(!path.contains("//"), "{}", path);
            for segment in path.split('/') {
                prop_assert!(segment != "." && segment != "..", "{}", path);
            }
            prop_assert!(path.bytes().all(|b| (0x21..0x7f).contains(&b)), "{:?}", path);
            prop_assert!(!path.contains(['\\', ';', '#']), "{}", path);
            let lower = path.to_ascii_lowercase();
            for escape in ["%2f", "%5c", "%2e", "%00", "%3b", "%23"] {
                prop_assert!(!lower.contains(escape), "{} in {}", escape, path);
            }
        }
    }

    #[test]
    fn canonicalisation_never_panics_on_any_text(raw in "\\PC{0,64}") {
        let _ = canonicalize(&raw);
    }

    #[test]
    fn cookie_parsing_never_panics_and_finds_a_planted_value(
        noise in "[ -~]{0,200}",
        value in "[a-z0-9]{32}",
    ) {
        let mut headers = HeaderMap::new();
        if let Ok(v) = HeaderValue::from_str(&noise) {
            headers.append("cookie", v);
        }
        let _ = cookie_value(&headers, "sessionid");
        // A field of its own, as HTTP/2 sends it (joined with "; " at
        // intake); as a second HTTP/1.1 line it would run into the noise,
        // as under WSGI.
        headers.append("cookie", HeaderValue::from_str(&format!("sessionid={value}")).unwrap());
        let _ = cookie_value(&headers, "sessionid");
        portcullis::cookies::join_fields(&mut headers, b"; ");
        let found = cookie_value(&headers, "sessionid");
        prop_assert_eq!(found.as_deref(), Some(value.as_str()));
    }

    /// With `/admin/**` (staff) listed before a catch-all anonymous rule, no
    /// request whose canonical path is under /admin is ever decided by the
    /// anonymous rule, whatever the raw path looked like.
    #[test]
    fn an_admin_rule_listed_first_can_never_be_bypassed(raw in pathish(), method in method()) {
        let table = RouteTable::new(vec![route("admin", "/admin/**", Access::Staff), route("rest", "/**", Access::Anonymous)], Access::Deny, Mode::Enforce, Default::default());
        if let Ok(path) = canonicalize(&raw) {
            let under_admin = path == "/admin" || path.starts_with("/admin/");
            let chosen = match table.select(&method, &path) {
                Selected::Route(r) => r.name.to_string(),
                other => panic!("{other:?}"),
            };
            prop_assert_eq!(chosen == "admin", under_admin, "{} -> {}", path, chosen);
        }
    }

    /// The trie agrees with a plain first-match scan over the same routes.
    #[test]
    fn the_trie_agrees_with_a_linear_scan(
        patterns in proptest::collection::vec(pattern(), 1..12),
        path in proptest::collection::vec(segment(), 0..5),
        trailing in any::<bool>(),
    ) {
        let routes: Vec<Route> = patterns.iter().enumerate().map(|(i, p)| route(&i.to_string(), p, Access::Anonymous)).collect();
        let expected = routes.iter().position(|r| matches_linear(&r.pattern, &path, trailing));
        let mut text = format!("/{}", path.join("/"));
        if trailing && !path.is_empty() {
            text.push('/');
        }
        // `explain` scans with Pattern::matches: it must agree too.
        prop_assert_eq!(routes.iter().position(|r| r.pattern.matches(&text)), expected, "{}", text);
        let table = RouteTable::new(routes, Access::Deny, Mode::Enforce, Default::default());
        let got = match table.select(&Method::GET, &text) {
            Selected::Route(r) => Some(r.name.parse::<usize>().unwrap()),
            _ => None,
        };
        prop_assert_eq!(got, expected, "{}", text);
    }
}

proptest! {
    /// With hosts and methods too, the trie still decides as a first-match
    /// scan in file order (`RouteTable::explain`, which checks each route's
    /// host, path and methods in turn): an earlier host route beats a
    /// later host-less one and the other way round, for any Host a client
    /// may send, odd ones included.
    #[test]
    fn the_trie_agrees_with_a_linear_scan_with_hosts_and_methods(
        specs in proptest::collection::vec((pattern(), host_pattern(), methods()), 1..10),
        path in proptest::collection::vec(segment(), 0..4),
        host in request_host(),
        method in method(),
    ) {
        let routes: Vec<Route> = specs
            .iter()
            .enumerate()
            .map(|(i, (p, host, methods))| Route {
                host: host.map(|h| HostPattern::parse(h).unwrap()),
                methods: methods.clone().map(Vec::into_boxed_slice),
                ..route(&i.to_string(), p, Access::Anonymous)
            })
            .collect();
        let text = format!("/{}", path.join("/"));
        let table = RouteTable::new(routes, Access::Deny, Mode::Enforce, Default::default());
        let scanned = table
            .explain(&method, host, &text)
            .into_iter()
            .find(|(_, miss)| *miss == RouteMiss::Matched)
            .map(|(r, _)| r.name.parse::<usize>().unwrap());
        let got = match table.select_on(&method, host, &text) {
            Selected::Route(r) => Some(r.name.parse::<usize>().unwrap()),
            _ => None,
        };
        prop_assert_eq!(got, scanned, "{:?} {} {}", host, method, text);
    }
}

fn host_pattern() -> impl Strategy<Value = Option<&'static str>> {
    prop_oneof![
        Just(None),
        Just(Some("a.example.com")),
        Just(Some("*.example.com")),
        Just(Some("*.a.example.com")),
        Just(Some("example.com")),
    ]
}

fn methods() -> impl Strategy<Value = Option<Vec<Method>>> {
    prop_oneof![
        Just(None),
        Just(Some(vec![Method::GET])),
        Just(Some(vec![Method::POST, Method::DELETE])),
    ]
}

fn request_host() -> impl Strategy<Value = Option<&'static str>> {
    prop_oneof![
        Just(None),
        Just(Some("a.example.com")),
        Just(Some("A.Example.COM:8443")),
        Just(Some("b.a.example.com.")),
        Just(Some("example.com")),
        Just(Some("other.test")),
        Just(Some("u@a.example.com")),
        Just(Some("a.example.com:x")),
        Just(Some("[::1]:80")),
    ]
}

fn method() -> impl Strategy<Value = Method> {
    prop_oneof![
        Just(Method::GET),
        Just(Method::POST),
        Just(Method::DELETE),
        Just(Method::OPTIONS)
    ]
}

fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("a".to_string()),
        Just("b".to_string()),
        Just("admin".to_string())
    ]
}

fn pattern() -> impl Strategy<Value = String> {
    let part = prop_oneof![
        Just("a".to_string()),
        Just("b".to_string()),
        Just("admin".to_string()),
        Just("*".to_string()),
        Just("{id}".to_string()),
    ];
    (
        proptest::collection::vec(part, 0..4),
        prop_oneof![Just(""), Just("/"), Just("/**")],
    )
        .prop_map(|(parts, end)| {
            // Named segments must have distinct names within one pattern.
            let parts: Vec<String> = parts
                .into_iter()
                .enumerate()
                .map(|(i, p)| if p == "{id}" { format!("{{id{i}}}") } else { p })
                .collect();
            let body = parts.join("/");
            match (body.is_empty(), end) {
                (true, "/**") => "/**".to_string(),
                (true, _) => "/".to_string(),
                (false, end) => format!("/{body}{end}"),
            }
        })
}

/// Reference semantics, written the obvious slow way.
fn matches_linear(pattern: &Pattern, path: &[String], trailing: bool) -> bool {
    use portcullis::routes::pattern::Segment;
    let mut segments: Vec<&str> = path.iter().map(String::as_str).collect();
    if path.is_empty() || trailing {
        segments.push("");
    }
    let mut i = 0;
    for seg in &pattern.segments {
        match seg {
            Segment::Rest => return true,
            Segment::One => match segments.get(i) {
                Some(s) if !s.is_empty() => i += 1,
                _ => return false,
            },
            Segment::Literal(l) => match segments.get(i) {
                Some(s) if *s == &**l => i += 1,
                _ => return false,
            },
        }
    }
    i == segments.len()
}

fn route(name: &str, pattern: &str, access: Access) -> Route {
    Route {
        name: name.into(),
        pattern: Pattern::parse(pattern).unwrap(),
        methods: None,
        access,
        requirements: Requirements::default(),
        csrf_exempt: false,
        max_body: None,
        mode: Mode::Enforce,
        authentication: None,
        ip_rules: Default::default(),
        throttles: Default::default(),
        host: None,
        upstream: None,
    }
}
