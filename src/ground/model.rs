//! The grounding model (ConTEXTual Net 3D exported to ONNX by tools/train): one ONNX Runtime
//! session, checked at load against models/manifest.json (sha256, size) and against the model
//! contract's inputs/outputs (`image` f32 [1,2,Z,Y,X], `text` f32 [1,L,384], `text_mask` f32
//! [1,L] → `prob` f32 [1,1,Z,Y,X]), so a wrong or damaged file fails at start-up, not at the
//! first report. [`GroundingModel::predict`] checks every call's shapes before running.

use std::path::{Path, PathBuf};

use ndarray::{Array3, ArrayView1, ArrayView2, ArrayView5, Axis, Ix5};
use ort::session::Session;
use ort::value::{Outlet, TensorElementType, TensorRef, ValueType};

use super::manifest::{Manifest, ManifestError};
use super::runtime::{Device, Runtime, RuntimeError};
use super::text::{EMBED_DIM, TEXT_LEN};

/// File name of the model inside the models directory.
pub const MODEL_FILE: &str = "grounding.onnx";
/// Spatial sizes of `image` must be multiples of this (the U-Net's four poolings).
pub const SPATIAL_MULTIPLE: usize = 16;

/// Input and output names of the contract.
pub const INPUT_IMAGE: &str = "image";
pub const INPUT_TEXT: &str = "text";
pub const INPUT_MASK: &str = "text_mask";
pub const OUTPUT_PROB: &str = "prob";

/// Errors of loading and running the grounding model.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("grounding model {0} is missing (model grounding disabled)")]
    Missing(PathBuf),
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error("grounding model {path} does not follow the model contract: {message}")]
    Contract { path: PathBuf, message: String },
    #[error("grounding model input: {0}")]
    Input(String),
    #[error("grounding model inference: {0}")]
    Inference(String),
}

/// The loaded grounding model.
pub struct GroundingModel {
    session: Session,
    path: PathBuf,
    sha256: String,
    device: Device,
}

impl std::fmt::Debug for GroundingModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroundingModel")
            .field("path", &self.path)
            .field("sha256", &self.sha256)
            .field("device", &self.device)
            .finish_non_exhaustive()
    }
}

impl GroundingModel {
    /// Loads the model at `path`, checked against the manifest entry named by its file name.
    /// A missing file is [`ModelError::Missing`] (the caller decides whether that is fatal).
    pub fn load(rt: &Runtime, path: &Path, manifest: &Manifest) -> Result<Self, ModelError> {
        Self::load_on(rt, path, manifest, rt.device())
    }

    /// As [`GroundingModel::load`] on an explicit device policy (GPU-vs-CPU checks).
    pub fn load_on(
        rt: &Runtime,
        path: &Path,
        manifest: &Manifest,
        device: Device,
    ) -> Result<Self, ModelError> {
        if !path.exists() {
            return Err(ModelError::Missing(path.to_path_buf()));
        }
        let sha256 = manifest.verify(path)?;
        let (session, device) = rt.session_on(path, "grounding model", device)?;
        check_io(&session).map_err(|message| ModelError::Contract {
            path: path.to_path_buf(),
            message,
        })?;
        tracing::info!(path = %path.display(), %sha256, %device, "grounding model loaded");
        Ok(GroundingModel {
            session,
            path: path.to_path_buf(),
            sha256,
            device,
        })
    }

    /// sha256 of the loaded file (for provenance in logs and SEG).
    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    /// The device the model runs on.
    pub fn device(&self) -> Device {
        self.device
    }

