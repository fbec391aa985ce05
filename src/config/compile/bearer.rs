//! `[bearer]`: the issuer of bearer JWTs, where its keys are and how they
//! are trusted, the algorithms and audiences accepted, and the claims that
//! name the user; compiled into the settings and the verifier built on them.

use std::path::Path;
use std::time::Duration;

use http::uri::{Scheme, Uri};
use jsonwebtoken::Algorithm;
use toml::Spanned;

use super::defaults;
use super::problems::Problems;
use super::values::{ca_file, duration};
use crate::config::raw::RawBearer;
use crate::credentials::bearer::{BearerSettings, BearerVerifier};

/// The most clock skew a token may be granted: more would keep expired
/// tokens working for long.
const MAX_LEEWAY: Duration = Duration::from_secs(600);

const PUBLIC_KEY_ALGORITHMS: &str = "RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, EdDSA";

/// The verifier for `[bearer]`, when the section is there and sound.
pub(super) fn bearer(
    problems: &mut Problems,
    raw: Option<&Spanned<RawBearer>>,
    base: &Path,
) -> Option<BearerVerifier> {
    let section = raw?;
    let settings = settings(problems, section, base)?;
    match BearerVerifier::new(settings) {
        Ok(verifier) => Some(verifier),
        Err(why) => {
            let raw = section.get_ref();
            let span = raw.ca_file.as_ref().map_or(section.span(), |f| f.span());
            problems.at(span, format!("[bearer]: {why}"));
            None
        }
    }
}

/// `[bearer]` checked, every problem placed; `None` when there was one.
pub(super) fn settings(
    problems: &mut Problems,
    section: &Spanned<RawBearer>,
    base: &Path,
) -> Option<BearerSettings> {
    let raw = section.get_ref();
    let before = problems.errors.len();
    let issuer = non_empty(problems, &raw.issuer, "bearer.issuer");
    if raw.audiences.is_empty() {
        problems.at(
            section.span(),
            "bearer.audiences: name at least one audience (the `aud` that tokens meant for this API carry)",
        );
    }
    let audiences = raw
        .audiences
        .iter()
        .map(|aud| non_empty(problems, aud, "bearer.audiences"))
        .collect();
    let jwks_url = jwks_url(problems, &raw.jwks_url);
    let algorithms = algorithms(problems, section);
    let claim = |problems: &mut Problems, value: Option<&Spanned<String>>, key: &str| {
        value.map(|v| non_empty(problems, v, key))
    };
    let username_claim = claim(
        problems,
        raw.username_claim.as_ref(),
        "bearer.username_claim",
    )
    .unwrap_or_else(|| defaults::BEARER_USERNAME_CLAIM.to_string());
    let groups_claim = claim(problems, raw.groups_claim.as_ref(), "bearer.groups_claim");
    let permissions_claim = claim(
        problems,
        raw.permissions_claim.as_ref(),
        "bearer.permissions_claim",
    );
    let staff_claim = claim(problems, raw.staff_claim.as_ref(), "bearer.staff_claim");
    let superuser_claim = claim(
        problems,
        raw.superuser_claim.as_ref(),
        "bearer.superuser_claim",
    );
    let groups = |problems: &mut Problems, list: &[Spanned<String>], key: &str| -> Vec<String> {
        list.iter().map(|g| non_empty(problems, g, key)).collect()
    };
    let staff_groups = groups(problems, &raw.staff_groups, "bearer.staff_groups");
    let superuser_groups = groups(problems, &raw.superuser_groups, "bearer.superuser_groups");
    if (!raw.staff_groups.is_empty() || !raw.superuser_groups.is_empty())
        && raw.groups_claim.is_none()
    {
        problems.at(
            section.span(),
            "bearer.staff_groups and bearer.superuser_groups need bearer.groups_claim (the claim the groups are read from)",
        );
    }
    let leeway = leeway(problems, raw.leeway.as_ref());
    let jwks_cache_ttl = duration(
        problems,
        raw.jwks_cache_ttl.as_ref(),
        defaults::BEARER_JWKS_CACHE_TTL,
    );
    let jwks_refetch_interval = duration(
        problems,
        raw.jwks_refetch_interval.as_ref(),
        defaults::BEARER_JWKS_REFETCH_INTERVAL,
    );
    let timeout = duration(problems, raw.timeout.as_ref(), defaults::BEARER_TIMEOUT);
    let ca_file = raw
        .ca_file
        .as_ref()
        .and_then(|file| ca_file(problems, file, base, "bearer.ca_file"));
    if problems.errors.len() > before {
        return None;
    }
    Some(BearerSettings {
        issuer,
        audiences,
        jwks_url: jwks_url?,
        algorithms,
        username_claim,
        groups_claim,
        permissions_claim,
        staff_claim,
        superuser_claim,
        staff_groups,
        superuser_groups,
        leeway,
        jwks_cache_ttl,
        jwks_refetch_interval,
        timeout,
        ca_file,
    })
}

