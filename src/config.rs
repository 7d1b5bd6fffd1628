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
mod locate;
mod network;
mod outbound;
pub mod paths;
mod print;
mod raw;
mod retention;
mod web;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

pub use grounding::{
    Device, GroundingConfig, GroundingMode, ModelConfig, ResultsConfig, SEG_SERIES_NUMBER,
    WeakLabelConfig,
};
pub use network::{CallingRule, Hl7Config, NodeConfig, ScpConfig, SeriesConfig};
pub use outbound::{DeliveryConfig, Destination, PeerAddress, RoutingConfig};
pub use paths::DEFAULT_ONNXRUNTIME;
pub use retention::RetentionConfig;
pub use web::{DEFAULT_WEB_LISTEN, WebConfig};

use raw::RawConfig;

/// Where in the config an error is: the file (none for bare TOML text) and the 1-based line.
/// Displays as `FILE:LINE: ` (or the parts known), ready to prefix a message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Place {
    pub file: Option<PathBuf>,
    pub line: Option<usize>,
}

impl std::fmt::Display for Place {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.file, self.line) {
            (Some(file), Some(line)) => write!(f, "{}:{line}: ", file.display()),
            (Some(file), None) => write!(f, "{}: ", file.display()),
            (None, Some(line)) => write!(f, "line {line}: "),
            (None, None) => Ok(()),
        }
    }
}

/// A config that cannot be used; every variant names the full key where there is one.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The io error is part of the message, not a `source`, so that a printed error chain
    /// says it once.
    #[error("cannot read config file {}: {error}", path.display())]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    /// Not TOML, or a key that is unknown, missing or of the wrong type.
    #[error("{at}{}{message}", key.as_ref().map(|k| format!("config key `{k}`: ")).unwrap_or_default())]
    Parse {
        at: Place,
        key: Option<String>,
        message: String,
    },
    /// A value the node cannot run with.
    #[error("{at}config key `{key}`: {reason}")]
    Invalid {
        at: Place,
        key: String,
        reason: String,
    },
    /// The configuration cannot be written out as TOML (a path that is not UTF-8).
    #[error("the effective configuration cannot be printed as TOML: {0}")]
    Print(String),
}

fn invalid(key: impl Into<String>, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        at: Place::default(),
        key: key.into(),
        reason: reason.into(),
    }
}

/// The validated configuration of a node: one typed part per section.
#[derive(Debug, Clone, PartialEq)]
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
    /// `[retention]`: how long delivered studies stay on disk.
    pub retention: RetentionConfig,
}

impl Config {
    /// Reads and validates a config file. Its relative paths resolve against its folder.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Read {
            path: path.to_owned(),
            error,
        })?;
        parse(&text, Some(&paths::base_of(path))).map_err(|e| in_file(e, path))
    }

    /// Parses and validates TOML text; relative paths stay relative to the working directory.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        parse(text, None)
    }

    /// Checks that `node.data_dir` is a writable folder, so that a node that could not keep
    /// what it accepts fails before it listens, naming the key. With `create` (the node) a
    /// missing folder is made first; without it (`check-config`, perhaps run as another user
    /// than the node's) a folder that does not exist yet is no error.
    pub fn check_data_dir(&self, create: bool) -> Result<(), ConfigError> {
        let dir = &self.node.data_dir;
        if !create && !dir.exists() {
            return Ok(());
        }
        let probe = dir.join(".petground-write-check");
        std::fs::create_dir_all(dir)
            .and_then(|()| std::fs::write(&probe, b""))
            .and_then(|()| std::fs::remove_file(&probe))
            .map_err(|e| {
                let reason = format!("{} is not a writable folder: {e}", dir.display());
                invalid("node.data_dir", reason)
            })
    }
}

fn parse(text: &str, base: Option<&Path>) -> Result<Config, ConfigError> {
    let raw: RawConfig = toml::from_str(text).map_err(|e| parse_error(text, &e))?;
    validate(raw, base).map_err(|e| match e {
        ConfigError::Invalid { key, reason, .. } => ConfigError::Invalid {
            at: Place {
                file: None,
                line: locate::line_of_key(text, &key),
            },
            key,
            reason,
        },
        other => other,
    })
}

/// A TOML error with the full key it is about and the line (the parser's span starts at the
/// offending key or value).
fn parse_error(text: &str, e: &toml::de::Error) -> ConfigError {
    let message = e.message().trim_end().to_owned();
    let field = locate::named_field(&message);
    let (line, key) = match e.span() {
        Some(span) => (
            Some(locate::line_of_offset(text, span.start)),
            locate::key_at(text, span.start, field),
        ),
        None => (None, field.map(str::to_owned)),
    };
    ConfigError::Parse {
        at: Place { file: None, line },
        key,
        message,
    }
}

fn in_file(e: ConfigError, path: &Path) -> ConfigError {
    let place = |at: Place| Place {
        file: Some(path.to_owned()),
        ..at
    };
    match e {
        ConfigError::Parse { at, key, message } => ConfigError::Parse {
            at: place(at),
            key,
            message,
        },
        ConfigError::Invalid { at, key, reason } => ConfigError::Invalid {
            at: place(at),
            key,
            reason,
        },
        other => other,
    }
}

/// Builds every section, in the order the keys are checked (the first bad key is reported).
/// Relative paths resolve against `base`, the config file's folder.
fn validate(raw: RawConfig, base: Option<&Path>) -> Result<Config, ConfigError> {
    let node = network::node(raw.node, base)?;
    let calling = network::calling_rules(&raw.accept)?;
    let series = network::series(&raw.series)?;
    let destinations = outbound::destinations(&raw.destinations)?;
    let routing = outbound::routing(raw.routing, &destinations)?;
    let scp = network::scp(&raw.dicom, node.ae_title.clone(), calling)?;
    let hl7 = network::hl7(&raw.hl7)?;
    let delivery = outbound::delivery(&raw.delivery, node.ae_title.clone(), destinations)?;
    let weak_label = grounding::weak_label(&raw.weak_label)?;
    let web = web::web(&raw.web, Some(&node))?;
    let retention = retention::retention(&raw.retention)?;
    Ok(Config {
        node,
        scp,
        series,
        hl7,
        delivery,
        routing,
        weak_label,
        model: grounding::model(raw.model, base),
        grounding: grounding::grounding(&raw.grounding),
        results: grounding::results(&raw.results),
        web,
        retention,
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
mod tests;
