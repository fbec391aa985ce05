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

/// The client's address: `peer`, or what trusted proxies say it is.
pub fn client_address(peer: IpAddr, headers: &HeaderMap, trusted: &TrustedProxies) -> IpAddr {
    let peer = peer.to_canonical();
    if !trusted.contains(peer) {
        return peer;
    }
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .collect();
    for hop in hops.into_iter().rev() {
        match hop.trim().parse::<IpAddr>() {
            Ok(address) if trusted.contains(address) => continue,
            Ok(address) => return address.to_canonical(),
            // An unreadable entry: stop here rather than trust what is left of it.
            Err(_) => break,
        }
    }
    peer
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
}
