//! The fix for each denial, in one sentence: what `explain` prints and,
//! with `[diagnostics] debug = true`, the `hint` beside DRF's `detail`.
//! Built only when asked for, never on the forwarding path.

use std::fmt;

use crate::config::Config;
use crate::denial::{Cause, Denial, Lack, Rank, Reason};

/// What the client (or the operator) should change so the request passes.
pub fn hint(denial: &Denial, config: &Config) -> String {
    let cause = denial.cause.as_deref();
    let header = config.csrf.header_name.as_str();
    let csrf_cookie = &config.csrf.cookie_name;
    let session_cookie = &config.session.cookie_name;
    let prefix = &config.server.internal_prefix;
    match denial.reason {
        Reason::BadPath => "The path is malformed (an encoded '/', '\\' or NUL, a broken %-escape, or '..' above the root): send the plain path.".into(),
        Reason::BadHost => "Send exactly one Host header, the same as the URL's host.".into(),
        Reason::NoRoute => format!("No [[routes]] entry matches {} and default_access is \"deny\": add a route for it (or ask the operator to).", Asked(cause)),
        Reason::RouteDenied => {
            let route = match cause {
                Some(Cause::RouteDenied { route }) => route.as_str(),
                _ => "",
            };
            format!("Route {route:?} has access = \"deny\": nobody may use it through the gateway.")
        }
        Reason::NotAuthenticated => {
            let why = match cause {
                Some(Cause::NoSession(why)) => why.describe(session_cookie),
                _ => "there is no session".to_string(),
            };
            format!("Sign in (POST {prefix}/login) and send the {session_cookie} cookie it sets: {why}.")
        }
        Reason::PermissionDenied => match cause {
            Some(Cause::Permission(lack)) => sentence(lacking(lack)),
            _ => "The user may not do this.".into(),
        },
        Reason::MethodNotAllowed => "Model permissions (DjangoModelPermissions) cover GET, HEAD, OPTIONS, POST, PUT, PATCH and DELETE only: use one of those.".into(),
        Reason::SessionStoreUnavailable => "The session store did not answer: check the gateway's /readyz and the store itself; the request fails closed meanwhile.".into(),
        Reason::UpstreamUnavailable => "The upstream refused the connection or broke it off: check that it is running at upstream.url.".into(),
        Reason::UpstreamTimeout => "The upstream did not answer within upstream.timeout: look at why it is slow.".into(),
        Reason::BadBody => "The request body could not be read as sent (broken framing, an invalid multipart boundary, or JSON that Python's json module refuses, as the detail says): fix it and resend it whole.".into(),
        Reason::BodyTimeout => "The body stopped arriving for server.body_read_timeout: send it without pausing.".into(),
        Reason::FormTooLarge => "A url-encoded form over csrf.form_body_limit is refused, as Django's DATA_UPLOAD_MAX_MEMORY_SIZE: send less, or send it as JSON.".into(),
        Reason::BodyTooLarge => {
            let limit = match cause {
                Some(Cause::BodyLimit(limit)) => limit.to_string(),
                _ => String::new(),
            };
            format!("The route accepts bodies up to {limit} bytes (its max_body): send less.")
        }
        Reason::HeadersTooLarge => format!("The request head is over server.max_header_bytes ({} bytes), often because a cookie grew too big: clear the site's cookies, or send fewer or smaller headers.", config.server.max_header_bytes),
        Reason::InvalidCredentials => "The username or password is wrong, or the user is inactive.".into(),
        Reason::Throttled => match cause {
            Some(Cause::Throttled { kind, rate, counted_as }) => format!("The route's {kind} throttle ({rate}) has counted as many requests from {counted_as} as it allows: wait for Retry-After seconds (DRF's sliding window: the oldest request must leave it)."),
            _ => "Too many requests (or, at sign-in, failed sign-ins): wait for Retry-After seconds.".into(),
        },
        Reason::UnsupportedMediaType => "Send the body as application/json, application/x-www-form-urlencoded or multipart/form-data (DRF's parsers; the sign-in takes the first two).".into(),
        Reason::UnknownFormat => "?format= may only be json or api (DRF's renderers): drop it or use one of those.".into(),
        Reason::NotAcceptable => "Accept must admit application/json or text/html (DRF's renderers): send Accept: application/json.".into(),
        Reason::NotFound => format!("No such gateway endpoint under {prefix}."),
        Reason::CsrfBadOrigin => "The Origin is neither this site (scheme://Host) nor in [csrf] trusted_origins: send the request from this site, or add the page's origin to trusted_origins if it is yours.".into(),
        Reason::CsrfNoReferer => "An HTTPS request without Origin needs a Referer from this site: check the page's Referrer-Policy (no-referrer removes it).".into(),
        Reason::CsrfMalformedReferer => "The Referer is not a URL: send this page's address.".into(),
        Reason::CsrfInsecureReferer => "An HTTPS request came from an http:// page: serve that page over HTTPS.".into(),
        Reason::CsrfBadReferer => "The Referer is not this site: send the request from this site, or add the page's origin to [csrf] trusted_origins.".into(),
        Reason::CsrfCookieMissing => format!("Send the {csrf_cookie} cookie: any GET through the gateway sets it (or GET {prefix}/csrf), then send it back with this request."),
        Reason::CsrfCookieMalformed => format!("The {csrf_cookie} cookie must be 32 or 64 letters and digits; this response sets a fresh one: retry with it."),
        Reason::CsrfTokenMissing => format!("Send the {csrf_cookie} cookie's value in the {header} header (or the csrfmiddlewaretoken form field)."),
        Reason::CsrfTokenMalformed => format!("The token must be 32 or 64 letters and digits: send the {csrf_cookie} cookie's value unchanged in {header}."),
        Reason::CsrfTokenIncorrect => format!("The token does not match the {csrf_cookie} cookie: send that cookie's current value in {header} (it changes when you sign in)."),
        Reason::TokenHeaderInvalid => format!("Send exactly `Authorization: {} <key>`: one key, no spaces in it, UTF-8.", config.authentication.token.keyword),
        Reason::TokenInvalid => "No such token: it was deleted or never made; ask for a new one (Django's Token, or the gateway's POST /tokens).".into(),
        Reason::UserInactive => "The credential's user is inactive (is_active is false): an administrator must reactivate them.".into(),
        Reason::JwtHeaderInvalid => "Send `Authorization: Bearer <access token>`: the scheme word and one token, nothing else.".into(),
        Reason::JwtInvalid => "The access token is invalid or expired (see messages): get a new one from the token endpoint (simplejwt's TokenObtainPairView or TokenRefreshView).".into(),
        Reason::JwtUserNotFound => "The token's user id names no user in Django's database: the user was deleted, or the token was made for another database.".into(),
        Reason::BearerInvalid => "The bearer token was refused (see the reason): get a fresh token from the issuer, for this audience.".into(),
        Reason::UntrustedIngress => "Only the ingress proxies in decision.trusted_ingress may ask for decisions: add the ingress's address, or send clients to the proxy listener.".into(),
        Reason::OidcStateInvalid => "This sign-in was not started by this browser, or took over 10 minutes: start it again (cookies must be allowed for the site).".into(),
        Reason::OidcProviderError => "The identity provider ended the sign-in with the error named: check the client's settings there (redirect URI, scopes) or the user's access.".into(),
        Reason::OidcUnavailable => "The identity provider (oidc.issuer) could not be reached or answered nonsense: see the gateway's log for what failed.".into(),
        Reason::OidcTokenInvalid => "The provider refused the code (already used or expired) or its ID token did not verify (see the log): start the sign-in again.".into(),
        Reason::IpNotAllowed => match cause {
            Some(Cause::IpNotAllowed { address, refusal: crate::denial::IpRefusal::Unresolved }) => format!("The request came through {address}, a trusted proxy or ingress, and no client address could be read from it: have it send X-Forwarded-For with the client's address (on the decision listener, also set decision.client_address = \"x-forwarded-for\")."),
            Some(Cause::IpNotAllowed { address, refusal }) => format!("The gateway sees this request as coming from {address}, and {refusal}: send it from an admitted network. Behind a proxy, the address is the one server.trusted_proxies make of X-Forwarded-For."),
            _ => "The route's allow_ips or deny_ips refuse the client's address.".into(),
        },
        Reason::OidcNotAllowed => "The identity provider signed the user in, but oidc.allowed_groups or oidc.allowed_email_domains does not let them in here.".into(),
        Reason::BadDecisionRequest => "Configure the ingress to name the original request: nginx X-Original-Method and X-Original-URI, Traefik and Caddy X-Forwarded-Method and X-Forwarded-Uri, Envoy the path_prefix of decision.envoy_path_prefix (docs/ingress.md).".into(),
        Reason::IssuerUnavailable => "The token issuer's keys (JWKS) could not be fetched and none are cached: check the issuer and [bearer] jwks_url; the request fails closed meanwhile.".into(),
    }
}

