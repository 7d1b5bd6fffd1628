//! The job core for one finding: a report finding and a prepared study → grounded (a mask on
//! the PET grid, the method that made it, its measurements) or not grounded (why, per method).
//! Pure and synchronous: no store, no network, no files; every failure is a typed value.

use std::fmt;
use std::sync::Mutex;

use ndarray::{Array3, Axis};

use super::study::Study;
use crate::ground::grounder::{Grounder, GroundingMode};
use crate::label::measure::{MeasureError, agreement, measure_mask};
use crate::label::{
    Agreement, FoundBy, LabelOutcome, LabelParams, Measurements, SliceRule, weak_label,
};
use crate::report::Finding;

/// SegmentAlgorithmName of segments made by the weak-label path.
pub const WEAK_LABEL_ALGORITHM: &str = "petground weak-label (threshold + ITM)";

/// How findings are grounded: the weak-label parameters, and the model when one is loaded.
pub struct Methods<'a> {
    pub label: &'a LabelParams,
    pub model: Option<&'a Mutex<Grounder>>,
    pub mode: GroundingMode,
}

/// The method that grounded a finding.
#[derive(Debug, Clone, PartialEq)]
pub enum Method {
    /// The weak label (PAPER §3), matched by `rule` to a component or, in hot background, to
    /// a local maximum (`found_by`).
    WeakLabel { rule: SliceRule, found_by: FoundBy },
    /// The grounding model; `name` is its SegmentAlgorithmName ([`model_algorithm_name`]).
    Model { name: String },
}

impl Method {
    /// The SEG's SegmentAlgorithmName for segments this method made.
    pub fn algorithm_name(&self) -> &str {
        match self {
            Method::WeakLabel { .. } => WEAK_LABEL_ALGORITHM,
            Method::Model { name } => name,
        }
    }

    /// How the mask was matched to the finding, for people.
    pub fn rule(&self) -> String {
        match self {
            Method::WeakLabel {
                rule,
                found_by: FoundBy::Component,
            } => format!("weak label matched via {rule}"),
            Method::WeakLabel { rule, found_by } => {
                format!("weak label matched via {rule} ({found_by})")
            }
            Method::Model { .. } => "model".to_owned(),
        }
    }
}

/// Why one method did not ground a finding.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MethodError {
    #[error("no SUVmax in the sentence")]
    NoSuvMax,
    /// The weak-label outcome that is not a label (its text says which step failed).
    #[error("{0}")]
    WeakLabel(String),
    #[error("model input: {0}")]
    ModelInput(String),
    #[error("no grounding model loaded")]
    NoModel,
    #[error("the grounding model lock is poisoned")]
    ModelLock,
    #[error("the model found no region above 0.5")]
    NoRegion,
    #[error("{0}")]
    Model(String),
    #[error("measuring the model's mask: {0}")]
    Measure(String),
}

/// A grounded finding.
#[derive(Debug, Clone)]
pub struct Grounding {
    /// The finding's lesion on the PET grid.
    pub mask: Array3<bool>,
    pub method: Method,
    /// `label::measure` of the mask on the PET SUV volume.
    pub measurements: Measurements,
    /// When both the weak label and the model answered: how far they agree.
    pub agreement: Option<Agreement>,
    /// Why the weak label failed, when the model grounded the finding after it.
    pub weak_failed: Option<MethodError>,
}

/// Why a finding was not grounded, per method tried (`None`: the method was not tried).
#[derive(Debug, Clone, PartialEq)]
pub struct NotGrounded {
    pub weak: Option<MethodError>,
    pub model: Option<MethodError>,
}

impl fmt::Display for NotGrounded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.weak, &self.model) {
            (None, None) => f.write_str("no SUVmax in the sentence and no grounding model loaded"),
            (Some(w), None) => write!(f, "weak label: {w}"),
            (None, Some(m)) => write!(f, "model: {m}"),
            (Some(w), Some(m)) => write!(f, "weak label: {w}; model: {m}"),
        }
    }
}

/// What the core made of one finding.
#[derive(Debug, Clone)]
pub enum FindingResult {
    Grounded(Box<Grounding>),
    NotGrounded(NotGrounded),
}

impl FindingResult {
    pub fn grounding(&self) -> Option<&Grounding> {
        match self {
            FindingResult::Grounded(g) => Some(g),
            FindingResult::NotGrounded(_) => None,
        }
    }
}

/// One finding through the methods `methods.mode` asks for (the model input of the study is
/// built on first use). The weak label wins when both answer; the model is tried after a failed
/// weak label in `weak-label-first` mode.
pub fn ground_finding(study: &Study, f: &Finding, methods: &Methods) -> FindingResult {
    let weak = (methods.mode != GroundingMode::Model).then(|| weak(study, f, methods.label));
    let want_model = methods.model.is_some()
        && match methods.mode {
            GroundingMode::Model | GroundingMode::Both => true,
            GroundingMode::WeakLabelFirst => !matches!(weak, Some(Ok(_))),
            GroundingMode::WeakLabel => false,
        };
    let model = want_model.then(|| run_model(study, methods, f));
    let agreement = match (&weak, &model) {
        (Some(Ok(w)), Some(Ok(m))) => Some(agreement(&w.mask, &m.mask)),
        _ => None,
    };
    match (weak, model) {
        (Some(Ok(w)), _) => FindingResult::Grounded(Box::new(Grounding { agreement, ..w })),
        (w, Some(Ok(m))) => FindingResult::Grounded(Box::new(Grounding {
            agreement,
            weak_failed: w.and_then(Result::err),
            ..m
        })),
        (w, m) => FindingResult::NotGrounded(NotGrounded {
            weak: w.and_then(Result::err),
            model: m.and_then(Result::err),
        }),
    }
}

/// The weak label of one finding (PAPER §3), with the measurements `label` made of it.
fn weak(study: &Study, f: &Finding, params: &LabelParams) -> Result<Grounding, MethodError> {
    let s = f.suv_max.ok_or(MethodError::NoSuvMax)?;
    let series = &study.series;
    match weak_label(
        &series.volume,
        &series.slices,
        s,
        f.slice,
        &f.sentence,
        params,
    ) {
        LabelOutcome::Labelled {
            mask,
            slice_rule,
            measurements,
            candidate,
        } => Ok(Grounding {
            mask: mask.to_dense(),
            method: Method::WeakLabel {
                rule: slice_rule,
                found_by: candidate.found_by,
            },
            measurements,
            agreement: None,
            weak_failed: None,
        }),
        other => Err(MethodError::WeakLabel(other.to_string())),
    }
}

fn run_model(study: &Study, methods: &Methods, f: &Finding) -> Result<Grounding, MethodError> {
    let channels = study
        .model_input()
        .map_err(|e| MethodError::ModelInput(e.to_owned()))?;
    let grounder = methods.model.ok_or(MethodError::NoModel)?;
    let mut g = grounder.lock().map_err(|_| MethodError::ModelLock)?;
    let name = model_algorithm_name(&g);
    let input = &channels.input;
    let image = input.image.view().insert_axis(Axis(0));
    let pet = &study.series.volume;
    let mask = g
        .ground(&f.text, image, &input.grid, &pet.geometry)
        .map_err(|e| MethodError::Model(e.to_string()))?
        .ok_or(MethodError::NoRegion)?;
    let measurements =
        measure_mask(pet, &mask).map_err(|e: MeasureError| MethodError::Measure(e.to_string()))?;
    Ok(Grounding {
        mask,
        method: Method::Model { name },
        measurements,
        agreement: None,
        weak_failed: None,
    })
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
