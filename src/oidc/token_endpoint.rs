//! The token request of the authorization code flow (RFC 6749 4.1.3, OIDC
//! Core 3.1.3): the code, the redirect URI and PKCE's verifier, with the
//! client's credentials; an ID token back. A refusal (`invalid_grant`: a
//! code used twice or too late) is the sign-in's failure, an unreachable
//! provider or an answer that is not one is the provider's.

use http::{HeaderValue, Uri};
use serde::Deserialize;

use super::http::ProviderClient;
use super::{OidcError, Pending};

/// What the token endpoint gave.
pub struct Tokens {
    pub id_token: String,
}

#[derive(Deserialize)]
struct Success {
    id_token: Option<String>,
    token_type: Option<String>,
}

#[derive(Deserialize)]
struct Failure {
    error: String,
}

pub async fn exchange(
    client: &ProviderClient,
    endpoint: &Uri,
    credentials: &HeaderValue,
    code: &str,
    pending: &Pending,
) -> Result<Tokens, OidcError> {
    let form = form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "authorization_code")
        .append_pair("code", code)
        .append_pair("redirect_uri", &pending.redirect_uri)
        .append_pair("code_verifier", &pending.verifier)
        .finish();
    let answer = client
        .post_form(endpoint, credentials, form)
        .await
        .map_err(OidcError::Unavailable)?;
    if answer.status.is_success() {
        let success: Success = serde_json::from_slice(&answer.body).map_err(|e| {
            OidcError::Unavailable(format!("{endpoint}: not a token response: {e}"))
        })?;
        if !success
            .token_type
            .as_deref()
            .is_some_and(|t| t.eq_ignore_ascii_case("bearer"))
        {
            return Err(OidcError::Unavailable(format!(
                "{endpoint}: token_type is not Bearer"
            )));
        }
        let id_token = success.id_token.ok_or_else(|| {
            OidcError::TokenInvalid(format!(
                "{endpoint}: no id_token (is `openid` in the scopes?)"
            ))
        })?;
        return Ok(Tokens { id_token });
    }
    // RFC 6749 5.2: 400 (or 401 for client authentication) with `error`.
    match serde_json::from_slice::<Failure>(&answer.body) {
        Ok(failure) => Err(OidcError::TokenInvalid(format!(
            "{endpoint}: the provider refused the code: {}",
            failure.error
        ))),
        Err(_) => Err(OidcError::Unavailable(format!(
            "{endpoint}: answered {}",
            answer.status
        ))),
    }
}
