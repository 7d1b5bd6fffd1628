//! The TOML shapes of the config file, exactly as written (serde, unknown keys refused), with
//! the defaults of every optional key. Private to `config`: the rest of the node only sees the
//! typed sections that `super` builds from these. They serialize too, in the file's section
//! order, which is how `check-config` prints the effective configuration (`super::print`).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{Device, GroundingMode};

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    pub node: RawNode,
    #[serde(default)]
    pub accept: RawAccept,
    #[serde(default)]
    pub series: RawSeries,
    // Skipped when empty: `destinations = []` would have to be printed above `[node]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub destinations: Vec<RawDestination>,
    #[serde(default)]
    pub routing: RawRouting,
    #[serde(default)]
    pub dicom: RawDicom,
    #[serde(default)]
    pub hl7: RawHl7,
    #[serde(default)]
    pub delivery: RawDelivery,
    #[serde(default)]
    pub weak_label: RawWeakLabel,
    #[serde(default)]
    pub model: RawModel,
    #[serde(default)]
    pub grounding: RawGrounding,
    #[serde(default)]
    pub results: RawResults,
    /// `[web]`: its shape and defaults live in `super::web`.
    #[serde(default)]
    pub web: super::web::RawWeb,
    /// `[retention]`: see `super::retention`.
    #[serde(default)]
    pub retention: super::retention::RawRetention,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNode {
    pub ae_title: String,
    pub dicom_listen: String,
    pub hl7_listen: String,
    pub data_dir: PathBuf,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAccept {
    #[serde(default = "any_calling")]
    pub calling_ae_titles: Vec<String>,
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

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawSeries {
    pub stable_seconds: u64,
}

impl Default for RawSeries {
    fn default() -> Self {
        Self { stable_seconds: 10 }
    }
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDestination {
    pub name: String,
    pub ae_title: String,
    pub address: String,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRouting {
    #[serde(default)]
    pub send_seg_to: Vec<String>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawDicom {
    pub max_associations: usize,
    pub max_pdu_bytes: u32,
    pub max_instance_mb: u64,
    pub association_timeout_seconds: u64,
    pub dimse_timeout_seconds: u64,
    pub min_free_disk_mb: u64,
    pub shutdown_grace_seconds: u64,
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

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawHl7 {
    pub max_message_bytes: usize,
    pub read_timeout_seconds: u64,
    pub idle_timeout_seconds: u64,
    pub max_connections: usize,
    pub match_patient_and_date: bool,
}

impl Default for RawHl7 {
    fn default() -> Self {
        Self {
            // Text reports are a few KiB; 4 MiB leaves room for an embedded PDF (OBX ED).
            max_message_bytes: 4 << 20,
            read_timeout_seconds: 30,
            idle_timeout_seconds: 3600,
            // The documented default (conf/petground.toml); the listener once had its own 32.
            max_connections: 16,
            match_patient_and_date: false,
        }
    }
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawDelivery {
    pub max_attempts: u32,
    pub retry_initial_seconds: u64,
    pub retry_max_seconds: u64,
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

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawWeakLabel {
    pub slice_tolerance: u32,
}

/// `[model]`. The library and the model folder have no fixed default: when not written, they
/// are looked for in the checkout and beside the installed binary (`super::paths`).
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawModel {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub onnxruntime: Option<PathBuf>,
    pub device: Device,
    pub threads: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dir: Option<PathBuf>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawGrounding {
    pub mode: GroundingMode,
    pub ct_wait_seconds: u64,
}

impl Default for RawGrounding {
    fn default() -> Self {
        RawGrounding {
            mode: GroundingMode::default(),
            ct_wait_seconds: 300,
        }
    }
}

/// `[results]`: what goes back besides the SEG.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawResults {
    pub sr: bool,
}

impl Default for RawResults {
    fn default() -> Self {
        Self { sr: true }
    }
}
