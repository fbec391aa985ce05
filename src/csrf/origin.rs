//! The Origin and Referer checks of Django's CsrfViewMiddleware
//! (`_origin_verified`, `_check_referer`), with Python's `urlsplit` and
//! Django's `is_same_domain` reproduced closely enough that the same header
//! passes or fails here as it would in Django.

/// A URL split as Python's `urllib.parse.urlsplit` splits it (Python 3.11+,
/// which Django 5.2 runs on).
#[derive(Debug, PartialEq, Eq)]
pub struct Split {
    /// Lower-cased; empty when the URL has no valid scheme.
    pub scheme: String,
    /// As written (case kept); empty when there is no `//authority`.
    pub netloc: String,
    pub path: String,
    pub query: String,
    pub fragment: String,
}

/// `urlsplit` raised ValueError ("Invalid IPv6 URL" and friends).
#[derive(Debug, PartialEq, Eq)]
pub struct Unparseable;

/// Python's `urlsplit`.
pub fn urlsplit(url: &str) -> Result<Split, Unparseable> {
    // Leading C0 controls and spaces are stripped; tab, CR and LF are
    // removed everywhere (WHATWG rules Python adopted).
    let mut url: String = url
        .trim_start_matches(|c: char| c <= ' ')
        .chars()
        .filter(|c| !matches!(c, '\t' | '\r' | '\n'))
        .collect();
    let mut scheme = String::new();
    if let Some(colon) = url.find(':') {
        let candidate = &url[..colon];
        let valid = colon > 0
            && candidate.starts_with(|c: char| c.is_ascii_alphabetic())
            && candidate
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
        if valid {
            scheme = candidate.to_ascii_lowercase();
            url = url[colon + 1..].to_string();
        }
    }
    let mut netloc = String::new();
    if let Some(after) = url.strip_prefix("//") {
        let end = after.find(['/', '?', '#']).unwrap_or(after.len());
        netloc = after[..end].to_string();
        url = after[end..].to_string();
        if netloc.contains('[') != netloc.contains(']') {
            return Err(Unparseable);
        }
        if netloc.contains('[') {
            check_bracketed_netloc(&netloc)?;
        }
    }
    let (rest, fragment) = match url.split_once('#') {
        Some((rest, fragment)) => (rest.to_string(), fragment.to_string()),
        None => (url, String::new()),
    };
    let (path, query) = match rest.split_once('?') {
        Some((path, query)) => (path.to_string(), query.to_string()),
        None => (rest, String::new()),
    };
    Ok(Split {
        scheme,
        netloc,
        path,
        query,
        fragment,
    })
}

/// Python's `_check_bracketed_netloc`: `[...]` must be the whole host and
/// hold an IPv6 address (or an IPvFuture `v1.x`), optionally with `:port`.
fn check_bracketed_netloc(netloc: &str) -> Result<(), Unparseable> {
    let host_and_port = netloc.rsplit_once('@').map_or(netloc, |(_, h)| h);
    let Some((before, bracketed)) = host_and_port.split_once('[') else {
        return Ok(());
    };
    if !before.is_empty() {
        return Err(Unparseable);
    }
    let (host, port) = bracketed.split_once(']').unwrap_or((bracketed, ""));
    if !port.is_empty() && !port.starts_with(':') {
        return Err(Unparseable);
    }
    if let Some(future) = host.strip_prefix('v') {
        let (version, rest) = future.split_once('.').ok_or(Unparseable)?;
        let valid = !version.is_empty()
            && version.chars().all(|c| c.is_ascii_hexdigit())
            && !rest.is_empty();
        return if valid { Ok(()) } else { Err(Unparseable) };
    }
    match host.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V6(_)) => Ok(()),
        _ => Err(Unparseable),
    }
}

impl Split {
    /// `SplitResult.geturl()` (`urlunsplit`).
    pub fn geturl(&self) -> String {
        let mut url = String::new();
        if !self.scheme.is_empty() {
            url.push_str(&self.scheme);
            url.push(':');
        }
        if !self.netloc.is_empty() {
            url.push_str("//");
            url.push_str(&self.netloc);
            if !self.path.is_empty() && !self.path.starts_with('/') {
                url.push('/');
            }
        }
        url.push_str(&self.path);
        if !self.query.is_empty() {
            url.push('?');
            url.push_str(&self.query);
        }
        if !self.fragment.is_empty() {
            url.push('#');
            url.push_str(&self.fragment);
        }
        url
    }
}

/// Django's `get_host()` validation (`host_validation_re`): a domain of
/// `a-z0-9.-` or a bracketed IPv6 literal, with an optional port. An
/// invalid Host is DisallowedHost: it is nobody's own origin.
pub fn is_valid_host(host: &str) -> bool {
    let (name, port) = match host.rsplit_once(':') {
        Some((name, port))
            if !name.ends_with(':') && (name.starts_with('[') == name.ends_with(']')) =>
        {
            (name, Some(port))
        }
        _ => (host, None),
    };
    if port.is_some_and(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit())) {
        return false;
    }
    if let Some(inner) = name.strip_prefix('[').and_then(|n| n.strip_suffix(']')) {
        // [a-f0-9]*:[a-f0-9.:]+
        return inner.contains(':')
            && inner
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.');
    }
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
}

