//! Why a bearer token was not accepted: a problem with the token itself
//! (401 by the pipeline's mapping) or an issuer whose keys cannot be had
//! (503: fail closed). Each problem has a stable code and a short sentence.

use std::fmt;

/// What stopped a bearer token from proving who a request is from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BearerError {
    /// The token is not acceptable: 401 by the lead's mapping; `problem` says why.
    Invalid(BearerProblem),
    /// No key could be had because the issuer's JWKS is unreachable and
    /// nothing usable is cached: 503, fail closed. The text is for the log
    /// (it names the JWKS URL and the failure), not for the client.
    IssuerUnavailable(String),
}

/// Why a token is not acceptable. The strings in `MissingClaim` and
/// `BadClaim` are claim names from the config (never text from the token),
/// so they can be shown to the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BearerProblem {
    /// Not a compact JWS: three base64url parts, a JSON header naming an
    /// algorithm, a JSON object as payload; or too long, or with `crit`.
    Malformed,
    /// The header's `alg` is not in `bearer.algorithms` (`none` and HS*
    /// never are).
    AlgorithmNotAllowed,
    /// No key of the issuer's JWKS has the token's `kid` and fits its `alg`.
    UnknownKey,
    /// The signature does not verify with the issuer's key.
    BadSignature,
    /// `exp` has passed (beyond the leeway).
    Expired,
    /// `nbf` is still ahead (beyond the leeway).
    NotYetValid,
    /// `iat` is in the future (beyond the leeway).
    IssuedInFuture,
    /// `iss` is not `bearer.issuer`.
    WrongIssuer,
    /// `aud` holds none of `bearer.audiences`.
    WrongAudience,
    /// An ID token's `nonce` is not the one its sign-in sent (a token
    /// from another sign-in, replayed).
    WrongNonce,
    /// An ID token's `azp` is not this client, or is missing while `aud`
    /// names other parties too.
    WrongAuthorizedParty,
    /// A refreshed ID token names another `sub` than the sign-in's.
    WrongSubject,
    /// A required claim (`iss`, `aud`, `exp`, the username claim) is absent.
    MissingClaim(String),
    /// A claim has the wrong type, or a value that cannot be sent in an
    /// identity header.
    BadClaim(String),
}

impl BearerProblem {
    /// A stable snake_case code, for reason codes, logs and metrics.
    pub fn as_str(&self) -> &'static str {
        match self {
            BearerProblem::Malformed => "malformed",
            BearerProblem::AlgorithmNotAllowed => "algorithm_not_allowed",
            BearerProblem::UnknownKey => "unknown_key",
            BearerProblem::BadSignature => "bad_signature",
            BearerProblem::Expired => "expired",
            BearerProblem::NotYetValid => "not_yet_valid",
            BearerProblem::IssuedInFuture => "issued_in_future",
            BearerProblem::WrongIssuer => "wrong_issuer",
            BearerProblem::WrongAudience => "wrong_audience",
            BearerProblem::WrongNonce => "wrong_nonce",
            BearerProblem::WrongAuthorizedParty => "wrong_authorized_party",
            BearerProblem::WrongSubject => "wrong_subject",
            BearerProblem::MissingClaim(_) => "missing_claim",
            BearerProblem::BadClaim(_) => "bad_claim",
        }
    }

    /// A short human sentence for the JSON `detail`.
    pub fn message(&self) -> String {
        match self {
            BearerProblem::Malformed => "Token is malformed".into(),
            BearerProblem::AlgorithmNotAllowed => "Token algorithm is not allowed".into(),
            BearerProblem::UnknownKey => "Token is signed with an unknown key".into(),
            BearerProblem::BadSignature => "Token signature is invalid".into(),
            BearerProblem::Expired => "Token is expired".into(),
            BearerProblem::NotYetValid => "Token is not valid yet".into(),
            BearerProblem::IssuedInFuture => "Token is issued in the future".into(),
            BearerProblem::WrongIssuer => "Token has the wrong issuer".into(),
            BearerProblem::WrongAudience => "Token has the wrong audience".into(),
            BearerProblem::WrongNonce => "Token has the wrong nonce".into(),
            BearerProblem::WrongAuthorizedParty => "Token has the wrong authorized party".into(),
            BearerProblem::WrongSubject => "Token names another subject".into(),
            BearerProblem::MissingClaim(claim) => format!("Token has no '{claim}' claim"),
            BearerProblem::BadClaim(claim) => format!("Token has an invalid '{claim}' claim"),
        }
    }
}

impl fmt::Display for BearerProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message())
    }
}

impl fmt::Display for BearerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BearerError::Invalid(problem) => write!(f, "{} ({})", problem, problem.as_str()),
            BearerError::IssuerUnavailable(why) => write!(f, "issuer unavailable: {why}"),
        }
    }
}

impl std::error::Error for BearerError {}

impl From<BearerProblem> for BearerError {
    fn from(problem: BearerProblem) -> BearerError {
        BearerError::Invalid(problem)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_stable_snake_case() {
        let all = [
            BearerProblem::Malformed,
            BearerProblem::AlgorithmNotAllowed,
            BearerProblem::UnknownKey,
            BearerProblem::BadSignature,
            BearerProblem::Expired,
            BearerProblem::NotYetValid,
            BearerProblem::IssuedInFuture,
            BearerProblem::WrongIssuer,
            BearerProblem::WrongAudience,
            BearerProblem::WrongNonce,
            BearerProblem::WrongAuthorizedParty,
            BearerProblem::WrongSubject,
            BearerProblem::MissingClaim("exp".into()),
            BearerProblem::BadClaim("groups".into()),
        ];
        for problem in &all {
            let code = problem.as_str();
            assert!(code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'));
            assert!(problem.message().starts_with("Token "), "{problem:?}");
        }
        assert_eq!(
            BearerProblem::MissingClaim("exp".into()).message(),
            "Token has no 'exp' claim"
        );
    }
}
