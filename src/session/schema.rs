//! The session record as stored in Redis: one JSON object per key
//! `<key_prefix><session id>`, in a versioned schema that other services
//! (a login app in another language, `redis-cli`) may write directly.
//!
//! Version 1:
//!
//! | field         | type              | required | meaning                                   |
//! |---------------|-------------------|----------|-------------------------------------------|
//! | `v`           | integer, `1`      | yes      | schema version                            |
//! | `username`    | string            | yes      | printable ASCII                           |
//! | `user_id`     | string or null    | no       |                                           |
//! | `groups`      | array of strings  | no       | default `[]`                              |
//! | `permissions` | array of strings  | no       | `app_label.codename`; default `[]`        |
//! | `staff`       | boolean           | no       | default `false`                           |
//! | `superuser`   | boolean           | no       | default `false`                           |
//! | `created_at`  | number            | no       | Unix time, seconds; default: `expires_at` |
//! | `expires_at`  | number            | yes      | Unix time, seconds (decimals allowed)     |
//! | `csrf_secret` | string or null    | no       | Django's CSRF secret, when kept in the session |
//! | `oidc_id_token` | string or null  | no       | the OpenID provider's ID token, for a session made by `[oidc]` sign-in |
//! | `oidc_refresh_token` | string or null | no  | the provider's refresh token (with `oidc_id_token` only) |
//! | `oidc_refresh_at` | number or null | no      | Unix time, seconds: when the claims are refreshed |
//!
//! The key's Redis TTL should end at `expires_at`; the gateway also checks
//! `expires_at` itself. Unknown fields are ignored (forward compatible);
//! another `v`, or a name that is not printable ASCII (or holds a `,` in a
//! list), is refused: the session is anonymous, and the gateway logs why.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::record::unsafe_identity_value;
use super::{NewSession, ProviderTokens, Session};

pub const VERSION: u32 = 1;

#[derive(Debug, Serialize, Deserialize)]
pub struct StoredSession {
    pub v: u32,
    pub username: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    #[serde(default)]
    pub groups: Vec<String>,
    #[serde(default)]
    pub permissions: Vec<String>,
    #[serde(default)]
    pub staff: bool,
    #[serde(default)]
    pub superuser: bool,
    #[serde(default)]
    pub created_at: Option<f64>,
    pub expires_at: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub csrf_secret: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oidc_id_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oidc_refresh_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oidc_refresh_at: Option<f64>,
}

/// Why a stored value is not a session.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SchemaError {
    #[error("not session JSON: {0}")]
    Json(String),
    #[error("schema version {0} is not supported (expected {VERSION})")]
    Version(u32),
    #[error("expires_at is not a valid time")]
    Time,
    /// A name that could never be sent as a header (`bob\r\nX-Admin: 1`):
    /// the record is not trusted at all rather than forwarded without it.
    #[error("{0}")]
    Value(String),
}

fn to_unix(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
}

fn from_unix(seconds: f64) -> Result<SystemTime, SchemaError> {
    if !seconds.is_finite() || !(0.0..=1e11).contains(&seconds) {
        return Err(SchemaError::Time);
    }
    Ok(UNIX_EPOCH + Duration::from_secs_f64(seconds))
}

/// The JSON for `session`.
pub fn encode(session: &Session) -> String {
    let stored = StoredSession {
        v: VERSION,
        username: session.username.clone(),
        user_id: session.user_id.clone(),
        groups: session.groups.clone(),
        permissions: session.permissions.clone(),
        staff: session.staff,
        superuser: session.superuser,
        created_at: Some(to_unix(session.created_at)),
        expires_at: to_unix(session.expires_at),
        csrf_secret: session.csrf_secret.clone(),
        oidc_id_token: session.oidc.as_ref().map(|t| t.id_token.clone()),
        oidc_refresh_token: session.oidc.as_ref().and_then(|t| t.refresh_token.clone()),
        oidc_refresh_at: session
            .oidc
            .as_ref()
            .and_then(|t| t.refresh_at)
            .map(to_unix),
    };
    // Invariant: strings, numbers and bools always serialise.
    serde_json::to_string(&stored).expect("serialise session")
}

