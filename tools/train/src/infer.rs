//! Inference half of `petground-train evaluate`, through the node's own Rust code: ONNX Runtime
//! (`ground::runtime`), the tokenizer and frozen text encoder (`ground::text`) and the grounding
//! model session (`ground::model`). For every pair of one split it runs the sentence's model
//! text, and once per study the empty text (vision-only baseline), on the study's padded
//! model-grid image, crops the probability map to the unpadded model grid and writes it as
//! float32 .npy under `OUT/preds/`, plus `OUT/inference.json` (pairs, forward times, model
//! sha256) for the scoring half (`evaluate`).
//!
//! A candidate model is usually not in `models/manifest.json`: its sha256 and size are written
//! to `OUT/candidate-manifest.json` and the session is loaded against that file, so the node's
//! own manifest and its checks stay as they are (the tokenizer and text encoder are still
//! checked against the repository's manifest).

use std::path::{Path, PathBuf};
use std::time::Instant;

use ndarray::{Array3, Array4, Axis, Ix4};
use petground::ground::manifest::{Manifest, ManifestError, sha256_file};
use petground::ground::model::{GroundingModel, ModelError};
use petground::ground::runtime::{self, Device, ModelSettings, RuntimeError};
use petground::ground::text::{TextEmbedding, TextEncoder, TextError};

use crate::dataset::{DatasetError, Pair, read_manifest};
use crate::npy::{self, NpyError};

/// File (inside the evaluation folder) holding the generated manifest of the candidate model.
pub const CANDIDATE_MANIFEST: &str = "candidate-manifest.json";

#[derive(Debug, thiserror::Error)]
pub enum InferError {
    #[error(transparent)]
    Dataset(#[from] DatasetError),
    #[error(transparent)]
    Npy(#[from] NpyError),
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error(transparent)]
    Text(#[from] TextError),
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error("{path}: {why}")]
    Input { path: PathBuf, why: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> InferError + '_ {
    move |source| InferError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Where the model files and ONNX Runtime are, and how many threads a session uses.
#[derive(Debug, Clone)]
pub struct Options {
    /// `train`, `val`, `test` or `all`.
    pub split: String,
    /// Only the first N studies (sorted by name) of the split; 0 = all.
    pub max_studies: usize,
    /// Folder with manifest.json, tokenizer.json and text_encoder.onnx (the repo's models/).
    pub models_dir: PathBuf,
    /// libonnxruntime.so (`$ORT_DYLIB_PATH` overrides it, as in the node).
    pub onnxruntime: PathBuf,
    /// Intra-op threads per session.
    pub threads: usize,
}

/// The repository root (tools/train/../..), resolved so reports show a plain path.
pub fn repo_root() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    std::fs::canonicalize(&root).unwrap_or(root)
}

impl Default for Options {
    fn default() -> Self {
        let root = repo_root();
        Options {
            split: "test".to_owned(),
            max_studies: 0,
            models_dir: root.join("models"),
            onnxruntime: root.join(runtime::DEFAULT_LIBRARY),
            threads: 2,
        }
    }
}

/// What one inference run did (also written as inference.json).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Info {
    pub pairs: Vec<String>,
    pub split: String,
    pub model: String,
    pub model_sha256: String,
    pub onnxruntime: String,
    pub threads: usize,
    pub forwards: usize,
    /// Seconds per grounding-model forward (text encoding not included), as the former evaluate.py did.
    pub forward_s_mean: Option<f64>,
    pub forward_s_max: Option<f64>,
}

/// The pairs of `split` in manifest order, limited to the first `max_studies` studies by name.
pub fn select_pairs(pairs: Vec<Pair>, split: &str, max_studies: usize) -> Vec<Pair> {
    let mut pairs: Vec<Pair> = pairs
        .into_iter()
        .filter(|p| split == "all" || p.split == split)
        .collect();
    if max_studies > 0 {
        let mut studies: Vec<String> = pairs.iter().map(|p| p.study.clone()).collect();
        studies.sort();
        studies.dedup();
        studies.truncate(max_studies);
        pairs.retain(|p| studies.binary_search(&p.study).is_ok());
    }
    pairs
}

/// Loads the candidate `model` against a manifest generated for it in `out`.
fn load_candidate(
    rt: &runtime::Runtime,
    model: &Path,
    out: &Path,
) -> Result<(GroundingModel, String), InferError> {
    let name = model
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| InferError::Input {
            path: model.to_owned(),
            why: "not a file name".to_owned(),
        })?;
    let bytes = std::fs::metadata(model).map_err(io(model))?.len();
    let sha = sha256_file(model).map_err(io(model))?;
    let json = serde_json::json!({ "files": { name: { "sha256": sha, "bytes": bytes } } });
    let path = out.join(CANDIDATE_MANIFEST);
    std::fs::write(&path, json.to_string()).map_err(io(&path))?;
    let manifest = Manifest::load(&path)?;
    let m = GroundingModel::load_on(rt, model, &manifest, Device::Cpu)?;
    Ok((m, sha))
}

