//! `[identity]`: the identity header names (never one HTTP or the gateway
//! owns) and the signed assertion's key and lifetime.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use toml::Spanned;

use super::defaults;
use super::problems::Problems;
use super::values::header_name;
use crate::config::raw::{RawIdentity, RawSign};
use crate::identity::assertion::Signer;
use crate::identity::IdentityHeaders;

pub(super) fn identity(problems: &mut Problems, raw: &RawIdentity, base: &Path) -> IdentityHeaders {
    let identity = IdentityHeaders {
        user: header_name(problems, raw.user.as_ref(), defaults::IDENTITY_USER),
        groups: header_name(problems, raw.groups.as_ref(), defaults::IDENTITY_GROUPS),
        permissions: header_name(
            problems,
            raw.permissions.as_ref(),
            defaults::IDENTITY_PERMISSIONS,
        ),
        auth: header_name(problems, raw.auth.as_ref(), defaults::IDENTITY_AUTH),
        extra_strip: raw
            .strip
            .iter()
            .map(|name| header_name(problems, Some(name), defaults::IDENTITY_USER))
            .collect(),
        sign: raw
            .sign
            .as_ref()
            .and_then(|sign| signer(problems, sign, base)),
    };
    let names = [
        &identity.user,
        &identity.groups,
        &identity.permissions,
        &identity.auth,
    ];
    if names
        .iter()
        .enumerate()
        .any(|(i, a)| names[i + 1..].contains(a))
    {
        problems.anywhere(
            "[identity] user, groups, permissions and auth must be four different headers",
        );
    }
    identity
}

fn signer(problems: &mut Problems, sign: &Spanned<RawSign>, base: &Path) -> Option<Arc<Signer>> {
    let raw = sign.get_ref();
    let ttl_text = raw.ttl.as_deref().unwrap_or(defaults::ASSERTION_TTL);
    let ttl = match humantime::parse_duration(ttl_text) {
        Ok(ttl) if ttl >= Duration::from_secs(1) && ttl <= Duration::from_secs(3600) => ttl,
        _ => {
            problems.at(
                sign.span(),
                format!("identity.sign.ttl {ttl_text:?} must be a duration from 1s to 1h"),
            );
            return None;
        }
    };
    let path = base.join(&raw.key_file);
    let key = match std::fs::read(&path) {
        Ok(key) => key,
        Err(e) => {
            problems.at(
                sign.span(),
                format!(
                    "cannot read identity.sign.key_file {:?}: {e}",
                    path.display()
                ),
            );
            return None;
        }
    };
    match Signer::load(&raw.algorithm, &key, ttl, raw.audience.clone()) {
        Ok(signer) => Some(Arc::new(signer)),
        Err(why) => {
            problems.at(sign.span(), format!("identity.sign: {why}"));
            None
        }
    }
}
