//! `petground-train dataset`: an archive (a folder of study folders: DICOM files plus
//! report.hl7 or report.txt, e.g. from `petground-phantom archive`) → model-grid training pairs.
//! Every step is the node's own code (findings, PET assembly + SUV, CT on the PET grid, weak
//! label with QC, model-grid pre-processing), so training sees exactly what serving sees. The
//! funnel counts why sentences were dropped (PAPER §1–3).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ndarray::Array3;
use petground::ground::preprocess::label_to_model_grid;
use petground::label::{LabelOutcome, LabelParams, SkipReason, weak_label};
use petground::pipeline::study::prepare;
use petground::report::findings_from_input;
use petground::volume::Geometry;
use serde::{Deserialize, Serialize};

use crate::npy;

#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Npy(#[from] npy::NpyError),
    #[error("writing the manifest: {0}")]
    Json(#[from] serde_json::Error),
    #[error("{0}")]
    Study(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> DatasetError + '_ {
    move |source| DatasetError::Io {
        path: path.to_owned(),
        source,
    }
}

/// One sentence → label pair: a line of manifest.jsonl. Paths are relative to the dataset root.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Pair {
    pub id: String,
    pub study: String,
    pub patient_id: String,
    /// train, val or test (by patient).
    pub split: String,
    pub tracer: String,
    /// Site key from the phantom's truth.json, "unknown" without one.
    pub site: String,
    pub sentence: String,
    /// The model's text input: the sentence without its numbers (CONTRACT §4).
    pub text: String,
    pub reported_suv_max: f64,
    /// Measured on the native PET SUV over the weak label.
    pub label_suv_max: f64,
    pub mtv_ml: f64,
    /// `[2, Z, Y, X]` float32 on the padded model grid (shared by the study's pairs).
    pub image: String,
    /// `[Z, Y, X]` uint8 on the padded model grid.
    pub label: String,
    /// `[z, y, x]` uint8 on the native PET grid (the evaluation truth).
    pub label_pet: String,
    /// `[z, y, x]` float32 SUV on the native PET grid (for the metric's SUVmax rule).
    pub suv: String,
    pub pet_grid: Geometry,
    /// Unpadded model grid; the image is padded at the end of each axis.
    pub model_grid: Geometry,
}

/// Sentence counts at each stage and why the rest were dropped.
#[derive(Debug, Default, Clone, Serialize, Deserialize, PartialEq)]
pub struct Funnel {
    pub studies: usize,
    pub studies_failed: usize,
    pub sentences: usize,
    pub with_suv: usize,
    pub matched: usize,
    pub qc_pass: usize,
    pub kept: usize,
    pub drops: BTreeMap<String, usize>,
}

impl Funnel {
    fn drop(&mut self, why: &str) {
        *self.drops.entry(why.to_owned()).or_default() += 1;
    }

    /// Human-readable funnel (the paper's sentence flow).
    pub fn render(&self) -> String {
        let mut s = format!(
            "studies {} (failed {})\nsentences {}\n  with SUVmax {}\n  matched {}\n  QC pass {}\n  kept {}\ndrops:\n",
            self.studies,
            self.studies_failed,
            self.sentences,
            self.with_suv,
            self.matched,
            self.qc_pass,
            self.kept
        );
        for (k, v) in &self.drops {
            s.push_str(&format!("  {k}: {v}\n"));
        }
        s
    }
}

/// Dataset options.
#[derive(Debug, Clone)]
pub struct Options {
    pub seed: u64,
    /// Fractions of patients for train and val; the rest is test.
    pub train: f64,
    pub val: f64,
    pub params: LabelParams,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            seed: 17,
            train: 0.70,
            val: 0.15,
            params: LabelParams::default(),
        }
    }
}

/// The split of a patient: a seeded hash of the id mapped to [0, 1) (stable across runs and
/// archive order, so one patient never lands in two splits).
pub fn split_of(patient_id: &str, opts: &Options) -> &'static str {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ opts.seed.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    for b in patient_id.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    // Final avalanche (splitmix64) so close ids spread.
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^= h >> 31;
    let u = (h >> 11) as f64 / (1u64 << 53) as f64;
    if u < opts.train {
        "train"
    } else if u < opts.train + opts.val {
        "val"
    } else {
        "test"
    }
}

/// The study folders of an archive (sorted, so output order is stable).
pub fn study_dirs(archive: &Path) -> Result<Vec<PathBuf>, DatasetError> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(archive)
        .map_err(io(archive))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    Ok(dirs)
}

