//! Stage 8: forwarding. Rewrites the request head for the upstream
//! (canonical path, hop-by-hop hygiene, X-Forwarded-*); `upstream` sends it.

use std::net::SocketAddr;

use bytes::BytesMut;
use http::header::{self, HeaderName, HeaderValue};
use http::uri::{Authority, PathAndQuery, Scheme, Uri};
use http::Version;

use crate::denial::Denial;
use crate::headers::hop_by_hop;
use crate::upstream::UpstreamSettings;

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

/// Forwarding headers only a trusted proxy in front of us may set; from
/// anyone else they are dropped, so the upstream never takes a client's word
/// for its own address, scheme or port (SECURITY_CASES B14).
const PROXY_ONLY: [HeaderName; 3] = [
    header::FORWARDED,
    HeaderName::from_static("x-real-ip"),
    HeaderName::from_static("x-forwarded-port"),
];

/// The URI sent upstream: the upstream's scheme and authority, the
/// canonical path that was matched, and the client's query untouched.
pub fn upstream_uri(
    upstream: &UpstreamSettings,
    canonical_path: &str,
    original: &Uri,
) -> Result<Uri, Denial> {
    let path_and_query = match (original.path_and_query(), original.query()) {
        // Already canonical: reuse the parsed bytes (no copy).
        (Some(pq), _) if pq.path() == canonical_path => pq.clone(),
        (_, query) => {
            let mut text =
                BytesMut::with_capacity(canonical_path.len() + query.map_or(0, |q| q.len() + 1));
            text.extend_from_slice(canonical_path.as_bytes());
            if let Some(query) = query {
                text.extend_from_slice(b"?");
                text.extend_from_slice(query.as_bytes());
            }
            PathAndQuery::from_maybe_shared(text.freeze()).map_err(|_| Denial::bad_path())?
        }
    };
    build_uri(
        upstream.scheme.clone(),
        upstream.authority.clone(),
        path_and_query,
    )
}

fn build_uri(
    scheme: Scheme,
    authority: Authority,
    path_and_query: PathAndQuery,
) -> Result<Uri, Denial> {
    let mut parts = http::uri::Parts::default();
    parts.scheme = Some(scheme);
    parts.authority = Some(authority);
    parts.path_and_query = Some(path_and_query);
    Uri::from_parts(parts).map_err(|_| Denial::bad_path())
}

/// What this hop saw of the client, for the X-Forwarded-* headers.
#[derive(Debug, Clone, Copy)]
pub struct Hop {
    pub peer: SocketAddr,
    /// The peer is one of `server.trusted_proxies`.
    pub from_trusted_proxy: bool,
    /// `https` or `http`: how the request reached our listener.
    pub scheme: &'static str,
}

/// Rewrites headers for the upstream: hop-by-hop removed, Host kept (taken
/// from the HTTP/2 authority when there is no Host header), the cookie
/// fields joined into one header as the gateway read them, and the X-Forwarded-* set: from a trusted
/// proxy, X-Forwarded-For is appended to and its X-Forwarded-Proto/Host are
/// kept; from anyone else, they are replaced by what this hop saw.
pub fn prepare_headers(request: &mut http::request::Parts, host: Option<HeaderValue>, hop: Hop) {
    let Hop {
        peer,
        from_trusted_proxy,
        scheme,
    } = hop;
    request.version = Version::HTTP_11;
    let headers = &mut request.headers;
    hop_by_hop::strip(headers);
    // HTTP/2's fields were joined with "; " at intake; repeated HTTP/1.1
    // lines are sent as the one string the gateway read them as.
    crate::cookies::join_fields(headers, b",");

    let peer_ip = peer.ip().to_canonical();
    let forwarded_for = match joined(headers, &X_FORWARDED_FOR).filter(|_| from_trusted_proxy) {
        Some(earlier) => HeaderValue::from_str(&format!("{earlier}, {peer_ip}")).ok(),
        None => ip_header_value(peer_ip),
    };
    headers.remove(&X_FORWARDED_FOR);
    if let Some(value) = forwarded_for {
        headers.insert(X_FORWARDED_FOR, value);
    }
    if !from_trusted_proxy {
        crate::headers::remove_matching(headers, |name| PROXY_ONLY.contains(name));
    }
    if !(from_trusted_proxy && headers.contains_key(&X_FORWARDED_PROTO)) {
        headers.insert(X_FORWARDED_PROTO, HeaderValue::from_static(scheme));
    }
    if !(from_trusted_proxy && headers.contains_key(&X_FORWARDED_HOST)) {
        match &host {
            Some(host) => {
                headers.insert(X_FORWARDED_HOST, host.clone());
            }
            None => {
                headers.remove(X_FORWARDED_HOST);
            }
        }
    }
    if let Some(host) = host {
        headers.insert(header::HOST, host);
    }
}

/// Every value of `name`, joined with ", " as RFC 9110 allows for lists.
fn joined(headers: &http::HeaderMap, name: &HeaderName) -> Option<String> {
    let mut values = headers.get_all(name).iter().filter_map(|v| v.to_str().ok());
    let first = values.next()?;
    Some(values.fold(first.to_string(), |mut all, v| {
        all.push_str(", ");
        all.push_str(v);
        all
    }))
}

/// An address as a header value, formatted on the stack (the usual
/// X-Forwarded-For: this hop's peer alone).
fn ip_header_value(ip: std::net::IpAddr) -> Option<HeaderValue> {
    use std::io::Write;
    // The longest IPv6 text is 45 bytes.
    let mut text = [0u8; 64];
    let mut cursor = std::io::Cursor::new(&mut text[..]);
    write!(cursor, "{ip}").ok()?;
    let written = usize::try_from(cursor.position()).ok()?;
    HeaderValue::from_bytes(&text[..written]).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_become_header_values_whole() {
        let longest: std::net::IpAddr = "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255"
            .parse()
            .unwrap();
        for ip in ["127.0.0.1", "2001:db8::1", "::1"] {
            let parsed: std::net::IpAddr = ip.parse().unwrap();
            assert_eq!(ip_header_value(parsed).unwrap(), ip);
        }
        assert_eq!(
            ip_header_value(longest).unwrap().to_str().unwrap(),
            longest.to_string()
        );
    }
}
