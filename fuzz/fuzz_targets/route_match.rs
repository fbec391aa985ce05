//! Route patterns and matching: parsing any pattern never panics; for
//! accepted patterns, the trie (`RouteTable::select`) and the linear
//! `Pattern::matches` scan `explain` uses pick the same route.
#![no_main]

use http::Method;
use libfuzzer_sys::fuzz_target;
use portcullis::canonical::canonicalize;
use portcullis::routes::{Access, Mode, Pattern, Requirements, Route, RouteTable, Selected};

fuzz_target!(|data: (Vec<&str>, &str)| {
    let (sources, raw_path) = data;
    let routes: Vec<Route> = sources
        .iter()
        .take(16)
        .filter_map(|source| Pattern::parse(source).ok())
        .enumerate()
        .map(|(i, pattern)| Route {
            name: i.to_string().into(),
            pattern,
            methods: None,
            access: Access::Anonymous,
            requirements: Requirements::default(),
            csrf_exempt: false,
            max_body: None,
            mode: Mode::Enforce,
            authentication: None,
            ip_rules: Default::default(),
            throttles: Default::default(),
            host: None,
            upstream: None,
        })
        .collect();
    let Ok(path) = canonicalize(raw_path) else {
        return;
    };
    let linear = routes.iter().position(|r| r.pattern.matches(&path));
    let table = RouteTable::new(routes, Access::Deny, Mode::Enforce, Default::default());
    let chosen = match table.select(&Method::GET, &path) {
        Selected::Route(route) => route.name.parse::<usize>().ok(),
        _ => None,
    };
    assert_eq!(chosen, linear, "{path:?}");
});