/// Builds the dataset in `out` from every study of `archive`; returns the funnel. Writes
/// `out/manifest.jsonl`, `out/funnel.json` and per study `out/<study>/…npy`.
pub fn build(archive: &Path, out: &Path, opts: &Options) -> Result<Funnel, DatasetError> {
    std::fs::create_dir_all(out).map_err(io(out))?;
    let mut funnel = Funnel::default();
    let mut pairs = Vec::new();
    for dir in study_dirs(archive)? {
        funnel.studies += 1;
        match study(&dir, out, opts, &mut funnel) {
            Ok(mut p) => pairs.append(&mut p),
            Err(e) => {
                funnel.studies_failed += 1;
                eprintln!("{}: skipped: {e}", dir.display());
            }
        }
    }
    let manifest = out.join("manifest.jsonl");
    let mut text = String::new();
    for p in &pairs {
        text.push_str(&serde_json::to_string(p)?);
        text.push('\n');
    }
    std::fs::write(&manifest, text).map_err(io(&manifest))?;
    let fpath = out.join("funnel.json");
    std::fs::write(&fpath, serde_json::to_string_pretty(&funnel)?).map_err(io(&fpath))?;
    Ok(funnel)
}

/// Reads manifest.jsonl.
pub fn read_manifest(data: &Path) -> Result<Vec<Pair>, DatasetError> {
    let path = data.join("manifest.jsonl");
    let text = std::fs::read_to_string(&path).map_err(io(&path))?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).map_err(DatasetError::from))
        .collect()
}

/// PET and CT files and the report of one study folder.
struct StudyFiles {
    pet: Vec<PathBuf>,
    ct: Vec<PathBuf>,
    report: PathBuf,
    patient_id: Option<String>,
}

fn scan(dir: &Path) -> Result<StudyFiles, DatasetError> {
    let report = ["report.hl7", "report.txt"]
        .iter()
        .map(|n| dir.join(n))
        .find(|p| p.is_file())
        .ok_or_else(|| DatasetError::Study("no report.hl7 or report.txt".to_owned()))?;
    let mut series: BTreeMap<(String, String), Vec<PathBuf>> = BTreeMap::new();
    let mut patient_id = None;
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).map_err(io(&d))?.flatten() {
            let p = entry.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(h) = petground::store::InstanceHeader::read(&p) {
                patient_id = patient_id.or(h.patient_id.clone());
                series
                    .entry((h.modality.clone(), h.series.to_string()))
                    .or_default()
                    .push(p);
            }
        }
    }
    // The largest series of each modality.
    let pick = |m: &str| {
        series
            .iter()
            .filter(|((modality, _), _)| modality == m)
            .map(|(_, v)| v.clone())
            .max_by_key(Vec::len)
            .unwrap_or_default()
    };
    Ok(StudyFiles {
        pet: pick("PT"),
        ct: pick("CT"),
        report,
        patient_id,
    })
}

/// What the phantom's truth.json tells about a sentence (site), when the study has one.
fn truth_sites(dir: &Path) -> (Option<String>, BTreeMap<String, String>, Option<String>) {
    let Ok(truth) = petground_phantom::Truth::load(&dir.join("truth.json")) else {
        return (None, BTreeMap::new(), None);
    };
    let sites = truth
        .lesions
        .iter()
        .map(|l| (normalise(&l.sentence), l.site.clone()))
        .collect();
    (Some(truth.tracer), sites, Some(truth.patient_id))
}

