//! Resampling between grids in patient space: CT onto the PET grid (trilinear, air outside),
//! the PET/CT pairing check that must pass first, and the isotropic grid the model runs on with
//! its inverse. Grids are related through patient millimetres only, so oblique or flipped
//! grids need no special case. Assembly and SUV live in sibling modules.

use ndarray::Array3;

use super::assemble::{AssembledSeries, SeriesIdentity};
use super::error::VolumeError;
use super::geometry::{Geometry, Volume};

/// CT value for space outside the CT field of view.
pub const AIR_HU: f32 = -1000.0;
/// A sample this close (in voxels) beyond the outermost voxel centre still counts as inside.
const EDGE_TOL: f64 = 1e-3;

/// Resamples `src` onto `target` by trilinear interpolation; points outside the convex hull of
/// `src`'s voxel centres get `outside`.
pub fn resample(src: &Volume, target: &Geometry, outside: f32) -> Volume {
    let data = src.data.as_standard_layout();
    let values = data.as_slice().expect("standard layout is contiguous");
    let g = &src.geometry;
    // target index -> source index is affine: c + z*mz + y*my + x*mx.
    let to_src = |i: [f64; 3]| g.mm_to_index(target.index_to_mm(i));
    let c = to_src([0.0; 3]);
    let step = |i: [f64; 3]| {
        let p = to_src(i);
        [p[0] - c[0], p[1] - c[1], p[2] - c[2]]
    };
    let (mz, my, mx) = (
        step([1.0, 0.0, 0.0]),
        step([0.0, 1.0, 0.0]),
        step([0.0, 0.0, 1.0]),
    );
    let [nz, ny, nx] = target.dims;
    let mut out = Array3::<f32>::from_elem((nz, ny, nx), outside);
    let dims = g.dims;
    if dims.contains(&0) || values.len() != dims.iter().product::<usize>() {
        // An empty (or inconsistent) source covers nothing.
        return Volume {
            data: out,
            geometry: target.clone(),
        };
    }
    // Walk each output row by adding the x step: no per-voxel index arithmetic.
    for (zy, row) in out.rows_mut().into_iter().enumerate() {
        let (z, y) = ((zy / ny) as f64, (zy % ny) as f64);
        let mut p: [f64; 3] = std::array::from_fn(|k| c[k] + z * mz[k] + y * my[k]);
        for v in row {
            if let Some(s) = trilinear(values, dims, p) {
                *v = s;
            }
            p = [p[0] + mx[0], p[1] + mx[1], p[2] + mx[2]];
        }
    }
    Volume {
        data: out,
        geometry: target.clone(),
    }
}

/// Base index and weight along one axis, `None` outside `[0, n-1]`.
fn axis(f: f64, n: usize) -> Option<(usize, f64)> {
    let last = (n - 1) as f64;
    if !(-EDGE_TOL..=last + EDGE_TOL).contains(&f) {
        return None;
    }
    let f = f.clamp(0.0, last);
    let i = (f.floor() as usize).min(n.saturating_sub(2));
    Some((i, f - i as f64))
}

fn trilinear(values: &[f32], dims: [usize; 3], p: [f64; 3]) -> Option<f32> {
    let [nz, ny, nx] = dims;
    let (z0, tz) = axis(p[0], nz)?;
    let (y0, ty) = axis(p[1], ny)?;
    let (x0, tx) = axis(p[2], nx)?;
    let (z1, y1, x1) = (
        (z0 + 1).min(nz - 1),
        (y0 + 1).min(ny - 1),
        (x0 + 1).min(nx - 1),
    );
    let at = |z: usize, y: usize, x: usize| f64::from(values[(z * ny + y) * nx + x]);
    let lerp = |a: f64, b: f64, t: f64| a + (b - a) * t;
    let row = |z, y| lerp(at(z, y, x0), at(z, y, x1), tx);
    let plane = |z| lerp(row(z, y0), row(z, y1), ty);
    Some(lerp(plane(z0), plane(z1), tz) as f32)
}

/// PET and CT belong together only within one study and one frame of reference (same
/// patient coordinate system); anything else would silently misregister.
pub fn check_pairing(pet: &SeriesIdentity, ct: &SeriesIdentity) -> Result<(), VolumeError> {
    let checks = [
        ("Modality (PET must be PT)", "PT", pet.modality.as_str()),
        ("Modality (CT must be CT)", "CT", ct.modality.as_str()),
    ];
    for (attr, want, got) in checks {
        if want != got {
            return Err(VolumeError::Pairing {
                attr,
                pet: pet.modality.clone(),
                ct: ct.modality.clone(),
            });
        }
    }
    let uids = [
        (
            "StudyInstanceUID",
            &pet.study_instance_uid,
            &ct.study_instance_uid,
        ),
        (
            "FrameOfReferenceUID",
            &pet.frame_of_reference_uid,
            &ct.frame_of_reference_uid,
        ),
    ];
    for (attr, p, c) in uids {
        if p != c {
            return Err(VolumeError::Pairing {
                attr,
                pet: p.clone(),
                ct: c.clone(),
            });
        }
    }
    Ok(())
}

