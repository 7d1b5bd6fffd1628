//! Iterative thresholding (Jentzen et al., J Nucl Med 2007) exactly as PAPER.md §3 step 4: seed at
//! the matched maximum, background from the outer shell of a 7×7×7 dilation, grow one N6 shell
//! per iteration until the threshold moves by less than 1 %, fail when T/S exceeds 0.9.
//! Works in a box around the region so each iteration costs in proportion to the lesion, not the
//! volume. Matching and QC live elsewhere.

use ndarray::Array3;

use super::components::{Connectivity, Grid, dilate_cube, outer_shell};

/// Why ITM dropped the label.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum ItmError {
    #[error(
        "iterative thresholding: no voxel of the N18 seed is above the first threshold {threshold:.3}"
    )]
    EmptySeed { threshold: f64 },
    #[error(
        "iterative thresholding: threshold/SUVmax reached {ratio:.3} (> 0.9) at iteration {iteration}"
    )]
    ThresholdTooHigh { ratio: f64, iteration: u32 },
    #[error("iterative thresholding: no convergence within {iterations} iterations")]
    NoConvergence { iterations: u32 },
}

/// The converged region and the last values of the iteration.
#[derive(Debug, Clone, PartialEq)]
pub struct ItmResult {
    /// Voxels `[z, y, x]` of the label, in the order they were added.
    pub voxels: Vec<[usize; 3]>,
    pub threshold: f64,
    pub background: f64,
    pub iterations: u32,
}

/// The paper's voxel volume for the `0.078 / V` term: mL, replaced by 0.04346 when below 0.04.
pub fn itm_voxel_ml(voxel_ml: f64) -> f64 {
    if voxel_ml < 0.04 { 0.04346 } else { voxel_ml }
}

/// Runs ITM on C-order SUV `data` of shape `grid`, seeded at `seed`, for reported SUVmax `s`.
pub fn iterative_threshold(
    data: &[f32],
    grid: Grid,
    voxel_ml: f64,
    seed: [usize; 3],
    s: f64,
    max_iterations: u32,
) -> Result<ItmResult, ItmError> {
    let voxel_ml = itm_voxel_ml(voxel_ml);
    let value = |p: [usize; 3]| f64::from(data[grid.flat(p)]);
    let (mut region, mut t, mut b) = seed_region(data, grid, seed, s)?;
    let six = Connectivity::Six.offsets();
    let mut t_old = s;
    let mut iteration = 0u32;
    while (t_old - t).abs() / t_old > 0.01 {
        if iteration >= max_iterations {
            return Err(ItmError::NoConvergence {
                iterations: iteration,
            });
        }
        iteration += 1;
        b = background(data, grid, &region);
        let v = region.voxels.len() as f64 * voxel_ml;
        t_old = t;
        t = (0.078 / v + 0.617 * b / s + 0.316) * s;
        if t / s > 0.9 {
            return Err(ItmError::ThresholdTooHigh {
                ratio: t / s,
                iteration,
            });
        }
        // One shell: only the voxels present before this step act as sources.
        let old = region.voxels.len();
        for k in 0..old {
            let p = region.voxels[k];
            for &d in &six {
                if let Some(q) = grid.step(p, d)
                    && !region.contains(q)
                    && value(q) > t
                {
                    region.insert(q);
                }
            }
        }
    }
    Ok(ItmResult {
        voxels: region.voxels,
        threshold: t,
        background: b,
        iterations: iteration,
    })
}

/// The first region: `{q in N18(p) ∪ {p} : suv[q] > T}` with `T = (0.617·B/S + 0.316)·S` and B
/// the background around the seed voxel alone; returns the region, T and B.
fn seed_region(
    data: &[f32],
    grid: Grid,
    seed: [usize; 3],
    s: f64,
) -> Result<(Region, f64, f64), ItmError> {
    let b = background(data, grid, &Region::single(grid, seed));
    let t = (0.617 * b / s + 0.316) * s;
    let mut region = Region::new(grid);
    let neighbours = Connectivity::Eighteen.offsets();
    let candidates =
        std::iter::once(seed).chain(neighbours.iter().filter_map(|&d| grid.step(seed, d)));
    for q in candidates {
        if f64::from(data[grid.flat(q)]) > t {
            region.insert(q);
        }
    }
    if region.voxels.is_empty() {
        return Err(ItmError::EmptySeed { threshold: t });
    }
    Ok((region, t, b))
}

