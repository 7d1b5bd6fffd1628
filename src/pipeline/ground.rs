//! The job core, shared by the node and `petground ground`: PET series files + report text →
//! one outcome per finding and, when any finding was grounded, one DICOM SEG and (when asked) the
//! quantitative SR that goes with it. Synchronous and free of the store and the network; the
//! caller decides where inputs come from and where the SEG and SR go.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use dicom_dictionary_std::tags;
use dicom_object::OpenFileOptions;
use ndarray::{Array3, Axis};

use crate::ground::grounder::{Grounder, GroundingMode};
use crate::ground::preprocess::{ModelInput, model_input};
use crate::label::measure::measure_mask;
use crate::label::{LabelOutcome, LabelParams, Measurements, weak_label};
use crate::report::Finding;
use crate::seg::{SegObject, SegmentDescription, SegmentationBuilder, SourceSeries};
use crate::sr::SrObject;
use crate::store::{Agreement, FindingOutcome};
use crate::volume::resample::ct_on_pet_grid;
use crate::volume::suv::assemble_pet_suv;
use crate::volume::{AssembledSeries, Geometry, assemble_files};

/// SegmentAlgorithmName of segments made by the weak-label path.
pub const WEAK_LABEL_ALGORITHM: &str = "petground weak-label (threshold + ITM)";

