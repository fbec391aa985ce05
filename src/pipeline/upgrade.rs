//! Stage 8, protocol upgrades (WebSockets): an authorised `Upgrade` request is
//! forwarded with its `Upgrade` and `Connection: upgrade` headers, and when
//! the upstream answers `101 Switching Protocols` the two connections are
//! spliced byte for byte. Every decision (route, session, CSRF Origin
//! check, permissions) has been made before this point.

use http::header::{self, HeaderMap, HeaderValue};
use http::request::Parts;
use http::{Response, StatusCode};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;

use crate::reply::ProxyBody;

/// The protocol an HTTP/1.1 request asks to switch to (`Upgrade:` with
/// `Connection: upgrade`), if any.
pub fn requested(headers: &HeaderMap) -> Option<HeaderValue> {
    let connection_upgrade = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|token| token.trim().eq_ignore_ascii_case("upgrade"));
    if !connection_upgrade {
        return None;
    }
    headers.get(header::UPGRADE).cloned()
}

/// Takes the client side of the upgrade out of the request, before the
/// request is rewritten for the upstream.
pub fn take_client_side(parts: &mut Parts) -> Option<OnUpgrade> {
    parts.extensions.remove::<OnUpgrade>()
}

/// Puts back the two upgrade headers hop-by-hop hygiene removed.
pub fn restore_headers(headers: &mut HeaderMap, protocol: HeaderValue) {
    headers.insert(header::UPGRADE, protocol);
    headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
}

/// Whether the upstream agreed to switch protocols.
pub fn switched(response: &hyper::Response<hyper::body::Incoming>) -> bool {
    response.status() == StatusCode::SWITCHING_PROTOCOLS
}

/// The upstream switched protocols: answers the client with its 101 and
/// splices both connections in the background until either side closes.
pub fn splice(
    mut response: hyper::Response<hyper::body::Incoming>,
    client: OnUpgrade,
    protocol: HeaderValue,
    tracker: crate::connection::upgrades::UpgradeGuard,
) -> Response<ProxyBody> {
    let upstream = hyper::upgrade::on(&mut response);
    let (mut parts, _) = response.into_parts();
    crate::headers::hop_by_hop::strip(&mut parts.headers);
    restore_headers(&mut parts.headers, protocol);
    tokio::spawn(async move {
        let _counted = tracker;
        let (client, upstream) = match tokio::try_join!(client, upstream) {
            Ok(both) => both,
            Err(error) => {
                tracing::debug!(%error, "upgrade did not complete");
                return;
            }
        };
        let (mut client, mut upstream) = (TokioIo::new(client), TokioIo::new(upstream));
        if let Err(error) = tokio::io::copy_bidirectional(&mut client, &mut upstream).await {
            tracing::debug!(%error, "upgraded connection ended");
        }
    });
    Response::from_parts(
        parts,
        http_body_util::Either::Right(http_body_util::Full::new(bytes::Bytes::new())),
    )
}
