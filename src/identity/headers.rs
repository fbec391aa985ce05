//! Stage 6: the identity headers. Every client-sent copy of a header that
//! could carry identity or rewrite what the upstream thinks was requested is
//! removed, on every route, in any case and any number; then, for an
//! authenticated request, the gateway sets its own (SECURITY_CASES B12, B14,
//! B17, D25).

use http::header::{HeaderMap, HeaderName, HeaderValue};

use crate::identity::IdentityHeaders;
use crate::session::state::AuthClass;
use crate::session::Session;

/// Identity headers other proxies and frameworks trust (oauth2-proxy,
/// Apache/nginx auth modules, Django's RemoteUserMiddleware): a client must
/// never be able to smuggle any of them through to the upstream.
static FOREIGN_IDENTITY: [HeaderName; 15] = [
    // Ours: only the gateway signs assertions (`[identity] sign`).
    super::assertion::ASSERTION_HEADER,
    HeaderName::from_static("x-remote-user"),
    HeaderName::from_static("x-remote-groups"),
    HeaderName::from_static("x-remote-permissions"),
    HeaderName::from_static("remote-user"),
    HeaderName::from_static("x-forwarded-user"),
    HeaderName::from_static("x-forwarded-email"),
    HeaderName::from_static("x-forwarded-groups"),
    HeaderName::from_static("x-forwarded-preferred-username"),
    HeaderName::from_static("x-forwarded-access-token"),
    HeaderName::from_static("x-auth-request-user"),
    HeaderName::from_static("x-auth-request-email"),
    HeaderName::from_static("x-auth-request-groups"),
    HeaderName::from_static("x-auth-request-preferred-username"),
    HeaderName::from_static("x-auth-request-access-token"),
];

/// Headers some frameworks use to override the path or method they route
/// on (IIS/Symfony `X-Original-URL`, Rails/Express method override): the
/// decision was made on the request line, so the upstream must see only that.
static OVERRIDES: [HeaderName; 8] = [
    HeaderName::from_static("x-original-url"),
    HeaderName::from_static("x-original-uri"),
    HeaderName::from_static("x-rewrite-url"),
    HeaderName::from_static("x-forwarded-uri"),
    HeaderName::from_static("x-forwarded-prefix"),
    HeaderName::from_static("x-http-method-override"),
    HeaderName::from_static("x-http-method"),
    HeaderName::from_static("x-method-override"),
];

/// Removes every header a client could use to claim an identity or to
/// change what the upstream believes was requested.
///
/// Also every header whose name contains `_`, as nginx does by default
/// (`underscores_in_headers off`): CGI-style servers (WSGI, ASGI: Django,
/// Flask, uvicorn) map `-` and `_` to the same `HTTP_X_REMOTE_USER` key, so
/// `X_Remote_User: admin` would otherwise arrive as our identity header.
/// Names are case-insensitive and already lower-cased by the parser.
pub fn strip_client_claims(headers: &mut HeaderMap, identity: &IdentityHeaders) {
    crate::headers::remove_matching(headers, |name| is_client_claim(name, identity));
}

/// Whether `strip_client_claims` removes a client's header named `name`.
pub fn is_client_claim(name: &HeaderName, identity: &IdentityHeaders) -> bool {
    name.as_str().contains('_') || claim_names(identity).any(|claim| claim == name)
}

/// Every name `strip_client_claims` removes whatever the request holds
/// (the `_` rule aside): for an ingress that removes headers by name
/// (Envoy's `headers_to_remove`), which may not have shown the gateway
/// every header it will forward.
pub fn claim_names(identity: &IdentityHeaders) -> impl Iterator<Item = &HeaderName> {
    [
        &identity.user,
        &identity.groups,
        &identity.permissions,
        &identity.auth,
    ]
    .into_iter()
    .chain(identity.extra_strip.iter())
    .chain(FOREIGN_IDENTITY.iter())
    .chain(OVERRIDES.iter())
}

/// Sets the gateway's identity headers for an authenticated user. A value
/// that is not safe in a header was never turned into one (see
/// `Session::identity`) and is left out.
pub fn inject(headers: &mut HeaderMap, identity: &IdentityHeaders, user: &Session, via: AuthClass) {
    headers.insert(
        identity.auth.clone(),
        HeaderValue::from_static(via.as_str()),
    );
    let values = user.identity();
    for (name, value) in [
        (&identity.user, &values.user),
        (&identity.groups, &values.groups),
        (&identity.permissions, &values.permissions),
    ] {
        match value {
            Some(value) => {
                headers.insert(name.clone(), value.clone());
            }
            // simplejwt's TokenUser may have no username: nothing to send.
            None if *name == identity.user && user.username.is_empty() => {}
            None => {
                tracing::warn!(header = %name, "identity value not safe for a header; not sent")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::NewSession;
    use http::HeaderValue;
    use std::time::SystemTime;

    fn identity() -> IdentityHeaders {
        IdentityHeaders {
            user: HeaderName::from_static("x-user"),
            groups: HeaderName::from_static("x-groups"),
            permissions: HeaderName::from_static("x-perms"),
            auth: HeaderName::from_static("x-auth"),
            extra_strip: vec![HeaderName::from_static("x-tenant")],
            sign: None,
        }
    }

    #[test]
    fn strips_every_copy_then_injects_ours() {
        let mut h = HeaderMap::new();
        for (name, value) in [
            ("x-user", "mallory"),
            ("X-User", "mallory2"),
            ("x-tenant", "other"),
            ("x-forwarded-user", "root"),
            ("x-original-url", "/admin"),
            ("x-http-method-override", "DELETE"),
            ("x_user", "mallory3"),
            ("x_forwarded_user", "root"),
            ("accept", "*/*"),
        ] {
            h.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_static(value),
            );
        }
        let ids = identity();
        strip_client_claims(&mut h, &ids);
        assert_eq!(h.len(), 1);
        let now = SystemTime::now();
        let user = Session::new(
            NewSession {
                username: "alice".into(),
                groups: vec!["ops".into(), "dev".into()],
                permissions: vec!["a.b".into()],
                ..NewSession::default()
            },
            now,
            now,
        );
        inject(&mut h, &ids, &user, AuthClass::Token);
        assert_eq!(h.get_all("x-user").iter().collect::<Vec<_>>(), ["alice"]);
        assert_eq!(h["x-groups"], "ops,dev");
        assert_eq!(h["x-perms"], "a.b");
        assert_eq!(h["x-auth"], "token");
    }
}
