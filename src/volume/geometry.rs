//! Voxel ↔ patient geometry: where each array index lies in patient LPS millimetres.
//! Owns the one volume type of the project (`Volume`: `Array3<f32>` indexed `[z, y, x]` with its
//! `Geometry`) and the per-slice provenance (`SliceRef`). Assembly from DICOM, SUV and resampling
//! live in sibling modules; everything downstream (labels, model, SEG) takes these types.

use ndarray::Array3;

/// Geometry of a regular 3D grid in DICOM patient coordinates (LPS, millimetres).
///
/// Index convention: arrays are `[z, y, x]`; `x` runs along a row (the first direction cosine of
/// ImageOrientationPatient), `y` down the columns (the second), `z` from slice to slice.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Geometry {
    /// Grid size as `[nz, ny, nx]`.
    pub dims: [usize; 3],
    /// Patient position (mm) of the centre of voxel `[0, 0, 0]`.
    pub origin: [f64; 3],
    /// Voxel size in mm along `[x, y, z]` (column step, row step, slice step); all positive.
    pub spacing: [f64; 3],
    /// Unit vector of increasing `x` (ImageOrientationPatient[0..3]).
    pub row_dir: [f64; 3],
    /// Unit vector of increasing `y` (ImageOrientationPatient[3..6]).
    pub col_dir: [f64; 3],
    /// Unit vector of increasing `z`; for axial head-first PET usually `[0, 0, ±1]`.
    pub slice_dir: [f64; 3],
}

impl Geometry {
    /// Patient position (mm) of the continuous index `[z, y, x]`.
    pub fn index_to_mm(&self, idx: [f64; 3]) -> [f64; 3] {
        let [z, y, x] = idx;
        let [sx, sy, sz] = self.spacing;
        std::array::from_fn(|i| {
            self.origin[i]
                + self.row_dir[i] * x * sx
                + self.col_dir[i] * y * sy
                + self.slice_dir[i] * z * sz
        })
    }

    /// Continuous index `[z, y, x]` of a patient position (mm). Exact inverse of
    /// [`Geometry::index_to_mm`] when the three directions are orthonormal.
    pub fn mm_to_index(&self, p: [f64; 3]) -> [f64; 3] {
        let d = [
            p[0] - self.origin[0],
            p[1] - self.origin[1],
            p[2] - self.origin[2],
        ];
        let [sx, sy, sz] = self.spacing;
        [
            dot(d, self.slice_dir) / sz,
            dot(d, self.col_dir) / sy,
            dot(d, self.row_dir) / sx,
        ]
    }

    /// Patient position of the centre of the first voxel of slice `z` (ImagePositionPatient).
    pub fn slice_position(&self, z: usize) -> [f64; 3] {
        self.index_to_mm([z as f64, 0.0, 0.0])
    }

    /// Volume of one voxel in millilitres (mm³ / 1000).
    pub fn voxel_ml(&self) -> f64 {
        self.spacing.iter().product::<f64>() / 1000.0
    }

    /// ImageOrientationPatient as DICOM writes it: row direction then column direction.
    pub fn image_orientation(&self) -> [f64; 6] {
        let [a, b, c] = self.row_dir;
        let [d, e, f] = self.col_dir;
        [a, b, c, d, e, f]
    }
}

/// A scalar volume with its geometry. PET volumes hold SUV (or Bq/mL before conversion),
/// CT volumes hold HU.
#[derive(Debug, Clone)]
pub struct Volume {
    pub data: Array3<f32>,
    pub geometry: Geometry,
}

/// Where one z-slice of an assembled series came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SliceRef {
    pub sop_class_uid: String,
    pub sop_instance_uid: String,
    /// InstanceNumber (0020,0013) as the viewer shows it, when the instance carries one.
    pub instance_number: Option<i32>,
    /// Frame number within a multi-frame instance (1-based), `None` for single-frame instances.
    pub frame: Option<u32>,
}

/// The 3D cross product, used to derive the slice normal from ImageOrientationPatient.
pub fn cross(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

pub fn dot(a: [f64; 3], b: [f64; 3]) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn oblique() -> Geometry {
        // 30° rotation about the patient z axis, feet-first slice order.
        let (s, c) = (0.5f64, 3f64.sqrt() / 2.0);
        Geometry {
            dims: [10, 20, 30],
            origin: [-300.0, -250.0, 100.0],
            spacing: [4.0, 4.5, 3.27],
            row_dir: [c, s, 0.0],
            col_dir: [-s, c, 0.0],
            slice_dir: [0.0, 0.0, -1.0],
        }
    }

    #[test]
    fn slice_position_steps_along_normal() {
        let g = oblique();
        let p0 = g.slice_position(0);
        let p2 = g.slice_position(2);
        assert!((p2[2] - (p0[2] - 2.0 * 3.27)).abs() < 1e-9);
        assert!((g.voxel_ml() - 4.0 * 4.5 * 3.27 / 1000.0).abs() < 1e-12);
    }

    proptest! {
        #[test]
        fn index_mm_round_trip(z in -5.0f64..50.0, y in -5.0f64..50.0, x in -5.0f64..50.0) {
            let g = oblique();
            let back = g.mm_to_index(g.index_to_mm([z, y, x]));
            prop_assert!((back[0] - z).abs() < 1e-9);
            prop_assert!((back[1] - y).abs() < 1e-9);
            prop_assert!((back[2] - x).abs() < 1e-9);
        }
    }
}
