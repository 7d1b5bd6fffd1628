//! Model output → lesion mask on the PET grid (model contract, post-processing): probability
//! above 0.5 on the model grid, 26-connected components, keep the component with the highest mean
//! probability, then back onto the PET grid by resampling its indicator
//! (`resample::from_isotropic`) and thresholding at 0.5. Pure synchronous code; tools/train
//! evaluates with these same functions.

use ndarray::{Array3, ArrayView3, Axis, Slice};

use crate::label::components::{self, ComponentsError, Connectivity};
use crate::volume::resample::from_isotropic;
use crate::volume::{Geometry, Volume};

/// Foreground threshold on probabilities and on the resampled indicator.
pub const THRESHOLD: f32 = 0.5;

/// Errors of post-processing.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PostprocessError {
    #[error("model output {output:?} is smaller than the model grid {grid:?}")]
    Shape {
        output: [usize; 3],
        grid: [usize; 3],
    },
    #[error(transparent)]
    Components(#[from] ComponentsError),
}

/// On the model grid: the 26-connected component of `prob > 0.5` with the highest mean
/// probability (ties: the larger, then the first in raster order), or `None` when no voxel
/// passes the threshold.
pub fn select_component(prob: ArrayView3<f32>) -> Result<Option<Array3<bool>>, PostprocessError> {
    let fg = prob.mapv(|p| p > THRESHOLD);
    let (labels, count) = components::label(fg.view(), Connectivity::TwentySix)?;
    if count == 0 {
        return Ok(None);
    }
    let stats = components::component_stats(labels.view(), prob, count)?;
    let best = stats
        .iter()
        .filter(|c| c.voxels > 0)
        .map(|c| (c.label, c.sum / c.voxels as f64, c.voxels))
        .fold(None::<(u32, f64, usize)>, |acc, cur| match acc {
            Some(a) if (a.1, a.2) >= (cur.1, cur.2) => Some(a),
            _ => Some(cur),
        });
    Ok(best.map(|(label, _, _)| labels.mapv(|l| l == label)))
}

/// The lesion mask on the PET grid from the model's probabilities `prob` on the padded model
/// grid (`iso` is the unpadded isotropic geometry; the padding sits at the end of each axis and
/// is cropped). `None` when the model finds nothing.
pub fn to_pet_mask(
    prob: ArrayView3<f32>,
    iso: &Geometry,
    pet: &Geometry,
) -> Result<Option<Array3<bool>>, PostprocessError> {
    let (pz, py, px) = prob.dim();
    let [nz, ny, nx] = iso.dims;
    if pz < nz || py < ny || px < nx {
        return Err(PostprocessError::Shape {
            output: [pz, py, px],
            grid: iso.dims,
        });
    }
    // (`s![]` expands to code that `forbid(unsafe_code)` rejects.)
    let mut cropped = prob;
    for (axis, n) in [nz, ny, nx].into_iter().enumerate() {
        cropped.slice_axis_inplace(Axis(axis), Slice::from(0..n));
    }
    let Some(component) = select_component(cropped)? else {
        return Ok(None);
    };
    let indicator = Volume {
        data: component.mapv(|b| if b { 1.0 } else { 0.0 }),
        geometry: iso.clone(),
    };
    let back = from_isotropic(&indicator, pet, 0.0);
    let mut mask = back.data.mapv(|v| v > THRESHOLD);
    if !mask.iter().any(|&b| b) {
        // A component of one or two 8 mm voxels can leave every (finer) PET voxel centre below
        // 0.5 after trilinear resampling; the model did find something, so keep the PET voxels
        // nearest to the component's voxel centres rather than dropping the finding.
        mark_nearest(&component, iso, pet, &mut mask);
    }
    Ok(mask.iter().any(|&b| b).then_some(mask))
}

