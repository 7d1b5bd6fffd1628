//! Lesion measurements of a label: SUVmax, SUVpeak, SUVmean, MTV, TLG and centroid.
//!
//! SUVpeak definition (ours, stated because definitions differ): the mean SUV of all voxels whose
//! centres lie within a sphere of 1 mL (radius 6.204 mm, diameter ≈ 1.24 cm) centred on the centre
//! of the label's maximum voxel, inside or outside the label. This is not the PERCIST search for
//! the hottest 1 mL sphere anywhere in the lesion.

use crate::volume::Volume;

/// Errors of the measurements.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum MeasureError {
    #[error("measurements: the label has no voxel")]
    EmptyLabel,
    #[error("measurements: label voxel {voxel:?} lies outside the volume {dims:?}")]
    OutOfBounds { voxel: [usize; 3], dims: [usize; 3] },
}

/// Radius (mm) of a 1 mL sphere: (3 / 4π)^(1/3) cm.
pub const PEAK_RADIUS_MM: f64 = 6.203_504_908_994;

/// Measurements of one label.
#[derive(Debug, Clone, PartialEq)]
pub struct Measurements {
    pub suv_max: f64,
    /// Voxel `[z, y, x]` of the maximum (first in raster order on ties).
    pub max_voxel: [usize; 3],
    pub suv_peak: f64,
    pub suv_mean: f64,
    /// Metabolic tumour volume: voxel count × voxel volume (mL).
    pub mtv_ml: f64,
    /// Total lesion glycolysis: SUVmean × MTV (g).
    pub tlg: f64,
    /// Centroid in patient coordinates (mm, LPS).
    pub centroid_mm: [f64; 3],
    pub voxels: usize,
}

/// Measures the label `voxels` (`[z, y, x]`) on the SUV volume.
pub fn measure(suv: &Volume, voxels: &[[usize; 3]]) -> Result<Measurements, MeasureError> {
    let dims = suv.geometry.dims;
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
    let n = voxels.len() as f64;
    let suv_mean = sum / n;
    let mtv_ml = n * suv.geometry.voxel_ml();
    Ok(Measurements {
        suv_max,
        max_voxel,
        suv_peak: suv_peak(suv, max_voxel),
        suv_mean,
        mtv_ml,
        tlg: suv_mean * mtv_ml,
        centroid_mm: suv.geometry.index_to_mm(c.map(|s| s / n)),
        voxels: voxels.len(),
    })
}

/// Mean SUV in the 1 mL sphere centred on `centre` (see the module doc).
pub fn suv_peak(suv: &Volume, centre: [usize; 3]) -> f64 {
    let g = &suv.geometry;
    // spacing is [x, y, z]; index order is [z, y, x].
    let step = [g.spacing[2], g.spacing[1], g.spacing[0]];
    let reach: [usize; 3] = std::array::from_fn(|a| (PEAK_RADIUS_MM / step[a]).floor() as usize);
    let r2 = PEAK_RADIUS_MM * PEAK_RADIUS_MM;
    let (mut sum, mut n) = (0.0f64, 0usize);
    let lo: [usize; 3] = std::array::from_fn(|a| centre[a].saturating_sub(reach[a]));
    let hi: [usize; 3] =
        std::array::from_fn(|a| (centre[a] + reach[a]).min(g.dims[a].saturating_sub(1)));
    for z in lo[0]..=hi[0] {
        for y in lo[1]..=hi[1] {
            for x in lo[2]..=hi[2] {
                let d: f64 = [z, y, x]
                    .iter()
                    .zip(centre)
                    .zip(step)
                    .map(|((&i, c), s)| ((i as f64 - c as f64) * s).powi(2))
                    .sum();
                if d <= r2
                    && let Some(&v) = suv.data.get([z, y, x])
                {
                    sum += f64::from(v);
                    n += 1;
                }
            }
        }
    }
    if n == 0 { f64::NAN } else { sum / n as f64 }
}
