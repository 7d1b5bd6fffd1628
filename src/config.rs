//! Configuration: raw TOML (`raw`: serde, unknown keys refused) → validated [`Config`]
//! (CONTRACT §2), one typed struct per section, each built once by its own builder while the
//! file is validated. Each module later receives only its own part (the SCP its [`ScpConfig`],
//! the HL7 listener its [`Hl7Config`], delivery its [`DeliveryConfig`], …). Errors name the
//! offending key so that `petground check-config` can print one useful line and exit 2.
//!
//! This module depends on nothing of the node but `crate::ids`: the small enums a section is
//! written in ([`GroundingMode`], [`Device`]) live here and the modules that act on them
//! import them from here.

mod grounding;
mod network;
mod outbound;
mod raw;
mod web;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

pub use grounding::{
    DEFAULT_ONNXRUNTIME, Device, GroundingConfig, GroundingMode, ModelConfig, ResultsConfig,
    SEG_SERIES_NUMBER, WeakLabelConfig,
};
pub use network::{CallingRule, Hl7Config, NodeConfig, ScpConfig, SeriesConfig};
pub use outbound::{DeliveryConfig, Destination, RoutingConfig};
pub use web::{DEFAULT_WEB_LISTEN, WebConfig};

use raw::RawConfig;

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

/// The validated configuration of a node: one typed part per section.
#[derive(Debug, Clone)]
pub struct Config {
    /// `[node]`.
    pub node: NodeConfig,
    /// `[dicom]` and `[accept]`: the DICOM SCP's part.
    pub scp: ScpConfig,
    /// `[series]`.
    pub series: SeriesConfig,
    /// `[hl7]`: the MLLP listener's part.
    pub hl7: Hl7Config,
    /// `[delivery]` with the `[[destinations]]`: the delivery service's part.
    pub delivery: DeliveryConfig,
    /// `[routing]`.
    pub routing: RoutingConfig,
    /// `[weak_label]`.
    pub weak_label: WeakLabelConfig,
    /// `[model]`: ONNX Runtime library, device, threads, model folder.
    pub model: ModelConfig,
    /// `[grounding]`.
    pub grounding: GroundingConfig,
    /// `[results]`.
    pub results: ResultsConfig,
    /// `[web]`: the status page and `/metrics`.
    pub web: WebConfig,
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
        validate(raw)
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

/// Builds every section, in the order the keys are checked (the first bad key is reported).
fn validate(raw: RawConfig) -> Result<Config, ConfigError> {
    let node = network::node(raw.node)?;
    let calling = network::calling_rules(&raw.accept)?;
    let series = network::series(&raw.series)?;
    let destinations = outbound::destinations(&raw.destinations)?;
    let routing = outbound::routing(raw.routing, &destinations)?;
    let scp = network::scp(&raw.dicom, node.ae_title.clone(), calling)?;
    let hl7 = network::hl7(&raw.hl7)?;
    let delivery = outbound::delivery(&raw.delivery, node.ae_title.clone(), destinations)?;
    let weak_label = grounding::weak_label(&raw.weak_label)?;
    let web = web::web(&raw.web, Some(&node))?;
    Ok(Config {
        node,
        scp,
        series,
        hl7,
        delivery,
        routing,
        weak_label,
        model: grounding::model(raw.model),
        grounding: grounding::grounding(&raw.grounding),
        results: grounding::results(&raw.results),
        web,
    })
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
    use std::time::Duration;

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
        assert_eq!(cfg.routing.send_seg_to, vec!["pacs".to_owned()]);
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
        assert!(cfg.delivery.destinations.is_empty());
    }

    /// The listener once defaulted to 32 connections and the config to 16; conf/petground.toml
    /// and README document 16, and there is now one default.
    #[test]
    fn hl7_defaults_are_the_documented_ones() {
        let cfg = Config::from_toml(MINIMAL).expect("valid");
        assert_eq!(cfg.hl7, Hl7Config::default());
        assert_eq!(cfg.hl7.max_connections, 16);
        let shipped = Config::from_toml(include_str!("../conf/petground.toml")).expect("valid");
        assert_eq!(shipped.hl7, Hl7Config::default());
        assert_eq!(cfg.results, ResultsConfig::default());
        assert_eq!(cfg.results.seg_series_number, SEG_SERIES_NUMBER);
        assert_eq!(cfg.model, ModelConfig::default());
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
