//! The local-maximum rule (ours, issue 16): where the paper's single threshold fails. A lesion in
//! hot background (liver at SUV 2.5 with `T0 ≈ 2.3`, or next to kidney, bladder, heart or brain)
//! merges with its surroundings into one component whose maximum is not the reported S, so no
//! component matches. Then the node looks, on the slices the image number gives (± the slice
//! tolerance), for a voxel that is a local maximum of value S (± the SUV tolerance) and stands out
//! of its surroundings: at least [`MIN_CONTRAST`] times the mean of the shell of voxels three steps
//! away. ITM then grows the label from that voxel with its own background-adaptive threshold, and
//! QC (label max vs S, seed slice, laterality) rejects a region that floods the organ.
//!
//! Noise peaks in an organ's smooth falloff (the brain's edge, the bladder's) have no contrast to
//! their shell and are not candidates; several distinct peaks are ambiguous, as for components.

use super::LabelParams;
use super::candidate::{Candidate, FoundBy};
use super::components::Grid;
use crate::volume::Geometry;

/// A peak's value over the mean of the voxels three steps away (Chebyshev distance 3).
pub const MIN_CONTRAST: f64 = 1.5;

/// Peaks closer than this (voxels, each axis) are one lesion.
const SAME_PEAK: usize = 2;

/// The local maxima of value `s` on slices `zs` (± the slice tolerance) that stand out of their
/// surroundings, as candidates; at most one per lesion.
pub(super) fn peaks(
    data: &[f32],
    geometry: &Geometry,
    s: f64,
    zs: &[usize],
    params: &LabelParams,
) -> Vec<Candidate> {
    let grid = Grid::new(geometry.dims);
    let [nz, ny, nx] = grid.dims;
    let tol = params.slice_tolerance as usize;
    let (Some(&lo), Some(&hi)) = (zs.iter().min(), zs.iter().max()) else {
        return Vec::new();
    };
    let (z0, z1) = (lo.saturating_sub(tol), (hi + tol).min(nz.saturating_sub(1)));
    let mut found: Vec<Candidate> = Vec::new();
    for z in z0..=z1 {
        for y in 0..ny {
            for x in 0..nx {
                let p = [z, y, x];
                let v = f64::from(data[grid.flat(p)]);
                if !params.suv_matches(v, s) || !is_local_max(data, grid, p) {
                    continue;
                }
                if contrast(data, grid, p).is_none_or(|c| c < MIN_CONTRAST) {
                    continue;
                }
                let near =
                    |c: &Candidate| (0..3).all(|a| c.max_voxel[a].abs_diff(p[a]) <= SAME_PEAK);
                if !found.iter().any(near) {
                    found.push(candidate(geometry, p, v));
                }
            }
        }
    }
    found
}

fn candidate(geometry: &Geometry, p: [usize; 3], v: f64) -> Candidate {
    let [z, y, x] = p;
    Candidate {
        max: v,
        max_voxel: p,
        max_mm: geometry.index_to_mm([z as f64, y as f64, x as f64]),
        z_range: [z, z],
        voxels: 1,
        found_by: FoundBy::LocalMaximum,
    }
}

/// Whether no voxel of the 26-neighbourhood is higher.
fn is_local_max(data: &[f32], grid: Grid, p: [usize; 3]) -> bool {
    let v = data[grid.flat(p)];
    ring(grid, p, 1).all(|q| data[grid.flat(q)] <= v)
}

/// The value at `p` over the mean of the shell at Chebyshev distance 3 (inside the volume);
/// `None` when the shell is empty or its mean is not positive.
fn contrast(data: &[f32], grid: Grid, p: [usize; 3]) -> Option<f64> {
    let (mut sum, mut n) = (0.0f64, 0usize);
    for q in ring(grid, p, 3) {
        sum += f64::from(data[grid.flat(q)]);
        n += 1;
    }
    let mean = sum / n.max(1) as f64;
    (n > 0 && mean > 0.0).then(|| f64::from(data[grid.flat(p)]) / mean)
}

/// The voxels at Chebyshev distance exactly `r` from `p`, inside the grid.
fn ring(grid: Grid, p: [usize; 3], r: usize) -> impl Iterator<Item = [usize; 3]> {
    let r = r as isize;
    let [nz, ny, nx] = grid.dims.map(|d| d as isize);
    let [pz, py, px] = p.map(|c| c as isize);
    (-r..=r).flat_map(move |dz| {
        (-r..=r).flat_map(move |dy| {
            (-r..=r).filter_map(move |dx| {
                let on_shell = dz.abs().max(dy.abs()).max(dx.abs()) == r;
                let (z, y, x) = (pz + dz, py + dy, px + dx);
                let inside = (0..nz).contains(&z) && (0..ny).contains(&y) && (0..nx).contains(&x);
                (on_shell && inside).then_some([z as usize, y as usize, x as usize])
            })
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn geometry(dims: [usize; 3]) -> Geometry {
        Geometry {
            dims,
            origin: [0.0, 0.0, 0.0],
            spacing: [4.0, 4.0, 4.0],
            row_dir: [1.0, 0.0, 0.0],
            col_dir: [0.0, 1.0, 0.0],
            slice_dir: [0.0, 0.0, 1.0],
        }
    }

    /// An organ at 2.5 with a lesion peaking at 5.4 and a hotter one at 8.0 inside it, and a
    /// smooth ramp up to 6.0 (an organ's edge) elsewhere.
    fn volume() -> (Vec<f32>, Geometry) {
        let dims = [20, 20, 40];
        let g = geometry(dims);
        let grid = Grid::new(dims);
        let mut data = vec![0.3f32; grid.len()];
        for z in 0..20 {
            for y in 0..20 {
                for x in 0..20 {
                    data[grid.flat([z, y, x])] = 2.5;
                }
                for x in 20..40 {
                    // The ramp: no voxel stands out of its shell.
                    data[grid.flat([z, y, x])] = 0.3 + (x - 20) as f32 * 0.3;
                }
            }
        }
        for (c, peak) in [([10usize, 10usize, 6usize], 5.4f32), ([10, 10, 14], 8.0)] {
            for dz in 0..3 {
                for dy in 0..3 {
                    for dx in 0..3 {
                        let p = [c[0] + dz - 1, c[1] + dy - 1, c[2] + dx - 1];
                        let d = dz.abs_diff(1) + dy.abs_diff(1) + dx.abs_diff(1);
                        data[grid.flat(p)] = peak - 0.8 * d as f32;
                    }
                }
            }
        }
        (data, g)
    }

    #[test]
    fn a_lesion_in_hot_background_is_found_by_its_peak_and_a_ramp_is_not() {
        let (data, g) = volume();
        let params = LabelParams::default();
        let found = peaks(&data, &g, 5.4, &[10], &params);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].max_voxel, [10, 10, 6]);
        assert_eq!(found[0].found_by, FoundBy::LocalMaximum);
        // Wrong slice, outside the tolerance: nothing.
        assert!(peaks(&data, &g, 5.4, &[2], &params).is_empty());
        // The ramp passes 6.0 on every slice, but it is no peak.
        assert!(peaks(&data, &g, 6.0, &[10], &params).is_empty());
    }
}