/// Django's `is_same_domain`: `pattern` (lower-cased) equals `host`, or is
/// `.example.com` and `host` is `example.com` or ends with `.example.com`.
/// `host` is compared as given, as Django does.
pub fn is_same_domain(host: &str, pattern: &str) -> bool {
    if pattern.is_empty() {
        return false;
    }
    let pattern = pattern.to_ascii_lowercase();
    match pattern.strip_prefix('.') {
        Some(bare) => host.ends_with(&pattern) || host == bare,
        None => host == pattern,
    }
}

/// `CSRF_TRUSTED_ORIGINS`, pre-split the way Django's middleware does it.
#[derive(Debug, Clone, Default)]
pub struct TrustedOrigins {
    /// Entries without '*', compared whole: `https://app.example.com`.
    pub exact: Vec<String>,
    /// Entries with '*': (scheme, `.example.com`) from `https://*.example.com`.
    pub subdomains: Vec<(String, String)>,
    /// The netloc of every entry, leading '*' removed, for the Referer check.
    pub hosts: Vec<String>,
}

impl TrustedOrigins {
    /// Validates and splits entries; the error names what is wrong.
    pub fn parse(entries: &[String]) -> Result<TrustedOrigins, String> {
        let mut trusted = TrustedOrigins::default();
        for entry in entries {
            let split = urlsplit(entry).map_err(|_| format!("{entry:?} is not a valid origin"))?;
            if split.scheme.is_empty() || split.netloc.is_empty() {
                return Err(format!(
                    "{entry:?} must start with a scheme, e.g. \"https://app.example.com\" or \"https://*.example.com\""
                ));
            }
            if entry.contains('*') {
                let Some(rest) = split.netloc.strip_prefix('*') else {
                    return Err(format!(
                        "{entry:?}: '*' may only start the host, as in \"https://*.example.com\""
                    ));
                };
                if rest.contains('*') {
                    return Err(format!("{entry:?}: only one '*' is allowed"));
                }
                trusted
                    .subdomains
                    .push((split.scheme.clone(), rest.to_string()));
            } else {
                trusted.exact.push(entry.clone());
            }
            trusted
                .hosts
                .push(split.netloc.trim_start_matches('*').to_string());
        }
        Ok(trusted)
    }
}

/// `_origin_verified`: the Origin equals this request's `scheme://Host`, or
/// a trusted origin exactly, or matches a same-scheme wildcard entry.
pub fn origin_verified(
    origin: &str,
    secure: bool,
    host: Option<&str>,
    trusted: &TrustedOrigins,
) -> bool {
    if let Some(host) = host.filter(|h| is_valid_host(h)) {
        let scheme = if secure { "https" } else { "http" };
        if origin
            .strip_prefix(scheme)
            .and_then(|rest| rest.strip_prefix("://"))
            == Some(host)
        {
            return true;
        }
    }
    if trusted.exact.iter().any(|e| e == origin) {
        return true;
    }
    let Ok(split) = urlsplit(origin) else {
        return false;
    };
    trusted
        .subdomains
        .iter()
        .any(|(scheme, pattern)| *scheme == split.scheme && is_same_domain(&split.netloc, pattern))
}

/// Why `_check_referer` refused; the Django reason text comes from `message`.
#[derive(Debug, PartialEq, Eq)]
pub enum RefererProblem {
    Missing,
    Malformed,
    Insecure,
    /// The re-serialised Referer (`geturl()`), for the message.
    Untrusted(String),
}

