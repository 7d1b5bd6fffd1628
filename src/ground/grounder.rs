//! Start-up and per-finding entry points for the node: [`startup`] loads ONNX Runtime, the
//! text encoder and (when present) the grounding model once, with every check done there;
//! [`Grounder::ground`] runs one finding: text → embeddings → model → mask on the PET grid.
//! The image tensor comes from `preprocess` (model grid, channels, padding).

use ndarray::{Array3, ArrayView5};

use super::manifest::{MANIFEST_FILE, Manifest, ManifestError};
use super::model::{GroundingModel, MODEL_FILE, ModelError};
use super::postprocess::{PostprocessError, to_pet_mask};
use super::runtime::{self, ModelSettings, Runtime, RuntimeError};
use super::text::{TextEmbedding, TextEncoder, TextError};
use crate::volume::Geometry;

/// `[grounding] mode` is a config type; it is named here for the code that grounds by it.
pub use crate::config::GroundingMode;

/// Errors of start-up and of grounding one finding.
#[derive(Debug, thiserror::Error)]
pub enum GroundError {
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error(transparent)]
    Text(#[from] TextError),
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error("{0}; [grounding] mode = \"{1}\" needs it")]
    ModelRequired(ModelError, &'static str),
    #[error("model grounding is disabled: no grounding model was loaded")]
    NoModel,
    #[error(transparent)]
    Postprocess(#[from] PostprocessError),
}

impl GroundError {
    /// Process exit code for this error at start-up.
    pub fn exit_code(&self) -> i32 {
        runtime::EXIT_CODE
    }
}

/// Text encoder and optional grounding model, created once; `&mut` per call (one finding at a
/// time per `Grounder`: wrap it in a `Mutex` and run it on the blocking pool).
#[derive(Debug)]
pub struct Grounder {
    text: TextEncoder,
    model: Option<GroundingModel>,
}

/// Loads everything the node needs for model grounding from `[model]` settings: ONNX Runtime
/// (library check), the manifest, tokenizer and text encoder (always: tools/train shares them),
/// and `grounding.onnx` — whose absence disables model grounding with a warning unless `mode`
/// requires it. Every error here should end the process with [`GroundError::exit_code`].
pub fn startup(settings: &ModelSettings, mode: GroundingMode) -> Result<Grounder, GroundError> {
    let rt = runtime::init(settings)?;
    let manifest = Manifest::load(&settings.dir.join(MANIFEST_FILE))?;
    Grounder::load(&rt, settings, &manifest, mode)
}

impl Grounder {
    /// As [`startup`], with an already initialised runtime and manifest.
    pub fn load(
        rt: &Runtime,
        settings: &ModelSettings,
        manifest: &Manifest,
        mode: GroundingMode,
    ) -> Result<Self, GroundError> {
        let text = TextEncoder::load(rt, &settings.dir, manifest)?;
        let model = match GroundingModel::load(rt, &settings.dir.join(MODEL_FILE), manifest) {
            Ok(m) => Some(m),
            Err(e @ ModelError::Missing(_)) if !mode.requires_model() => {
                tracing::warn!("{e}: findings are grounded by weak labels only");
                None
            }
            Err(e @ ModelError::Missing(_)) => {
                let name = if mode == GroundingMode::Model {
                    "model"
                } else {
                    "both"
                };
                return Err(GroundError::ModelRequired(e, name));
            }
            Err(e) => return Err(e.into()),
        };
        Ok(Grounder { text, model })
    }

    /// Whether model grounding is available.
    pub fn has_model(&self) -> bool {
        self.model.is_some()
    }

    /// The grounding model, when loaded (sha256, device).
    pub fn model(&self) -> Option<&GroundingModel> {
        self.model.as_ref()
    }

    /// The grounding model for direct `predict` calls (benchmarks, tools/train evaluation).
    pub fn model_mut(&mut self) -> Option<&mut GroundingModel> {
        self.model.as_mut()
    }

    /// Embeddings of a finding's `text` (CONTRACT §4 `text` field).
    pub fn embed(&mut self, text: &str) -> Result<TextEmbedding, GroundError> {
        Ok(self.text.encode(text)?)
    }

    /// One finding: `text` → embeddings → model on `image` `[1, 2, Z, Y, X]` (padded model
    /// grid of `iso`) → mask on the `pet` grid; `None` when the model finds nothing.
    pub fn ground(
        &mut self,
        text: &str,
        image: ArrayView5<f32>,
        iso: &Geometry,
        pet: &Geometry,
    ) -> Result<Option<Array3<bool>>, GroundError> {
        let emb = self.text.encode(text)?;
        let model = self.model.as_mut().ok_or(GroundError::NoModel)?;
        let prob = model.predict(image, emb.embeddings.view(), emb.mask.view())?;
        Ok(to_pet_mask(prob.view(), iso, pet)?)
    }
}
