//! The token endpoint's two grants a sign-in uses: the authorization code
//! (RFC 6749 4.1.3, OIDC Core 3.1.3: the code, the redirect URI and PKCE's
//! verifier) and the refresh token (RFC 6749 6, OIDC Core 12), each with
//! the client's credentials. A refusal (`invalid_grant`: a code used twice
//! or too late, a refresh token revoked or rotated away) is the grant's
//! failure; an unreachable provider, or an answer that is not one, is the
//! provider's.

use std::time::Duration;

use http::{HeaderValue, Uri};
use serde::Deserialize;

use super::http::ProviderClient;
use super::Pending;

/// What the token endpoint gave.
pub struct Tokens {
    /// Always there for the code grant; a refresh may leave it out.
    pub id_token: Option<String>,
    /// A refresh may leave it out too: the one used stays good.
    pub refresh_token: Option<String>,
    /// The access token's lifetime (`expires_in`).
    pub expires_in: Option<Duration>,
}

/// Why a grant gave no tokens.
#[derive(Debug)]
pub enum GrantError {
    /// The provider refused it (RFC 6749 5.2), with its `error` code.
    Refused { error: String },
    /// The provider could not be reached or answered nonsense (for the log).
    Unavailable(String),
}

#[derive(Deserialize)]
struct Success {
    id_token: Option<String>,
    refresh_token: Option<String>,
    token_type: Option<String>,
    /// A number, though some providers send a numeric string.
    expires_in: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct Failure {
    error: String,
}

/// The code grant: the code, the redirect URI and PKCE's verifier.
pub async fn exchange(
    client: &ProviderClient,
    endpoint: &Uri,
    credentials: &HeaderValue,
    code: &str,
    pending: &Pending,
) -> Result<Tokens, GrantError> {
    let form = form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "authorization_code")
        .append_pair("code", code)
        .append_pair("redirect_uri", &pending.redirect_uri)
        .append_pair("code_verifier", &pending.verifier)
        .finish();
    grant(client, endpoint, credentials, form).await
}

/// The refresh grant, for the scopes first granted (no `scope`: RFC 6749 6).
pub async fn refresh(
    client: &ProviderClient,
    endpoint: &Uri,
    credentials: &HeaderValue,
    refresh_token: &str,
) -> Result<Tokens, GrantError> {
    let form = form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "refresh_token")
        .append_pair("refresh_token", refresh_token)
        .finish();
    grant(client, endpoint, credentials, form).await
}

async fn grant(
    client: &ProviderClient,
    endpoint: &Uri,
    credentials: &HeaderValue,
    form: String,
) -> Result<Tokens, GrantError> {
    let answer = client
        .post_form(endpoint, credentials, form)
        .await
        .map_err(GrantError::Unavailable)?;
    if answer.status.is_success() {
        let success: Success = serde_json::from_slice(&answer.body).map_err(|e| {
            GrantError::Unavailable(format!("{endpoint}: not a token response: {e}"))
        })?;
        if !success
            .token_type
            .as_deref()
            .is_some_and(|t| t.eq_ignore_ascii_case("bearer"))
        {
            return Err(GrantError::Unavailable(format!(
                "{endpoint}: token_type is not Bearer"
            )));
        }
        return Ok(Tokens {
            id_token: success.id_token,
            refresh_token: success.refresh_token.filter(|t| !t.is_empty()),
            expires_in: success.expires_in.as_ref().and_then(seconds),
        });
    }
    // RFC 6749 5.2: 400 (or 401 for client authentication) with `error`.
    match serde_json::from_slice::<Failure>(&answer.body) {
        Ok(failure) if answer.status.is_client_error() => Err(GrantError::Refused {
            error: failure.error,
        }),
        _ => Err(GrantError::Unavailable(format!(
            "{endpoint}: answered {}",
            answer.status
        ))),
    }
}

/// `expires_in` as a duration: a non-negative number of seconds, or the
/// same as a string.
fn seconds(value: &serde_json::Value) -> Option<Duration> {
    let seconds = match value {
        serde_json::Value::Number(n) => n.as_f64()?,
        serde_json::Value::String(s) => s.trim().parse().ok()?,
        _ => return None,
    };
    (0.0..1e9)
        .contains(&seconds)
        .then(|| Duration::from_secs_f64(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn expires_in_is_read_as_providers_send_it() {
        assert_eq!(seconds(&json!(3600)), Some(Duration::from_secs(3600)));
        assert_eq!(seconds(&json!("300")), Some(Duration::from_secs(300)));
        assert_eq!(seconds(&json!(-1)), None);
        assert_eq!(seconds(&json!("soon")), None);
        assert_eq!(seconds(&json!(null)), None);
    }
}
