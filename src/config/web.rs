//! `[web]`: the read-only status page and Prometheus metrics (`src/web/`). Its raw TOML shape
//! lives here beside its builder, so the section is one self-contained file; `raw::RawConfig`
//! only names it. The listener is loopback by default: the page shows UIDs, accession numbers
//! and report sentences, and has no authentication.

use std::net::SocketAddr;
use std::time::Duration;

use serde::Deserialize;

use super::{ConfigError, NodeConfig, invalid, parse_addr, positive};

/// The documented default of `web.listen` (conf/petground.toml).
pub const DEFAULT_WEB_LISTEN: &str = "127.0.0.1:8104";

/// `[web]` as written.
#[derive(Debug, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawWeb {
    pub listen: String,
    pub max_connections: usize,
    pub read_timeout_seconds: u64,
}

impl Default for RawWeb {
    fn default() -> Self {
        Self {
            listen: DEFAULT_WEB_LISTEN.to_owned(),
            max_connections: 16,
            read_timeout_seconds: 10,
        }
    }
}

/// What the web service needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WebConfig {
    /// Where the page and `/metrics` are served; `None` (`listen = ""`) turns them off.
    pub listen: Option<SocketAddr>,
    /// Open HTTP connections at most; a connection over the limit is answered 503 and closed.
    pub max_connections: usize,
    /// How long a request head may take to arrive (and a response to be written).
    pub read_timeout: Duration,
}

/// `[web]` as `check-config` prints it (`listen = ""` when off).
pub(super) fn raw_web(w: &WebConfig) -> RawWeb {
    RawWeb {
        listen: w.listen.map(|a| a.to_string()).unwrap_or_default(),
        max_connections: w.max_connections,
        read_timeout_seconds: w.read_timeout.as_secs(),
    }
}

impl Default for WebConfig {
    /// The defaults of `[web]` (conf/petground.toml).
    fn default() -> Self {
        web(&RawWeb::default(), None).expect("the [web] defaults are valid")
    }
}

/// Builds `[web]`; the address must differ from the node's DICOM and HL7 listeners.
pub(super) fn web(raw: &RawWeb, node: Option<&NodeConfig>) -> Result<WebConfig, ConfigError> {
    let listen = match raw.listen.trim() {
        "" => None,
        addr => Some(parse_addr("web.listen", addr)?),
    };
    if let (Some(addr), Some(node)) = (listen, node)
        && addr.port() != 0
        && (addr == node.dicom_listen || addr == node.hl7_listen)
    {
        return Err(invalid(
            "web.listen",
            "must differ from node.dicom_listen and node.hl7_listen",
        ));
    }
    positive("web.max_connections", raw.max_connections as u64)?;
    positive("web.read_timeout_seconds", raw.read_timeout_seconds)?;
    Ok(WebConfig {
        listen,
        max_connections: raw.max_connections,
        read_timeout: Duration::from_secs(raw.read_timeout_seconds),
    })
}

#[cfg(test)]
mod tests {
    use crate::config::{Config, ConfigError};

    const MINIMAL: &str = "[node]\nae_title = \"PETGROUND\"\ndicom_listen = \"127.0.0.1:11112\"\n\
                           hl7_listen = \"127.0.0.1:2575\"\ndata_dir = \"var\"\n";

    fn with_web(web: &str) -> Result<Config, ConfigError> {
        Config::from_toml(&format!("{MINIMAL}\n[web]\n{web}\n"))
    }

    fn key(r: Result<Config, ConfigError>) -> String {
        match r {
            Err(ConfigError::Invalid { key, .. }) => key,
            other => panic!("expected an invalid key, got {other:?}"),
        }
    }

    #[test]
    fn the_page_is_on_and_loopback_only_by_default() {
        let cfg = Config::from_toml(MINIMAL).expect("valid");
        let addr = cfg.web.listen.expect("on by default");
        assert!(addr.ip().is_loopback(), "{addr}");
        assert_eq!(addr.to_string(), super::DEFAULT_WEB_LISTEN);
        let shipped = Config::from_toml(include_str!("../../conf/petground.toml")).expect("valid");
        assert_eq!(
            shipped.web, cfg.web,
            "conf/petground.toml documents the defaults"
        );
    }

    #[test]
    fn an_empty_address_turns_the_page_off() {
        assert_eq!(with_web("listen = \"\"").expect("valid").web.listen, None);
    }

    #[test]
    fn bad_values_name_their_key() {
        assert_eq!(key(with_web("listen = \"nowhere\"")), "web.listen");
        assert_eq!(key(with_web("listen = \"127.0.0.1:2575\"")), "web.listen");
        assert_eq!(key(with_web("max_connections = 0")), "web.max_connections");
        assert_eq!(
            key(with_web("read_timeout_seconds = 0")),
            "web.read_timeout_seconds"
        );
        assert!(matches!(
            with_web("port = 1"),
            Err(ConfigError::Parse { .. })
        ));
    }
}