/// Runs the model on every selected pair of `data`; writes `out/preds/*.npy` and
/// `out/inference.json`.
pub fn run(data: &Path, model: &Path, out: &Path, opts: &Options) -> Result<Info, InferError> {
    let preds = out.join("preds");
    std::fs::create_dir_all(&preds).map_err(io(&preds))?;
    let settings = ModelSettings {
        onnxruntime: opts.onnxruntime.clone(),
        device: Device::Cpu,
        threads: opts.threads,
        dir: opts.models_dir.clone(),
    };
    let rt = runtime::init(&settings)?;
    let repo_manifest = Manifest::load(&opts.models_dir.join("manifest.json"))?;
    let mut text = TextEncoder::load_on(&rt, &opts.models_dir, &repo_manifest, Device::Cpu)?;
    let (mut net, sha) = load_candidate(&rt, model, out)?;
    let pairs = select_pairs(read_manifest(data)?, &opts.split, opts.max_studies);
    let empty = text.encode("")?;
    let mut times = Vec::with_capacity(pairs.len() * 2);
    let mut image: Option<(String, Array4<f32>)> = None;
    for (i, p) in pairs.iter().enumerate() {
        if image.as_ref().map(|c| c.0 != p.study).unwrap_or(true) {
            // The study's padded model-grid image `[2, Z, Y, X]`.
            let a = npy::read_dim::<f32, Ix4>(&data.join(&p.image))?;
            let prob = forward(&mut net, &a, &empty, p, &mut times)?;
            npy::write(&preds.join(format!("{}-empty.npy", p.study)), &prob)?;
            image = Some((p.study.clone(), a));
        }
        let Some((_, a)) = image.as_ref() else {
            continue;
        };
        let emb = text.encode(&p.text)?;
        let prob = forward(&mut net, a, &emb, p, &mut times)?;
        npy::write(&preds.join(format!("{}.npy", p.id)), &prob)?;
        if let Some(swapped) = swap_sides(&p.text) {
            let emb = text.encode(&swapped)?;
            let prob = forward(&mut net, a, &emb, p, &mut times)?;
            npy::write(&preds.join(format!("{}-swapped.npy", p.id)), &prob)?;
        }
        if (i + 1) % 20 == 0 {
            eprintln!(
                "{}/{} pairs, {:.2} s per forward",
                i + 1,
                pairs.len(),
                mean(&times)
            );
        }
    }
    let info = Info {
        pairs: pairs.iter().map(|p| p.id.clone()).collect(),
        split: opts.split.clone(),
        model: model.display().to_string(),
        model_sha256: sha,
        onnxruntime: rt.library().display().to_string(),
        threads: opts.threads,
        forwards: times.len(),
        forward_s_mean: (!times.is_empty()).then(|| mean(&times)),
        forward_s_max: times.iter().copied().reduce(f64::max),
    };
    write_info(out, &info)?;
    Ok(info)
}

/// A one-sided text with "left" and "right" exchanged (the laterality check of `evaluate`):
/// `None` when the text names no side or both.
pub fn swap_sides(text: &str) -> Option<String> {
    let mut out = String::with_capacity(text.len());
    let (mut left, mut right) = (false, false);
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String, left: &mut bool, right: &mut bool| {
        let swapped = match word.to_ascii_lowercase().as_str() {
            "left" => {
                *left = true;
                Some("right")
            }
            "right" => {
                *right = true;
                Some("left")
            }
            _ => None,
        };
        match swapped {
            // Keep the capital of a sentence-initial "Left"/"Right".
            Some(s) if word.starts_with(|c: char| c.is_ascii_uppercase()) => {
                let mut c = s.chars();
                out.extend(c.next().map(|f| f.to_ascii_uppercase()));
                out.push_str(c.as_str());
            }
            Some(s) => out.push_str(s),
            None => out.push_str(word),
        }
        word.clear();
    };
    for ch in text.chars() {
        if ch.is_alphanumeric() {
            word.push(ch);
        } else {
            flush(&mut word, &mut out, &mut left, &mut right);
            out.push(ch);
        }
    }
    flush(&mut word, &mut out, &mut left, &mut right);
    (left != right).then_some(out)
}

fn write_info(out: &Path, info: &Info) -> Result<(), InferError> {
    let path = out.join("inference.json");
    let json = serde_json::to_string_pretty(info).map_err(|e| InferError::Input {
        path: path.clone(),
        why: e.to_string(),
    })?;
    std::fs::write(&path, json).map_err(io(&path))
}

