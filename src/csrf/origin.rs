//! The Origin and Referer checks of Django's CsrfViewMiddleware
//! (`_origin_verified`, `_check_referer`), with Python's `urlsplit` and
//! Django's `is_same_domain` reproduced closely enough that the same header
//! passes or fails here as it would in Django.

/// `scheme` and `netloc` as Python's `urllib.parse.urlsplit` finds them.
#[derive(Debug, PartialEq, Eq)]
pub struct Split<'a> {
    /// Lower-cased; empty when the URL has no valid scheme.
    pub scheme: String,
    /// As written (case kept); empty when there is no `//authority`.
    pub netloc: &'a str,
}

/// `urlsplit` raises ValueError here: an unbalanced '[' or ']' in the netloc.
#[derive(Debug, PartialEq, Eq)]
pub struct Unparseable;

/// Python's `urlsplit`, reduced to what the CSRF checks read.
pub fn urlsplit(url: &str) -> Result<Split<'_>, Unparseable> {
    // WHATWG-style cleaning urlsplit does: strip leading C0 controls and
    // spaces. (Tabs and newlines inside cannot occur in a header value.)
    let url = url.trim_start_matches(|c: char| c <= ' ');
    let (scheme, rest) = match url.split_once(':') {
        Some((scheme, rest))
            if scheme.starts_with(|c: char| c.is_ascii_alphabetic())
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)) =>
        {
            (scheme.to_ascii_lowercase(), rest)
        }
        _ => (String::new(), url),
    };
    let netloc = match rest.strip_prefix("//") {
        Some(after) => {
            let end = after.find(['/', '?', '#']).unwrap_or(after.len());
            &after[..end]
        }
        None => "",
    };
    if netloc.contains('[') != netloc.contains(']') {
        return Err(Unparseable);
    }
    Ok(Split { scheme, netloc })
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
    if let Some(host) = host {
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
        .any(|(scheme, pattern)| *scheme == split.scheme && is_same_domain(split.netloc, pattern))
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
/// when none is set, this request's Host.
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
        .any(|host| is_same_domain(split.netloc, host))
    {
        return Ok(());
    }
    match good_host {
        Some(good) if is_same_domain(split.netloc, good) => Ok(()),
        _ => Err(RefererProblem::Untrusted(geturl(referer, &split))),
    }
}

/// `SplitResult.geturl()`: the scheme lower-cased, the rest as written
/// (minus the empty '?' or '#' Python drops).
fn geturl(referer: &str, split: &Split<'_>) -> String {
    let trimmed = referer.trim_start_matches(|c: char| c <= ' ');
    let rest = &trimmed[split.scheme.len()..];
    let mut url = format!("{}{}", split.scheme, rest);
    while url.ends_with('?') || url.ends_with('#') {
        url.pop();
    }
    url
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
        assert_eq!((null.scheme.as_str(), null.netloc), ("", ""));
        assert_eq!(urlsplit("https://["), Err(Unparseable));
        assert_eq!(urlsplit("https://a]"), Err(Unparseable));
        assert!(urlsplit("https://[::1]:8000").is_ok());
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
