//! A place a finding's lesion was found: by matching (`matching`) or by the local-maximum rule
//! (`peaks`). Plain data both produce.

use std::fmt;

/// Which rule found a candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FoundBy {
    /// A component above T0 whose maximum is S (the paper's rule).
    Component,
    /// No component matched: a local maximum of value S that stands out of its surroundings
    /// (`label::peaks`, for lesions in hot background).
    LocalMaximum,
}

impl fmt::Display for FoundBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FoundBy::Component => "component",
            FoundBy::LocalMaximum => "local maximum",
        })
    }
}

/// One component above T0 (or one local maximum) that matched the finding.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// Maximum SUV of the component and its voxel `[z, y, x]` / patient position (mm, LPS).
    pub max: f64,
    pub max_voxel: [usize; 3],
    pub max_mm: [f64; 3],
    /// Inclusive z-range of the component.
    pub z_range: [usize; 2],
    pub voxels: usize,
    pub found_by: FoundBy,
}

impl fmt::Display for Candidate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [x, y, z] = self.max_mm;
        write!(
            f,
            "SUVmax {:.2} at voxel {:?} ({x:.1}, {y:.1}, {z:.1}) mm, slices {}..={}, {} voxels",
            self.max, self.max_voxel, self.z_range[0], self.z_range[1], self.voxels
        )?;
        match self.found_by {
            FoundBy::Component => Ok(()),
            FoundBy::LocalMaximum => write!(f, " (local maximum)"),
        }
    }
}
