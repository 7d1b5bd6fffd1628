//! The typed sections of what leaves the node — `[[destinations]]`, `[routing]` and
//! `[delivery]` — and their builders from the raw TOML.

use std::net::SocketAddr;
use std::time::Duration;

use super::raw::{RawDelivery, RawDestination, RawRouting};
use super::{ConfigError, invalid, parse_addr, positive};
use crate::ids::AeTitle;

/// One `[[destinations]]` entry: a peer we send to by C-STORE.
#[derive(Debug, Clone)]
pub struct Destination {
    pub name: String,
    pub ae_title: AeTitle,
    pub address: SocketAddr,
}

/// `[routing]`.
#[derive(Debug, Clone)]
pub struct RoutingConfig {
    /// Names of the destinations that receive every SEG (each one a `[[destinations]]` entry).
    pub send_seg_to: Vec<String>,
}

/// What the delivery service needs: `[delivery]`, the destinations it may send to and our AE
/// title as the calling AE.
#[derive(Debug, Clone)]
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
            address: parse_addr(&key("address"), &d.address)?,
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
