//! Post-processing of the model output (model contract, PAPER §4) for evaluation: prob > 0.5 →
//! 26-connected components → the component with the highest mean probability → back to the PET
//! grid (`resample::from_isotropic`, threshold 0.5). The node's own runtime copy is written in
//! parallel in src/ground; this one follows the same contract. Also the "hottest component"
//! baseline.

use ndarray::{Array3, ArrayView3, Axis, Slice};
use petground::label::components::{ComponentsError, Connectivity, component_stats, label};
use petground::volume::resample::from_isotropic;
use petground::volume::{Geometry, Volume};

/// Foreground threshold on the probability and on the resampled indicator.
pub const THRESHOLD: f32 = 0.5;
/// The hottest-component baseline keeps voxels at or above this fraction of the global SUVmax.
pub const HOTTEST_FRACTION: f32 = 0.5;

#[derive(Debug, thiserror::Error)]
pub enum PostError {
    #[error("probability map {prob:?} is smaller than the model grid {grid:?}")]
    Shape { prob: [usize; 3], grid: [usize; 3] },
    #[error("components: {0}")]
    Components(#[from] ComponentsError),
}

/// The mask on the PET grid for a probability map on the (possibly padded) model grid; empty
/// when no voxel exceeds 0.5.
pub fn prob_to_pet_mask(
    prob: ArrayView3<f32>,
    model: &Geometry,
    pet: &Geometry,
) -> Result<Array3<bool>, PostError> {
    let (z, y, x) = prob.dim();
    if z < model.dims[0] || y < model.dims[1] || x < model.dims[2] {
        return Err(PostError::Shape {
            prob: [z, y, x],
            grid: model.dims,
        });
    }
    let mut p = prob;
    p.slice_each_axis_inplace(|ax| Slice::from(0..model.dims[ax.axis.index()]));
    let fg = p.mapv(|v| v > THRESHOLD);
    let (labels, n) = label(fg.view(), Connectivity::TwentySix)?;
    let stats = component_stats(labels.view(), p, n)?;
    let best = stats
        .iter()
        .filter(|s| s.voxels > 0)
        .max_by(|a, b| (a.sum / a.voxels as f64).total_cmp(&(b.sum / b.voxels as f64)));
    let Some(best) = best else {
        return Ok(Array3::from_elem(
            (pet.dims[0], pet.dims[1], pet.dims[2]),
            false,
        ));
    };
    let indicator = Volume {
        data: labels.mapv(|l| if l == best.label { 1.0 } else { 0.0 }),
        geometry: model.clone(),
    };
    let back = from_isotropic(&indicator, pet, 0.0);
    let mut mask = back.data.mapv(|v| v >= THRESHOLD);
    if !mask.iter().any(|&m| m) {
        // A component thinner than half a PET voxel: keep its best-covered PET voxel rather
        // than reporting nothing for a confident prediction.
        if let Some((i, _)) = back
            .data
            .indexed_iter()
            .filter(|(_, v)| **v > 0.0)
            .max_by(|a, b| a.1.total_cmp(b.1))
        {
            mask[i] = true;
        }
    }
    Ok(mask)
}

/// Baseline "the hottest component in the body": SUV ≥ 50 % of the global SUVmax, the
/// 26-connected component holding the hottest voxel.
pub fn hottest_component(suv: ArrayView3<f32>) -> Result<Array3<bool>, PostError> {
    let max = suv.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let fg = suv.mapv(|v| v >= HOTTEST_FRACTION * max && max > 0.0);
    let (labels, n) = label(fg.view(), Connectivity::TwentySix)?;
    let stats = component_stats(labels.view(), suv, n)?;
    let best = stats.iter().max_by(|a, b| a.max.total_cmp(&b.max));
    Ok(match best {
        Some(b) => labels.mapv(|l| l == b.label),
        None => labels.mapv(|_| false),
    })
}

/// Number of `true` voxels.
pub fn count(mask: ArrayView3<bool>) -> usize {
    mask.iter().filter(|&&m| m).count()
}

/// Drops the channel axes of a `[1, 1, Z, Y, X]` (or `[Z, Y, X]`) array view.
pub fn squeeze(a: ndarray::ArrayViewD<'_, f32>) -> Option<ArrayView3<'_, f32>> {
    let mut a = a;
    while a.ndim() > 3 && a.shape()[0] == 1 {
        a = a.index_axis_move(Axis(0), 0);
    }
    a.into_dimensionality().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid(dims: [usize; 3], spacing: [f64; 3]) -> Geometry {
        Geometry {
            dims,
            origin: [0.0; 3],
            spacing,
            row_dir: [1.0, 0.0, 0.0],
            col_dir: [0.0, 1.0, 0.0],
            slice_dir: [0.0, 0.0, 1.0],
        }
    }

    #[test]
    fn keeps_the_component_with_the_highest_mean_probability() {
        // Same grid both ways (8 mm): two blobs, a large one of mean 0.7 and a small of 0.95.
        let g = grid([8, 8, 8], [8.0; 3]);
        let mut prob = Array3::<f32>::zeros((16, 16, 16)); // padded to 16
        for x in 0..3 {
            prob[[2, 2, x]] = 0.7;
        }
        prob[[6, 6, 6]] = 0.95;
        prob[[12, 12, 12]] = 0.99; // in the padding: ignored
        let m = prob_to_pet_mask(prob.view(), &g, &g).expect("mask");
        assert_eq!(count(m.view()), 1);
        assert!(m[[6, 6, 6]]);
    }

    #[test]
    fn nothing_above_half_is_an_empty_mask_on_the_pet_grid() {
        let g = grid([4, 4, 4], [8.0; 3]);
        let pet = grid([2, 4, 4], [8.0, 8.0, 16.0]);
        let prob = Array3::<f32>::from_elem((16, 16, 16), 0.4);
        let m = prob_to_pet_mask(prob.view(), &g, &pet).expect("mask");
        assert_eq!(m.dim(), (2, 4, 4));
        assert_eq!(count(m.view()), 0);
    }

    #[test]
    fn too_small_a_map_is_refused() {
        let g = grid([20, 4, 4], [8.0; 3]);
        let prob = Array3::<f32>::zeros((16, 16, 16));
        assert!(prob_to_pet_mask(prob.view(), &g, &g).is_err());
    }

    #[test]
    fn hottest_component_takes_the_global_max_and_its_neighbours() {
        let mut suv = Array3::from_elem((5, 5, 5), 1.0f32);
        suv[[1, 1, 1]] = 10.0;
        suv[[1, 1, 2]] = 6.0; // ≥ 5: joins
        suv[[1, 1, 3]] = 4.0; // < 5: not
        suv[[4, 4, 4]] = 8.0; // hot but separate
        let m = hottest_component(suv.view()).expect("mask");
        assert_eq!(count(m.view()), 2);
        assert!(m[[1, 1, 1]] && m[[1, 1, 2]]);
    }
}