fn normalise(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A short, stable key for a drop reason (the variant name).
fn reason_key(prefix: &str, debug: String) -> String {
    let head: String = debug
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    format!("{prefix}:{head}")
}

fn study(
    dir: &Path,
    out: &Path,
    opts: &Options,
    funnel: &mut Funnel,
) -> Result<Vec<Pair>, DatasetError> {
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let files = scan(dir)?;
    let bytes = std::fs::read(&files.report).map_err(io(&files.report))?;
    let findings = findings_from_input(&bytes).map_err(|e| DatasetError::Study(e.to_string()))?;
    if files.pet.is_empty() {
        return Err(DatasetError::Study("no PET series".to_owned()));
    }
    // The node's own preparation; a study whose CT cannot be paired is dropped here, where the
    // node would ground on the PET alone: a training image must have both channels.
    let prepared =
        prepare(&files.pet, &files.ct).map_err(|e| DatasetError::Study(e.to_string()))?;
    let channels = prepared
        .model_input()
        .map_err(|e| DatasetError::Study(e.to_owned()))?;
    if let Some(why) = &channels.ct_unused {
        return Err(DatasetError::Study(why.clone()));
    }
    let input = &channels.input;
    let pet = &prepared.series;
    let (tracer, sites, truth_pid) = truth_sites(dir);
    let patient_id = truth_pid
        .or(files.patient_id)
        .unwrap_or_else(|| name.clone());
    let split = split_of(&patient_id, opts);
    let sdir = out.join(&name);
    std::fs::create_dir_all(&sdir).map_err(io(&sdir))?;
    let pet_geom = &pet.volume.geometry;
    let mut pairs = Vec::new();
    for f in &findings {
        funnel.sentences += 1;
        let Some(s) = f.suv_max else {
            funnel.drop("no SUVmax");
            continue;
        };
        funnel.with_suv += 1;
        let outcome = weak_label(
            &pet.volume,
            &pet.slices,
            s,
            f.slice,
            &f.sentence,
            &opts.params,
        );
        let (mask, m) = match outcome {
            LabelOutcome::Labelled {
                mask, measurements, ..
            } => {
                funnel.matched += 1;
                funnel.qc_pass += 1;
                (mask, measurements)
            }
            LabelOutcome::QcFailed { reason, .. } => {
                funnel.matched += 1;
                funnel.drop(&reason_key("QC", format!("{reason:?}")));
                continue;
            }
            LabelOutcome::Ambiguous { .. } => {
                funnel.drop("match:ambiguous");
                continue;
            }
            LabelOutcome::NotFound { .. } => {
                funnel.drop("match:not found");
                continue;
            }
            LabelOutcome::Skipped { reason } => {
                funnel.drop(match reason {
                    SkipReason::LowSuv { .. } => "skip:SUVmax below 2.5",
                    _ => "skip:input",
                });
                continue;
            }
        };
        let dense = mask.to_dense();
        let soft = label_to_model_grid(dense.view(), pet_geom)
            .map_err(|e| DatasetError::Study(e.to_string()))?;
        let hard = harden(&soft);
        if !hard.iter().any(|&v| v > 0) {
            funnel.drop("model grid:empty label");
            continue;
        }
        funnel.kept += 1;
        let k = pairs.len();
        let label = format!("{name}/label-{k:02}.npy");
        let label_pet = format!("{name}/label-pet-{k:02}.npy");
        npy::write(&out.join(&label), &hard)?;
        npy::write(&out.join(&label_pet), &dense.mapv(u8::from))?;
        pairs.push(Pair {
            id: format!("{name}-{k:02}"),
            study: name.clone(),
            patient_id: patient_id.clone(),
            split: split.to_owned(),
            tracer: tracer.clone().unwrap_or_else(|| "unknown".to_owned()),
            site: sites
                .get(&normalise(&f.sentence))
                .cloned()
                .unwrap_or_else(|| "unknown".to_owned()),
            sentence: f.sentence.clone(),
            text: f.text.clone(),
            reported_suv_max: s,
            label_suv_max: m.suv_max,
            mtv_ml: m.mtv_ml,
            image: format!("{name}/image.npy"),
            label,
            label_pet,
            suv: format!("{name}/suv.npy"),
            pet_grid: pet_geom.clone(),
            model_grid: input.grid.clone(),
        });
    }
    if pairs.is_empty() {
        // Nothing to learn from: leave no arrays behind.
        let _ = std::fs::remove_dir_all(&sdir);
        return Ok(pairs);
    }
    npy::write(&sdir.join("image.npy"), &input.image)?;
    npy::write(&sdir.join("suv.npy"), &pet.volume.data)?;
    Ok(pairs)
}

/// The hard training label: coverage ≥ 0.5; a lesion smaller than half a model voxel keeps
/// its best-covered voxel so that no kept sentence has an empty target.
fn harden(soft: &Array3<f32>) -> Array3<u8> {
    let mut hard = soft.mapv(|v| u8::from(v >= 0.5));
    if !hard.iter().any(|&v| v > 0) {
        let best = soft
            .indexed_iter()
            .filter(|(_, v)| **v > 0.0)
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map(|(i, _)| i);
        if let Some(i) = best {
            hard[i] = 1;
        }
    }
    hard
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_is_stable_seeded_and_near_the_fractions() {
        let opts = Options::default();
        assert_eq!(split_of("PAT-1", &opts), split_of("PAT-1", &opts));
        let mut counts = BTreeMap::new();
        for i in 0..2000 {
            *counts
                .entry(split_of(&format!("PHANTOM-{i}"), &opts))
                .or_insert(0) += 1;
        }
        let train = f64::from(counts["train"]) / 2000.0;
        let test = f64::from(counts["test"]) / 2000.0;
        assert!((train - 0.70).abs() < 0.04, "train {train}");
        assert!((test - 0.15).abs() < 0.03, "test {test}");
        let other = Options {
            seed: 18,
            ..Options::default()
        };
        let moved = (0..200)
            .filter(|i| {
                let id = format!("PHANTOM-{i}");
                split_of(&id, &opts) != split_of(&id, &other)
            })
            .count();
        assert!(
            moved > 20,
            "the seed changes the split ({moved} of 200 moved)"
        );
    }

    #[test]
    fn harden_keeps_the_best_voxel_of_a_tiny_lesion() {
        let mut soft = Array3::<f32>::zeros((2, 2, 2));
        soft[[1, 0, 1]] = 0.3;
        soft[[0, 1, 1]] = 0.2;
        let hard = harden(&soft);
        assert_eq!(hard.iter().map(|&v| usize::from(v)).sum::<usize>(), 1);
        assert_eq!(hard[[1, 0, 1]], 1);
        soft[[0, 0, 0]] = 0.7;
        let hard = harden(&soft);
        assert_eq!(hard.iter().map(|&v| usize::from(v)).sum::<usize>(), 1);
        assert_eq!(hard[[0, 0, 0]], 1);
    }
}