/// What a user lacks, as one clause (`the user alice lacks app.perm`):
/// the fix text, and what `explain` says at the failing check.
pub fn lacking(lack: &Lack) -> String {
    match lack {
        Lack::Rank {
            route,
            rank,
            username,
        } => {
            let needs = match rank {
                Rank::Staff => "a staff user",
                Rank::Superuser => "a superuser",
            };
            format!("route {route:?} needs {needs}, and {username} is not one")
        }
        Lack::Permissions { username, missing } => {
            format!("the user {username} lacks {}", missing.join(", "))
        }
        Lack::AnyPermission { username, wanted } => {
            format!("the user {username} holds none of {}", wanted.join(", "))
        }
        Lack::AnyGroup { username, groups } => format!(
            "the user {username} is in none of the groups {}",
            groups.join(", ")
        ),
        Lack::ModelPermission {
            username,
            permission,
        } => format!("the user {username} lacks {permission}"),
    }
}

/// A clause as a sentence: capitalised (every clause `lacking` makes
/// starts with an ASCII letter), with a full stop.
fn sentence(mut clause: String) -> String {
    if let Some(first) = clause.get_mut(..1) {
        first.make_ascii_uppercase();
    }
    clause.push('.');
    clause
}

/// The method and path of a `no_route` cause (`GET /x`), or nothing.
struct Asked<'a>(Option<&'a Cause>);

impl fmt::Display for Asked<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(Cause::NoRoute { method, path }) => write!(f, "{method} {path}"),
            _ => Ok(()),
        }
    }
}