#[derive(Debug, thiserror::Error)]
pub enum GroundError {
    #[error("PET series: {0}")]
    Volume(#[from] crate::volume::VolumeError),
    #[error("reading the PET header {path}: {detail}")]
    Header { path: PathBuf, detail: String },
    #[error("building the SEG: {0}")]
    Seg(#[from] crate::seg::SegError),
    #[error("building the SR: {0}")]
    Sr(#[from] crate::sr::SrError),
    #[error("measuring segment {segment}: {source}")]
    Measure {
        segment: usize,
        source: crate::label::measure::MeasureError,
    },
    #[error("the PET series has no instances")]
    NoInstances,
}

/// What a job produced.
pub struct Grounded {
    pub findings: Vec<FindingOutcome>,
    /// `None` when no finding was grounded (CONTRACT §5: then no SEG is sent).
    pub seg: Option<SegObject>,
    /// The dense masks of the grounded findings, in segment order (for pictures and tests).
    pub masks: Vec<Array3<bool>>,
    /// The PET SUV volume the masks lie on.
    pub suv: crate::volume::Volume,
    /// `label::measure` of each mask on that volume, in segment order.
    pub measurements: Vec<Measurements>,
    /// The TID 1500 SR of the SEG, when `Outputs::sr` and there is a SEG (CONTRACT §6).
    pub sr: Option<SrObject>,
}

/// What a job writes besides the outcomes.
#[derive(Debug, Clone, Copy)]
pub struct Outputs {
    /// SeriesNumber of the SEG; the SR's is the next one.
    pub series_number: i32,
    /// Whether to build the quantitative SR (`[results] sr`).
    pub sr: bool,
}

/// A short SegmentLabel (≤ 64 chars, CONTRACT §5) from the finding's text: the phrase before
/// the first comma, parenthesis or semicolon, cut at a word boundary when it is longer.
pub fn segment_label(number: usize, f: &Finding) -> String {
    const MAX: usize = 64;
    let head = f.text.split([',', '(', ';']).next().unwrap_or("").trim();
    let head: String = head.split_whitespace().collect::<Vec<_>>().join(" ");
    if head.is_empty() {
        return format!("Finding {number}");
    }
    let label = format!("F{number} {head}");
    if label.chars().count() <= MAX {
        return label;
    }
    let mut out = String::new();
    for word in label.split(' ') {
        let len = out.chars().count() + usize::from(!out.is_empty()) + word.chars().count();
        if len > MAX {
            break;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    if out.chars().count() <= format!("F{number}").len() {
        // One word longer than the whole label: cut it by characters.
        out = label.chars().take(MAX).collect();
    }
    out.trim_end_matches([' ', '-', '/']).to_owned()
}

/// How findings are grounded: the weak-label parameters, and the model when one is loaded.
pub struct Methods<'a> {
    pub label: &'a LabelParams,
    pub model: Option<&'a Mutex<Grounder>>,
    pub mode: GroundingMode,
}

/// The series a job reads: the PET (required) and the CT of the same frame of reference (the
/// model's second channel; may be empty).
pub struct Inputs<'a> {
    pub pet: &'a [PathBuf],
    pub ct: &'a [PathBuf],
}

/// One method's answer for a finding.
struct Mask {
    mask: Array3<bool>,
    method: String,
    detail: String,
}

/// The mask a finding is grounded by, measured once (for its outcome and, when it describes
/// its lesion, for the SEG's segment and the SR).
struct Chosen {
    mask: Mask,
    measured: Result<Measurements, crate::label::measure::MeasureError>,
}

/// Grounds every finding (weak label and/or model, per `methods.mode`), builds the SEG with one
/// segment per lesion (findings that ground to the same lesion, an IMPRESSION sentence restating
/// a FINDINGS one, share the segment of the most specific one: [`super::restate`]) and, when
/// `outputs.sr`, the SR.
pub fn ground_study(
    inputs: &Inputs,
    findings: &[Finding],
    methods: &Methods,
    outputs: &Outputs,
) -> Result<Grounded, GroundError> {
    let first = inputs.pet.first().ok_or(GroundError::NoInstances)?;
    let (series, _suv) = assemble_pet_suv(inputs.pet)?;
    let mut model_input: Option<Result<ModelInput, String>> = None;
    let mut outcomes = Vec::with_capacity(findings.len());
    let mut chosen: Vec<Option<Chosen>> = Vec::with_capacity(findings.len());
    for f in findings {
        let (out, c) = ground_finding(&series, inputs, methods, f, &mut model_input);
        outcomes.push(out);
        chosen.push(c);
    }
    let mask_refs: Vec<Option<&Array3<bool>>> = chosen
        .iter()
        .map(|c| c.as_ref().map(|c| &c.mask.mask))
        .collect();
    let lesions = super::restate::lesions(findings, &mask_refs);
    let mut masks: Vec<Array3<bool>> = Vec::with_capacity(lesions.len());
    let mut descriptions = Vec::with_capacity(lesions.len());
    let mut measurements = Vec::with_capacity(lesions.len());
    for (k, lesion) in lesions.iter().enumerate() {
        let n = k + 1;
        let d = lesion.described_by;
        let Some(Chosen { mask: c, measured }) = chosen[d].take() else {
            continue;
        };
        let m = measured.map_err(|source| GroundError::Measure { segment: n, source })?;
        measurements.push(m);
        for &i in &lesion.findings {
            outcomes[i].segment = Some(n as u16);
            outcomes[i].restatement_of = (i != d).then_some(d + 1);
        }
        descriptions.push(SegmentDescription::automatic(
            n as u16,
            &segment_label(n, &findings[d]),
            &findings[d].sentence,
            &c.method,
        ));
        masks.push(c.mask);
    }
    if masks.is_empty() {
        return Ok(Grounded {
            findings: outcomes,
            seg: None,
            masks,
            suv: series.volume,
            measurements,
            sr: None,
        });
    }
    let header = read_header(first)?;
    let id = &series.identity;
    let source = SourceSeries {
        header: &header,
        geometry: &series.volume.geometry,
        slices: &series.slices,
        series_instance_uid: &id.series_instance_uid,
        frame_of_reference_uid: &id.frame_of_reference_uid,
    };
    let mut builder = SegmentationBuilder::new(source, outputs.series_number, "petground findings");
    for (d, m) in descriptions.into_iter().zip(&masks) {
        builder = builder.add_segment(d, m.view());
    }
    let seg = builder.build()?;
    let sr = if outputs.sr {
        let number = outputs.series_number.saturating_add(1);
        Some(super::results::quantitative_report(
            source,
            &seg,
            &outcomes,
            &measurements,
            number,
        )?)
    } else {
        None
    };
    Ok(Grounded {
        findings: outcomes,
        seg: Some(seg),
        masks,
        suv: series.volume,
        measurements,
        sr,
    })
}

/// One finding through the methods `methods.mode` asks for: its outcome (without a segment
/// number yet) and the chosen mask with its measurements, if any. The study's model input is
/// prepared on first use.
fn ground_finding(
    series: &AssembledSeries,
    inputs: &Inputs,
    methods: &Methods,
    f: &Finding,
    model_input: &mut Option<Result<ModelInput, String>>,
) -> (FindingOutcome, Option<Chosen>) {
    let mut out = FindingOutcome {
        sentence: f.sentence.clone(),
        suv_max: f.suv_max,
        slice: f.slice,
        method: None,
        segment: None,
        detail: String::new(),
        label_suv_max: None,
        mtv_ml: None,
        agreement: None,
        restatement_of: None,
    };
    let weak = (methods.mode != GroundingMode::Model).then(|| weak(series, f, methods.label));
    let want_model = methods.model.is_some()
        && match methods.mode {
            GroundingMode::Model | GroundingMode::Both => true,
            GroundingMode::WeakLabelFirst => !matches!(weak, Some(Ok(_))),
            GroundingMode::WeakLabel => false,
        };
    let model = want_model.then(|| {
        let input = model_input.get_or_insert_with(|| prepare(series, inputs.ct));
        run_model(methods, input, f, &series.volume.geometry)
    });
    if let (Some(Ok(w)), Some(Ok(m))) = (&weak, &model) {
        out.agreement = Some(agreement(&w.mask, &m.mask));
    }
    let mut reasons = Vec::new();
    let chosen = match (weak, model) {
        (Some(Ok(w)), _) => Some(w),
        (w, Some(Ok(m))) => {
            if let Some(Err(why)) = w {
                reasons.push(format!("weak label: {why}"));
            }
            Some(m)
        }
        (w, m) => {
            for (name, r) in [("weak label", w), ("model", m)] {
                if let Some(Err(why)) = r {
                    reasons.push(format!("{name}: {why}"));
                }
            }
            None
        }
    };
    let chosen = chosen.map(|mask| Chosen {
        measured: measure_mask(&series.volume, &mask.mask),
        mask,
    });
    match &chosen {
        Some(Chosen { mask: c, measured }) => {
            // Each finding's own mask (a restatement's may differ from its lesion's segment).
            let m = measured.as_ref().ok();
            out.method = Some(c.method.clone());
            out.detail = if reasons.is_empty() {
                c.detail.clone()
            } else {
                format!("{}; {}", c.detail, reasons.join("; "))
            };
            out.label_suv_max = m.map(|m| m.suv_max);
            out.mtv_ml = m.map(|m| m.mtv_ml);
        }
        None => {
            out.detail = if reasons.is_empty() {
                "no SUVmax in the sentence and no grounding model loaded".to_owned()
            } else {
                reasons.join("; ")
            };
        }
    }
    (out, chosen)
}

/// The weak label of one finding (PAPER §3), or why there is none.
fn weak(series: &AssembledSeries, f: &Finding, params: &LabelParams) -> Result<Mask, String> {
    let Some(s) = f.suv_max else {
        return Err("no SUVmax in the sentence".to_owned());
    };
    match weak_label(
        &series.volume,
        &series.slices,
        s,
        f.slice,
        &f.sentence,
        params,
    ) {
        LabelOutcome::Labelled {
            mask, slice_rule, ..
        } => Ok(Mask {
            mask: mask.to_dense(),
            method: WEAK_LABEL_ALGORITHM.to_owned(),
            detail: format!("weak label matched via {slice_rule}"),
        }),
        other => Err(other.to_string()),
    }
}

/// The model input of the study (PET SUV, and the CT when one pairs with the PET).
fn prepare(series: &AssembledSeries, ct_files: &[PathBuf]) -> Result<ModelInput, String> {
    let ct = if ct_files.is_empty() {
        None
    } else {
        match assemble_files(ct_files).and_then(|ct| ct_on_pet_grid(&ct, series)) {
            Ok(v) => Some(v),
            Err(e) => {
                tracing::warn!(error = %e, "CT not usable for the model; using PET only");
                None
            }
        }
    };
    model_input(&series.volume, ct.as_ref()).map_err(|e| e.to_string())
}

fn run_model(
    methods: &Methods,
    input: &Result<ModelInput, String>,
    f: &Finding,
    pet: &Geometry,
) -> Result<Mask, String> {
    let input = input.as_ref().map_err(|e| format!("model input: {e}"))?;
    let grounder = methods.model.ok_or("no grounding model loaded")?;
    let mut g = grounder
        .lock()
        .map_err(|_| "the grounding model lock is poisoned".to_owned())?;
    let name = model_algorithm_name(&g);
    let image = input.image.view().insert_axis(Axis(0));
    match g.ground(&f.text, image, &input.grid, pet) {
        Ok(Some(mask)) => Ok(Mask {
            mask,
            method: name,
            detail: "model".to_owned(),
        }),
        Ok(None) => Err("the model found no region above 0.5".to_owned()),
        Err(e) => Err(e.to_string()),
    }
}

/// SegmentAlgorithmName of model-made segments: the model and the start of its sha256.
pub fn model_algorithm_name(g: &Grounder) -> String {
    match g.model() {
        Some(m) => format!(
            "petground ConTEXTual Net 3D (sha256 {})",
            &m.sha256()[..12.min(m.sha256().len())]
        ),
        None => "petground ConTEXTual Net 3D".to_owned(),
    }
}

/// Dice of two masks and whether they touch the same lesion (overlap at all).
fn agreement(a: &Array3<bool>, b: &Array3<bool>) -> Agreement {
    let (mut both, mut na, mut nb) = (0usize, 0usize, 0usize);
    for (&x, &y) in a.iter().zip(b.iter()) {
        na += x as usize;
        nb += y as usize;
        both += (x && y) as usize;
    }
    Agreement {
        dice: if na + nb == 0 {
            1.0
        } else {
            2.0 * both as f64 / (na + nb) as f64
        },
        same_component: both > 0,
    }
}

fn read_header(path: &Path) -> Result<dicom_object::InMemDicomObject, GroundError> {
    OpenFileOptions::new()
        .read_until(tags::PIXEL_DATA)
        .open_file(path)
        .map(|o| o.into_inner())
        .map_err(|e| GroundError::Header {
            path: path.to_owned(),
            detail: e.to_string(),
        })
}

/// The series to ground in a folder of DICOM files (for `petground ground`): the PT series with
/// the most instances, and the CT series with the most instances (possibly none).
pub struct FolderSeries {
    pub pet: Vec<PathBuf>,
    pub ct: Vec<PathBuf>,
    /// Files that are not DICOM (ignored).
    pub skipped: usize,
}

pub fn series_in(dir: &Path) -> Result<FolderSeries, GroundError> {
    use std::collections::BTreeMap;
    let mut by_series: BTreeMap<(bool, String), Vec<PathBuf>> = BTreeMap::new();
    let mut skipped = 0;
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d).map_err(|e| GroundError::Header {
            path: d.clone(),
            detail: e.to_string(),
        })?;
        for entry in entries.flatten() {
            let p = entry.path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            match crate::store::InstanceHeader::read(&p) {
                Ok(h) if h.modality == "PT" || h.modality == "CT" => by_series
                    .entry((h.modality == "PT", h.series.to_string()))
                    .or_default()
                    .push(p),
                Ok(_) => {}
                Err(_) => skipped += 1,
            }
        }
    }
    let fullest = |pet: bool| {
        let mut files = by_series
            .iter()
            .filter(|((p, _), _)| *p == pet)
            .map(|(_, f)| f)
            .max_by_key(|f| f.len())
            .cloned()
            .unwrap_or_default();
        files.sort();
        files
    };
    let pet = fullest(true);
    if pet.is_empty() {
        return Err(GroundError::NoInstances);
    }
    Ok(FolderSeries {
        pet,
        ct: fullest(false),
        skipped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(text: &str) -> Finding {
        Finding {
            sentence: text.to_owned(),
            suv_max: None,
            slice: None,
            text: text.to_owned(),
            section: crate::report::Section::Findings,
        }
    }

    #[test]
    fn segment_labels_are_cut_at_a_word_boundary() {
        // Issue 15: this label used to end "... ~2.3 cm on sl".
        let f = finding(
            "Hypermetabolic lobulated soft tissue mass in the right lower lobe measuring ~2.3 cm \
             on slice , SUVmax ",
        );
        let label = segment_label(3, &f);
        assert!(label.chars().count() <= 64, "{label}");
        assert_eq!(
            label,
            "F3 Hypermetabolic lobulated soft tissue mass in the right lower"
        );
        assert_eq!(
            segment_label(1, &finding("Right hilar node, SUVmax , image .")),
            "F1 Right hilar node"
        );
        assert_eq!(segment_label(2, &finding(", SUVmax .")), "Finding 2");
        let word = "x".repeat(80);
        assert_eq!(segment_label(4, &finding(&word)).chars().count(), 64);
    }
}
