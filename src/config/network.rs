//! The typed sections of the node's network side — `[node]`, `[accept]` + `[dicom]` (what the
//! DICOM SCP gets), `[series]` and `[hl7]` (what the MLLP listener gets) — and their builders
//! from the raw TOML. Each builder checks its own keys and names the key it refuses.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::raw::{RawAccept, RawDicom, RawHl7, RawNode, RawSeries};
use super::{ConfigError, invalid, parse_addr, paths, positive};
use crate::ids::AeTitle;

/// `[node]`: who we are, where we listen, where durable state lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeConfig {
    pub ae_title: AeTitle,
    pub dicom_listen: SocketAddr,
    pub hl7_listen: SocketAddr,
    pub data_dir: PathBuf,
}

/// What the DICOM SCP needs (`[dicom]`, `[accept]` and our AE title): acceptance rules, limits
/// and timeouts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScpConfig {
    pub ae_title: AeTitle,
    pub calling_ae_titles: Vec<CallingRule>,
    pub max_associations: usize,
    pub max_pdu_bytes: u32,
    pub max_instance_bytes: u64,
    pub association_timeout: Duration,
    pub dimse_timeout: Duration,
    pub min_free_disk_bytes: u64,
    /// On shutdown, how long a C-STORE in progress may take to finish before its association
    /// is aborted.
    pub shutdown_grace: Duration,
}

/// One entry of `accept.calling_ae_titles`: `*`, `AE` or `AE@host`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallingRule {
    Any,
    Ae(String),
    AeAtHost(String, IpAddr),
}

impl CallingRule {
    pub(super) fn parse(entry: &str) -> Result<Self, String> {
        let entry = entry.trim();
        if entry == "*" {
            return Ok(Self::Any);
        }
        let (ae, host) = match entry.split_once('@') {
            Some((ae, host)) => (ae.trim(), Some(host.trim())),
            None => (entry, None),
        };
        AeTitle::parse(ae).map_err(|e| e.to_string())?;
        match host {
            None => Ok(Self::Ae(ae.to_owned())),
            Some(host) => host
                .parse()
                .map(|ip| Self::AeAtHost(ae.to_owned(), ip))
                .map_err(|_| format!("`{host}` in `{entry}` is not an IP address")),
        }
    }

    /// Whether a peer with this calling AE title and address is allowed.
    pub fn allows(&self, calling: &str, peer: IpAddr) -> bool {
        match self {
            Self::Any => true,
            Self::Ae(ae) => ae == calling.trim(),
            Self::AeAtHost(ae, ip) => ae == calling.trim() && *ip == peer,
        }
    }
}

/// `[series]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeriesConfig {
    /// A series with no new instance for this long is complete.
    pub stable: Duration,
}

/// `[hl7]`: what the MLLP listener needs, and the matching switch the store reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hl7Config {
    /// Largest MLLP payload accepted; a larger message gets `AE` and the connection is closed.
    pub max_message_bytes: usize,
    /// How long a whole frame may take from its start block (one deadline per frame); also the
    /// ACK write timeout and the shutdown drain deadline.
    pub read_timeout: Duration,
    /// Between frames, how long a silent connection is kept. RIS engines keep MLLP connections
    /// open for hours and reconnect when closed, so this is long.
    pub idle_timeout: Duration,
    /// Open connections at most.
    pub max_connections: usize,
    /// CONTRACT §3 rule 3: also match on PatientID + study date.
    pub match_patient_and_date: bool,
}

impl Default for Hl7Config {
    /// The defaults of `[hl7]` (conf/petground.toml).
    fn default() -> Self {
        hl7(&RawHl7::default()).expect("the [hl7] defaults are valid")
    }
}

/// `[node]`; a relative `data_dir` resolves against `base`, the config file's folder.
pub(super) fn node(raw: RawNode, base: Option<&Path>) -> Result<NodeConfig, ConfigError> {
    let ae_title =
        AeTitle::parse(&raw.ae_title).map_err(|e| invalid("node.ae_title", e.to_string()))?;
    let dicom_listen = parse_addr("node.dicom_listen", &raw.dicom_listen)?;
    let hl7_listen = parse_addr("node.hl7_listen", &raw.hl7_listen)?;
    if dicom_listen == hl7_listen && dicom_listen.port() != 0 {
        return Err(invalid(
            "node.hl7_listen",
            "must differ from node.dicom_listen",
        ));
    }
    if raw.data_dir.as_os_str().is_empty() {
        return Err(invalid("node.data_dir", "must not be empty"));
    }
    Ok(NodeConfig {
        ae_title,
        dicom_listen,
        hl7_listen,
        data_dir: paths::resolve(base, raw.data_dir),
    })
}

pub(super) fn calling_rules(raw: &RawAccept) -> Result<Vec<CallingRule>, ConfigError> {
    if raw.calling_ae_titles.is_empty() {
        return Err(invalid(
            "accept.calling_ae_titles",
            "empty list would refuse every peer; use [\"*\"] to accept any",
        ));
    }
    raw.calling_ae_titles
        .iter()
        .map(|e| CallingRule::parse(e).map_err(|r| invalid("accept.calling_ae_titles", r)))
        .collect()
}

pub(super) fn series(raw: &RawSeries) -> Result<SeriesConfig, ConfigError> {
    if raw.stable_seconds == 0 {
        return Err(invalid("series.stable_seconds", "must be at least 1"));
    }
    Ok(SeriesConfig {
        stable: Duration::from_secs(raw.stable_seconds),
    })
}

pub(super) fn scp(
    d: &RawDicom,
    ae_title: AeTitle,
    calling_ae_titles: Vec<CallingRule>,
) -> Result<ScpConfig, ConfigError> {
    positive("dicom.max_associations", d.max_associations as u64)?;
    if !(16 * 1024..=16 * 1024 * 1024).contains(&d.max_pdu_bytes) {
        return Err(invalid(
            "dicom.max_pdu_bytes",
            "must be between 16384 and 16777216",
        ));
    }
    positive("dicom.max_instance_mb", d.max_instance_mb)?;
    positive(
        "dicom.association_timeout_seconds",
        d.association_timeout_seconds,
    )?;
    positive("dicom.dimse_timeout_seconds", d.dimse_timeout_seconds)?;
    Ok(ScpConfig {
        ae_title,
        calling_ae_titles,
        max_associations: d.max_associations,
        max_pdu_bytes: d.max_pdu_bytes,
        max_instance_bytes: d.max_instance_mb * 1024 * 1024,
        association_timeout: Duration::from_secs(d.association_timeout_seconds),
        dimse_timeout: Duration::from_secs(d.dimse_timeout_seconds),
        min_free_disk_bytes: d.min_free_disk_mb * 1024 * 1024,
        shutdown_grace: Duration::from_secs(d.shutdown_grace_seconds),
    })
}

pub(super) fn hl7(h: &RawHl7) -> Result<Hl7Config, ConfigError> {
    if h.max_message_bytes < 1024 {
        return Err(invalid("hl7.max_message_bytes", "must be at least 1024"));
    }
    positive("hl7.read_timeout_seconds", h.read_timeout_seconds)?;
    positive("hl7.idle_timeout_seconds", h.idle_timeout_seconds)?;
    positive("hl7.max_connections", h.max_connections as u64)?;
    Ok(Hl7Config {
        max_message_bytes: h.max_message_bytes,
        read_timeout: Duration::from_secs(h.read_timeout_seconds),
        idle_timeout: Duration::from_secs(h.idle_timeout_seconds),
        max_connections: h.max_connections,
        match_patient_and_date: h.match_patient_and_date,
    })
}
