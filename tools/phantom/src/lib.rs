//! petground-phantom: deterministic synthetic whole-body PET/CT studies (DICOM), their radiology
//! reports (plain text and HL7 ORU^R01) and the truth (lesion sites, masks, measured SUVmax) for
//! tests, demos and training; plus `send`, which pushes a study to a running node, and
//! `fixtures`, the in-memory volumes and synthetic series petground's own tests build on.
//!
//! Conventions: patient LPS millimetres (x: patient left +, y: posterior +, z: head +). PET
//! InstanceNumber 1 is the most superior slice (head) and numbers increase toward the feet; the
//! label volume's z index 0 is that slice. The same seed always gives the same bytes.
//!
//! ```no_run
//! let truth = petground_phantom::generate(&petground_phantom::Options::new(7), std::path::Path::new("out"))?;
//! # Ok::<(), anyhow::Error>(())
//! ```

pub mod anatomy;
pub mod body;
pub mod ct;
pub mod dcm;
pub mod fixtures;
pub mod lesion;
pub mod measure;
pub mod pet;
pub mod report;
pub mod rng;
pub mod send;
pub mod study;
pub mod tracer;
pub mod truth;

pub use dcm::Vendor;
pub use study::{Options, generate};
pub use tracer::Tracer;
pub use truth::{LesionTruth, Truth};

use anyhow::Result;
use std::path::{Path, PathBuf};

/// Writes `count` studies into `out/study-0000`, `out/study-0001`, …; study `i` uses seed
/// `seed + i`, so tracers, patients and lesions all differ. Returns the study folders.
pub fn archive(out: &Path, count: usize, seed: u64, small: bool) -> Result<Vec<PathBuf>> {
    let settings = ArchiveSettings {
        small,
        ..ArchiveSettings::default()
    };
    archive_with(out, count, seed, &settings)
}

/// How the studies of an archive differ from `Options::new`'s defaults, so that a second
/// archive can come from other settings than the training one, not only other seeds.
#[derive(Debug, Clone, PartialEq)]
pub struct ArchiveSettings {
    pub small: bool,
    /// Vendors used in turn, study by study (SUV conventions: BQML, GE private date-time,
    /// Philips CNTS with scale factors).
    pub vendors: Vec<Vendor>,
    /// `false`: lesions may sit next to hot physiological uptake (harder cases).
    pub groundable: bool,
    pub min_suv: f64,
    pub max_suv: f64,
}

impl Default for ArchiveSettings {
    fn default() -> Self {
        let o = Options::new(0);
        Self {
            small: o.small,
            vendors: vec![o.vendor],
            groundable: o.groundable,
            min_suv: o.min_suv,
            max_suv: o.max_suv,
        }
    }
}

/// `archive` with explicit settings.
pub fn archive_with(
    out: &Path,
    count: usize,
    seed: u64,
    settings: &ArchiveSettings,
) -> Result<Vec<PathBuf>> {
    let mut dirs = Vec::with_capacity(count);
    for i in 0..count {
        let dir = out.join(format!("study-{i:04}"));
        let mut opts = Options::new(seed.wrapping_add(i as u64));
        opts.small = settings.small;
        if !settings.vendors.is_empty() {
            opts.vendor = settings.vendors[i % settings.vendors.len()];
        }
        opts.groundable = settings.groundable;
        opts.min_suv = settings.min_suv;
        opts.max_suv = settings.max_suv;
        generate(&opts, &dir)?;
        dirs.push(dir);
    }
    Ok(dirs)
}
