//! Weak labels: segment the lesion a report sentence describes from its (SUVmax, image number) and
//! the PET SUV volume, with the paper's pipeline (PAPER.md §3): candidate matching at
//! `T0 = 0.617 + 0.316·S`, iterative thresholding, QC, then measurements. Pure synchronous code;
//! every outcome, failures included, is a typed value ([`LabelOutcome`]), never a panic.
//! Parsing sentences (report), building volumes (volume) and writing SEG (seg) live elsewhere.

mod candidate;
pub mod components;
pub mod itm;
pub mod matching;
pub mod measure;
mod outcome;
mod peaks;
pub mod qc;
pub mod region;

pub use matching::{Candidate, FoundBy, SliceRule};
pub use measure::{Agreement, Measurements};
pub use outcome::{LabelMask, LabelOutcome, NotFoundReason, SkipReason};
pub use qc::QcFailure;

use crate::config::WeakLabelConfig;
use crate::volume::{SliceRef, Volume};
use components::Grid;
use matching::Match;

/// Slack on SUV comparisons so that a reported "5.3" matches an f32 maximum of 5.2 (stored as
/// 5.19999981): 0.1 in decimal must stay 0.1 after single-precision rounding.
pub const SUV_EPS: f64 = 1e-6;

/// Tunables of the weak-label pipeline; [`Default`] gives the paper's values.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelParams {
    /// Findings with a lower SUVmax are skipped (2.5).
    pub min_suv: f64,
    /// `T0 = t0_intercept + t0_slope·S` (0.617, 0.316).
    pub t0_intercept: f64,
    pub t0_slope: f64,
    /// Component max vs reported SUVmax (0.1).
    pub suv_tolerance: f64,
    /// Extra slices either side of the reported one a component may touch (ours; 0 = paper).
    pub slice_tolerance: u32,
    /// Components longer than this many slices are rejected when S < `span_suv_limit` (50, 5).
    pub max_span_slices: usize,
    pub span_suv_limit: f64,
    /// ITM gives up after this many iterations (ours; the paper has no cap).
    pub itm_max_iterations: u32,
    /// QC: label max vs reported SUVmax (0.2).
    pub qc_suv_tolerance: f64,
    /// QC laterality: voxels above this SUV form the body whose centroid is the midline (ours).
    pub body_threshold: f64,
    /// QC laterality margin in voxels along x (10).
    pub midline_margin_voxels: f64,
}

impl Default for LabelParams {
    fn default() -> Self {
        LabelParams {
            min_suv: 2.5,
            t0_intercept: 0.617,
            t0_slope: 0.316,
            suv_tolerance: 0.1,
            slice_tolerance: 0,
            max_span_slices: 50,
            span_suv_limit: 5.0,
            itm_max_iterations: 100,
            qc_suv_tolerance: 0.2,
            body_threshold: 0.3,
            midline_margin_voxels: 10.0,
        }
    }
}

impl LabelParams {
    /// The paper's values with what `[weak_label]` sets: the one place the node (and
    /// `petground ground`) turn the config into weak-label parameters.
    pub fn for_config(cfg: &WeakLabelConfig) -> Self {
        LabelParams {
            slice_tolerance: cfg.slice_tolerance,
            ..LabelParams::default()
        }
    }

    /// The candidate threshold for SUVmax `s`.
    pub fn t0(&self, s: f64) -> f64 {
        self.t0_intercept + self.t0_slope * s
    }

    /// Whether a component maximum matches the reported SUVmax.
    pub fn suv_matches(&self, max: f64, s: f64) -> bool {
        (max - s).abs() <= self.suv_tolerance + SUV_EPS
    }
}

/// Weak label for one finding: SUVmax `suv_max`, image number `slice` (if reported) and the
/// finding's sentence (for laterality), on the PET SUV volume with its per-z slice references.
pub fn weak_label(
    suv: &Volume,
    slices: &[SliceRef],
    suv_max: f64,
    slice: Option<u32>,
    sentence: &str,
    params: &LabelParams,
) -> LabelOutcome {
    if !suv_max.is_finite() || suv_max < params.min_suv {
        return LabelOutcome::Skipped {
            reason: SkipReason::LowSuv {
                suv_max,
                min: params.min_suv,
            },
        };
    }
    let standard = suv.data.as_standard_layout();
    let data = match checked_data(suv, &standard) {
        Ok(d) => d,
        Err(reason) => return LabelOutcome::Skipped { reason },
    };
    let found = match matching::find_candidates(data, &suv.geometry, slices, suv_max, slice, params)
    {
        Ok(m) => m,
        Err(e) => {
            return LabelOutcome::Skipped {
                reason: SkipReason::Input(e.to_string()),
            };
        }
    };
    let found = by_side(found, suv, sentence, params);
    let found = by_region(found, suv, sentence, params);
    let (candidate, rule, seed_slices) = match unique(found, suv_max, slice) {
        Ok(u) => u,
        Err(outcome) => return *outcome,
    };
    match refine(
        suv,
        data,
        suv_max,
        sentence,
        params,
        &candidate,
        &seed_slices,
    ) {
        Ok((mask, measurements)) => LabelOutcome::Labelled {
            mask,
            slice_rule: rule,
            candidate,
            measurements,
        },
        Err(reason) => LabelOutcome::QcFailed {
            reason,
            candidate,
            slice_rule: rule,
        },
    }
}

