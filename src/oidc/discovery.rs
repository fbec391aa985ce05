//! OpenID Connect Discovery 1.0: the provider's metadata, read from
//! `<issuer>/.well-known/openid-configuration`, whose `issuer` must be
//! exactly the configured one (§4.3: a document naming another issuer is
//! refused, or one provider could speak for another).

use http::Uri;
use serde::Deserialize;

use super::http::ProviderClient;

/// The endpoints a sign-in uses.
#[derive(Debug, Clone)]
pub struct Metadata {
    pub authorization_endpoint: Uri,
    pub token_endpoint: Uri,
    pub jwks_uri: Uri,
    /// RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0).
    pub end_session_endpoint: Option<Uri>,
    /// `id_token_signing_alg_values_supported` (RS256 when absent).
    pub signing_algorithms: Vec<String>,
}

#[derive(Deserialize)]
struct Document {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
    end_session_endpoint: Option<String>,
    #[serde(default)]
    id_token_signing_alg_values_supported: Vec<String>,
}

/// Where discovery reads the metadata of `issuer`.
pub fn url(issuer: &str) -> Result<Uri, String> {
    format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    )
    .parse()
    .map_err(|e| format!("oidc.issuer: {e}"))
}

/// Fetches and checks the metadata of `issuer`.
pub async fn discover(client: &ProviderClient, issuer: &str) -> Result<Metadata, String> {
    let url = url(issuer)?;
    let answer = client.get_json(&url).await?;
    if !answer.status.is_success() {
        return Err(format!("{url}: answered {}", answer.status));
    }
    let document: Document = serde_json::from_slice(&answer.body)
        .map_err(|e| format!("{url}: not a discovery document: {e}"))?;
    parse(document, issuer).map_err(|why| format!("{url}: {why}"))
}

fn parse(document: Document, issuer: &str) -> Result<Metadata, String> {
    if document.issuer != issuer {
        return Err(format!(
            "the document's issuer is {:?}, not oidc.issuer {issuer:?}",
            document.issuer
        ));
    }
    // An https issuer's endpoints are https too: over http the secret,
    // the code and the verifier would cross the network in clear, and
    // anyone on the path could swap the keys (a provider behind a TLS
    // proxy that does not know it is, is the usual cause).
    let https_only = issuer.starts_with("https://");
    let endpoint = |name: &str, value: &str| -> Result<Uri, String> {
        let uri: Uri = value
            .parse()
            .map_err(|e| format!("{name} {value:?}: {e}"))?;
        match uri.scheme_str() {
            Some("http") if https_only => Err(format!(
                "{name} {value:?} is http:// while the issuer is https:// (is the provider told it is behind a TLS proxy?)"
            )),
            Some("https" | "http") if uri.host().is_some() => Ok(uri),
            _ => Err(format!("{name} {value:?} is not an http(s) URL")),
        }
    };
    Ok(Metadata {
        authorization_endpoint: endpoint(
            "authorization_endpoint",
            &document.authorization_endpoint,
        )?,
        token_endpoint: endpoint("token_endpoint", &document.token_endpoint)?,
        jwks_uri: endpoint("jwks_uri", &document.jwks_uri)?,
        end_session_endpoint: document
            .end_session_endpoint
            .as_deref()
            .map(|value| endpoint("end_session_endpoint", value))
            .transpose()?,
        signing_algorithms: if document.id_token_signing_alg_values_supported.is_empty() {
            vec!["RS256".into()]
        } else {
            document.id_token_signing_alg_values_supported
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn document(issuer: &str) -> Document {
        serde_json::from_value(serde_json::json!({
            "issuer": issuer,
            "authorization_endpoint": "https://idp.test/authorize",
            "token_endpoint": "https://idp.test/token",
            "jwks_uri": "https://idp.test/jwks",
        }))
        .unwrap()
    }

    #[test]
    fn the_issuer_must_be_exactly_the_configured_one() {
        assert!(parse(document("https://idp.test"), "https://idp.test").is_ok());
        for other in ["https://idp.test/", "https://evil.test", "http://idp.test"] {
            assert!(
                parse(document(other), "https://idp.test").is_err(),
                "{other}"
            );
        }
        let mut plain = document("https://idp.test");
        plain.token_endpoint = "http://idp.test/token".into();
        assert!(
            parse(plain, "https://idp.test").is_err(),
            "http endpoint of an https issuer"
        );
        let metadata = parse(document("https://idp.test"), "https://idp.test").unwrap();
        assert_eq!(metadata.signing_algorithms, ["RS256"]);
        assert!(metadata.end_session_endpoint.is_none());
    }

    #[test]
    fn the_well_known_path_follows_the_issuer() {
        assert_eq!(
            url("https://idp.test/realms/shop").unwrap(),
            "https://idp.test/realms/shop/.well-known/openid-configuration"
        );
        assert_eq!(
            url("https://idp.test/").unwrap(),
            "https://idp.test/.well-known/openid-configuration"
        );
    }
}
