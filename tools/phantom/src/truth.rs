//! truth.json: what was generated (identity, acquisition, grid geometry, lesions with their
//! measured SUVmax and slice) so tests and training can score the node against it. Owned types,
//! so callers can read it back with [`Truth::load`].

use anyhow::{Context, Result};
use petground::volume::Geometry;
use serde::{Deserialize, Serialize};
use std::path::Path;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LesionTruth {
    /// 1-based; the value of this lesion in truth_labels.u8.
    pub id: u8,
    pub site: String,
    pub site_text: String,
    /// "left" / "right" in patient coordinates (left = +x), or null for midline / liver sites.
    pub side: Option<String>,
    /// node, lung, liver or bone.
    pub kind: String,
    pub centre_mm: [f64; 3],
    pub diameter_mm: f64,
    /// Target SUV the lesion was built to show.
    pub peak_suv: f64,
    /// Max SUVbw over the lesion's voxels as stored (after blur, noise and 16-bit rescale),
    /// computed as stored × RescaleSlope × weight_g / decayed dose.
    pub measured_suv_max: f64,
    /// `measured_suv_max` rounded to one decimal: the number in the report.
    pub reported_suv_max: f64,
    /// `[z, y, x]` of the max voxel on the PET grid.
    pub max_voxel: [usize; 3],
    pub max_mm: [f64; 3],
    /// PET InstanceNumber of the slice holding the max (= z + 1).
    pub instance_number: usize,
    pub voxels: usize,
    /// The report sentence that describes this lesion.
    pub sentence: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Truth {
    pub seed: u64,
    pub small: bool,
    pub tracer: String,
    pub vendor: String,
    pub patient_id: String,
    pub patient_name: String,
    pub patient_sex: String,
    pub patient_weight_kg: f64,
    pub patient_height_m: f64,
    /// Centre of the body outline (x, y) in mm: a "left" lesion has x greater than this x.
    pub body_centre_mm: [f64; 2],
    pub accession_number: String,
    pub study_instance_uid: String,
    pub pet_series_instance_uid: String,
    pub ct_series_instance_uid: String,
    pub frame_of_reference_uid: String,
    pub study_date: String,
    pub injection_time: String,
    pub series_time: String,
    pub injected_dose_bq: f64,
    pub half_life_s: f64,
    pub delta_t_s: f64,
    /// Bq/mL per SUV unit (decayed dose / weight in g).
    pub bqml_per_suv: f64,
    pub pet_fwhm_mm: f64,
    /// The PET grid as the node's own `Geometry` (its JSON form): `slice_dir` `[0, 0, -1]`, so
    /// z index 0 is the most superior slice and InstanceNumber = z + 1.
    pub pet_grid: Geometry,
    pub ct_grid: Geometry,
    /// File name (next to truth.json) of the lesion labels: u8, `[z][y][x]` C order on
    /// `pet_grid`, 0 = background, otherwise the lesion id.
    pub labels_file: String,
    pub lesions: Vec<LesionTruth>,
}

impl Truth {
    pub fn load(path: &Path) -> Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self).context("serialising truth")?;
        std::fs::write(path, text + "\n").with_context(|| format!("writing {}", path.display()))
    }
}
