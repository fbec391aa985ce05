//! `[upstream]` and `[[upstreams]]`: where allowed requests go, their
//! names, timeouts and TLS trust, and the pooled client built for each.

use std::path::Path;

use http::uri::{Scheme, Uri};

use super::defaults;
use super::problems::{line_column, Problems};
use super::values::{ca_file, duration};
use crate::config::raw::{RawConfig, RawUpstream};
use crate::upstream::{NamedUpstream, UpstreamSettings, Upstreams};

/// Longest upstream name.
const MAX_NAME: usize = 64;

/// Every upstream's name, in the order `Upstreams` lists them (`[upstream]`
/// first, then `[[upstreams]]`): what routes' `upstream = "..."` are
/// resolved against, known even when an upstream's URL is wrong, so one
/// mistake is reported once.
pub(super) fn names(raw: &RawConfig) -> Vec<Option<&str>> {
    raw.upstream
        .iter()
        .chain(&raw.upstreams)
        .map(|u| u.name.as_ref().map(|n| n.get_ref().as_str()))
        .collect()
}

/// `[upstream]` and `[[upstreams]]`, compiled; `None` when any of them
/// has a problem (each reported).
pub(super) fn upstreams(
    problems: &mut Problems,
    raw: &RawConfig,
    base: &Path,
) -> Option<Upstreams> {
    if raw.upstream.is_none() && raw.upstreams.is_empty() {
        problems.anywhere(
            "no upstream: add [upstream] with url = \"http://127.0.0.1:8000\" (or [[upstreams]] entries, each with a name, for routes that say upstream = \"name\")",
        );
        return None;
    }
    check_names(problems, raw);
    let default = raw
        .upstream
        .as_ref()
        .map(|section| named(problems, section, "upstream", base));
    // Every entry is compiled (and its problems reported) before any
    // failure ends this.
    let entries: Vec<Option<NamedUpstream>> = raw
        .upstreams
        .iter()
        .enumerate()
        .map(|(index, entry)| named(problems, entry, &format!("upstreams[{index}]"), base))
        .collect();
    let default = match default {
        Some(compiled) => Some(compiled?),
        None => None,
    };
    let entries = entries.into_iter().collect::<Option<Vec<_>>>()?;
    Some(Upstreams::new(default, entries))
}

/// Each name is an identifier, `[[upstreams]]` entries all have one, and
/// no two are the same.
fn check_names(problems: &mut Problems, raw: &RawConfig) {
    let mut seen: Vec<&toml::Spanned<String>> = Vec::new();
    for (index, entry) in raw.upstreams.iter().enumerate() {
        if entry.name.is_none() {
            problems.at(
                entry.url.span(),
                format!("upstreams[{index}] needs a name (name = \"api\"): routes choose it by upstream = \"api\""),
            );
        }
    }
    for name in raw
        .upstream
        .iter()
        .chain(&raw.upstreams)
        .filter_map(|u| u.name.as_ref())
    {
        let text = name.get_ref();
        let valid = text.len() <= MAX_NAME
            && text.starts_with(|c: char| c.is_ascii_alphabetic())
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !valid {
            problems.at(
                name.span(),
                format!("upstream name {text:?} must be 1 to {MAX_NAME} letters, digits, '_' or '-', starting with a letter"),
            );
        }
        if let Some(first) = seen.iter().find(|n| n.get_ref() == text) {
            let (line, _) = line_column(problems.source, first.span().start);
            problems.at(
                name.span(),
                format!("upstream name {text:?} is already used by the upstream on line {line}"),
            );
        }
        seen.push(name);
    }
}

fn named(
    problems: &mut Problems,
    raw: &RawUpstream,
    key: &str,
    base: &Path,
) -> Option<NamedUpstream> {
    let settings = settings(problems, raw, key, base)?;
    Some(NamedUpstream {
        name: raw.name.as_ref().map(|n| n.get_ref().as_str().into()),
        settings,
    })
}

/// One upstream's keys; `key` names it in messages (`upstream`,
/// `upstreams[1]`).
fn settings(
    problems: &mut Problems,
    raw: &RawUpstream,
    key: &str,
    base: &Path,
) -> Option<UpstreamSettings> {
    let url = &raw.url;
    let connect_timeout = duration(
        problems,
        raw.connect_timeout.as_ref(),
        defaults::UPSTREAM_CONNECT_TIMEOUT,
    );
    let timeout = duration(problems, raw.timeout.as_ref(), defaults::UPSTREAM_TIMEOUT);
    let parsed = match url.get_ref().parse::<Uri>() {
        Ok(uri) => uri,
        Err(e) => {
            problems.at(
                url.span(),
                format!("{key}.url {:?} is not a URL: {e}", url.get_ref()),
            );
            return None;
        }
    };
    let scheme = match parsed.scheme() {
        Some(s) if *s == Scheme::HTTP || *s == Scheme::HTTPS => s.clone(),
        _ => {
            problems.at(
                url.span(),
                format!("{key}.url must start with http:// or https://"),
            );
            return None;
        }
    };
    let Some(authority) = parsed.authority().cloned() else {
        problems.at(
            url.span(),
            format!("{key}.url needs a host, e.g. http://127.0.0.1:8000"),
        );
        return None;
    };
    if !matches!(parsed.path(), "" | "/") || parsed.query().is_some() {
        problems.at(
            url.span(),
            format!("{key}.url must not have a path or query: requests are forwarded with their own canonical path"),
        );
        return None;
    }
    let ca = match &raw.ca_file {
        None => None,
        Some(file) => Some(ca_file(problems, file, base, &format!("{key}.ca_file"))?),
    };
    match UpstreamSettings::new(scheme, authority, connect_timeout, timeout, ca) {
        Ok(settings) => Some(settings),
        Err(why) => {
            let span = raw.ca_file.as_ref().map_or(url.span(), |f| f.span());
            problems.at(span, format!("{key}.ca_file: {why}"));
            None
        }
    }
}
