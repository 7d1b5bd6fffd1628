//! PERCIST SUVpeak: the hottest 1 mL sphere whose centre is a voxel centre of the lesion (the
//! discretisation is stated in the parent module's doc). The sphere is a fixed list of voxel
//! offsets, computed once per grid, so the search costs (lesion voxels × sphere voxels).

use crate::volume::Volume;

/// Radius (mm) of a 1 mL sphere: (3 / 4π)^(1/3) cm.
pub const PEAK_RADIUS_MM: f64 = 6.203_504_908_994;

/// The hottest sphere of a lesion.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Peak {
    /// Mean SUV of the sphere's voxels.
    pub mean: f64,
    /// Centre voxel `[z, y, x]` (first in raster order on ties).
    pub centre: [usize; 3],
    /// How many voxels the sphere holds there.
    pub voxels: usize,
}

/// The `[dz, dy, dx]` offsets of the voxels whose centres lie within [`PEAK_RADIUS_MM`] of a
/// voxel centre on a grid with `spacing` `[x, y, z]` (mm; positive). Includes `[0, 0, 0]`.
pub fn sphere_offsets(spacing: [f64; 3]) -> Vec<[i64; 3]> {
    // Index order is [z, y, x]; spacing order is [x, y, z].
    let step = [spacing[2], spacing[1], spacing[0]];
    let reach: [i64; 3] = std::array::from_fn(|a| (PEAK_RADIUS_MM / step[a]).floor() as i64);
    let r2 = PEAK_RADIUS_MM * PEAK_RADIUS_MM;
    let mut out = Vec::new();
    for dz in -reach[0]..=reach[0] {
        for dy in -reach[1]..=reach[1] {
            for dx in -reach[2]..=reach[2] {
                let d2 = [dz, dy, dx]
                    .iter()
                    .zip(step)
                    .map(|(&d, s)| (d as f64 * s).powi(2))
                    .sum::<f64>();
                if d2 <= r2 {
                    out.push([dz, dy, dx]);
                }
            }
        }
    }
    out
}

/// The PERCIST SUVpeak of the lesion `voxels` on `suv`, or `None` when there is no voxel. Voxels
/// outside the volume are skipped as candidates (the caller checks bounds when it must fail).
pub fn suv_peak(suv: &Volume, voxels: &[[usize; 3]]) -> Option<Peak> {
    let offsets = sphere_offsets(suv.geometry.spacing);
    let dims = suv.geometry.dims;
    let mut best: Option<Peak> = None;
    for &c in voxels {
        let Some((sum, n)) = sphere_sum(suv, &offsets, dims, c) else {
            continue;
        };
        let mean = sum / n as f64;
        let better = best.is_none_or(|b| mean > b.mean || (mean == b.mean && c < b.centre));
        if better {
            best = Some(Peak {
                mean,
                centre: c,
                voxels: n,
            });
        }
    }
    best
}

/// Sum and count of the sphere around `c`; `None` when `c` lies outside the volume.
fn sphere_sum(
    suv: &Volume,
    offsets: &[[i64; 3]],
    dims: [usize; 3],
    c: [usize; 3],
) -> Option<(f64, usize)> {
    suv.data.get(c)?;
    let (mut sum, mut n) = (0.0f64, 0usize);
    for o in offsets {
        let p: [i64; 3] = std::array::from_fn(|a| c[a] as i64 + o[a]);
        if (0..3).all(|a| p[a] >= 0 && (p[a] as usize) < dims[a])
            && let Some(&v) = suv.data.get(p.map(|i| i as usize))
        {
            sum += f64::from(v);
            n += 1;
        }
    }
    Some((sum, n))
}

/// Mean SUV of the sphere centred on voxel `c` (for tests and property checks).
pub fn sphere_mean(suv: &Volume, c: [usize; 3]) -> Option<f64> {
    let offsets = sphere_offsets(suv.geometry.spacing);
    sphere_sum(suv, &offsets, suv.geometry.dims, c).map(|(s, n)| s / n as f64)
}
