//! The typed results of the weak-label pipeline and their human-readable reasons. A label is kept
//! sparse (sorted voxel list + bounding box): a lesion is a few hundred voxels in a volume of
//! millions, and SEG writing asks for the dense mask only once.

use std::fmt;

use ndarray::Array3;

use super::matching::{Candidate, SliceRule};
use super::measure::Measurements;
use super::qc::QcFailure;

/// A binary label as the sorted (raster order) list of its voxels `[z, y, x]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelMask {
    /// Shape `[nz, ny, nx]` of the volume the voxels index.
    pub dims: [usize; 3],
    pub voxels: Vec<[usize; 3]>,
    /// Inclusive bounding box `[min, max]`; `[[0; 3]; 2]` when empty.
    pub bbox: [[usize; 3]; 2],
}

impl LabelMask {
    pub fn new(dims: [usize; 3], mut voxels: Vec<[usize; 3]>) -> Self {
        voxels.sort_unstable();
        voxels.dedup();
        let mut bbox = [[usize::MAX; 3], [0; 3]];
        for p in &voxels {
            for a in 0..3 {
                bbox[0][a] = bbox[0][a].min(p[a]);
                bbox[1][a] = bbox[1][a].max(p[a]);
            }
        }
        if voxels.is_empty() {
            bbox = [[0; 3]; 2];
        }
        LabelMask { dims, voxels, bbox }
    }

    pub fn len(&self) -> usize {
        self.voxels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.voxels.is_empty()
    }

    pub fn contains(&self, p: [usize; 3]) -> bool {
        self.voxels.binary_search(&p).is_ok()
    }

    /// The dense mask, `[z, y, x]`; voxels outside `dims` (none by construction) are ignored.
    pub fn to_dense(&self) -> Array3<bool> {
        let [nz, ny, nx] = self.dims;
        let mut out = Array3::from_elem((nz, ny, nx), false);
        for &p in &self.voxels {
            if let Some(v) = out.get_mut(p) {
                *v = true;
            }
        }
        out
    }
}

/// Why a finding was not processed at all.
#[derive(Debug, Clone, PartialEq)]
pub enum SkipReason {
    LowSuv {
        suv_max: f64,
        min: f64,
    },
    BadVolume {
        data: [usize; 3],
        geometry: [usize; 3],
    },
    Input(String),
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SkipReason::LowSuv { suv_max, min } => {
                write!(f, "SUVmax {suv_max} is below {min} (or not a number)")
            }
            SkipReason::BadVolume { data, geometry } => write!(
                f,
                "SUV volume unusable: data shape {data:?}, geometry dims {geometry:?}"
            ),
            SkipReason::Input(e) => write!(f, "inconsistent input: {e}"),
        }
    }
}

/// Why no component matched.
#[derive(Debug, Clone, PartialEq)]
pub enum NotFoundReason {
    NoMatch {
        suv_max: f64,
        slice: Option<u32>,
        /// Each rule that resolved the number, with the z indices it gave.
        tried: Vec<(SliceRule, Vec<usize>)>,
        /// The component maximum closest to the reported value among those examined.
        closest: Option<f64>,
    },
}

impl fmt::Display for NotFoundReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let NotFoundReason::NoMatch {
            suv_max,
            slice,
            tried,
            closest,
        } = self;
        match slice {
            Some(n) => write!(f, "no component matches SUVmax {suv_max} on image {n}")?,
            None => write!(f, "no unique component with SUVmax {suv_max} in the volume")?,
        }
        if slice.is_some() && tried.is_empty() {
            write!(
                f,
                " (the number is neither an InstanceNumber nor a slice index)"
            )?;
        }
        for (rule, zs) in tried {
            write!(f, "; tried {rule} → z {zs:?}")?;
        }
        match closest {
            Some(c) => write!(f, "; closest component max {c:.2}"),
            None => write!(f, "; no component above T0 there"),
        }
    }
}

/// The result of [`super::weak_label`].
#[derive(Debug, Clone, PartialEq)]
pub enum LabelOutcome {
    Labelled {
        mask: LabelMask,
        slice_rule: SliceRule,
        candidate: Candidate,
        measurements: Measurements,
    },
    /// Several components matched under the first rule that matched at all.
    Ambiguous {
        candidates: Vec<Candidate>,
        rule: SliceRule,
    },
    NotFound {
        reason: NotFoundReason,
    },
    QcFailed {
        reason: QcFailure,
        candidate: Candidate,
        slice_rule: SliceRule,
    },
    Skipped {
        reason: SkipReason,
    },
}

impl fmt::Display for LabelOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LabelOutcome::Labelled {
                mask,
                slice_rule,
                measurements: m,
                ..
            } => write!(
                f,
                "labelled {} voxels via {slice_rule}: SUVmax {:.2}, SUVpeak {:.2}, SUVmean {:.2}, MTV {:.2} mL, TLG {:.1}",
                mask.len(),
                m.suv_max,
                m.suv_peak,
                m.suv_mean,
                m.mtv_ml,
                m.tlg
            ),
            LabelOutcome::Ambiguous { candidates, rule } => {
                write!(
                    f,
                    "ambiguous: {} components match via {rule}",
                    candidates.len()
                )?;
                for c in candidates {
                    write!(f, "; {c}")?;
                }
                Ok(())
            }
            LabelOutcome::NotFound { reason } => write!(f, "not found: {reason}"),
            LabelOutcome::QcFailed {
                reason, candidate, ..
            } => write!(f, "QC failed for candidate ({candidate}): {reason}"),
            LabelOutcome::Skipped { reason } => write!(f, "skipped: {reason}"),
        }
    }
}