/// `_check_referer`, run only on HTTPS requests without an Origin.
/// `good_host` is the CSRF cookie domain (with `:port` when not 80/443) or,
/// when none is set, this request's Host if valid (else nothing matches).
pub fn check_referer(
    referer: Option<&str>,
    trusted: &TrustedOrigins,
    good_host: Option<&str>,
) -> Result<(), RefererProblem> {
    let referer = referer.ok_or(RefererProblem::Missing)?;
    let split = urlsplit(referer).map_err(|_| RefererProblem::Malformed)?;
    if split.scheme.is_empty() || split.netloc.is_empty() {
        return Err(RefererProblem::Malformed);
    }
    if split.scheme != "https" {
        return Err(RefererProblem::Insecure);
    }
    if trusted
        .hosts
        .iter()
        .any(|host| is_same_domain(&split.netloc, host))
    {
        return Ok(());
    }
    match good_host {
        Some(good) if is_same_domain(&split.netloc, good) => Ok(()),
        _ => Err(RefererProblem::Untrusted(split.geturl())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trusted(entries: &[&str]) -> TrustedOrigins {
        TrustedOrigins::parse(&entries.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn urlsplit_like_python() {
        assert_eq!(
            urlsplit("https://a.example.com:8443/x?y#z").unwrap().netloc,
            "a.example.com:8443"
        );
        assert_eq!(urlsplit("HTTPS://A.example.com").unwrap().scheme, "https");
        let null = urlsplit("null").unwrap();
        assert_eq!((null.scheme.as_str(), null.netloc.as_str()), ("", ""));
        assert_eq!(urlsplit("https://["), Err(Unparseable));
        assert_eq!(urlsplit("https://a]"), Err(Unparseable));
        assert!(urlsplit("https://[::1]:8000").is_ok());
        assert!(urlsplit("https://[v1.fe]/").is_ok());
        for bad in [
            "https://[x].corp.example",
            "https://a[::1]",
            "https://[::1]x",
            "https://[127.0.0.1]",
        ] {
            assert_eq!(urlsplit(bad), Err(Unparseable), "{bad}");
        }
        assert_eq!(
            urlsplit("https://a.co\trp.example").unwrap().netloc,
            "a.corp.example"
        );
        assert_eq!(urlsplit("ht\ttps://gw.test/").unwrap().scheme, "https");
    }

    #[test]
    fn geturl_like_python() {
        for (url, expected) in [
            ("https://evil.test/a?b?", "https://evil.test/a?b?"),
            ("https://evil.test/x?#frag", "https://evil.test/x#frag"),
            ("https://evil.test/x##", "https://evil.test/x##"),
            ("HTTPS://evil.test/x?", "https://evil.test/x"),
            ("https://evil.test", "https://evil.test"),
        ] {
            assert_eq!(urlsplit(url).unwrap().geturl(), expected, "{url}");
        }
    }

    #[test]
    fn hosts_like_djangos_get_host() {
        for good in ["gw.test", "gw.test:8080", "[::1]:8000", "[::1]", "GW.Test"] {
            assert!(is_valid_host(good), "{good}");
        }
        for bad in ["my_host", "gw.test:", "gw.test:x", "a b", "", "[::1"] {
            assert!(!is_valid_host(bad), "{bad}");
        }
    }

    #[test]
    fn same_domain_like_django() {
        assert!(is_same_domain("example.com", ".example.com"));
        assert!(is_same_domain("a.example.com", ".example.com"));
        assert!(is_same_domain("a.example.com", ".EXAMPLE.com"));
        assert!(!is_same_domain("badexample.com", ".example.com"));
        assert!(!is_same_domain("a.example.com:8443", ".example.com"));
        assert!(!is_same_domain("A.EXAMPLE.COM", ".example.com"));
        assert!(!is_same_domain("x", ""));
    }

    #[test]
    fn origin_rules() {
        let none = trusted(&[]);
        assert!(origin_verified(
            "http://gw.test",
            false,
            Some("gw.test"),
            &none
        ));
        assert!(!origin_verified(
            "https://gw.test",
            false,
            Some("gw.test"),
            &none
        ));
        assert!(!origin_verified(
            "http://gw.test",
            true,
            Some("gw.test"),
            &none
        ));
        assert!(!origin_verified("null", false, Some("gw.test"), &none));
        assert!(!origin_verified(
            "http://my_host",
            false,
            Some("my_host"),
            &none
        ));
        assert!(!origin_verified("https://[", true, Some("gw.test"), &none));
        let t = trusted(&["https://app.example.com", "https://*.corp.example"]);
        assert!(origin_verified(
            "https://app.example.com",
            false,
            Some("gw.test"),
            &t
        ));
        assert!(origin_verified(
            "https://x.corp.example",
            false,
            Some("gw.test"),
            &t
        ));
        assert!(origin_verified(
            "https://corp.example",
            false,
            Some("gw.test"),
            &t
        ));
        assert!(!origin_verified(
            "http://x.corp.example",
            false,
            Some("gw.test"),
            &t
        ));
        assert!(!origin_verified(
            "https://x.corp.example.evil",
            false,
            Some("gw.test"),
            &t
        ));
    }

    #[test]
    fn referer_rules() {
        let t = trusted(&["https://*.corp.example"]);
        use RefererProblem::*;
        assert_eq!(check_referer(None, &t, Some("gw.test")), Err(Missing));
        assert_eq!(check_referer(Some(""), &t, Some("gw.test")), Err(Malformed));
        assert_eq!(
            check_referer(Some("gw.test/x"), &t, Some("gw.test")),
            Err(Malformed)
        );
        assert_eq!(
            check_referer(Some("https://["), &t, Some("gw.test")),
            Err(Malformed)
        );
        assert_eq!(
            check_referer(Some("http://gw.test/"), &t, Some("gw.test")),
            Err(Insecure)
        );
        assert_eq!(
            check_referer(Some("https://gw.test/page"), &t, Some("gw.test")),
            Ok(())
        );
        assert_eq!(
            check_referer(Some("https://a.corp.example/"), &t, Some("gw.test")),
            Ok(())
        );
        assert_eq!(
            check_referer(Some("HTTPS://evil.test/x?"), &t, Some("gw.test")),
            Err(Untrusted("https://evil.test/x".into()))
        );
    }

    #[test]
    fn trusted_origins_need_a_scheme() {
        assert!(TrustedOrigins::parse(&["app.example.com".into()]).is_err());
        assert!(TrustedOrigins::parse(&["https://a.*.example.com".into()]).is_err());
        assert!(TrustedOrigins::parse(&["https://*.example.com".into()]).is_ok());
    }
}
