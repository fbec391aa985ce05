//! The compiled route set: a segment trie that finds the first route (in
//! file order) matching a canonical path, method and host, visiting each
//! path segment once instead of testing every rule in turn.

use std::collections::HashMap;

use http::Method;

use super::host::HostPattern;
use super::pattern::{Pattern, Segment};

/// Index of a route in file order; lower wins.
pub type RouteIndex = u32;

#[derive(Debug, Default)]
struct Node {
    literal: HashMap<Box<str>, usize>,
    one: Option<usize>,
    /// Routes whose pattern ends exactly at this node, ascending.
    ends_here: Vec<RouteIndex>,
    /// Routes with `**` at this node, ascending: they match whatever follows.
    rest: Vec<RouteIndex>,
    /// Smallest route index anywhere at or below this node, for pruning.
    min_below: RouteIndex,
}

/// A trie over every route's pattern. `methods[i]` and `hosts[i]`
/// restrict route `i`.
#[derive(Debug)]
pub struct Matcher {
    nodes: Vec<Node>,
    methods: Vec<Option<Box<[Method]>>>,
    hosts: Vec<Option<HostPattern>>,
}

/// What one route is matched on: its path pattern, its `methods` and its
/// `host` (`None`: every method, every host).
pub type RouteKey<'a> = (&'a Pattern, Option<&'a [Method]>, Option<&'a HostPattern>);

impl Matcher {
    pub fn new<'a>(routes: impl IntoIterator<Item = RouteKey<'a>>) -> Matcher {
        let mut nodes = vec![Node {
            min_below: RouteIndex::MAX,
            ..Node::default()
        }];
        let mut methods = Vec::new();
        let mut hosts = Vec::new();
        for (index, (pattern, route_methods, host)) in routes.into_iter().enumerate() {
            let index = index as RouteIndex;
            methods.push(route_methods.map(|m| m.to_vec().into_boxed_slice()));
            hosts.push(host.cloned());
            let mut at = 0;
            nodes[at].min_below = nodes[at].min_below.min(index);
            for segment in &pattern.segments {
                match segment {
                    Segment::Rest => {
                        nodes[at].rest.push(index);
                        break;
                    }
                    Segment::One => {
                        at = match nodes[at].one {
                            Some(next) => next,
                            None => {
                                nodes.push(Node::new());
                                let next = nodes.len() - 1;
                                nodes[at].one = Some(next);
                                next
                            }
                        }
                    }
                    Segment::Literal(text) => {
                        at = match nodes[at].literal.get(text) {
                            Some(&next) => next,
                            None => {
                                nodes.push(Node::new());
                                let next = nodes.len() - 1;
                                nodes[at].literal.insert(text.clone(), next);
                                next
                            }
                        }
                    }
                }
                nodes[at].min_below = nodes[at].min_below.min(index);
            }
            if !matches!(pattern.segments.last(), Some(Segment::Rest)) {
                nodes[at].ends_here.push(index);
            }
        }
        Matcher {
            nodes,
            methods,
            hosts,
        }
    }

    /// The first route, in file order, whose pattern matches `path` (a
    /// canonical path starting with '/'), whose methods include `method`
    /// and whose host matches `host` (the request's, through
    /// `host::host_name`; `None` matches only routes without `host`).
    pub fn find(&self, method: &Method, host: Option<&str>, path: &str) -> Option<RouteIndex> {
        let rest = path.strip_prefix('/').unwrap_or(path);
        let mut best = None;
        let request = Wanted { method, host };
        self.walk(0, rest.split('/'), request, &mut best);
        best
    }

    fn walk(
        &self,
        at: usize,
        mut segments: std::str::Split<'_, char>,
        request: Wanted<'_>,
        best: &mut Option<RouteIndex>,
    ) {
        let node = &self.nodes[at];
        if best.is_some_and(|b| node.min_below >= b) {
            return;
        }
        self.consider(&node.rest, request, best);
        match segments.next() {
            None => self.consider(&node.ends_here, request, best),
            Some(segment) => {
                if let Some(&next) = node.literal.get(segment) {
                    self.walk(next, segments.clone(), request, best);
                }
                if let (Some(next), false) = (node.one, segment.is_empty()) {
                    self.walk(next, segments, request, best);
                }
            }
        }
    }

    fn consider(
        &self,
        candidates: &[RouteIndex],
        request: Wanted<'_>,
        best: &mut Option<RouteIndex>,
    ) {
        for &index in candidates {
            if best.is_some_and(|b| index >= b) {
                return;
            }
            let method_allowed = match &self.methods[index as usize] {
                None => true,
                Some(list) => list.contains(request.method),
            };
            let host_allowed = match &self.hosts[index as usize] {
                None => true,
                Some(pattern) => request.host.is_some_and(|host| pattern.matches(host)),
            };
            if method_allowed && host_allowed {
                *best = Some(index);
                return;
            }
        }
    }
}

