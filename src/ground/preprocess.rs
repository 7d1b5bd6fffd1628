//! Model-grid pre-processing shared by the node and tools/train (model contract): the PET SUV and
//! the CT (already on the PET grid) resampled to the 8 mm isotropic model grid, scaled to [0, 1],
//! stacked as `[2, Z, Y, X]` and zero-padded at the end of each axis to a multiple of 16; and the
//! same resampling for training labels. Pure functions: one definition, so training and serving
//! cannot drift. Post-processing of the model output lives in the sibling runtime files.

use ndarray::{Array3, Array4, ArrayView3, ArrayViewMut3, Axis, Slice};

use crate::volume::resample::{AIR_HU, isotropic_geometry, resample};
use crate::volume::{Geometry, Volume, VolumeError};

/// Voxel size of the model grid (mm, isotropic).
pub const MODEL_MM: f64 = 8.0;
/// Every spatial axis of the model input is padded up to a multiple of this (four 2× poolings).
pub const PAD_MULTIPLE: usize = 16;
/// PET channel: SUV clipped to [0, `PET_SUV_CLIP`], divided by it.
pub const PET_SUV_CLIP: f32 = 10.0;
/// CT channel window in HU: clipped to [`CT_LOW`, `CT_HIGH`], mapped to [0, 1].
pub const CT_LOW: f32 = -150.0;
pub const CT_HIGH: f32 = 250.0;