/// The CT in HU on the PET grid, after the pairing check; air outside the CT field of view.
pub fn ct_on_pet_grid(ct: &AssembledSeries, pet: &AssembledSeries) -> Result<Volume, VolumeError> {
    check_pairing(&pet.identity, &ct.identity)?;
    Ok(resample(&ct.volume, &pet.volume.geometry, AIR_HU))
}

/// An isotropic grid with the directions of `g` covering the same field (voxel edges to voxel
/// edges, to the nearest whole voxel of `mm`), centred on the same field.
pub fn isotropic_geometry(g: &Geometry, mm: f64) -> Result<Geometry, VolumeError> {
    if !(mm.is_finite() && mm > 0.0) {
        return Err(VolumeError::Resample(format!(
            "isotropic voxel size {mm} mm"
        )));
    }
    // Axis order: spacing is [x, y, z], dims [z, y, x].
    let extent = [
        g.dims[2] as f64 * g.spacing[0],
        g.dims[1] as f64 * g.spacing[1],
        g.dims[0] as f64 * g.spacing[2],
    ];
    let n = extent.map(|e| ((e / mm).round() as usize).max(1));
    let dirs = [g.row_dir, g.col_dir, g.slice_dir];
    // Keep the field centre: old centre minus half the new span along each direction.
    let origin = std::array::from_fn(|i| {
        let mut p = g.origin[i];
        for a in 0..3 {
            let old_half = 0.5 * (extent[a] - g.spacing[a]);
            let new_half = 0.5 * (n[a] as f64 - 1.0) * mm;
            p += dirs[a][i] * (old_half - new_half);
        }
        p
    });
    Ok(Geometry {
        dims: [n[2], n[1], n[0]],
        origin,
        spacing: [mm; 3],
        row_dir: g.row_dir,
        col_dir: g.col_dir,
        slice_dir: g.slice_dir,
    })
}

/// `v` on an isotropic `mm` grid (for the model).
pub fn to_isotropic(v: &Volume, mm: f64, outside: f32) -> Result<Volume, VolumeError> {
    Ok(resample(v, &isotropic_geometry(&v.geometry, mm)?, outside))
}

/// The inverse of [`to_isotropic`]: an isotropic map (e.g. the model's probabilities) back on
/// the native grid.
pub fn from_isotropic(iso: &Volume, native: &Geometry, outside: f32) -> Volume {
    resample(iso, native, outside)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid(dims: [usize; 3], spacing: [f64; 3]) -> Geometry {
        Geometry {
            dims,
            origin: [10.0, -20.0, 30.0],
            spacing,
            row_dir: [1.0, 0.0, 0.0],
            col_dir: [0.0, 1.0, 0.0],
            slice_dir: [0.0, 0.0, 1.0],
        }
    }

    #[test]
    fn linear_field_is_reproduced_exactly_and_air_outside() {
        // Trilinear interpolation is exact for a linear function of position.
        let g = grid([6, 7, 8], [2.0, 3.0, 4.0]);
        let f = |p: [f64; 3]| (p[0] - 2.0 * p[1] + 0.5 * p[2]) as f32;
        let data = Array3::from_shape_fn((6, 7, 8), |(z, y, x)| {
            f(g.index_to_mm([z as f64, y as f64, x as f64]))
        });
        let src = Volume {
            data,
            geometry: g.clone(),
        };
        let mut t = grid([5, 5, 5], [1.3, 1.7, 2.1]);
        t.origin = [11.0, -18.5, 31.0];
        let out = resample(&src, &t, AIR_HU);
        for ((z, y, x), v) in out.data.indexed_iter() {
            let want = f(t.index_to_mm([z as f64, y as f64, x as f64]));
            assert!((v - want).abs() < 1e-3, "{v} vs {want}");
        }
        t.origin = [1000.0, 0.0, 0.0];
        assert!(resample(&src, &t, AIR_HU).data.iter().all(|v| *v == AIR_HU));
    }

    #[test]
    fn isotropic_grid_keeps_field_centre() {
        let g = grid([30, 40, 50], [4.0, 4.0, 3.27]);
        let iso = isotropic_geometry(&g, 3.0).expect("positive size");
        assert_eq!(iso.dims, [33, 53, 67]);
        let centre = |g: &Geometry| g.index_to_mm(g.dims.map(|n| (n as f64 - 1.0) / 2.0));
        let (a, b) = (centre(&g), centre(&iso));
        for i in 0..3 {
            assert!((a[i] - b[i]).abs() < 1e-9);
        }
        assert!(isotropic_geometry(&g, 0.0).is_err());
    }
}
