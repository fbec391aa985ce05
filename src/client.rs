//! Who the client is: the TCP peer, or — when the peer is one of
//! `server.trusted_proxies` — the rightmost `X-Forwarded-For` address that is
//! not a trusted proxy itself (the left part of that header is whatever the
//! client chose to send, and is never believed).

use std::net::IpAddr;

use http::HeaderMap;

/// `server.trusted_proxies`: the proxies in front of the gateway whose
/// forwarding headers count.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(pub Vec<ipnet::IpNet>);

impl TrustedProxies {
    /// True when `address` is one of the trusted proxies.
    pub fn contains(&self, address: IpAddr) -> bool {
        let address = address.to_canonical();
        self.0.iter().any(|net| net.contains(&address))
    }
}

/// The client's address: `peer`, or what trusted proxies say it is (the
/// peer itself when they name none).
pub fn client_address(peer: IpAddr, headers: &HeaderMap, trusted: &TrustedProxies) -> IpAddr {
    resolved_client(peer, headers, trusted, false).unwrap_or_else(|| peer.to_canonical())
}

/// The client's address, or `None` when `peer` is a trusted proxy (or,
/// with `peer_trusted`, an ingress already trusted) whose X-Forwarded-For
/// names none: no header, an entry that is not an address (checked before
/// anything left of it is believed), or trusted proxies only.
pub fn resolved_client(
    peer: IpAddr,
    headers: &HeaderMap,
    trusted: &TrustedProxies,
    peer_trusted: bool,
) -> Option<IpAddr> {
    let peer = peer.to_canonical();
    if !peer_trusted && !trusted.contains(peer) {
        return Some(peer);
    }
    // Bytes, not text: a line holding a byte that is not UTF-8 is still
    // split, so what a proxy appended to it is found, not skipped.
    let hops: Vec<&[u8]> = headers
        .get_all("x-forwarded-for")
        .iter()
        .flat_map(|v| v.as_bytes().split(|b| *b == b','))
        .collect();
    for hop in hops.into_iter().rev() {
        let address = std::str::from_utf8(hop)
            .ok()
            .and_then(|hop| hop.trim().parse::<IpAddr>().ok())?;
        if !trusted.contains(address) {
            return Some(address.to_canonical());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn server(trusted: &[&str]) -> TrustedProxies {
        TrustedProxies(trusted.iter().map(|t| t.parse().unwrap()).collect())
    }

    fn xff(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn only_trusted_peers_name_the_client() {
        let lb: IpAddr = "10.0.0.2".parse().unwrap();
        let s = server(&["10.0.0.0/8"]);
        assert_eq!(
            client_address(lb, &xff("1.2.3.4, 203.0.113.9, 10.0.0.7"), &s),
            "203.0.113.9".parse::<IpAddr>().unwrap()
        );
        assert_eq!(client_address(lb, &HeaderMap::new(), &s), lb);
        assert_eq!(client_address(lb, &xff("junk, 10.0.0.7"), &s), lb);
        let stranger: IpAddr = "198.51.100.1".parse().unwrap();
        assert_eq!(client_address(stranger, &xff("1.2.3.4"), &s), stranger);
    }

    #[test]
    fn a_line_that_is_not_utf8_still_yields_what_the_proxy_appended() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            HeaderValue::from_bytes(b"\x80, 203.0.113.9").unwrap(),
        );
        let peer: IpAddr = "10.0.0.1".parse().unwrap();
        let trusted = server(&["10.0.0.0/8"]);
        assert_eq!(
            resolved_client(peer, &headers, &trusted, false),
            Some("203.0.113.9".parse().unwrap())
        );
    }

    #[test]
    fn a_chain_naming_no_client_resolves_to_none() {
        let peer: IpAddr = "10.0.0.1".parse().unwrap();
        let trusted = server(&["10.0.0.0/8"]);
        for chain in ["10.0.0.2", "junk, 10.0.0.2", "203.0.113.9:80"] {
            assert_eq!(
                resolved_client(peer, &xff(chain), &trusted, false),
                None,
                "{chain}"
            );
        }
        assert_eq!(
            resolved_client(peer, &HeaderMap::new(), &trusted, false),
            None
        );
        // The proxy itself stands in where a client must be named.
        assert_eq!(client_address(peer, &HeaderMap::new(), &trusted), peer);
        // An ingress already trusted: its header names the client.
        let ingress: IpAddr = "192.0.2.5".parse().unwrap();
        assert_eq!(
            resolved_client(ingress, &xff("198.51.100.7"), &trusted, true),
            Some("198.51.100.7".parse().unwrap())
        );
        assert_eq!(
            resolved_client(ingress, &HeaderMap::new(), &trusted, true),
            None
        );
    }
}
