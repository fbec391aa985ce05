//! A route's `host`: the host names it is for (one exact name, or every
//! name under a `*.` suffix), checked when the config is compiled and
//! matched against a request's Host (or HTTP/2 `:authority`) without
//! allocating.

use std::fmt;

/// A compiled `host = "..."`, stored lower-case without a trailing dot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostPattern {
    /// `api.example.com`: that name only.
    Exact(Box<str>),
    /// `*.example.com`, kept as `.example.com`: any name ending in it with
    /// at least one label before it, never `example.com` itself (the
    /// suffix wildcards of nginx's `server_name` and Envoy's domains).
    Suffix(Box<str>),
}

/// Longest host name DNS allows (RFC 1035), without the trailing dot.
const MAX_NAME: usize = 253;
/// Longest DNS label.
const MAX_LABEL: usize = 63;

impl HostPattern {
    /// Parses `host = "..."`. Upper case is folded to lower case and one
    /// trailing dot dropped (as requests are matched); everything else a
    /// Host header could not carry as a plain name is refused, with why.
    pub fn parse(text: &str) -> Result<HostPattern, String> {
        if text.contains("://") {
            return Err("is a URL: write only the host name, e.g. \"api.example.com\"".into());
        }
        if text.contains('/') {
            return Err(
                "has a path: write only the host name; the route's path goes in `path`".into(),
            );
        }
        if text.contains(':') {
            return Err("has a port (or is an IPv6 address): write the name without a port; requests match whatever port they name".into());
        }
        if !text.is_ascii() {
            return Err("is not ASCII: write an internationalised name in its xn-- (punycode) form, as clients send it in Host".into());
        }
        let lower = text.to_ascii_lowercase();
        let name = lower.strip_suffix('.').unwrap_or(&lower);
        let (wildcard, rest) = match name.strip_prefix("*.") {
            Some(rest) => (true, rest),
            None => (false, name),
        };
        if name == "*" {
            return Err("matches every host: leave `host` out for that".into());
        }
        if rest.is_empty() || rest.len() > MAX_NAME {
            return Err(format!("must be a host name of 1 to {MAX_NAME} characters"));
        }
        for label in rest.split('.') {
            if label.contains('*') {
                return Err("has a `*` that is not the whole first label: only \"*.example.com\" wildcards are supported".into());
            }
            let valid = !label.is_empty()
                && label.len() <= MAX_LABEL
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                && !label.starts_with('-')
                && !label.ends_with('-');
            if !valid {
                return Err(format!(
                    "has the label {label:?}: a label is 1 to {MAX_LABEL} letters, digits, '-' or '_', not starting or ending with '-'"
                ));
            }
        }
        Ok(if wildcard {
            HostPattern::Suffix(format!(".{rest}").into())
        } else {
            HostPattern::Exact(rest.into())
        })
    }

    /// Whether `name` (a request's host, already through `host_name`)
    /// is one this pattern is for; case-insensitive.
    pub fn matches(&self, name: &str) -> bool {
        let name = name.as_bytes();
        match self {
            HostPattern::Exact(exact) => name.eq_ignore_ascii_case(exact.as_bytes()),
            HostPattern::Suffix(suffix) => {
                let suffix = suffix.as_bytes();
                // At least one non-empty label before the suffix.
                name.len() > suffix.len()
                    && name[name.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
                    && name[name.len() - suffix.len() - 1] != b'.'
            }
        }
    }

    /// True when every host `other` matches, this matches too (for
    /// `check`'s "can never match" on routes).
    pub fn covers(&self, other: &HostPattern) -> bool {
        match (self, other) {
            (HostPattern::Exact(mine), HostPattern::Exact(theirs)) => mine == theirs,
            (HostPattern::Exact(_), HostPattern::Suffix(_)) => false,
            (HostPattern::Suffix(_), HostPattern::Exact(theirs)) => self.matches(theirs),
            // `*.a.example.com` lies under `*.example.com`.
            (HostPattern::Suffix(mine), HostPattern::Suffix(theirs)) => theirs.ends_with(&**mine),
        }
    }
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostPattern::Exact(name) => f.write_str(name),
            HostPattern::Suffix(suffix) => write!(f, "*{suffix}"),
        }
    }
}