    /// Foreground probability `[Z, Y, X]` for `image` `[1, 2, Z, Y, X]` (Z, Y, X multiples of
    /// 16), `text` `[L, 384]` and `mask` `[L]`.
    pub fn predict(
        &mut self,
        image: ArrayView5<f32>,
        text: ArrayView2<f32>,
        mask: ArrayView1<f32>,
    ) -> Result<Array3<f32>, ModelError> {
        let (b, c, z, y, x) = image.dim();
        if b != 1 || c != 2 {
            return Err(ModelError::Input(format!(
                "image shape {:?}, expected [1, 2, Z, Y, X]",
                image.shape()
            )));
        }
        if [z, y, x]
            .iter()
            .any(|&n| n == 0 || n % SPATIAL_MULTIPLE != 0)
        {
            return Err(ModelError::Input(format!(
                "image spatial size [{z}, {y}, {x}] is not a non-zero multiple of {SPATIAL_MULTIPLE}"
            )));
        }
        if text.dim() != (TEXT_LEN, EMBED_DIM) || mask.len() != TEXT_LEN {
            return Err(ModelError::Input(format!(
                "text {:?} / mask {:?}, expected [{TEXT_LEN}, {EMBED_DIM}] / [{TEXT_LEN}]",
                text.shape(),
                mask.shape()
            )));
        }
        let inf = |e: ort::Error| ModelError::Inference(e.to_string());
        // ONNX Runtime needs contiguous buffers; standard-layout views are borrowed, not copied.
        let image = image.as_standard_layout();
        let text = text.insert_axis(Axis(0));
        let text = text.as_standard_layout();
        let mask = mask.insert_axis(Axis(0));
        let mask = mask.as_standard_layout();
        let outputs = self
            .session
            .run(ort::inputs![
                INPUT_IMAGE => TensorRef::from_array_view(&image).map_err(inf)?,
                INPUT_TEXT => TensorRef::from_array_view(&text).map_err(inf)?,
                INPUT_MASK => TensorRef::from_array_view(&mask).map_err(inf)?,
            ])
            .map_err(inf)?;
        let prob = outputs[OUTPUT_PROB]
            .try_extract_array::<f32>()
            .map_err(inf)?
            .into_dimensionality::<Ix5>()
            .map_err(|e| ModelError::Inference(format!("{OUTPUT_PROB}: {e}")))?;
        if prob.dim() != (1, 1, z, y, x) {
            return Err(ModelError::Inference(format!(
                "{OUTPUT_PROB} has shape {:?}, expected [1, 1, {z}, {y}, {x}]",
                prob.shape()
            )));
        }
        Ok(prob
            .index_axis(Axis(0), 0)
            .index_axis(Axis(0), 0)
            .to_owned())
    }
}

/// Expected element type, rank and fixed dimensions (`None` = dynamic) of each contract value.
type Spec = (&'static str, usize, &'static [Option<i64>]);
const L: i64 = TEXT_LEN as i64;
const D: i64 = EMBED_DIM as i64;
const INPUTS: [Spec; 3] = [
    (INPUT_IMAGE, 5, &[Some(1), Some(2), None, None, None]),
    (INPUT_TEXT, 3, &[Some(1), Some(L), Some(D)]),
    (INPUT_MASK, 2, &[Some(1), Some(L)]),
];
const OUTPUTS: [Spec; 1] = [(OUTPUT_PROB, 5, &[Some(1), Some(1), None, None, None])];

/// Checks names, float32 element type, ranks and the fixed dimensions of inputs and outputs.
/// A dimension the file leaves symbolic (-1) is accepted where the contract fixes it: the
/// exporter may keep batch or text length dynamic, and `predict` feeds the contract sizes.
fn check_io(s: &Session) -> Result<(), String> {
    let names: Vec<&str> = s.inputs().iter().map(Outlet::name).collect();
    if names.len() != INPUTS.len() {
        return Err(format!(
            "inputs {names:?}, expected {:?}",
            INPUTS.map(|i| i.0)
        ));
    }
    for spec in INPUTS {
        check_outlet(s.inputs(), spec, "input")?;
    }
    for spec in OUTPUTS {
        check_outlet(s.outputs(), spec, "output")?;
    }
    Ok(())
}

fn check_outlet(outlets: &[Outlet], (name, rank, dims): Spec, kind: &str) -> Result<(), String> {
    let names: Vec<&str> = outlets.iter().map(Outlet::name).collect();
    let o = outlets
        .iter()
        .find(|o| o.name() == name)
        .ok_or_else(|| format!("no {kind} named '{name}' (the file's {kind}s: {names:?})"))?;
    let ValueType::Tensor { ty, shape, .. } = o.dtype() else {
        return Err(format!("{kind} '{name}' is not a tensor"));
    };
    if *ty != TensorElementType::Float32 {
        return Err(format!(
            "{kind} '{name}' has element type {ty:?}, expected float32"
        ));
    }
    if shape.len() != rank {
        return Err(format!(
            "{kind} '{name}' has rank {} (shape {:?}), expected rank {rank}",
            shape.len(),
            &shape[..]
        ));
    }
    for (i, (&got, want)) in shape.iter().zip(dims).enumerate() {
        if let Some(w) = want
            && got >= 0
            && got != *w
        {
            return Err(format!(
                "{kind} '{name}' dimension {i} is {got}, expected {w} (shape {:?})",
                &shape[..]
            ));
        }
    }
    Ok(())
}
