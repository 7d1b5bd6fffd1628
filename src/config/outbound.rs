//! The typed sections of what leaves the node — `[[destinations]]`, `[routing]` and
//! `[delivery]` — and their builders from the raw TOML.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use super::raw::{RawDelivery, RawDestination, RawRouting};
use super::{ConfigError, invalid, positive};
use crate::ids::AeTitle;

/// One `[[destinations]]` entry: a peer we send to by C-STORE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    pub name: String,
    pub ae_title: AeTitle,
    pub address: PeerAddress,
}

/// A destination's `host:port` as written. A host name is resolved by the SCU at every
/// connection attempt, not here: the PACS name may not resolve while the node starts (DNS down,
/// a VPN not yet up) and its address may change while the node runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerAddress {
    host: String,
    port: u16,
}

impl PeerAddress {
    /// `host:port` with a host name, an IPv4 address or a bracketed IPv6 address (`[::1]:104`).
    pub fn parse(text: &str) -> Result<Self, String> {
        let bad = |why: &str| format!("`{text}` is not a host:port address ({why})");
        let (host, port) = text.rsplit_once(':').ok_or_else(|| bad("no port"))?;
        let port: u16 = port.parse().map_err(|_| bad("the port is not 1-65535"))?;
        if port == 0 {
            return Err(bad("the port is not 1-65535"));
        }
        let host = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            Some(v6) if v6.parse::<std::net::Ipv6Addr>().is_ok() => v6,
            Some(_) => return Err(bad("not an IPv6 address in brackets")),
            None if host.contains(':') => return Err(bad("an IPv6 address needs brackets")),
            None if host.parse::<IpAddr>().is_ok() || is_host_name(host) => host,
            None => return Err(bad("not a host name or IP address")),
        };
        Ok(Self {
            host: host.to_owned(),
            port,
        })
    }

    /// The host name or IP address (IPv6 without brackets), for name resolution.
    pub fn host(&self) -> &str {
        &self.host
    }

    pub fn port(&self) -> u16 {
        self.port
    }
}

/// RFC 1123 host name: dot-separated labels of letters, digits and hyphens (underscores are
/// tolerated: some hospital DNS has them), at most 253 characters.
fn is_host_name(host: &str) -> bool {
    let label = |l: &str| {
        (1..=63).contains(&l.len())
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    };
    host.len() <= 253 && host.trim_end_matches('.').split('.').all(label)
}

impl From<SocketAddr> for PeerAddress {
    fn from(addr: SocketAddr) -> Self {
        Self {
            host: addr.ip().to_string(),
            port: addr.port(),
        }
    }
}

impl std::fmt::Display for PeerAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.host.contains(':') {
            true => write!(f, "[{}]:{}", self.host, self.port),
            false => write!(f, "{}:{}", self.host, self.port),
        }
    }
}

/// `[routing]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutingConfig {
    /// Names of the destinations that receive every SEG (each one a `[[destinations]]` entry).
    pub send_seg_to: Vec<String>,
}

/// What the delivery service needs: `[delivery]`, the destinations it may send to and our AE
/// title as the calling AE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryConfig {
    pub calling: AeTitle,
    pub destinations: Vec<Destination>,
    /// A SEG refused this many times for a transient reason is failed.
    pub max_attempts: u32,
    /// The first retry delay; it doubles after each failure up to `retry_max`.
    pub retry_initial: Duration,
    pub retry_max: Duration,
}

pub(super) fn destinations(raw: &[RawDestination]) -> Result<Vec<Destination>, ConfigError> {
    let mut out: Vec<Destination> = Vec::with_capacity(raw.len());
    for (i, d) in raw.iter().enumerate() {
        let key = |k: &str| format!("destinations[{i}].{k}");
        if d.name.trim().is_empty() {
            return Err(invalid(key("name"), "must not be empty"));
        }
        if out.iter().any(|o| o.name == d.name) {
            return Err(invalid(key("name"), format!("`{}` is used twice", d.name)));
        }
        out.push(Destination {
            name: d.name.clone(),
            ae_title: AeTitle::parse(&d.ae_title)
                .map_err(|e| invalid(key("ae_title"), e.to_string()))?,
            address: PeerAddress::parse(&d.address).map_err(|e| invalid(key("address"), e))?,
        });
    }
    Ok(out)
}

pub(super) fn routing(
    raw: RawRouting,
    destinations: &[Destination],
) -> Result<RoutingConfig, ConfigError> {
    for name in &raw.send_seg_to {
        if !destinations.iter().any(|d| &d.name == name) {
            return Err(invalid(
                "routing.send_seg_to",
                format!("`{name}` is not the name of any [[destinations]] entry"),
            ));
        }
    }
    Ok(RoutingConfig {
        send_seg_to: raw.send_seg_to,
    })
}

pub(super) fn delivery(
    raw: &RawDelivery,
    calling: AeTitle,
    destinations: Vec<Destination>,
) -> Result<DeliveryConfig, ConfigError> {
    positive("delivery.max_attempts", raw.max_attempts as u64)?;
    positive("delivery.retry_initial_seconds", raw.retry_initial_seconds)?;
    if raw.retry_max_seconds < raw.retry_initial_seconds {
        return Err(invalid(
            "delivery.retry_max_seconds",
            "must be at least delivery.retry_initial_seconds",
        ));
    }
    Ok(DeliveryConfig {
        calling,
        destinations,
        max_attempts: raw.max_attempts,
        retry_initial: Duration::from_secs(raw.retry_initial_seconds),
        retry_max: Duration::from_secs(raw.retry_max_seconds),
    })
}

#[cfg(test)]
mod tests {
    use super::PeerAddress;

    #[test]
    fn destination_addresses_may_be_host_names() {
        let ok =
            |s: &str| PeerAddress::parse(s).map(|a| (a.host().to_owned(), a.port(), a.to_string()));
        let name = (
            "pacs.hospital.local".to_owned(),
            104,
            "pacs.hospital.local:104".to_owned(),
        );
        assert_eq!(ok("pacs.hospital.local:104"), Ok(name));
        assert_eq!(
            ok("10.0.0.5:11112").map(|a| a.2),
            Ok("10.0.0.5:11112".to_owned())
        );
        assert_eq!(
            ok("[::1]:104").map(|a| (a.0, a.2)),
            Ok(("::1".to_owned(), "[::1]:104".to_owned()))
        );
        for bad in [
            "pacs",
            "pacs:0",
            "pacs:70000",
            ":104",
            "pa cs:104",
            "::1:104",
            "[pacs]:104",
            "-x.local:104",
        ] {
            assert!(PeerAddress::parse(bad).is_err(), "{bad} must be refused");
        }
    }
}
