//! `[oidc]`: the OpenID provider people sign in with, the client registered
//! there (its secret read from the environment), the claims that name the
//! user and who may sign in; compiled into the settings and the client.

use std::path::Path;
use std::time::Duration;

use toml::Spanned;

use super::bearer::non_empty;
use super::defaults;
use super::problems::Problems;
use super::values::{ca_file, duration};
use crate::config::raw::RawOidc;
use crate::config::snapshot::ServerSettings;
use crate::oidc::{Oidc, OidcSettings};

/// The most clock skew an ID token may be granted.
const MAX_LEEWAY: Duration = Duration::from_secs(600);

/// The client for `[oidc]`, when the section is there and sound.
pub(super) fn oidc(
    problems: &mut Problems,
    raw: Option<&Spanned<RawOidc>>,
    base: &Path,
    server: &ServerSettings,
) -> Option<Oidc> {
    let section = raw?;
    let settings = settings(problems, section, base, server)?;
    match Oidc::new(settings) {
        Ok(oidc) => Some(oidc),
        Err(why) => {
            problems.at(section.get_ref().issuer.span(), format!("[oidc]: {why}"));
            None
        }
    }
}

fn settings(
    problems: &mut Problems,
    section: &Spanned<RawOidc>,
    base: &Path,
    server: &ServerSettings,
) -> Option<OidcSettings> {
    let raw = section.get_ref();
    let before = problems.errors.len();
    let issuer = non_empty(problems, &raw.issuer, "oidc.issuer");
    if !(issuer.starts_with("https://") || issuer.starts_with("http://")) {
        problems.at(
            raw.issuer.span(),
            "oidc.issuer must be an https:// URL (http:// only on a private network)",
        );
    }
    let client_id = non_empty(problems, &raw.client_id, "oidc.client_id");
    let variable = raw.client_secret_env.get_ref();
    let client_secret = match std::env::var(variable) {
        Ok(secret) if !secret.is_empty() => secret,
        _ => {
            problems.at(
                raw.client_secret_env.span(),
                format!("oidc.client_secret_env: the environment variable {variable} is not set (it holds the client secret)"),
            );
            String::new()
        }
    };
    let scopes: Vec<String> = match &raw.scopes {
        Some(list) => list
            .iter()
            .map(|s| non_empty(problems, s, "oidc.scopes"))
            .collect(),
        None => defaults::OIDC_SCOPES
            .iter()
            .map(|s| s.to_string())
            .collect(),
    };
    if !scopes.iter().any(|s| s == "openid") {
        let span = raw
            .scopes
            .as_ref()
            .and_then(|l| l.first())
            .map_or(section.span(), |s| s.span());
        problems.at(span, "oidc.scopes must include \"openid\"");
    }
    let redirect_path = match &raw.redirect_path {
        Some(path) => {
            let text = path.get_ref();
            // Already canonical: the request path it is matched with is.
            let sound = text.starts_with('/')
                && text.len() > 1
                && !text.contains("//")
                && !text
                    .split('/')
                    .any(|segment| segment == "." || segment == "..")
                && text
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"/-_.".contains(&b));
            if !sound || ["/login", "/logout", "/csrf", "/oidc/login"].contains(&text.as_str()) {
                problems.at(
                    path.span(),
                    "oidc.redirect_path must be a path like \"/oidc/callback\" (letters, digits, '/', '-', '_', '.'), not one of the gateway's other endpoints",
                );
            }
            text.clone()
        }
        None => defaults::OIDC_REDIRECT_PATH.to_string(),
    };
    let public_url = raw.public_url.as_ref().map(|url| {
        let text = url.get_ref().trim_end_matches('/');
        let sound = text.parse::<http::Uri>().is_ok_and(|uri| {
            matches!(uri.scheme_str(), Some("https" | "http"))
                && uri.host().is_some_and(|h| !h.is_empty())
                && uri.path() == "/"
                && uri.query().is_none()
                && !text.contains('@')
        });
        if !sound {
            problems.at(
                url.span(),
                "oidc.public_url must be the site's URL, like \"https://shop.example.com\" (a scheme, a host and a port; no path)",
            );
        }
        text.to_string()
    });
    let optional = |problems: &mut Problems, value: Option<&Spanned<String>>, key: &str| {
        value.map(|v| non_empty(problems, v, key))
    };
    let name = optional(problems, raw.name.as_ref(), "oidc.name")
        .unwrap_or_else(|| defaults::OIDC_NAME.to_string());
    let username_claim = optional(problems, raw.username_claim.as_ref(), "oidc.username_claim")
        .unwrap_or_else(|| defaults::OIDC_USERNAME_CLAIM.to_string());
    let groups_claim = match &raw.groups_claim {
        Some(claim) if claim.get_ref().is_empty() => None,
        Some(claim) => Some(non_empty(problems, claim, "oidc.groups_claim")),
        None => Some(defaults::OIDC_GROUPS_CLAIM.to_string()),
    };
    let permissions_claim = optional(
        problems,
        raw.permissions_claim.as_ref(),
        "oidc.permissions_claim",
    );
    let allowed_groups: Vec<String> = raw
        .allowed_groups
        .iter()
        .map(|g| non_empty(problems, g, "oidc.allowed_groups"))
        .collect();
    if !allowed_groups.is_empty() && groups_claim.is_none() {
        problems.at(
            section.span(),
            "oidc.allowed_groups needs oidc.groups_claim (the claim the groups are read from)",
        );
    }
    let allowed_email_domains = raw
        .allowed_email_domains
        .iter()
        .map(|d| {
            let domain = non_empty(problems, d, "oidc.allowed_email_domains");
            if domain.contains('@') || domain.starts_with('.') {
                problems.at(
                    d.span(),
                    "oidc.allowed_email_domains: name the domain only, like \"example.com\"",
                );
            }
            domain
        })
        .collect();
    let leeway = duration(problems, raw.leeway.as_ref(), defaults::OIDC_LEEWAY);
    if leeway > MAX_LEEWAY {
        if let Some(value) = &raw.leeway {
            problems.at(value.span(), "oidc.leeway must be at most 10m");
        }
    }
    let timeout = duration(problems, raw.timeout.as_ref(), defaults::OIDC_TIMEOUT);
    let refresh_interval = raw
        .refresh_interval
        .as_ref()
        .map(|every| duration(problems, Some(every), defaults::OIDC_TIMEOUT));
    let ca_file = raw
        .ca_file
        .as_ref()
        .and_then(|file| ca_file(problems, file, base, "oidc.ca_file"));
    if server.internal_prefix.is_empty() {
        problems.at(
            section.span(),
            "[oidc] needs server.internal_prefix: its callback lives there",
        );
    }
    if problems.errors.len() > before {
        return None;
    }
    Some(OidcSettings {
        issuer,
        client_id,
        client_secret,
        scopes,
        redirect_path,
        public_url,
        name,
        username_claim,
        groups_claim,
        permissions_claim,
        allowed_groups,
        allowed_email_domains,
        leeway,
        refresh_interval,
        timeout,
        ca_file,
    })
}
