//! `[upstream]`: where allowed requests go, its timeouts and TLS trust, and
//! the pooled client built from them.

use std::path::Path;

use http::uri::{Scheme, Uri};

use super::defaults;
use super::problems::Problems;
use super::values::{ca_file, duration};
use crate::config::raw::RawConfig;
use crate::upstream::UpstreamSettings;

pub(super) fn upstream(
    problems: &mut Problems,
    raw: &RawConfig,
    base: &Path,
) -> Option<UpstreamSettings> {
    let url = &raw.upstream.url;
    let connect_timeout = duration(
        problems,
        raw.upstream.connect_timeout.as_ref(),
        defaults::UPSTREAM_CONNECT_TIMEOUT,
    );
    let timeout = duration(
        problems,
        raw.upstream.timeout.as_ref(),
        defaults::UPSTREAM_TIMEOUT,
    );
    let parsed = match url.get_ref().parse::<Uri>() {
        Ok(uri) => uri,
        Err(e) => {
            problems.at(
                url.span(),
                format!("upstream.url {:?} is not a URL: {e}", url.get_ref()),
            );
            return None;
        }
    };
    let scheme = match parsed.scheme() {
        Some(s) if *s == Scheme::HTTP || *s == Scheme::HTTPS => s.clone(),
        _ => {
            problems.at(
                url.span(),
                "upstream.url must start with http:// or https://",
            );
            return None;
        }
    };
    let Some(authority) = parsed.authority().cloned() else {
        problems.at(
            url.span(),
            "upstream.url needs a host, e.g. http://127.0.0.1:8000",
        );
        return None;
    };
    if !matches!(parsed.path(), "" | "/") || parsed.query().is_some() {
        problems.at(
            url.span(),
            "upstream.url must not have a path or query: requests are forwarded with their own canonical path",
        );
        return None;
    }
    let ca = match &raw.upstream.ca_file {
        None => None,
        Some(file) => Some(ca_file(problems, file, base, "upstream.ca_file")?),
    };
    match UpstreamSettings::new(scheme, authority, connect_timeout, timeout, ca) {
        Ok(settings) => Some(settings),
        Err(why) => {
            let span = raw
                .upstream
                .ca_file
                .as_ref()
                .map_or(url.span(), |f| f.span());
            problems.at(span, format!("upstream.ca_file: {why}"));
            None
        }
    }
}
