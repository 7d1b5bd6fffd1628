//! Resampling: CT onto the PET grid from synthetic files (values, air outside, pairing errors)
//! and the property that native → isotropic → native keeps a sphere.

use ndarray::Array3;
use petground::volume::geometry::{Geometry, Volume};
use petground::volume::resample::{AIR_HU, ct_on_pet_grid, from_isotropic, to_isotropic};
use petground::volume::{AssembledSeries, assemble_files};
use petground_phantom::fixtures::series::{SeriesIds, regular_slices, write_slice};
use proptest::prelude::*;

fn ids(modality: &str, series: &str, frame_of_reference: &str) -> SeriesIds {
    SeriesIds {
        study: "1.2.826.0.1.3680043.8.498.10".into(),
        series: series.into(),
        frame_of_reference: frame_of_reference.into(),
        modality: modality.into(),
    }
}

fn grid(dims: [usize; 3], origin: [f64; 3], spacing: [f64; 3]) -> Geometry {
    Geometry {
        dims,
        origin,
        spacing,
        row_dir: [1.0, 0.0, 0.0],
        col_dir: [0.0, 1.0, 0.0],
        slice_dir: [0.0, 0.0, 1.0],
    }
}

fn write_series(
    dir: &std::path::Path,
    ids: &SeriesIds,
    g: &Geometry,
    f: impl Fn([f64; 3]) -> f64,
    intercept: f64,
) -> AssembledSeries {
    let slices = regular_slices(g, &ids.series, f, |_| (1.0, intercept));
    let paths: Vec<_> = slices
        .iter()
        .map(|s| {
            let p = dir.join(format!("{}.dcm", s.sop_instance_uid));
            write_slice(&p, ids, s).expect("write");
            p
        })
        .collect();
    assemble_files(&paths).expect("assemble")
}

/// HU field linear in position: trilinear resampling must reproduce it exactly.
fn hu(p: [f64; 3]) -> f64 {
    -200.0 + 2.0 * p[0] + p[1] - 3.0 * p[2]
}

#[test]
fn ct_lands_on_pet_grid_with_air_outside() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ct = write_series(
        dir.path(),
        &ids("CT", "1.2.3.20", "1.2.3.9"),
        &grid([12, 40, 40], [-39.0, -39.0, 0.0], [2.0, 2.0, 2.5]),
        hu,
        -1024.0,
    );
    // PET grid sticks out of the CT field on +x: those voxels must be air.
    let pet_g = grid([5, 10, 12], [-20.0, -30.0, 3.0], [6.0, 6.0, 5.0]);
    let pet = write_series(
        dir.path(),
        &ids("PT", "1.2.3.21", "1.2.3.9"),
        &pet_g,
        |_| 100.0,
        0.0,
    );
    let on_pet = ct_on_pet_grid(&ct, &pet).expect("paired");
    assert_eq!(on_pet.geometry, pet.volume.geometry);
    let (mut inside, mut outside) = (0, 0);
    for ((z, y, x), v) in on_pet.data.indexed_iter() {
        let p = pet_g.index_to_mm([z as f64, y as f64, x as f64]);
        if p[0] <= 39.0 && p[2] <= 27.5 {
            assert!(
                (f64::from(*v) - hu(p)).abs() < 0.51,
                "{v} vs {} at {p:?}",
                hu(p)
            );
            inside += 1;
        } else {
            assert_eq!(*v, AIR_HU, "outside CT at {p:?}");
            outside += 1;
        }
    }
    assert!(inside > 0 && outside > 0);
}

#[test]
fn pairing_requires_study_and_frame_of_reference() {
    let dir = tempfile::tempdir().expect("tempdir");
    let g = grid([2, 4, 4], [0.0; 3], [2.0, 2.0, 2.0]);
    let ct = write_series(
        dir.path(),
        &ids("CT", "1.2.3.30", "1.2.3.7"),
        &g,
        |_| 0.0,
        -1024.0,
    );
    let pet = write_series(
        dir.path(),
        &ids("PT", "1.2.3.31", "1.2.3.8"),
        &g,
        |_| 1.0,
        0.0,
    );
    let err = ct_on_pet_grid(&ct, &pet)
        .expect_err("different FoR")
        .to_string();
    assert!(
        err.contains("FrameOfReferenceUID") && err.contains("1.2.3.7") && err.contains("1.2.3.8"),
        "{err}"
    );
    let mut other_study = pet.clone();
    other_study.identity.frame_of_reference_uid = "1.2.3.7".into();
    other_study.identity.study_instance_uid = "1.2.3.99".into();
    assert!(
        ct_on_pet_grid(&ct, &other_study)
            .expect_err("study")
            .to_string()
            .contains("StudyInstanceUID")
    );
    assert!(
        ct_on_pet_grid(&pet, &ct)
            .expect_err("swapped")
            .to_string()
            .contains("Modality")
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    /// A sphere on a PET-like anisotropic grid survives native → 3 mm isotropic → native:
    /// voxels 1.5 native voxels inside (outside) the surface stay above (below) 0.5, and the
    /// volume changes by less than 10%.
    #[test]
    fn isotropic_round_trip_keeps_a_sphere(
        r in 10.0f64..25.0,
        cx in -8.0f64..8.0, cy in -8.0f64..8.0, cz in -8.0f64..8.0,
        iso in 2.0f64..4.0,
    ) {
        let g = grid([30, 36, 36], [-70.0, -70.0, -47.0], [4.0, 4.0, 3.27]);
        let dist = |p: [f64; 3]| ((p[0] - cx).powi(2) + (p[1] - cy).powi(2) + (p[2] - cz).powi(2)).sqrt();
        let data = Array3::from_shape_fn((30, 36, 36), |(z, y, x)| {
            f32::from(u8::from(dist(g.index_to_mm([z as f64, y as f64, x as f64])) <= r))
        });
        let native = Volume { data, geometry: g.clone() };
        let there = to_isotropic(&native, iso, 0.0).expect("positive size");
        prop_assert!(there.geometry.spacing.iter().all(|s| *s == iso));
        let back = from_isotropic(&there, &g, 0.0);
        prop_assert_eq!(back.geometry.dims, g.dims);
        let margin = 1.5 * 4.0;
        for ((z, y, x), v) in back.data.indexed_iter() {
            let d = dist(g.index_to_mm([z as f64, y as f64, x as f64]));
            if d < r - margin { prop_assert!(*v > 0.5, "inside {d} {v}"); }
            if d > r + margin { prop_assert!(*v < 0.5, "outside {d} {v}"); }
        }
        let count = |a: &Array3<f32>| a.iter().filter(|v| **v > 0.5).count() as f64;
        let ratio = count(&back.data) / count(&native.data);
        prop_assert!((ratio - 1.0).abs() < 0.1, "volume ratio {}", ratio);
    }
}
