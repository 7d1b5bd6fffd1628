//! Golden values (from the numpy reference in `tests/sr_check.py`) and property tests of the
//! measurements.

use super::*;
use crate::volume::Geometry;
use proptest::prelude::*;

fn geometry(dims: [usize; 3], spacing: [f64; 3]) -> Geometry {
    Geometry {
        dims,
        origin: [-10.0, 20.0, -300.0],
        spacing,
        row_dir: [1.0, 0.0, 0.0],
        col_dir: [0.0, 1.0, 0.0],
        slice_dir: [0.0, 0.0, 1.0],
    }
}

/// The golden volume: 6 × 9 × 11 voxels of 4 × 3 × 2.5 mm, quarter-step values (exact in f32)
/// with a hot bump at [3, 4, 5]. `python3 tests/sr_check.py --golden` builds the same volume.
fn golden() -> (Volume, Vec<[usize; 3]>) {
    let dims = [6, 9, 11];
    let data = ndarray::Array3::from_shape_fn((6, 9, 11), |(z, y, x)| {
        let d2 = (z as i64 - 3).pow(2) + (y as i64 - 4).pow(2) + (x as i64 - 5).pow(2);
        let bump = match d2 {
            0..=2 => 8.0,
            3..=5 => 4.0,
            _ => 0.0,
        };
        1.0 + ((3 * z + 5 * y + 7 * x) % 11) as f32 * 0.25 + bump
    });
    let vol = Volume {
        data,
        geometry: geometry(dims, [4.0, 3.0, 2.5]),
    };
    let mask = vol
        .data
        .indexed_iter()
        .filter(|((z, y, x), v)| {
            (1..5).contains(z) && (2..7).contains(y) && (2..9).contains(x) && **v > 3.0
        })
        .map(|((z, y, x), _)| [z, y, x])
        .collect();
    (vol, mask)
}

#[test]
fn golden_measurements_match_the_numpy_reference() {
    // Expected values: `.venv/bin/python tests/sr_check.py --golden` (numpy; sphere sums by
    // shifting the whole padded volume, diameters by brute force over every pixel corner).
    let (vol, mask) = golden();
    let m = measure(&vol, &mask).expect("measurable");
    let close = |a: f64, b: f64| (a - b).abs() < 1e-9;
    assert_eq!(m.voxels, 68, "{m:?}");
    assert!(close(m.suv_max, 11.5), "{m:?}");
    assert!(close(m.suv_mean, 6.698529411764706), "{m:?}");
    assert!(close(m.mtv_ml, 2.04), "{m:?}");
    assert!(close(m.tlg, 13.665), "{m:?}");
    assert!(close(m.suv_peak, 8.557142857142857), "{m:?}");
    assert_eq!(m.peak_voxel, [3, 4, 5]);
    assert_eq!(m.peak_sphere_voxels, 35);
    assert!(
        close(m.largest_axial_diameter_mm, 31.76476034853718),
        "{m:?}"
    );
}

#[test]
fn sphere_of_one_millilitre() {
    // 2 mm isotropic: 1 mL / 8 µL = 125 voxels; the discretised sphere holds 123. 4 × 4 × 2 mm
    // (a common PET grid): 39 voxels, 1.25 mL. Both counted by the numpy reference as well
    // (`tests/sr_check.py --golden`).
    assert_eq!(sphere_offsets([2.0, 2.0, 2.0]).len(), 123);
    assert_eq!(sphere_offsets([4.0, 4.0, 2.0]).len(), 39);
    // Coarser than the radius: only the centre.
    assert_eq!(sphere_offsets([7.0, 7.0, 7.0]), vec![[0, 0, 0]]);
}

#[test]
fn bad_inputs_are_errors() {
    let (vol, mask) = golden();
    assert_eq!(measure(&vol, &[]), Err(MeasureError::EmptyLabel));
    assert!(matches!(
        measure(&vol, &[[6, 0, 0]]),
        Err(MeasureError::OutOfBounds { .. })
    ));
    let mut flat = vol.clone();
    flat.geometry.spacing[2] = 0.0;
    assert!(matches!(
        measure(&flat, &mask),
        Err(MeasureError::Spacing { .. })
    ));
    let wrong = ndarray::Array3::from_elem((2, 2, 2), true);
    assert!(matches!(
        measure_mask(&vol, &wrong),
        Err(MeasureError::MaskShape { .. })
    ));
    let mut dense = ndarray::Array3::from_elem((6, 9, 11), false);
    for &p in &mask {
        dense[p] = true;
    }
    assert_eq!(measure_mask(&vol, &dense), measure(&vol, &mask));
}