pub(super) fn non_empty(problems: &mut Problems, value: &Spanned<String>, key: &str) -> String {
    let text = value.get_ref();
    if text.trim().is_empty() || text.trim() != text {
        problems.at(
            value.span(),
            format!("{key}: {text:?} must not be empty or start or end with whitespace"),
        );
    }
    text.clone()
}

fn jwks_url(problems: &mut Problems, url: &Spanned<String>) -> Option<Uri> {
    let parsed = match url.get_ref().parse::<Uri>() {
        Ok(uri) => uri,
        Err(e) => {
            problems.at(
                url.span(),
                format!("bearer.jwks_url {:?} is not a URL: {e}", url.get_ref()),
            );
            return None;
        }
    };
    let https = match parsed.scheme() {
        Some(s) if *s == Scheme::HTTPS => true,
        Some(s) if *s == Scheme::HTTP => false,
        _ => {
            problems.at(
                url.span(),
                "bearer.jwks_url must start with https:// (or http://)",
            );
            return None;
        }
    };
    let Some(host) = parsed.host().filter(|h| !h.is_empty()) else {
        problems.at(
            url.span(),
            "bearer.jwks_url needs a host, e.g. https://login.example.com/.well-known/jwks.json",
        );
        return None;
    };
    let loopback = host == "localhost"
        || host
            .trim_matches(|c| c == '[' || c == ']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if !https && !loopback {
        problems.warn(
            url.span(),
            "bearer.jwks_url is plain http://: anyone on the network path could swap in their own keys and sign any token; use https://",
        );
    }
    Some(parsed)
}

fn algorithms(problems: &mut Problems, section: &Spanned<RawBearer>) -> Vec<Algorithm> {
    let Some(listed) = &section.get_ref().algorithms else {
        return defaults::BEARER_ALGORITHMS
            .iter()
            .filter_map(|name| name.parse().ok())
            .collect();
    };
    if listed.is_empty() {
        problems.at(
            section.span(),
            format!("bearer.algorithms: list at least one of {PUBLIC_KEY_ALGORITHMS}"),
        );
    }
    let mut algorithms = Vec::new();
    for name in listed {
        match name.get_ref().parse::<Algorithm>() {
            Ok(Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512) => problems.at(
                name.span(),
                format!(
                    "bearer.algorithms: {:?} is a shared-secret algorithm, and a JWKS holds public keys (anyone could sign with them); use one of {PUBLIC_KEY_ALGORITHMS}",
                    name.get_ref()
                ),
            ),
            Ok(alg) => algorithms.push(alg),
            Err(_) => problems.at(
                name.span(),
                format!(
                    "bearer.algorithms: {:?} is not a signature algorithm; expected one of {PUBLIC_KEY_ALGORITHMS}",
                    name.get_ref()
                ),
            ),
        }
    }
    algorithms
}

/// Like any duration, but zero is allowed (no skew granted).
fn leeway(problems: &mut Problems, value: Option<&Spanned<String>>) -> Duration {
    let Some(value) = value else {
        return duration(problems, None, defaults::BEARER_LEEWAY);
    };
    match humantime::parse_duration(value.get_ref()) {
        Ok(d) if d <= MAX_LEEWAY => d,
        Ok(_) => {
            problems.at(value.span(), "bearer.leeway must be at most 10m");
            Duration::ZERO
        }
        Err(e) => {
            problems.at(
                value.span(),
                format!(
                    "{:?} is not a duration ({e}); write e.g. \"0s\", \"30s\"",
                    value.get_ref()
                ),
            );
            Duration::ZERO
        }
    }
}
