//! A route's `allow_ips` and `deny_ips`: which client addresses may use it
//! at all, decided on the address `server.trusted_proxies` makes of the
//! connection (`crate::client`), before anyone is authenticated.

use std::net::IpAddr;

use ipnet::IpNet;

pub use crate::denial::IpRefusal;

/// The address ranges a route admits and refuses. `deny` wins over
/// `allow`; an empty `allow` admits every address not denied.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IpRules {
    /// `allow_ips`: when not empty, only these ranges are admitted.
    pub allow: Box<[IpNet]>,
    /// `deny_ips`: these ranges are refused, even inside `allow`.
    pub deny: Box<[IpNet]>,
}

impl IpRules {
    /// No rule: every address is admitted (and none is looked at).
    pub fn is_empty(&self) -> bool {
        self.allow.is_empty() && self.deny.is_empty()
    }

    /// Whether `client` may use the route. IPv4-mapped IPv6 addresses
    /// (`::ffff:10.0.0.1`, from a dual-stack listener) are read as the
    /// IPv4 address they carry, so `10.0.0.0/8` covers them.
    pub fn admits(&self, client: IpAddr) -> Result<(), IpRefusal> {
        let client = client.to_canonical();
        if let Some(range) = self.deny.iter().find(|range| range.contains(&client)) {
            return Err(IpRefusal::Denied(*range));
        }
        if self.allow.is_empty() || self.allow.iter().any(|range| range.contains(&client)) {
            Ok(())
        } else {
            Err(IpRefusal::NotAllowed)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(allow: &[&str], deny: &[&str]) -> IpRules {
        let nets = |list: &[&str]| list.iter().map(|n| n.parse().unwrap()).collect();
        IpRules {
            allow: nets(allow),
            deny: nets(deny),
        }
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn no_rules_admit_everyone() {
        let none = IpRules::default();
        assert!(none.is_empty());
        assert_eq!(none.admits(ip("203.0.113.7")), Ok(()));
    }

    #[test]
    fn allow_admits_only_its_ranges() {
        let office = rules(&["10.0.0.0/8", "2001:db8::/32"], &[]);
        assert_eq!(office.admits(ip("10.1.2.3")), Ok(()));
        assert_eq!(office.admits(ip("2001:db8::1")), Ok(()));
        assert_eq!(office.admits(ip("192.0.2.1")), Err(IpRefusal::NotAllowed));
        assert_eq!(office.admits(ip("2001:db9::1")), Err(IpRefusal::NotAllowed));
    }

    #[test]
    fn deny_wins_over_allow() {
        let office = rules(&["10.0.0.0/8"], &["10.9.0.0/16"]);
        assert_eq!(office.admits(ip("10.1.0.1")), Ok(()));
        assert_eq!(
            office.admits(ip("10.9.4.4")),
            Err(IpRefusal::Denied("10.9.0.0/16".parse().unwrap()))
        );
    }

    #[test]
    fn deny_alone_admits_the_rest() {
        let blocklist = rules(&[], &["198.51.100.0/24"]);
        assert_eq!(blocklist.admits(ip("198.51.99.255")), Ok(()));
        assert!(blocklist.admits(ip("198.51.100.9")).is_err());
    }

    #[test]
    fn mapped_ipv6_is_its_ipv4_address() {
        let office = rules(&["10.0.0.0/8"], &["10.9.0.0/16"]);
        assert_eq!(office.admits(ip("::ffff:10.1.2.3")), Ok(()));
        assert!(office.admits(ip("::ffff:10.9.0.1")).is_err());
    }
}