/// The session in `json`.
pub fn decode(json: &[u8]) -> Result<Session, SchemaError> {
    let stored: StoredSession =
        serde_json::from_slice(json).map_err(|e| SchemaError::Json(e.to_string()))?;
    if stored.v != VERSION {
        return Err(SchemaError::Version(stored.v));
    }
    let expires_at = from_unix(stored.expires_at)?;
    let created_at = stored
        .created_at
        .map(from_unix)
        .transpose()?
        .unwrap_or(expires_at);
    if let Some(why) = unsafe_identity_value(
        &stored.username,
        stored.user_id.as_deref(),
        &stored.groups,
        &stored.permissions,
    ) {
        return Err(SchemaError::Value(why));
    }
    // The refresh token and time mean something only beside the ID token
    // of the sign-in they came from.
    let oidc = match stored.oidc_id_token {
        Some(id_token) => Some(ProviderTokens {
            id_token,
            refresh_token: stored.oidc_refresh_token,
            refresh_at: stored.oidc_refresh_at.map(from_unix).transpose()?,
        }),
        None => None,
    };
    let new = NewSession {
        username: stored.username,
        user_id: stored.user_id,
        groups: stored.groups,
        permissions: stored.permissions,
        staff: stored.staff,
        superuser: stored.superuser,
        csrf_secret: stored.csrf_secret,
        oidc,
    };
    Ok(Session::new(new, created_at, expires_at))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let now = SystemTime::now();
        let session = Session::new(
            NewSession {
                username: "alice".into(),
                groups: vec!["g".into()],
                permissions: vec!["a.b".into()],
                staff: true,
                ..NewSession::default()
            },
            now,
            now + Duration::from_secs(60),
        );
        let back = decode(encode(&session).as_bytes()).unwrap();
        assert_eq!(back.username, "alice");
        assert_eq!(back.groups, ["g"]);
        assert!(back.staff && !back.superuser);
        let drift = back
            .expires_at
            .duration_since(session.expires_at)
            .unwrap_or_else(|e| e.duration());
        assert!(drift < Duration::from_millis(1));
    }

    #[test]
    fn provider_tokens_round_trip() {
        let now = SystemTime::now();
        let refresh_at = now + Duration::from_secs(300);
        let tokens = ProviderTokens {
            id_token: "header.payload.signature".into(),
            refresh_token: Some("refresh-me".into()),
            refresh_at: Some(refresh_at),
        };
        let session = Session::new(
            NewSession {
                username: "alice".into(),
                oidc: Some(tokens),
                ..NewSession::default()
            },
            now,
            now + Duration::from_secs(600),
        );
        let json = encode(&session);
        let back = decode(json.as_bytes()).unwrap();
        let tokens = back.oidc.as_ref().unwrap();
        assert_eq!(tokens.id_token, "header.payload.signature");
        assert_eq!(tokens.refresh_token.as_deref(), Some("refresh-me"));
        let drift = tokens
            .refresh_at
            .unwrap()
            .duration_since(refresh_at)
            .unwrap_or_else(|e| e.duration());
        assert!(drift < Duration::from_millis(1));
        // Seconds as a float: the time read back is within a millisecond.
        assert!(!back.refresh_due(now) && back.refresh_due(refresh_at + Duration::from_millis(1)));
        // A refresh token without the sign-in's ID token is not a
        // provider session.
        let orphan = decode(
            br#"{"v":1,"username":"bob","expires_at":4102444800,"oidc_refresh_token":"x","oidc_refresh_at":1}"#,
        )
        .unwrap();
        assert!(orphan.oidc.is_none() && !orphan.refresh_due(now));
        let plain = encode(&Session::new(NewSession::default(), now, now));
        assert!(!plain.contains("oidc"), "{plain}");
    }

    #[test]
    fn minimal_documents_from_other_writers() {
        let s = decode(br#"{"v":1,"username":"bob","expires_at":4102444800}"#).unwrap();
        assert_eq!(s.username, "bob");
        assert!(s.groups.is_empty() && !s.staff);
        assert_eq!(s.created_at, s.expires_at);
        let extra =
            decode(br#"{"v":1,"username":"bob","expires_at":4102444800.5,"future_field":1}"#);
        assert!(extra.is_ok());
    }

    #[test]
    fn refusals() {
        assert_eq!(
            decode(br#"{"v":2,"username":"b","expires_at":1}"#).err(),
            Some(SchemaError::Version(2))
        );
        assert!(matches!(decode(b"not json"), Err(SchemaError::Json(_))));
        assert!(matches!(
            decode(br#"{"v":1,"expires_at":1}"#),
            Err(SchemaError::Json(_))
        ));
        assert_eq!(
            decode(br#"{"v":1,"username":"b","expires_at":-5}"#).err(),
            Some(SchemaError::Time)
        );
        for unsafe_names in [
            r#"{"v":1,"username":"bob\r\nX-Admin: 1","expires_at":4102444800}"#,
            r#"{"v":1,"username":"bob","groups":["a,b"],"expires_at":4102444800}"#,
            r#"{"v":1,"username":"bob","permissions":["a\u0000b"],"expires_at":4102444800}"#,
            r#"{"v":1,"username":"bob","user_id":"","expires_at":4102444800}"#,
        ] {
            assert!(
                matches!(decode(unsafe_names.as_bytes()), Err(SchemaError::Value(_))),
                "{unsafe_names}"
            );
        }
    }
}