/// The volume's voxels in raster order, when its data agrees with its geometry.
fn checked_data<'a>(
    suv: &Volume,
    standard: &'a ndarray::CowArray<'_, f32, ndarray::Ix3>,
) -> Result<&'a [f32], SkipReason> {
    let (nz, ny, nx) = suv.data.dim();
    let bad = || SkipReason::BadVolume {
        data: [nz, ny, nx],
        geometry: suv.geometry.dims,
    };
    if [nz, ny, nx] != suv.geometry.dims || suv.data.is_empty() {
        return Err(bad());
    }
    standard.as_slice().ok_or_else(bad)
}

/// The one candidate matching found, with its rule and seed slices, or the outcome that says
/// why there is none.
fn unique(
    found: Match,
    suv_max: f64,
    slice: Option<u32>,
) -> Result<(Candidate, SliceRule, Vec<usize>), Box<LabelOutcome>> {
    match found {
        Match::Unique {
            candidate,
            rule,
            slices,
        } => Ok((candidate, rule, slices)),
        Match::Ambiguous {
            candidates, rule, ..
        } => Err(Box::new(LabelOutcome::Ambiguous { candidates, rule })),
        Match::None { tried, closest } => Err(Box::new(LabelOutcome::NotFound {
            reason: NotFoundReason::NoMatch {
                suv_max,
                slice,
                tried,
                closest,
            },
        })),
    }
}

/// Ours (issue 16): candidates the SUVmax cannot tell apart ("right hilar node, SUVmax 7.7" with
/// a matching component in each lung) are told apart by the sentence's side, the laterality QC
/// would apply anyway: when exactly one candidate lies on the side the sentence names (beyond
/// the midline margin), it is the match. Otherwise the match stays ambiguous, its candidates
/// listed in the reason.
fn by_side(found: Match, suv: &Volume, sentence: &str, params: &LabelParams) -> Match {
    let Match::Ambiguous {
        candidates,
        rule,
        slices,
    } = found
    else {
        return found;
    };
    let side = qc::sentence_side(sentence);
    let midline = qc::body_midline_x(suv, params.body_threshold);
    let (Some(side), Some(midline)) = (side, midline) else {
        return Match::Ambiguous {
            candidates,
            rule,
            slices,
        };
    };
    let margin_mm = params.midline_margin_voxels * suv.geometry.spacing[0];
    let on_side: Vec<&Candidate> = candidates
        .iter()
        .filter(|c| qc::check_side(side, c.max_mm[0], midline, margin_mm).is_ok())
        .collect();
    match on_side.as_slice() {
        [one] => Match::Unique {
            candidate: (*one).clone(),
            rule,
            slices,
        },
        _ => Match::Ambiguous {
            candidates,
            rule,
            slices,
        },
    }
}

/// Ours (issue 16): candidates still ambiguous after [`by_side`] are told apart by the body
/// region the sentence names (`region`: lung, liver, neck, chest, abdomen, pelvis, located from
/// the study's own PET): when exactly one candidate can lie in that region, it is the match.
fn by_region(found: Match, suv: &Volume, sentence: &str, params: &LabelParams) -> Match {
    let Match::Ambiguous {
        candidates,
        rule,
        slices,
    } = found
    else {
        return found;
    };
    let map = region::sentence_region(sentence).and_then(|r| {
        let midline = qc::body_midline_x(suv, params.body_threshold)?;
        Some((
            r,
            region::BodyMap::from_pet(suv, params.body_threshold, midline)?,
        ))
    });
    let Some((named, map)) = map else {
        return Match::Ambiguous {
            candidates,
            rule,
            slices,
        };
    };
    let inside: Vec<&Candidate> = candidates
        .iter()
        .filter(|c| map.admits(named, c.max_voxel, c.max_mm))
        .collect();
    match inside.as_slice() {
        [one] => Match::Unique {
            candidate: (*one).clone(),
            rule,
            slices,
        },
        _ => Match::Ambiguous {
            candidates,
            rule,
            slices,
        },
    }
}

/// ITM from the candidate's maximum, QC, then measurements.
fn refine(
    suv: &Volume,
    data: &[f32],
    s: f64,
    sentence: &str,
    params: &LabelParams,
    candidate: &Candidate,
    seed_slices: &[usize],
) -> Result<(LabelMask, Measurements), QcFailure> {
    let geometry = &suv.geometry;
    let grid = Grid::new(geometry.dims);
    let region = itm::iterative_threshold(
        data,
        grid,
        geometry.voxel_ml(),
        candidate.max_voxel,
        s,
        params.itm_max_iterations,
    )?;
    // ITM only adds voxels with in-bounds indices, so measuring cannot fail on a non-empty label.
    let measurements = measure::measure(suv, &region.voxels).map_err(|_| {
        QcFailure::Itm(itm::ItmError::EmptySeed {
            threshold: region.threshold,
        })
    })?;
    qc::check_max(measurements.suv_max, s, params.qc_suv_tolerance)?;
    qc::check_seed_slice(&region.voxels, seed_slices, params.slice_tolerance as usize)?;
    if let Some(side) = qc::sentence_side(sentence) {
        let midline = qc::body_midline_x(suv, params.body_threshold).ok_or(QcFailure::NoBody {
            threshold: params.body_threshold,
        })?;
        let margin_mm = params.midline_margin_voxels * geometry.spacing[0];
        qc::check_side(side, measurements.centroid_mm[0], midline, margin_mm)?;
    }
    Ok((LabelMask::new(geometry.dims, region.voxels), measurements))
}
