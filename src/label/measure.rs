//! Lesion measurements on the native PET grid: SUVmax, SUVmean, SUVpeak, MTV, TLG, the largest
//! axial diameter and the centroid. The one place the node measures a lesion: weak labels, model
//! masks, `status`, `petground ground` and the quantitative SR all take their numbers from here.
//! Pure code over a [`Volume`] and a list of voxels; the definitions, since they differ between
//! tools, are stated once:
//!
//! - **SUVmax** the largest voxel SUV of the label; **SUVmean** the mean over the label's voxels.
//! - **MTV** voxel count × voxel volume (mL); **TLG** SUVmean × MTV (SUVbw g/mL × mL = g).
//! - **SUVpeak** (PERCIST 1.0, Wahl et al. 2009): the highest mean SUV of a 1 mL sphere placed
//!   anywhere in the lesion. Discretised as: a sphere centred on the centre of voxel `c` holds
//!   every voxel of the volume whose centre lies within [`PEAK_RADIUS_MM`] (6.2035 mm, the radius
//!   of 1 mL) of `c`'s centre, inside the label or not; voxels beyond the volume's edge are
//!   absent, not zero. Candidate centres are the centres of the label's voxels, every one of
//!   them (an exhaustive search, no sub-voxel shifts). See [`peak`].
//! - **Largest axial diameter**: per PET slice, the largest distance between two points of the
//!   label's pixels in that slice, pixels taken as the squares they cover (so one 4 mm pixel
//!   measures 5.66 mm, its diagonal); the maximum over slices. See [`diameter`].
//!
//! Thresholds and connected components (`itm`, `components`) decide *which* voxels; this file
//! only measures them.

mod diameter;
mod peak;

use ndarray::Array3;

pub use diameter::largest_axial_diameter_mm;
pub use peak::{PEAK_RADIUS_MM, Peak, sphere_mean, sphere_offsets, suv_peak};

use crate::volume::Volume;

/// Errors of the measurements.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum MeasureError {
    #[error("measurements: the label has no voxel")]
    EmptyLabel,
    #[error("measurements: label voxel {voxel:?} lies outside the volume {dims:?}")]
    OutOfBounds { voxel: [usize; 3], dims: [usize; 3] },
    #[error("measurements: mask shape {mask:?} differs from the volume {dims:?}")]
    MaskShape { mask: [usize; 3], dims: [usize; 3] },
    #[error("measurements: voxel spacing {spacing:?} mm is not positive and finite")]
    Spacing { spacing: [f64; 3] },
}

/// Measurements of one label.
#[derive(Debug, Clone, PartialEq)]
pub struct Measurements {
    pub suv_max: f64,
    /// Voxel `[z, y, x]` of the maximum (first in raster order on ties).
    pub max_voxel: [usize; 3],
    /// PERCIST SUVpeak (module doc).
    pub suv_peak: f64,
    /// Centre voxel `[z, y, x]` of the hottest 1 mL sphere (first in raster order on ties).
    pub peak_voxel: [usize; 3],
    /// Number of voxels in that sphere (fewer at the volume's edge).
    pub peak_sphere_voxels: usize,
    pub suv_mean: f64,
    /// Metabolic tumour volume: voxel count × voxel volume (mL).
    pub mtv_ml: f64,
    /// Total lesion glycolysis: SUVmean × MTV (g).
    pub tlg: f64,
    /// Largest in-plane extent over the label's slices (mm; module doc).
    pub largest_axial_diameter_mm: f64,
    /// Centroid in patient coordinates (mm, LPS).
    pub centroid_mm: [f64; 3],
    pub voxels: usize,
}

/// Measures the label `voxels` (`[z, y, x]`, each once) on the SUV volume.
pub fn measure(suv: &Volume, voxels: &[[usize; 3]]) -> Result<Measurements, MeasureError> {
    let g = &suv.geometry;
    if g.spacing.iter().any(|s| !(s.is_finite() && *s > 0.0)) {
        return Err(MeasureError::Spacing { spacing: g.spacing });
    }
    let dims = g.dims;
    let (mut sum, mut c) = (0.0f64, [0.0f64; 3]);
    let mut max: Option<(f64, [usize; 3])> = None;
    for &p in voxels {
        let v = f64::from(
            *suv.data
                .get(p)
                .ok_or(MeasureError::OutOfBounds { voxel: p, dims })?,
        );
        sum += v;
        for a in 0..3 {
            c[a] += p[a] as f64;
        }
        if max.is_none_or(|(m, q)| v > m || (v == m && p < q)) {
            max = Some((v, p));
        }
    }
    let (suv_max, max_voxel) = max.ok_or(MeasureError::EmptyLabel)?;
    let peak = suv_peak(suv, voxels).ok_or(MeasureError::EmptyLabel)?;
    let n = voxels.len() as f64;
    let suv_mean = sum / n;
    let mtv_ml = n * g.voxel_ml();
    Ok(Measurements {
        suv_max,
        max_voxel,
        suv_peak: peak.mean,
        peak_voxel: peak.centre,
        peak_sphere_voxels: peak.voxels,
        suv_mean,
        mtv_ml,
        tlg: suv_mean * mtv_ml,
        largest_axial_diameter_mm: largest_axial_diameter_mm(voxels, [g.spacing[0], g.spacing[1]]),
        centroid_mm: g.index_to_mm(c.map(|s| s / n)),
        voxels: voxels.len(),
    })
}

/// Measures a dense mask on the same grid as `suv` (e.g. a model's answer).
pub fn measure_mask(suv: &Volume, mask: &Array3<bool>) -> Result<Measurements, MeasureError> {
    let (nz, ny, nx) = mask.dim();
    if [nz, ny, nx] != suv.geometry.dims || suv.data.dim() != mask.dim() {
        return Err(MeasureError::MaskShape {
            mask: [nz, ny, nx],
            dims: suv.geometry.dims,
        });
    }
    measure(suv, &voxels_of(mask))
}

/// The `[z, y, x]` indices of a mask's set voxels, in raster order.
pub fn voxels_of(mask: &Array3<bool>) -> Vec<[usize; 3]> {
    mask.indexed_iter()
        .filter(|(_, on)| **on)
        .map(|((z, y, x), _)| [z, y, x])
        .collect()
}

/// Agreement of two masks of one finding (the weak label and the model's, `[grounding] mode =
/// "both"`).
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct Agreement {
    pub dice: f64,
    /// Whether the two masks overlap at all (the same lesion).
    pub same_component: bool,
}

impl std::fmt::Display for Agreement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "weak label vs model: Dice {:.2}, same lesion: {}",
            self.dice, self.same_component
        )
    }
}

/// Dice of two masks of one grid and whether they overlap at all.
pub fn agreement(a: &Array3<bool>, b: &Array3<bool>) -> Agreement {
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

#[cfg(test)]
mod tests;