/// A growing set of voxels with O(1) membership and a running bounding box.
struct Region {
    grid: Grid,
    member: Vec<bool>,
    voxels: Vec<[usize; 3]>,
    lo: [usize; 3],
    hi: [usize; 3],
}

impl Region {
    fn new(grid: Grid) -> Self {
        Region {
            grid,
            // Zeroed allocation: only the pages around the lesion are ever touched.
            member: vec![false; grid.len()],
            voxels: Vec::new(),
            lo: [usize::MAX; 3],
            hi: [0; 3],
        }
    }

    fn single(grid: Grid, p: [usize; 3]) -> Self {
        Region {
            grid,
            member: Vec::new(),
            voxels: vec![p],
            lo: p,
            hi: p,
        }
    }

    fn contains(&self, p: [usize; 3]) -> bool {
        self.member[self.grid.flat(p)]
    }

    fn insert(&mut self, p: [usize; 3]) {
        self.member[self.grid.flat(p)] = true;
        self.voxels.push(p);
        self.lo = std::array::from_fn(|a| self.lo[a].min(p[a]));
        self.hi = std::array::from_fn(|a| self.hi[a].max(p[a]));
    }
}

/// Mean SUV over the outer shell of the 7×7×7-cube dilation of the region. Computed in the
/// region's box grown by 4: the dilation reaches 3 voxels out, so inside the volume the box keeps
/// one voxel of air around it, and where the box is clipped by the volume edge, outside the box is
/// outside the volume, which counts as outside (scipy's `border_value=0`).
fn background(data: &[f32], grid: Grid, region: &Region) -> f64 {
    let lo: [usize; 3] = std::array::from_fn(|a| region.lo[a].saturating_sub(4));
    let hi: [usize; 3] = std::array::from_fn(|a| (region.hi[a] + 4).min(grid.dims[a] - 1));
    let shape = (hi[0] - lo[0] + 1, hi[1] - lo[1] + 1, hi[2] - lo[2] + 1);
    let mut local = Array3::from_elem(shape, false);
    for p in &region.voxels {
        local[[p[0] - lo[0], p[1] - lo[1], p[2] - lo[2]]] = true;
    }
    let shell = outer_shell(dilate_cube(local.view(), 3).view());
    let (mut sum, mut n) = (0.0f64, 0usize);
    for ((z, y, x), &on) in shell.indexed_iter() {
        if on {
            sum += f64::from(data[grid.flat([z + lo[0], y + lo[1], x + lo[2]])]);
            n += 1;
        }
    }
    // The shell of a non-empty dilation is never empty.
    if n == 0 { 0.0 } else { sum / n as f64 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn voxel_volume_floor_is_the_papers() {
        assert_eq!(itm_voxel_ml(0.027), 0.04346);
        assert_eq!(itm_voxel_ml(0.048), 0.048);
    }

    /// A 3x3x3 cube of SUV 10 in a 15³ background of 1: the seed threshold
    /// (0.617·1 + 0.316·10 ≈ 3.8) keeps the cube's N18 part, one shell completes it, and the
    /// background never enters (T stays near 4).
    #[test]
    fn recovers_a_sharp_cube() {
        let n = 15;
        let grid = Grid::new([n, n, n]);
        let mut data = vec![1.0f32; grid.len()];
        for z in 6..9 {
            for y in 6..9 {
                for x in 6..9 {
                    data[grid.flat([z, y, x])] = 10.0;
                }
            }
        }
        let r = iterative_threshold(&data, grid, 0.048, [7, 7, 7], 10.0, 100).expect("converges");
        let mut v = r.voxels.clone();
        v.sort_unstable();
        assert_eq!(v.len(), 27, "{r:?}");
        assert!(v.iter().all(|p| p.iter().all(|&i| (6..9).contains(&i))));
        assert!((r.background - 1.0).abs() < 1e-9);
    }

    #[test]
    fn too_small_a_region_fails() {
        // A single hot voxel: V is one voxel, 0.078/V alone pushes T/S above 0.9.
        let grid = Grid::new([9, 9, 9]);
        let mut data = vec![0.5f32; grid.len()];
        data[grid.flat([4, 4, 4])] = 10.0;
        let r = iterative_threshold(&data, grid, 0.048, [4, 4, 4], 10.0, 100);
        assert!(matches!(r, Err(ItmError::ThresholdTooHigh { .. })), "{r:?}");
    }
}
