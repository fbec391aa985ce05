//! `[csrf]`: the cookie and header names (checked like Django's), who is
//! checked, trusted origins, the cookie's attributes and the form limit.

use super::defaults;
use super::problems::Problems;
use super::values::{cookie_name, header_name};
use crate::config::raw::RawCsrf;
use crate::csrf::settings::{CsrfEnforce, CsrfSettings};

pub(super) fn csrf(problems: &mut Problems, raw: &RawCsrf) -> CsrfSettings {
    let header_name = header_name(
        problems,
        raw.header_name.as_ref(),
        defaults::CSRF_HEADER_NAME,
    );
    if header_name.as_str().contains('_') {
        problems.at(
            raw.header_name.as_ref().map_or(0..0, |h| h.span()),
            "csrf.header_name must not contain '_' (such headers are dropped, as nginx does)",
        );
    }
    let trusted_origins = {
        let entries: Vec<String> = raw
            .trusted_origins
            .iter()
            .map(|o| o.get_ref().clone())
            .collect();
        match crate::csrf::origin::TrustedOrigins::parse(&entries) {
            Ok(trusted) => trusted,
            Err(message) => {
                let span = raw.trusted_origins.first().map_or(0..0, |o| o.span());
                problems.at(span, format!("csrf.trusted_origins: {message}"));
                Default::default()
            }
        }
    };
    let enforce = match raw
        .enforce
        .as_ref()
        .map_or((defaults::CSRF_ENFORCE, 0..0), |e| {
            (e.get_ref().as_str(), e.span())
        }) {
        ("authenticated", _) => CsrfEnforce::Authenticated,
        ("always", _) => CsrfEnforce::Always,
        (other, span) => {
            problems.at(
                span,
                format!("csrf.enforce {other:?}: expected \"authenticated\" or \"always\""),
            );
            CsrfEnforce::Authenticated
        }
    };
    let cookie_samesite = match raw
        .cookie_samesite
        .as_ref()
        .map_or((defaults::CSRF_COOKIE_SAMESITE, 0..0), |s| {
            (s.get_ref().as_str(), s.span())
        }) {
        ("Lax", _) => cookie::SameSite::Lax,
        ("Strict", _) => cookie::SameSite::Strict,
        ("None", _) => cookie::SameSite::None,
        (other, span) => {
            problems.at(
                span,
                format!("csrf.cookie_samesite {other:?}: expected \"Lax\", \"Strict\" or \"None\""),
            );
            cookie::SameSite::Lax
        }
    };
    let cookie_domain = raw.cookie_domain.as_ref().map(|domain| {
        let text = domain.get_ref();
        let valid = !text.is_empty()
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
        if !valid {
            problems.at(
                domain.span(),
                format!("csrf.cookie_domain {text:?} is not a domain name"),
            );
        }
        text.clone()
    });
    let form_body_limit = match &raw.form_body_limit {
        None => defaults::CSRF_FORM_BODY_LIMIT as usize,
        Some(limit) if *limit.get_ref() >= 1024 && *limit.get_ref() <= 64 * 1024 * 1024 => {
            *limit.get_ref() as usize
        }
        Some(limit) => {
            problems.at(
                limit.span(),
                "csrf.form_body_limit must be between 1024 and 67108864 bytes",
            );
            defaults::CSRF_FORM_BODY_LIMIT as usize
        }
    };
    CsrfSettings {
        cookie_name: cookie_name(
            problems,
            raw.cookie_name.as_ref(),
            defaults::CSRF_COOKIE_NAME,
        ),
        header_label: django_header_label(header_name.as_str()),
        header_name,
        trusted_origins,
        enforce,
        cookie_domain,
        cookie_secure: raw.cookie_secure.unwrap_or(defaults::CSRF_COOKIE_SECURE),
        cookie_samesite,
        legacy_messages: raw
            .legacy_messages
            .unwrap_or(defaults::CSRF_LEGACY_MESSAGES),
        websocket_origin_check: raw
            .websocket_origin_check
            .unwrap_or(defaults::CSRF_WEBSOCKET_ORIGIN_CHECK),
        form_body_limit,
    }
}

/// How Django names a header in CSRF messages: `HttpHeaders.parse_header_name`
/// (Python's `str.title()`), quoted by `repr`: "X-CSRFToken" → "'X-Csrftoken'".
fn django_header_label(name: &str) -> String {
    let mut label = String::with_capacity(name.len() + 2);
    label.push('\'');
    let mut previous_cased = false;
    for c in name.chars() {
        if c.is_ascii_alphabetic() {
            label.push(if previous_cased {
                c.to_ascii_lowercase()
            } else {
                c.to_ascii_uppercase()
            });
            previous_cased = true;
        } else {
            label.push(c);
            previous_cased = false;
        }
    }
    label.push('\'');
    label
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_labels_like_django() {
        assert_eq!(django_header_label("x-csrftoken"), "'X-Csrftoken'");
        assert_eq!(django_header_label("x-xsrf-token"), "'X-Xsrf-Token'");
        assert_eq!(django_header_label("x-csrf2token"), "'X-Csrf2Token'");
    }
}