/// A random small volume, its spacing and a non-empty random label.
fn volume_and_label() -> impl Strategy<Value = (Volume, Vec<[usize; 3]>)> {
    (2usize..7, 2usize..7, 2usize..7)
        .prop_flat_map(|(nz, ny, nx)| {
            let n = nz * ny * nx;
            (
                Just([nz, ny, nx]),
                prop::array::uniform3(1.0f64..7.0),
                prop::collection::vec(0.0f32..20.0, n),
                prop::collection::vec(any::<bool>(), n),
                0..n,
            )
        })
        .prop_map(|(dims, spacing, values, on, forced)| {
            let data = ndarray::Array3::from_shape_vec((dims[0], dims[1], dims[2]), values)
                .expect("n values");
            let mut label = Vec::new();
            for (i, ((z, y, x), _)) in data.indexed_iter().enumerate() {
                if on[i] || i == forced {
                    label.push([z, y, x]);
                }
            }
            let vol = Volume {
                data,
                geometry: geometry(dims, spacing),
            };
            (vol, label)
        })
}

/// The sphere around `c` by patient coordinates (mm), not by index offsets.
fn sphere_mean_by_mm(vol: &Volume, c: [usize; 3]) -> f64 {
    let g = &vol.geometry;
    let at = |p: [usize; 3]| g.index_to_mm(p.map(|i| i as f64));
    let centre = at(c);
    let (mut sum, mut n) = (0.0, 0usize);
    for ((z, y, x), &v) in vol.data.indexed_iter() {
        let p = at([z, y, x]);
        let d2: f64 = (0..3).map(|a| (p[a] - centre[a]).powi(2)).sum();
        if d2 <= PEAK_RADIUS_MM * PEAK_RADIUS_MM * (1.0 + 1e-12) {
            sum += f64::from(v);
            n += 1;
        }
    }
    sum / n as f64
}

proptest! {
    #[test]
    fn peak_is_the_hottest_sphere_of_the_lesion((vol, label) in volume_and_label()) {
        let peak = suv_peak(&vol, &label).expect("non-empty label");
        let offsets = sphere_offsets(vol.geometry.spacing).len();
        prop_assert!(peak.voxels >= 1 && peak.voxels <= offsets);
        prop_assert!(label.contains(&peak.centre));
        let at_centre = sphere_mean(&vol, peak.centre).expect("in bounds");
        prop_assert!((peak.mean - at_centre).abs() < 1e-9);
        // ≥ the mean of every 1 mL sphere the search could place in the lesion ...
        for &c in &label {
            let m = sphere_mean(&vol, c).expect("in bounds");
            prop_assert!(peak.mean >= m - 1e-9, "sphere at {:?}: {} > peak {}", c, m, peak.mean);
            // ... with spheres taken by distance in millimetres, the same set.
            prop_assert!((m - sphere_mean_by_mm(&vol, c)).abs() < 1e-6);
        }
        // ≤ the hottest voxel any of those spheres can reach.
        let global = vol.data.iter().copied().fold(f32::MIN, f32::max);
        prop_assert!(peak.mean <= f64::from(global) + 1e-6);
    }

    #[test]
    fn peak_never_exceeds_suvmax_of_a_hot_lesion((mut vol, label) in volume_and_label()) {
        // Make the lesion the hot part of the volume (as thresholding does): every voxel outside
        // it at most the lesion's coldest voxel. Then no sphere can beat SUVmax.
        let min_in = label.iter().map(|&p| vol.data[p]).fold(f32::MAX, f32::min);
        let inside: std::collections::HashSet<[usize; 3]> = label.iter().copied().collect();
        for ((z, y, x), v) in vol.data.indexed_iter_mut() {
            if !inside.contains(&[z, y, x]) {
                *v = v.min(min_in);
            }
        }
        let m = measure(&vol, &label).expect("measurable");
        prop_assert!(m.suv_peak <= m.suv_max + 1e-9, "peak {} > max {}", m.suv_peak, m.suv_max);
        prop_assert!((m.tlg - m.suv_mean * m.mtv_ml).abs() < 1e-9);
        prop_assert!(m.largest_axial_diameter_mm >= vol.geometry.spacing[0].max(vol.geometry.spacing[1]) - 1e-9);
    }
}
