//! Values many sections share: durations, bounded integers, addresses,
//! cookie and header names, each checked the same way wherever it appears.

use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

use http::HeaderName;
use toml::Spanned;

use super::problems::Problems;
use crate::session::MAX_SESSION_TTL;
use crate::tls::client::CaFile;

/// Headers the gateway or HTTP itself owns; none may be an identity header.
const RESERVED_HEADERS: &[&str] = &[
    "host",
    "cookie",
    "set-cookie",
    "content-length",
    "content-type",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "upgrade",
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-forwarded-host",
];

/// An integer setting within `range`, or `default` when unset.
pub(super) fn bounded(
    problems: &mut Problems,
    value: Option<&Spanned<u64>>,
    default: u64,
    range: std::ops::RangeInclusive<u64>,
    key: &str,
) -> u64 {
    let Some(value) = value else { return default };
    if !range.contains(value.get_ref()) {
        problems.at(
            value.span(),
            format!(
                "{key} must be between {} and {}",
                range.start(),
                range.end()
            ),
        );
        return default;
    }
    *value.get_ref()
}

pub(super) fn socket_addr(
    problems: &mut Problems,
    value: &Spanned<String>,
    key: &str,
) -> SocketAddr {
    value.get_ref().parse().unwrap_or_else(|_| {
        problems.at(
            value.span(),
            format!(
                "{key} = {:?} is not an IP address and port (e.g. \"127.0.0.1:8080\")",
                value.get_ref()
            ),
        );
        SocketAddr::from(([127, 0, 0, 1], 0))
    })
}

/// `10.0.0.0/8`, `::1/128`, or a single address.
pub(super) fn ip_range(problems: &mut Problems, entry: &Spanned<String>) -> Option<ipnet::IpNet> {
    let text = entry.get_ref();
    let parsed = text
        .parse::<ipnet::IpNet>()
        .or_else(|_| text.parse::<std::net::IpAddr>().map(ipnet::IpNet::from));
    match parsed {
        Ok(net) => Some(ipv4_if_mapped(net.trunc())),
        Err(_) => {
            problems.at(
                entry.span(),
                format!("{text:?} is not an IP address or CIDR range (e.g. \"10.0.0.0/8\")"),
            );
            None
        }
    }
}

/// `::ffff:10.0.0.0/104` as `10.0.0.0/8`: addresses are compared in their
/// canonical form (an IPv4-mapped client is its IPv4 address), so a range
/// written mapped must be too, or it would match nothing.
fn ipv4_if_mapped(net: ipnet::IpNet) -> ipnet::IpNet {
    match net {
        ipnet::IpNet::V6(v6) if v6.prefix_len() >= 96 => v6
            .addr()
            .to_ipv4_mapped()
            .and_then(|v4| ipnet::Ipv4Net::new(v4, v6.prefix_len() - 96).ok())
            .map_or(net, ipnet::IpNet::V4),
        other => other,
    }
}

pub(super) fn duration(
    problems: &mut Problems,
    value: Option<&Spanned<String>>,
    default: &str,
) -> Duration {
    let Some(value) = value else {
        // Invariant: every default passed here is a valid humantime literal.
        return humantime::parse_duration(default).expect("valid default duration");
    };
    match humantime::parse_duration(value.get_ref()) {
        // Capped so deadlines computed as `now + d` can never overflow.
        Ok(d) if d > MAX_SESSION_TTL => {
            problems.at(value.span(), "duration must be at most 100 years");
            Duration::from_secs(1)
        }
        Ok(d) if d > Duration::ZERO => d,
        Ok(_) => {
            problems.at(value.span(), "duration must be greater than zero");
            Duration::from_secs(1)
        }
        Err(e) => {
            problems.at(
                value.span(),
                format!(
                    "{:?} is not a duration ({e}); write e.g. \"500ms\", \"30s\", \"14d\"",
                    value.get_ref()
                ),
            );
            Duration::from_secs(1)
        }
    }
}

pub(super) fn cookie_name(
    problems: &mut Problems,
    value: Option<&Spanned<String>>,
    default: &str,
) -> String {
    let Some(value) = value else {
        return default.to_string();
    };
    let name = value.get_ref();
    let is_token = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    if !is_token {
        problems.at(value.span(), format!("{name:?} is not a valid cookie name"));
    }
    name.clone()
}

pub(super) fn header_name(
    problems: &mut Problems,
    value: Option<&Spanned<String>>,
    default: &str,
) -> HeaderName {
    let Some(value) = value else {
        return HeaderName::from_str(default).expect("a valid default header name");
    };
    match HeaderName::from_str(value.get_ref()) {
        Ok(name) if RESERVED_HEADERS.contains(&name.as_str()) => {
            problems.at(
                value.span(),
                format!(
                    "{:?} is owned by HTTP or the gateway; pick another header name",
                    value.get_ref()
                ),
            );
            name
        }
        Ok(name) => name,
        Err(_) => {
            problems.at(
                value.span(),
                format!("{:?} is not a valid header name", value.get_ref()),
            );
            HeaderName::from_str(default).expect("a valid default header name")
        }
    }
}

/// A CA file (`key`), read relative to the config file's directory.
pub(super) fn ca_file(
    problems: &mut Problems,
    file: &Spanned<String>,
    base: &std::path::Path,
    key: &str,
) -> Option<CaFile> {
    let path = base.join(file.get_ref());
    match std::fs::read(&path) {
        Ok(pem) => Some(CaFile {
            path,
            pem: pem.into(),
        }),
        Err(e) => {
            problems.at(
                file.span(),
                format!("{key}: cannot read {}: {e}", path.display()),
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ipv4_if_mapped;

    #[test]
    fn mapped_ranges_are_read_as_their_ipv4_range() {
        let net = |text: &str| text.parse::<ipnet::IpNet>().unwrap();
        assert_eq!(
            ipv4_if_mapped(net("::ffff:10.0.0.0/104")),
            net("10.0.0.0/8")
        );
        assert_eq!(
            ipv4_if_mapped(net("::ffff:192.0.2.7/128")),
            net("192.0.2.7/32")
        );
        // Not mapped, or wider than the mapped block: as written.
        assert_eq!(ipv4_if_mapped(net("2001:db8::/32")), net("2001:db8::/32"));
        assert_eq!(ipv4_if_mapped(net("::/0")), net("::/0"));
    }
}