/// What a route must allow besides the path: the method and the host.
#[derive(Clone, Copy)]
struct Wanted<'a> {
    method: &'a Method,
    host: Option<&'a str>,
}

impl Node {
    fn new() -> Node {
        Node {
            min_below: RouteIndex::MAX,
            ..Node::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matcher(patterns: &[(&str, Option<&[Method]>)]) -> Matcher {
        let parsed: Vec<(Pattern, Option<&[Method]>)> = patterns
            .iter()
            .map(|(p, m)| (Pattern::parse(p).unwrap(), *m))
            .collect();
        Matcher::new(parsed.iter().map(|(p, m)| (p, *m, None)))
    }

    #[test]
    fn a_route_with_a_host_is_passed_by_for_other_hosts() {
        let parsed: Vec<(Pattern, Option<HostPattern>)> = [
            ("/**", Some("api.example.com")),
            ("/**", Some("*.example.com")),
            ("/**", None),
        ]
        .iter()
        .map(|(p, h)| {
            (
                Pattern::parse(p).unwrap(),
                h.map(|h| HostPattern::parse(h).unwrap()),
            )
        })
        .collect();
        let m = Matcher::new(parsed.iter().map(|(p, h)| (p, None, h.as_ref())));
        let find = |host| m.find(&Method::GET, host, "/x");
        assert_eq!(find(Some("API.example.com")), Some(0));
        assert_eq!(find(Some("www.example.com")), Some(1));
        assert_eq!(find(Some("example.com")), Some(2));
        assert_eq!(find(None), Some(2));
    }

    #[test]
    fn double_star_covers_itself_and_below_not_siblings() {
        let m = matcher(&[("/admin/**", None)]);
        for hit in ["/admin", "/admin/", "/admin/x", "/admin/x/y/"] {
            assert_eq!(m.find(&Method::GET, None, hit), Some(0), "{hit}");
        }
        for miss in ["/administrator", "/", "/adminx/y", "/public/admin"] {
            assert_eq!(m.find(&Method::GET, None, miss), None, "{miss}");
        }
    }

    #[test]
    fn first_match_in_file_order_wins() {
        let m = matcher(&[
            ("/api/public/*", None),
            ("/api/**", None),
            ("/api/public/x", None),
        ]);
        assert_eq!(m.find(&Method::GET, None, "/api/public/x"), Some(0));
        assert_eq!(m.find(&Method::GET, None, "/api/other"), Some(1));
        let m = matcher(&[("/api/**", None), ("/api/public/*", None)]);
        assert_eq!(m.find(&Method::GET, None, "/api/public/x"), Some(0));
    }

    #[test]
    fn one_segment_wildcards_need_a_non_empty_segment() {
        let m = matcher(&[("/life/{id}/", None), ("/life/*", None)]);
        assert_eq!(m.find(&Method::GET, None, "/life/1/"), Some(0));
        assert_eq!(m.find(&Method::GET, None, "/life/1"), Some(1));
        assert_eq!(m.find(&Method::GET, None, "/life/"), None);
        assert_eq!(m.find(&Method::GET, None, "/life//"), None);
    }

    #[test]
    fn methods_restrict_a_route_and_fall_through() {
        let get: &[Method] = &[Method::GET, Method::HEAD];
        let m = matcher(&[("/doc/**", Some(get)), ("/doc/**", None)]);
        assert_eq!(m.find(&Method::GET, None, "/doc/a"), Some(0));
        assert_eq!(m.find(&Method::POST, None, "/doc/a"), Some(1));
    }

    #[test]
    fn root_patterns() {
        let m = matcher(&[("/", None), ("/**", None)]);
        assert_eq!(m.find(&Method::GET, None, "/"), Some(0));
        assert_eq!(m.find(&Method::GET, None, "/x"), Some(1));
    }
}