/// Reads `eval_dir/inference.json`.
pub fn read_info(eval_dir: &Path) -> Result<Info, InferError> {
    let path = eval_dir.join("inference.json");
    let text = std::fs::read_to_string(&path).map_err(io(&path))?;
    serde_json::from_str(&text).map_err(|e| InferError::Input {
        path,
        why: e.to_string(),
    })
}

/// The report's inference paragraph: model hash, runtime, threads and forward times.
pub fn summary(info: &Info) -> String {
    let secs = |v: Option<f64>| v.map_or("-".to_owned(), |s| format!("{s:.3} s"));
    format!(
        "Inference: the node's Rust path (ONNX Runtime {}, CPU, {} threads), model {} \
         (sha256 {}); {} forwards, mean {} / max {} per forward.\n",
        info.onnxruntime,
        info.threads,
        info.model,
        info.model_sha256,
        info.forwards,
        secs(info.forward_s_mean),
        secs(info.forward_s_max)
    )
}

fn mean(v: &[f64]) -> f64 {
    if v.is_empty() {
        0.0
    } else {
        v.iter().sum::<f64>() / v.len() as f64
    }
}

/// One forward on the padded image `[2, Z, Y, X]`; the map cropped to the pair's model grid.
fn forward(
    net: &mut GroundingModel,
    image: &Array4<f32>,
    emb: &TextEmbedding,
    p: &Pair,
    times: &mut Vec<f64>,
) -> Result<Array3<f32>, InferError> {
    let t0 = Instant::now();
    let prob = net.predict(
        image.view().insert_axis(Axis(0)),
        emb.embeddings.view(),
        emb.mask.view(),
    )?;
    times.push(t0.elapsed().as_secs_f64());
    let [z, y, x] = p.model_grid.dims;
    let (pz, py, px) = prob.dim();
    if pz < z || py < y || px < x {
        return Err(InferError::Input {
            path: PathBuf::from(&p.image),
            why: format!(
                "model output {:?} smaller than the model grid {:?}",
                prob.dim(),
                p.model_grid.dims
            ),
        });
    }
    Ok(prob
        .slice_each_axis(|ax| ndarray::Slice::from(0..[z, y, x][ax.axis.index()]))
        .to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(id: &str, study: &str, split: &str) -> Pair {
        let g = petground::volume::Geometry {
            dims: [1, 1, 1],
            origin: [0.0; 3],
            spacing: [1.0; 3],
            row_dir: [1.0, 0.0, 0.0],
            col_dir: [0.0, 1.0, 0.0],
            slice_dir: [0.0, 0.0, 1.0],
        };
        Pair {
            id: id.to_owned(),
            study: study.to_owned(),
            patient_id: study.to_owned(),
            split: split.to_owned(),
            tracer: "fdg".to_owned(),
            site: "l3".to_owned(),
            sentence: String::new(),
            text: String::new(),
            reported_suv_max: 5.0,
            label_suv_max: 5.0,
            mtv_ml: 1.0,
            image: String::new(),
            label: String::new(),
            label_pet: String::new(),
            suv: String::new(),
            pet_grid: g.clone(),
            model_grid: g,
        }
    }

    #[test]
    fn sides_are_swapped_only_in_one_sided_texts() {
        assert_eq!(
            swap_sides("Left axillary node, SUVmax , image .").as_deref(),
            Some("Right axillary node, SUVmax , image .")
        );
        assert_eq!(
            swap_sides("Hypermetabolic right-sided hilar node.").as_deref(),
            Some("Hypermetabolic left-sided hilar node.")
        );
        assert_eq!(swap_sides("Subcarinal lymph node."), None);
        assert_eq!(swap_sides("Left and right hilar nodes."), None);
        assert_eq!(swap_sides("Bright focus, upright."), None);
    }

    #[test]
    fn selection_filters_the_split_then_keeps_the_first_studies_by_name() {
        let pairs = vec![
            pair("b-00", "b", "test"),
            pair("a-00", "a", "test"),
            pair("c-00", "c", "train"),
            pair("a-01", "a", "test"),
        ];
        let ids = |v: Vec<Pair>| v.into_iter().map(|p| p.id).collect::<Vec<_>>();
        assert_eq!(
            ids(select_pairs(pairs.clone(), "test", 1)),
            ["a-00", "a-01"]
        );
        assert_eq!(
            ids(select_pairs(pairs.clone(), "test", 0)),
            ["b-00", "a-00", "a-01"]
        );
        assert_eq!(ids(select_pairs(pairs, "all", 2)).len(), 3);
    }
}