fn mark_nearest(component: &Array3<bool>, iso: &Geometry, pet: &Geometry, mask: &mut Array3<bool>) {
    for ((z, y, x), _) in component.indexed_iter().filter(|(_, b)| **b) {
        let mm = iso.index_to_mm([z as f64, y as f64, x as f64]);
        let idx = pet.mm_to_index(mm).map(f64::round);
        let inside = idx
            .iter()
            .zip(pet.dims)
            .all(|(&i, n)| i >= 0.0 && i < n as f64);
        if inside {
            mask[[idx[0] as usize, idx[1] as usize, idx[2] as usize]] = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::volume::resample::isotropic_geometry;

    /// Sets the cube `lo..hi` on every axis to `v`.
    fn fill_cube(a: &mut Array3<f32>, lo: usize, hi: usize, v: f32) {
        for ((z, y, x), p) in a.indexed_iter_mut() {
            if [z, y, x].iter().all(|&i| (lo..hi).contains(&i)) {
                *p = v;
            }
        }
    }

    fn geom(dims: [usize; 3], spacing: f64) -> Geometry {
        Geometry {
            dims,
            origin: [0.0, 0.0, 0.0],
            spacing: [spacing; 3],
            row_dir: [1.0, 0.0, 0.0],
            col_dir: [0.0, 1.0, 0.0],
            slice_dir: [0.0, 0.0, 1.0],
        }
    }

    #[test]
    fn nothing_above_threshold_gives_none() {
        let p = Array3::from_elem((4, 4, 4), 0.5f32);
        assert_eq!(select_component(p.view()).expect("ok"), None);
    }

    #[test]
    fn keeps_highest_mean_not_largest_and_uses_26_connectivity() {
        let mut p = Array3::<f32>::zeros((8, 8, 8));
        // Large, lukewarm component: 8 voxels at 0.6.
        fill_cube(&mut p, 0, 2, 0.6);
        // Small, confident component: two voxels touching only at a corner (26-connected).
        p[[5, 5, 5]] = 0.95;
        p[[6, 6, 6]] = 0.9;
        let m = select_component(p.view()).expect("ok").expect("found");
        assert_eq!(m.iter().filter(|&&b| b).count(), 2);
        assert!(m[[5, 5, 5]] && m[[6, 6, 6]] && !m[[0, 0, 0]]);
    }

    #[test]
    fn equal_means_prefer_the_larger_component() {
        let mut p = Array3::<f32>::zeros((6, 6, 6));
        p[[0, 0, 0]] = 0.8;
        fill_cube(&mut p, 3, 5, 0.8);
        let m = select_component(p.view()).expect("ok").expect("found");
        assert_eq!(m.iter().filter(|&&b| b).count(), 8);
    }

    #[test]
    fn padded_output_maps_back_onto_the_pet_grid() {
        // PET: 4 mm voxels, 40×40×40 (160 mm); model grid 8 mm → 20³, padded to 32³.
        let pet = geom([40, 40, 40], 4.0);
        let iso = isotropic_geometry(&pet, 8.0).expect("iso");
        assert_eq!(iso.dims, [20, 20, 20]);
        let mut prob = Array3::<f32>::zeros((32, 32, 32));
        fill_cube(&mut prob, 8, 12, 0.9);
        // Padding is cropped: a "hot" voxel there must be ignored even with a higher mean.
        prob[[25, 25, 25]] = 1.0;
        let m = to_pet_mask(prob.view(), &iso, &pet)
            .expect("ok")
            .expect("found");
        assert_eq!(m.dim(), (40, 40, 40));
        // Iso voxel centres sit at 2 + 8k mm, so iso voxels 8..12 cover 62–94 mm: PET centres
        // 64..=92 mm (PET voxels 16..24) on each axis, i.e. 8³ = 512, less the 8 corner voxels
        // whose trilinear weight is 0.75³ < 0.5.
        let n = m.iter().filter(|&&b| b).count();
        assert_eq!(n, 512 - 8);
        assert!(m[[16, 17, 17]] && !m[[16, 16, 16]] && !m[[15, 17, 17]]);
        assert!(m[[20, 20, 20]] && !m[[5, 5, 5]] && !m[[39, 39, 39]]);
    }

    #[test]
    fn single_iso_voxel_still_marks_the_pet_grid() {
        let pet = geom([40, 40, 40], 4.0);
        let iso = isotropic_geometry(&pet, 8.0).expect("iso");
        let mut prob = Array3::<f32>::zeros((32, 32, 32));
        prob[[10, 10, 10]] = 0.9;
        let m = to_pet_mask(prob.view(), &iso, &pet)
            .expect("ok")
            .expect("found");
        assert!(m.iter().filter(|&&b| b).count() >= 1);
    }

    #[test]
    fn output_smaller_than_grid_is_an_error() {
        let pet = geom([40, 40, 40], 4.0);
        let iso = isotropic_geometry(&pet, 8.0).expect("iso");
        let prob = Array3::<f32>::zeros((16, 32, 32));
        assert!(matches!(
            to_pet_mask(prob.view(), &iso, &pet),
            Err(PostprocessError::Shape { .. })
        ));
    }
}
