//! Finding text → token embeddings for the grounding model (model contract: tokenizer
//! `models/tokenizer.json`, fixed length [`TEXT_LEN`] with truncation and `[PAD]` = 0 padding
//! set here explicitly, overriding the file's own fixed-128 padding; frozen text encoder
//! `models/text_encoder.onnx` → `last_hidden_state` [1, L, 384]). tools/train uses
//! [`load_tokenizer`] and [`Tokens`] too, so training and serving tokenize identically.

use std::path::{Path, PathBuf};

use ndarray::{Array1, Array2, Ix3};
use ort::session::Session;
use ort::value::TensorRef;
use tokenizers::{
    PaddingDirection, PaddingParams, PaddingStrategy, Tokenizer, TruncationDirection,
    TruncationParams, TruncationStrategy,
};

use super::manifest::{Manifest, ManifestError};
use super::runtime::{Device, Runtime, RuntimeError};

/// Fixed number of tokens the model sees (model contract L).
pub const TEXT_LEN: usize = 48;
/// Width of one token embedding (all-MiniLM-L6-v2).
pub const EMBED_DIM: usize = 384;
/// File names inside the models directory.
pub const TOKENIZER_FILE: &str = "tokenizer.json";
pub const ENCODER_FILE: &str = "text_encoder.onnx";

/// The encoder's input and output names (checked at load, recorded in models/MODELS.md).
const ENCODER_INPUTS: [&str; 3] = ["input_ids", "attention_mask", "token_type_ids"];
const ENCODER_OUTPUT: &str = "last_hidden_state";

/// Errors of tokenizing and encoding text.
#[derive(Debug, thiserror::Error)]
pub enum TextError {
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error("tokenizer {path}: {message}")]
    Tokenizer { path: PathBuf, message: String },
    #[error("tokenizing finding text: {0}")]
    Encode(String),
    #[error("text encoder {path}: {message}")]
    Contract { path: PathBuf, message: String },
    #[error("text encoder inference: {0}")]
    Inference(String),
}

/// Token ids of one text, each exactly [`TEXT_LEN`] long.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tokens {
    pub ids: Vec<i64>,
    /// 1 for a real token (including [CLS]/[SEP]), 0 for padding.
    pub attention_mask: Vec<i64>,
    pub type_ids: Vec<i64>,
}

/// The grounding model's text inputs for one finding.
#[derive(Debug, Clone, PartialEq)]
pub struct TextEmbedding {
    /// `[TEXT_LEN, EMBED_DIM]` per-token embeddings.
    pub embeddings: Array2<f32>,
    /// `[TEXT_LEN]`: 1.0 token, 0.0 padding.
    pub mask: Array1<f32>,
}

/// Loads `tokenizer.json` with the contract's truncation and padding (both to [`TEXT_LEN`]).
pub fn load_tokenizer(path: &Path) -> Result<Tokenizer, TextError> {
    let err = |message: String| TextError::Tokenizer {
        path: path.to_path_buf(),
        message,
    };
    let mut tok = Tokenizer::from_file(path).map_err(|e| err(e.to_string()))?;
    tok.with_truncation(Some(TruncationParams {
        direction: TruncationDirection::Right,
        max_length: TEXT_LEN,
        strategy: TruncationStrategy::LongestFirst,
        stride: 0,
    }))
    .map_err(|e| err(e.to_string()))?;
    tok.with_padding(Some(PaddingParams {
        strategy: PaddingStrategy::Fixed(TEXT_LEN),
        direction: PaddingDirection::Right,
        pad_to_multiple_of: None,
        pad_id: 0,
        pad_type_id: 0,
        pad_token: "[PAD]".to_string(),
    }));
    Ok(tok)
}

/// Tokenizes `text` with a tokenizer from [`load_tokenizer`] (special tokens added).
pub fn tokenize(tok: &Tokenizer, text: &str) -> Result<Tokens, TextError> {
    let enc = tok
        .encode(text, true)
        .map_err(|e| TextError::Encode(e.to_string()))?;
    let widen = |v: &[u32]| v.iter().map(|&x| i64::from(x)).collect::<Vec<i64>>();
    let t = Tokens {
        ids: widen(enc.get_ids()),
        attention_mask: widen(enc.get_attention_mask()),
        type_ids: widen(enc.get_type_ids()),
    };
    if t.ids.len() != TEXT_LEN || t.attention_mask.len() != TEXT_LEN {
        return Err(TextError::Encode(format!(
            "{} tokens after padding/truncation, expected {TEXT_LEN}",
            t.ids.len()
        )));
    }
    Ok(t)
}