#[derive(Debug, thiserror::Error)]
pub enum PreprocessError {
    #[error("model grid: {0}")]
    Volume(#[from] VolumeError),
    #[error("the CT grid {ct:?} is not the PET grid {pet:?}: resample it with ct_on_pet_grid")]
    CtNotOnPetGrid { pet: [usize; 3], ct: [usize; 3] },
    #[error("the mask shape {mask:?} is not the PET grid {pet:?}")]
    MaskShape { pet: [usize; 3], mask: [usize; 3] },
    #[error("the volume data shape {data:?} disagrees with its geometry {geometry:?}")]
    BadVolume {
        data: [usize; 3],
        geometry: [usize; 3],
    },
}

/// The model's image input and the grid it lives on.
#[derive(Debug, Clone)]
pub struct ModelInput {
    /// `[2, Z, Y, X]`: channel 0 PET, channel 1 CT, each axis padded to a multiple of 16.
    pub image: Array4<f32>,
    /// The unpadded model grid: index `[z, y, x]` of `image` maps to patient mm through it for
    /// `z < grid.dims[0]` etc.; use it with `resample::from_isotropic` to go back to the PET grid.
    pub grid: Geometry,
}

/// `n` rounded up to the next multiple of [`PAD_MULTIPLE`] (at least one multiple).
pub fn padded_len(n: usize) -> usize {
    n.max(1).div_ceil(PAD_MULTIPLE) * PAD_MULTIPLE
}

/// The padded `[Z, Y, X]` of a model grid.
pub fn padded_dims(grid: &Geometry) -> [usize; 3] {
    grid.dims.map(padded_len)
}

/// The 8 mm model grid of a PET grid.
pub fn model_grid(pet: &Geometry) -> Result<Geometry, PreprocessError> {
    Ok(isotropic_geometry(pet, MODEL_MM)?)
}

fn check_shape(v: &Volume) -> Result<(), PreprocessError> {
    let (z, y, x) = v.data.dim();
    if [z, y, x] != v.geometry.dims {
        return Err(PreprocessError::BadVolume {
            data: [z, y, x],
            geometry: v.geometry.dims,
        });
    }
    Ok(())
}

/// The model input for a PET SUV volume and, when present, the CT in HU on the same grid
/// (`resample::ct_on_pet_grid`). Without a CT the CT channel is what air gives (0), as for space
/// outside the CT field of view.
pub fn model_input(
    pet_suv: &Volume,
    ct_on_pet: Option<&Volume>,
) -> Result<ModelInput, PreprocessError> {
    check_shape(pet_suv)?;
    let grid = model_grid(&pet_suv.geometry)?;
    let [pz, py, px] = padded_dims(&grid);
    let mut image = Array4::<f32>::zeros((2, pz, py, px));
    // Outside the PET field is no activity; outside the CT field is air.
    let pet = resample(pet_suv, &grid, 0.0);
    head(image.index_axis_mut(Axis(0), 0), grid.dims).assign(&pet.data.mapv(pet_channel));
    if let Some(ct) = ct_on_pet {
        check_shape(ct)?;
        if ct.geometry.dims != pet_suv.geometry.dims {
            return Err(PreprocessError::CtNotOnPetGrid {
                pet: pet_suv.geometry.dims,
                ct: ct.geometry.dims,
            });
        }
        let ct = resample(ct, &grid, AIR_HU);
        head(image.index_axis_mut(Axis(0), 1), grid.dims).assign(&ct.data.mapv(ct_channel));
    }
    Ok(ModelInput { image, grid })
}

/// The leading `dims` corner of a padded array (what the unpadded grid covers).
pub fn head(a: ArrayViewMut3<'_, f32>, dims: [usize; 3]) -> ArrayViewMut3<'_, f32> {
    let mut a = a;
    a.slice_each_axis_inplace(|ax| Slice::from(0..dims[ax.axis.index()]));
    a
}

/// PET channel value of an SUV (NaN counts as no activity).
pub fn pet_channel(suv: f32) -> f32 {
    if suv.is_nan() {
        return 0.0;
    }
    suv.clamp(0.0, PET_SUV_CLIP) / PET_SUV_CLIP
}

/// CT channel value of a HU (NaN counts as air).
pub fn ct_channel(hu: f32) -> f32 {
    if hu.is_nan() {
        return 0.0;
    }
    (hu.clamp(CT_LOW, CT_HIGH) - CT_LOW) / (CT_HIGH - CT_LOW)
}

/// A mask on the PET grid as a training target on the padded model grid: the fraction of each
/// model voxel the mask covers (trilinear resampling of the 0/1 indicator), in [0, 1]; padding
/// is 0. Threshold it (e.g. at 0.5) for a hard label.
pub fn label_to_model_grid(
    mask: ArrayView3<bool>,
    pet: &Geometry,
) -> Result<Array3<f32>, PreprocessError> {
    let (z, y, x) = mask.dim();
    if [z, y, x] != pet.dims {
        return Err(PreprocessError::MaskShape {
            pet: pet.dims,
            mask: [z, y, x],
        });
    }
    let grid = model_grid(pet)?;
    let indicator = Volume {
        data: mask.mapv(|m| if m { 1.0 } else { 0.0 }),
        geometry: pet.clone(),
    };
    let on_grid = resample(&indicator, &grid, 0.0);
    let [pz, py, px] = padded_dims(&grid);
    let mut out = Array3::<f32>::zeros((pz, py, px));
    head(out.view_mut(), grid.dims).assign(&on_grid.data);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::volume::resample::from_isotropic;

    /// A PET-like grid: 4 mm in-plane, 16 mm slices, head-first (slice_dir −z) like the phantom.
    fn pet_grid() -> Geometry {
        Geometry {
            dims: [10, 20, 24],
            origin: [-46.0, -38.0, 100.0],
            spacing: [4.0, 4.0, 16.0],
            row_dir: [1.0, 0.0, 0.0],
            col_dir: [0.0, 1.0, 0.0],
            slice_dir: [0.0, 0.0, -1.0],
        }
    }

    fn volume(g: &Geometry, f: impl Fn([usize; 3]) -> f32) -> Volume {
        let [z, y, x] = g.dims;
        Volume {
            data: Array3::from_shape_fn((z, y, x), |(a, b, c)| f([a, b, c])),
            geometry: g.clone(),
        }
    }

    #[test]
    fn channel_scaling_follows_the_contract() {
        assert_eq!(pet_channel(-1.0), 0.0);
        assert_eq!(pet_channel(5.0), 0.5);
        assert_eq!(pet_channel(25.0), 1.0);
        assert_eq!(pet_channel(f32::NAN), 0.0);
        assert_eq!(ct_channel(-1000.0), 0.0);
        assert_eq!(ct_channel(-150.0), 0.0);
        assert_eq!(ct_channel(50.0), 0.5);
        assert_eq!(ct_channel(900.0), 1.0);
    }

    #[test]
    fn padding_rounds_up_to_sixteen() {
        assert_eq!(padded_len(1), 16);
        assert_eq!(padded_len(16), 16);
        assert_eq!(padded_len(17), 32);
        assert_eq!(padded_len(132), 144);
        assert_eq!(padded_len(0), 16);
    }

    #[test]
    fn model_grid_is_8mm_and_covers_the_pet_field() {
        let g = model_grid(&pet_grid()).expect("grid");
        // Field: x 24×4 = 96 mm → 12, y 20×4 = 80 mm → 10, z 10×16 = 160 mm → 20 voxels.
        assert_eq!(g.dims, [20, 10, 12]);
        assert_eq!(g.spacing, [8.0; 3]);
        assert_eq!(g.slice_dir, [0.0, 0.0, -1.0]);
    }

    #[test]
    fn uniform_volumes_give_constant_channels_and_zero_padding() {
        let pet = pet_grid();
        let suv = volume(&pet, |_| 4.0);
        let ct = volume(&pet, |_| 50.0);
        let input = model_input(&suv, Some(&ct)).expect("input");
        assert_eq!(input.image.dim(), (2, 32, 16, 16));
        assert_eq!(input.grid.dims, [20, 10, 12]);
        // Inside the grid: SUV 4 → 0.4, HU 50 → 0.5 (the grids share centre and extent).
        assert!((input.image[[0, 5, 5, 5]] - 0.4).abs() < 1e-6);
        assert!((input.image[[1, 18, 8, 10]] - 0.5).abs() < 1e-6);
        // The outermost model voxel centres lie half a PET voxel beyond the outermost PET
        // voxel centres: outside, so air there.
        assert_eq!(input.image[[1, 19, 9, 11]], 0.0);
        // Padding at the end of each axis is zero in both channels.
        assert_eq!(input.image[[0, 20, 0, 0]], 0.0);
        assert_eq!(input.image[[1, 0, 10, 0]], 0.0);
        assert_eq!(input.image[[0, 0, 0, 12]], 0.0);
    }

    #[test]
    fn without_ct_the_ct_channel_is_air() {
        let pet = pet_grid();
        let input = model_input(&volume(&pet, |_| 2.0), None).expect("input");
        assert!(
            input
                .image
                .index_axis(ndarray::Axis(0), 1)
                .iter()
                .all(|&v| v == 0.0)
        );
    }

    #[test]
    fn ct_on_another_grid_is_refused() {
        let pet = pet_grid();
        let mut other = pet.clone();
        other.dims = [10, 20, 23];
        let err = model_input(&volume(&pet, |_| 1.0), Some(&volume(&other, |_| 0.0)));
        assert!(matches!(err, Err(PreprocessError::CtNotOnPetGrid { .. })));
    }

    #[test]
    fn hot_spot_lands_where_its_patient_position_is() {
        let pet = pet_grid();
        let hot = [4usize, 10, 12];
        let suv = volume(&pet, |p| if p == hot { 9.0 } else { 1.0 });
        let input = model_input(&suv, None).expect("input");
        let at = input
            .grid
            .mm_to_index(pet.index_to_mm(hot.map(|v| v as f64)))
            .map(|v| v.round() as usize);
        let max = input
            .image
            .index_axis(ndarray::Axis(0), 0)
            .iter()
            .copied()
            .fold(0.0f32, f32::max);
        assert!(input.image[[0, at[0], at[1], at[2]]] >= max - 1e-6);
    }

    #[test]
    fn label_round_trips_through_the_model_grid() {
        let pet = pet_grid();
        // A 2×4×4-voxel block on the PET grid (32×16×16 mm).
        let mask = Array3::from_shape_fn((10, 20, 24), |(z, y, x)| {
            (4..6).contains(&z) && (8..12).contains(&y) && (10..14).contains(&x)
        });
        let label = label_to_model_grid(mask.view(), &pet).expect("label");
        assert_eq!(label.dim(), (32, 16, 16));
        assert!(label.iter().all(|&v| (0.0..=1.0).contains(&v)));
        let grid = model_grid(&pet).expect("grid");
        let mut label = label;
        let unpadded = head(label.view_mut(), grid.dims).to_owned();
        let back = from_isotropic(
            &Volume {
                data: unpadded,
                geometry: grid,
            },
            &pet,
            0.0,
        );
        let hard = back.data.mapv(|v| v >= 0.5);
        let both = ndarray::Zip::from(&hard)
            .and(&mask)
            .fold(0, |n, &a, &b| n + usize::from(a && b));
        let dice = 2.0 * both as f64 / (hard.iter().filter(|&&v| v).count() + 32) as f64;
        let volume_mm3 = f64::from(label.sum()) * 512.0;
        eprintln!("dice {dice}, volume {volume_mm3}");
        // 32 PET voxels of 256 mm³ = 8192 mm³ = 16 model voxels.
        assert!(
            (volume_mm3 - 8192.0).abs() < 0.25 * 8192.0,
            "volume {volume_mm3}"
        );
        assert!(dice > 0.8, "dice {dice}");
    }

    #[test]
    fn mask_on_another_grid_is_refused() {
        let mask = Array3::from_elem((3, 3, 3), false);
        assert!(matches!(
            label_to_model_grid(mask.view(), &pet_grid()),
            Err(PreprocessError::MaskShape { .. })
        ));
    }
}
