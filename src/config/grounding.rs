//! The typed sections of how findings are grounded and what goes back — `[weak_label]`,
//! `[model]`, `[grounding]` and `[results]` — with the small enums they are written in, and
//! their builders from the raw TOML. The modules that use them (label, ground, pipeline)
//! import these types; config imports none of theirs.

use std::time::Duration;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::raw::{RawGrounding, RawModel, RawResults, RawWeakLabel};
use super::{ConfigError, invalid, paths};

/// SeriesNumber of the SEGs we write (their SRs get the next one). Not a config key: one value
/// for the node and `petground ground`, so that both write the same series.
pub const SEG_SERIES_NUMBER: i32 = 9901;

/// `[weak_label]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WeakLabelConfig {
    /// Extra slices either side of the reported image number a lesion may touch (PAPER §3: 0).
    pub slice_tolerance: u32,
}

/// `[model] device`: where inference runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Device {
    /// CUDA when this build and machine have it, else CPU with a logged warning.
    #[default]
    Auto,
    Cpu,
    /// CUDA or a start-up error.
    Cuda,
}

impl std::fmt::Display for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Device::Auto => "auto",
            Device::Cpu => "cpu",
            Device::Cuda => "cuda",
        })
    }
}

/// `[model]`: the ONNX Runtime library, device, threads and model folder.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelConfig {
    /// Path of `libonnxruntime.so`: as written in the file (relative to its folder), else the
    /// checkout's or the installation's (`config::paths`).
    pub onnxruntime: PathBuf,
    /// Execution provider policy.
    pub device: Device,
    /// Intra-op threads per session; 0 lets ONNX Runtime choose (one per core).
    pub threads: usize,
    /// Directory with manifest.json, tokenizer.json, text_encoder.onnx, grounding.onnx; found
    /// like `onnxruntime`.
    pub dir: PathBuf,
}

impl Default for ModelConfig {
    /// The defaults of `[model]`: the checkout's library and models below the working
    /// directory, else the installed ones.
    fn default() -> Self {
        model(RawModel::default(), None)
    }
}

/// `[grounding] mode`: which method grounds a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum GroundingMode {
    /// ITM weak labels only: the model is not loaded (the default while the shipped model is
    /// below its accuracy target; see models/MODELS.md).
    #[default]
    WeakLabel,
    /// ITM weak label when it succeeds, the model otherwise.
    WeakLabelFirst,
    /// The model only (a missing model is a start-up error).
    Model,
    /// Both, with their agreement recorded (a missing model is a start-up error).
    Both,
}

impl GroundingMode {
    /// Whether the node cannot run without `models/grounding.onnx`.
    pub fn requires_model(self) -> bool {
        matches!(self, GroundingMode::Model | GroundingMode::Both)
    }

    /// Whether this mode uses the model at all (and so loads ONNX Runtime at start-up).
    pub fn uses_model(self) -> bool {
        self != GroundingMode::WeakLabel
    }
}

/// `[grounding]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroundingConfig {
    pub mode: GroundingMode,
    /// How long a job whose mode loads the model waits, after its PET series completed, for a
    /// complete CT series of the study before it runs on the PET alone.
    pub ct_wait: Duration,
}

impl Default for GroundingConfig {
    fn default() -> Self {
        grounding(&RawGrounding::default())
    }
}

/// `[results]`: what a job sends back besides the SEG.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResultsConfig {
    /// A quantitative SR (TID 1500) after every SEG, to the same destinations (CONTRACT §6).
    pub sr: bool,
    /// SeriesNumber of the SEGs ([`SEG_SERIES_NUMBER`]).
    pub seg_series_number: i32,
}

impl Default for ResultsConfig {
    /// The defaults of `[results]` (conf/petground.toml).
    fn default() -> Self {
        results(&RawResults::default())
    }
}

pub(super) fn weak_label(raw: &RawWeakLabel) -> Result<WeakLabelConfig, ConfigError> {
    if raw.slice_tolerance > 10 {
        return Err(invalid(
            "weak_label.slice_tolerance",
            "must be 0 to 10 slices",
        ));
    }
    Ok(WeakLabelConfig {
        slice_tolerance: raw.slice_tolerance,
    })
}

/// `[model]` has nothing to refuse here: the library and model files are checked when they
/// are loaded at start-up (a bad model fails fast, with its own error). Paths written in the
/// file resolve against `base`, its folder.
pub(super) fn model(raw: RawModel, base: Option<&Path>) -> ModelConfig {
    let written = |p: Option<PathBuf>| p.map(|p| paths::resolve(base, p));
    ModelConfig {
        onnxruntime: written(raw.onnxruntime).unwrap_or_else(paths::default_onnxruntime),
        device: raw.device,
        threads: raw.threads,
        dir: written(raw.dir).unwrap_or_else(paths::default_model_dir),
    }
}

pub(super) fn grounding(raw: &RawGrounding) -> GroundingConfig {
    GroundingConfig {
        mode: raw.mode,
        ct_wait: Duration::from_secs(raw.ct_wait_seconds),
    }
}

pub(super) fn results(raw: &RawResults) -> ResultsConfig {
    ResultsConfig {
        sr: raw.sr,
        seg_series_number: SEG_SERIES_NUMBER,
    }
}