/// Tokenizer plus frozen encoder session; `encode` needs `&mut self` (ONNX Runtime sessions
/// run one call at a time in ort rc.15).
pub struct TextEncoder {
    tokenizer: Tokenizer,
    session: Session,
    path: PathBuf,
    device: Device,
}

impl std::fmt::Debug for TextEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TextEncoder")
            .field("path", &self.path)
            .field("device", &self.device)
            .finish_non_exhaustive()
    }
}

impl TextEncoder {
    /// Loads `tokenizer.json` and `text_encoder.onnx` from `dir`, each checked against
    /// `manifest`, and checks the encoder's input/output names.
    pub fn load(rt: &Runtime, dir: &Path, manifest: &Manifest) -> Result<Self, TextError> {
        Self::load_on(rt, dir, manifest, rt.device())
    }

    /// As [`TextEncoder::load`] on an explicit device policy (GPU-vs-CPU checks).
    pub fn load_on(
        rt: &Runtime,
        dir: &Path,
        manifest: &Manifest,
        device: Device,
    ) -> Result<Self, TextError> {
        let tok_path = dir.join(TOKENIZER_FILE);
        let enc_path = dir.join(ENCODER_FILE);
        manifest.verify(&tok_path)?;
        manifest.verify(&enc_path)?;
        let tokenizer = load_tokenizer(&tok_path)?;
        let (session, device) = rt.session_on(&enc_path, "text encoder", device)?;
        check_encoder_io(&session, &enc_path)?;
        Ok(TextEncoder {
            tokenizer,
            session,
            path: enc_path,
            device,
        })
    }

    /// The device the encoder runs on.
    pub fn device(&self) -> Device {
        self.device
    }

    /// Token ids of `text` (contract padding/truncation).
    pub fn tokenize(&self, text: &str) -> Result<Tokens, TextError> {
        tokenize(&self.tokenizer, text)
    }

    /// Embeddings `[L, 384]` and mask `[L]` of one finding text.
    pub fn encode(&mut self, text: &str) -> Result<TextEmbedding, TextError> {
        let t = self.tokenize(text)?;
        let inf = |e: ort::Error| TextError::Inference(e.to_string());
        let shape = [1usize, TEXT_LEN];
        let ids = TensorRef::from_array_view((shape, t.ids.as_slice())).map_err(inf)?;
        let am = TensorRef::from_array_view((shape, t.attention_mask.as_slice())).map_err(inf)?;
        let tt = TensorRef::from_array_view((shape, t.type_ids.as_slice())).map_err(inf)?;
        let outputs = self
            .session
            .run(ort::inputs![
                ENCODER_INPUTS[0] => ids,
                ENCODER_INPUTS[1] => am,
                ENCODER_INPUTS[2] => tt,
            ])
            .map_err(inf)?;
        let out = outputs[ENCODER_OUTPUT]
            .try_extract_array::<f32>()
            .map_err(inf)?;
        let out = out
            .into_dimensionality::<Ix3>()
            .map_err(|e| TextError::Inference(format!("{ENCODER_OUTPUT}: {e}")))?;
        if out.dim() != (1, TEXT_LEN, EMBED_DIM) {
            return Err(TextError::Inference(format!(
                "{ENCODER_OUTPUT} has shape {:?}, expected [1, {TEXT_LEN}, {EMBED_DIM}]",
                out.shape()
            )));
        }
        let embeddings = out.index_axis(ndarray::Axis(0), 0).to_owned();
        let mask = t.attention_mask.iter().map(|&m| m as f32).collect();
        Ok(TextEmbedding { embeddings, mask })
    }
}

fn check_encoder_io(s: &Session, path: &Path) -> Result<(), TextError> {
    let names =
        |o: &[ort::value::Outlet]| o.iter().map(|x| x.name().to_string()).collect::<Vec<_>>();
    let inputs = names(s.inputs());
    let outputs = names(s.outputs());
    let mut want: Vec<String> = ENCODER_INPUTS.iter().map(|s| s.to_string()).collect();
    let mut got = inputs.clone();
    want.sort();
    got.sort();
    if got != want || !outputs.iter().any(|o| o == ENCODER_OUTPUT) {
        return Err(TextError::Contract {
            path: path.to_path_buf(),
            message: format!(
                "inputs {inputs:?}, outputs {outputs:?}; expected inputs {ENCODER_INPUTS:?} and output '{ENCODER_OUTPUT}'"
            ),
        });
    }
    Ok(())
}
