//! Configuration: raw TOML (serde, unknown keys refused) → validated [`Config`] (CONTRACT §2).
//! Each module later receives only its own part. Errors name the offending key so that
//! `petground check-config` can print one useful line and exit 2.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::ground::grounder::GroundingMode;
use crate::ground::runtime::ModelSettings;
use crate::ids::AeTitle;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("config key `{key}`: {reason}")]
    Invalid { key: String, reason: String },
}

fn invalid(key: impl Into<String>, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        reason: reason.into(),
    }
}

// ---------- raw TOML ----------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    node: RawNode,
    #[serde(default)]
    accept: RawAccept,
    #[serde(default)]
    series: RawSeries,
    #[serde(default)]
    destinations: Vec<RawDestination>,
    #[serde(default)]
    routing: RawRouting,
    #[serde(default)]
    dicom: RawDicom,
    #[serde(default)]
    hl7: RawHl7,
    #[serde(default)]
    delivery: RawDelivery,
    #[serde(default)]
    weak_label: RawWeakLabel,
    #[serde(default)]
    model: ModelSettings,
    #[serde(default)]
    grounding: RawGrounding,
    #[serde(default)]
    results: RawResults,
}

/// `[results]`: what goes back besides the SEG.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawResults {
    sr: bool,
}

impl Default for RawResults {
    fn default() -> Self {
        Self { sr: true }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawGrounding {
    mode: GroundingMode,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawDelivery {
    max_attempts: u32,
    retry_initial_seconds: u64,
    retry_max_seconds: u64,
}

impl Default for RawDelivery {
    fn default() -> Self {
        Self {
            max_attempts: 10,
            retry_initial_seconds: 5,
            retry_max_seconds: 600,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawWeakLabel {
    slice_tolerance: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNode {
    ae_title: String,
    dicom_listen: String,
    hl7_listen: String,
    data_dir: PathBuf,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAccept {
    #[serde(default = "any_calling")]
    calling_ae_titles: Vec<String>,
}

impl Default for RawAccept {
    fn default() -> Self {
        Self {
            calling_ae_titles: any_calling(),
        }
    }
}

fn any_calling() -> Vec<String> {
    vec!["*".to_owned()]
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawSeries {
    stable_seconds: u64,
}

impl Default for RawSeries {
    fn default() -> Self {
        Self { stable_seconds: 10 }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDestination {
    name: String,
    ae_title: String,
    address: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRouting {
    #[serde(default)]
    send_seg_to: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawDicom {
    max_associations: usize,
    max_pdu_bytes: u32,
    max_instance_mb: u64,
    association_timeout_seconds: u64,
    dimse_timeout_seconds: u64,
    min_free_disk_mb: u64,
    shutdown_grace_seconds: u64,
}

impl Default for RawDicom {
    fn default() -> Self {
        Self {
            max_associations: 16,
            max_pdu_bytes: 1 << 20,
            max_instance_mb: 2048,
            association_timeout_seconds: 30,
            dimse_timeout_seconds: 120,
            min_free_disk_mb: 1024,
            shutdown_grace_seconds: 30,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawHl7 {
    max_message_bytes: usize,
    read_timeout_seconds: u64,
    idle_timeout_seconds: u64,
    max_connections: usize,
    unmatched_retention_days: u64,
    match_patient_and_date: bool,
}

impl Default for RawHl7 {
    fn default() -> Self {
        Self {
            max_message_bytes: 4 << 20,
            read_timeout_seconds: 30,
            idle_timeout_seconds: 3600,
            max_connections: 16,
            unmatched_retention_days: 30,
            match_patient_and_date: false,
        }
    }
}

// ---------- validated ----------

/// The validated configuration of a node.
#[derive(Debug, Clone)]
pub struct Config {
    pub node: NodeConfig,
    pub scp: ScpConfig,
    pub series: SeriesConfig,
    pub destinations: Vec<Destination>,
    /// Destinations (resolved from `routing.send_seg_to`) that receive every SEG.
    pub send_seg_to: Vec<String>,
    pub hl7: Hl7Settings,
    pub delivery: DeliverySettings,
    /// Extra slices either side of the reported image number a lesion may touch (PAPER §3: 0).
    pub slice_tolerance: u32,
    /// `[model]`: ONNX Runtime library, device, threads, model folder.
    pub model: ModelSettings,
    /// `[grounding] mode`.
    pub grounding_mode: GroundingMode,
    /// `[results]`.
    pub results: ResultsConfig,
}

/// What a job sends back besides the SEG.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResultsConfig {
    /// A quantitative SR (TID 1500) after every SEG, to the same destinations (CONTRACT §6).
    pub sr: bool,
}

impl Default for ResultsConfig {
    fn default() -> Self {
        Self { sr: true }
    }
}

#[derive(Debug, Clone)]
pub struct DeliverySettings {
    pub max_attempts: u32,
    pub retry_initial: Duration,
    pub retry_max: Duration,
}

#[derive(Debug, Clone)]
pub struct NodeConfig {
    pub ae_title: AeTitle,
    pub dicom_listen: SocketAddr,
    pub hl7_listen: SocketAddr,
    pub data_dir: PathBuf,
}

/// What the DICOM SCP needs: acceptance rules, limits and timeouts.
#[derive(Debug, Clone)]
pub struct ScpConfig {
    pub ae_title: AeTitle,
    pub calling_ae_titles: Vec<CallingRule>,
    pub max_associations: usize,
    pub max_pdu_bytes: u32,
    pub max_instance_bytes: u64,
    pub association_timeout: Duration,
    pub dimse_timeout: Duration,
    pub min_free_disk_bytes: u64,
    pub shutdown_grace: Duration,
}

/// One entry of `accept.calling_ae_titles`: `*`, `AE` or `AE@host`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallingRule {
    Any,
    Ae(String),
    AeAtHost(String, std::net::IpAddr),
}

impl CallingRule {
    fn parse(entry: &str) -> Result<Self, String> {
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
    pub fn allows(&self, calling: &str, peer: std::net::IpAddr) -> bool {
        match self {
            Self::Any => true,
            Self::Ae(ae) => ae == calling.trim(),
            Self::AeAtHost(ae, ip) => ae == calling.trim() && *ip == peer,
        }
    }
}

#[derive(Debug, Clone)]
pub struct SeriesConfig {
    pub stable: Duration,
}

#[derive(Debug, Clone)]
pub struct Destination {
    pub name: String,
    pub ae_title: AeTitle,
    pub address: SocketAddr,
}

#[derive(Debug, Clone)]
pub struct Hl7Settings {
    pub max_message_bytes: usize,
    pub read_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
    pub unmatched_retention: Duration,
    pub match_patient_and_date: bool,
}

impl Config {
    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_toml(&text).map_err(|e| match e {
            ConfigError::Parse { message, .. } => ConfigError::Parse {
                path: path.to_owned(),
                message,
            },
            other => other,
        })
    }

    /// Parses and validates TOML text.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: PathBuf::new(),
            message: e.message().to_owned() + &span_note(text, e.span()),
        })?;
        raw.validate()
    }
}

fn span_note(text: &str, span: Option<std::ops::Range<usize>>) -> String {
    match span {
        Some(r) => format!(
            " (line {})",
            text[..r.start.min(text.len())].lines().count().max(1)
        ),
        None => String::new(),
    }
}

impl RawConfig {
    fn validate(self) -> Result<Config, ConfigError> {
        let ae_title = AeTitle::parse(&self.node.ae_title)
            .map_err(|e| invalid("node.ae_title", e.to_string()))?;
        let dicom_listen = parse_addr("node.dicom_listen", &self.node.dicom_listen)?;
        let hl7_listen = parse_addr("node.hl7_listen", &self.node.hl7_listen)?;
        if dicom_listen == hl7_listen && dicom_listen.port() != 0 {
            return Err(invalid(
                "node.hl7_listen",
                "must differ from node.dicom_listen",
            ));
        }
        if self.node.data_dir.as_os_str().is_empty() {
            return Err(invalid("node.data_dir", "must not be empty"));
        }
        if self.accept.calling_ae_titles.is_empty() {
            return Err(invalid(
                "accept.calling_ae_titles",
                "empty list would refuse every peer; use [\"*\"] to accept any",
            ));
        }
        let calling_ae_titles = self
            .accept
            .calling_ae_titles
            .iter()
            .map(|e| CallingRule::parse(e).map_err(|r| invalid("accept.calling_ae_titles", r)))
            .collect::<Result<Vec<_>, _>>()?;
        if self.series.stable_seconds == 0 {
            return Err(invalid("series.stable_seconds", "must be at least 1"));
        }
        let destinations = validate_destinations(&self.destinations)?;
        for name in &self.routing.send_seg_to {
            if !destinations.iter().any(|d| &d.name == name) {
                return Err(invalid(
                    "routing.send_seg_to",
                    format!("`{name}` is not the name of any [[destinations]] entry"),
                ));
            }
        }
        let d = &self.dicom;
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
        let h = &self.hl7;
        if h.max_message_bytes < 1024 {
            return Err(invalid("hl7.max_message_bytes", "must be at least 1024"));
        }
        positive("hl7.read_timeout_seconds", h.read_timeout_seconds)?;
        positive("hl7.idle_timeout_seconds", h.idle_timeout_seconds)?;
        positive("hl7.max_connections", h.max_connections as u64)?;
        positive("delivery.max_attempts", self.delivery.max_attempts as u64)?;
        positive(
            "delivery.retry_initial_seconds",
            self.delivery.retry_initial_seconds,
        )?;
        if self.delivery.retry_max_seconds < self.delivery.retry_initial_seconds {
            return Err(invalid(
                "delivery.retry_max_seconds",
                "must be at least delivery.retry_initial_seconds",
            ));
        }
        if self.weak_label.slice_tolerance > 10 {
            return Err(invalid(
                "weak_label.slice_tolerance",
                "must be 0 to 10 slices",
            ));
        }
        Ok(Config {
            scp: ScpConfig {
                ae_title: ae_title.clone(),
                calling_ae_titles,
                max_associations: d.max_associations,
                max_pdu_bytes: d.max_pdu_bytes,
                max_instance_bytes: d.max_instance_mb * 1024 * 1024,
                association_timeout: Duration::from_secs(d.association_timeout_seconds),
                dimse_timeout: Duration::from_secs(d.dimse_timeout_seconds),
                min_free_disk_bytes: d.min_free_disk_mb * 1024 * 1024,
                shutdown_grace: Duration::from_secs(d.shutdown_grace_seconds),
            },
            node: NodeConfig {
                ae_title,
                dicom_listen,
                hl7_listen,
                data_dir: self.node.data_dir,
            },
            series: SeriesConfig {
                stable: Duration::from_secs(self.series.stable_seconds),
            },
            destinations,
            send_seg_to: self.routing.send_seg_to,
            hl7: Hl7Settings {
                max_message_bytes: h.max_message_bytes,
                read_timeout: Duration::from_secs(h.read_timeout_seconds),
                idle_timeout: Duration::from_secs(h.idle_timeout_seconds),
                max_connections: h.max_connections,
                unmatched_retention: Duration::from_secs(h.unmatched_retention_days * 86_400),
                match_patient_and_date: h.match_patient_and_date,
            },
            delivery: DeliverySettings {
                max_attempts: self.delivery.max_attempts,
                retry_initial: Duration::from_secs(self.delivery.retry_initial_seconds),
                retry_max: Duration::from_secs(self.delivery.retry_max_seconds),
            },
            slice_tolerance: self.weak_label.slice_tolerance,
            model: self.model,
            grounding_mode: self.grounding.mode,
            results: ResultsConfig {
                sr: self.results.sr,
            },
        })
    }
}

fn validate_destinations(raw: &[RawDestination]) -> Result<Vec<Destination>, ConfigError> {
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

fn parse_addr(key: &str, value: &str) -> Result<SocketAddr, ConfigError> {
    use std::net::ToSocketAddrs;
    value
        .to_socket_addrs()
        .ok()
        .and_then(|mut it| it.next())
        .ok_or_else(|| invalid(key, format!("`{value}` is not a host:port address")))
}

fn positive(key: &str, v: u64) -> Result<(), ConfigError> {
    if v == 0 {
        return Err(invalid(key, "must be greater than 0"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
        [node]
        ae_title = "PETGROUND"
        dicom_listen = "127.0.0.1:11112"
        hl7_listen = "127.0.0.1:2575"
        data_dir = "var"
    "#;

    fn err_key(text: &str) -> String {
        match Config::from_toml(text) {
            Err(ConfigError::Invalid { key, .. }) => key,
            other => panic!("expected an invalid-key error, got {other:?}"),
        }
    }

    #[test]
    fn shipped_default_config_is_valid() {
        let text = include_str!("../conf/petground.toml");
        let cfg = Config::from_toml(text).expect("conf/petground.toml must validate");
        assert_eq!(cfg.node.ae_title.as_str(), "PETGROUND");
        assert_eq!(cfg.series.stable, Duration::from_secs(10));
        assert_eq!(cfg.send_seg_to, vec!["pacs".to_owned()]);
        assert!(cfg.results.sr, "the shipped config sends the SR");
    }

    #[test]
    fn results_sr_defaults_on_and_can_be_turned_off() {
        assert!(Config::from_toml(MINIMAL).expect("valid").results.sr);
        let off = format!("{MINIMAL}\n[results]\nsr = false\n");
        assert!(!Config::from_toml(&off).expect("valid").results.sr);
        let typo = format!("{MINIMAL}\n[results]\nsrr = true\n");
        assert!(matches!(
            Config::from_toml(&typo),
            Err(ConfigError::Parse { .. })
        ));
    }

    #[test]
    fn minimal_config_gets_defaults() {
        let cfg = Config::from_toml(MINIMAL).expect("valid");
        assert_eq!(cfg.scp.calling_ae_titles, vec![CallingRule::Any]);
        assert_eq!(cfg.scp.max_pdu_bytes, 1 << 20);
        assert!(cfg.destinations.is_empty());
    }

    #[test]
    fn bad_values_name_their_key() {
        assert_eq!(err_key(&MINIMAL.replace("PETGROUND", "")), "node.ae_title");
        assert_eq!(
            err_key(&MINIMAL.replace("PETGROUND", "A_TITLE_LONGER_THAN_16")),
            "node.ae_title"
        );
        assert_eq!(
            err_key(&MINIMAL.replace("127.0.0.1:2575", "nowhere")),
            "node.hl7_listen"
        );
        let routed = format!("{MINIMAL}\n[routing]\nsend_seg_to = [\"pacs\"]\n");
        assert_eq!(err_key(&routed), "routing.send_seg_to");
        let accept = format!("{MINIMAL}\n[accept]\ncalling_ae_titles = [\"CT@not-an-ip\"]\n");
        assert_eq!(err_key(&accept), "accept.calling_ae_titles");
        let stable = format!("{MINIMAL}\n[series]\nstable_seconds = 0\n");
        assert_eq!(err_key(&stable), "series.stable_seconds");
    }

    #[test]
    fn unknown_key_is_refused_with_its_name() {
        let text = format!("{MINIMAL}\n[series]\nstable_secs = 3\n");
        match Config::from_toml(&text) {
            Err(ConfigError::Parse { message, .. }) => {
                assert!(message.contains("stable_secs"), "{message}")
            }
            other => panic!("expected a parse error, got {other:?}"),
        }
    }

    #[test]
    fn calling_rules_match_ae_and_host() {
        let ip = "10.1.2.3".parse().expect("ip");
        let other = "10.1.2.4".parse().expect("ip");
        let rule = CallingRule::parse("SCANNER@10.1.2.3").expect("rule");
        assert!(rule.allows("SCANNER", ip));
        assert!(rule.allows("SCANNER  ", ip));
        assert!(!rule.allows("SCANNER", other));
        assert!(!rule.allows("scanner", ip), "AE titles are case-sensitive");
        assert!(
            CallingRule::parse("PACS")
                .expect("rule")
                .allows("PACS", other)
        );
    }
}