/// The name a request's Host (or `:authority`) value is matched by: the
/// port removed, one trailing dot removed. `None` for a value that is not
/// a host: anything but `name[:port]` (letters, digits, '.', '-', '_'; an
/// all-digit port) or `[IPv6][:port]`. Such a value (`user@a.example`,
/// `a.example:x`) would otherwise slip past an exact host yet end in a
/// wildcard's suffix, or be read by the upstream as another host; a table
/// with host routes refuses it (`RouteTable::refuses_host`).
pub fn host_name(raw: &str) -> Option<&str> {
    let (name, port) = if let Some(rest) = raw.strip_prefix('[') {
        let end = rest.find(']')?;
        let address = &rest[..end];
        let literal = !address.is_empty()
            && address
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.');
        if !literal {
            return None;
        }
        (&raw[..end + 2], &rest[end + 1..])
    } else {
        match raw.find(':') {
            Some(at) => (&raw[..at], &raw[at..]),
            None => (raw, ""),
        }
    };
    let port_ok = port.is_empty()
        || port
            .strip_prefix(':')
            .is_some_and(|digits| !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()));
    let name_ok = name.starts_with('[')
        || (!name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_')));
    if !(port_ok && name_ok) {
        return None;
    }
    Some(name.strip_suffix('.').unwrap_or(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(text: &str) -> HostPattern {
        HostPattern::parse(text).unwrap_or_else(|e| panic!("{text:?} refused: {e}"))
    }

    #[test]
    fn exact_names_match_whatever_case_port_and_trailing_dot() {
        let api = pattern("API.Example.com.");
        assert_eq!(api.to_string(), "api.example.com");
        for host in [
            "api.example.com",
            "API.EXAMPLE.COM",
            "api.example.com:8443",
            "api.example.com.",
            "Api.Example.Com.:80",
        ] {
            assert!(host_name(host).is_some_and(|h| api.matches(h)), "{host}");
        }
        for host in [
            "example.com",
            "x.api.example.com",
            "api.example.co",
            "api.example.com:x",
        ] {
            assert!(!host_name(host).is_some_and(|h| api.matches(h)), "{host}");
        }
    }

    #[test]
    fn wildcards_need_a_label_before_the_suffix() {
        let any = pattern("*.example.com");
        assert_eq!(any.to_string(), "*.example.com");
        for host in ["a.example.com", "A.B.Example.COM:8080", "x-1.example.com."] {
            assert!(host_name(host).is_some_and(|h| any.matches(h)), "{host}");
        }
        for host in [
            "example.com",
            ".example.com",
            "a..example.com",
            "aexample.com",
            "example.com.evil",
        ] {
            assert!(!host_name(host).is_some_and(|h| any.matches(h)), "{host}");
        }
    }

    #[test]
    fn what_a_pattern_may_not_be() {
        for bad in [
            "https://api.example.com",
            "api.example.com/x",
            "api.example.com:8080",
            "[::1]",
            "*",
            "*.",
            "",
            "a.*.example.com",
            "*example.com",
            "**.example.com",
            "bücher.example",
            "-a.example.com",
            "a..example.com",
            "a b.example.com",
        ] {
            assert!(HostPattern::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(pattern("127.0.0.1"), HostPattern::Exact("127.0.0.1".into()));
        assert_eq!(
            pattern("xn--bcher-kva.example"),
            HostPattern::Exact("xn--bcher-kva.example".into())
        );
    }

    #[test]
    fn covering_is_containment_of_the_names_matched() {
        let wide = pattern("*.example.com");
        assert!(wide.covers(&pattern("a.example.com")));
        assert!(wide.covers(&pattern("*.a.example.com")));
        assert!(!wide.covers(&pattern("example.com")));
        assert!(!wide.covers(&pattern("*.example.org")));
        assert!(!pattern("a.example.com").covers(&wide));
        assert!(pattern("a.example.com").covers(&pattern("A.example.com")));
    }

    #[test]
    fn request_hosts_lose_port_and_trailing_dot_and_must_be_hosts() {
        assert_eq!(host_name("a.example:80"), Some("a.example"));
        assert_eq!(host_name("a.example."), Some("a.example"));
        assert_eq!(host_name("a.example"), Some("a.example"));
        assert_eq!(host_name("[::1]:8080"), Some("[::1]"));
        assert_eq!(host_name("[::1]"), Some("[::1]"));
        // Not hosts: an upstream might read each as a.example.
        for bad in [
            "user@a.example",
            "a.example:x",
            "a.example:80:80",
            "a:b:c",
            "a.example:",
            "",
            "[::1",
            "[zz]",
            "[::1]x",
            "a example",
        ] {
            assert_eq!(host_name(bad), None, "{bad:?}");
        }
    }
}
