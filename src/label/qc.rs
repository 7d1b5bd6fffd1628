//! Quality control of a weak label (PAPER.md §3 step 5): the label's maximum must be within 0.2 of
//! the reported SUVmax, the reported slice must hold more than one label voxel, and a sentence that
//! names only one side must have its label on that side of the body midline. *Ours*: sides are
//! judged in patient coordinates (LPS: patient left is +x), with the midline at the centroid of the
//! body, not at the middle of the array.

use super::itm::ItmError;
use super::measure::MeasureError;
use crate::volume::Volume;

/// Why a label was dropped after matching.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum QcFailure {
    #[error(transparent)]
    Itm(#[from] ItmError),
    #[error(transparent)]
    Measure(#[from] MeasureError),
    #[error(
        "QC: label SUVmax {label_max:.2} differs from the reported {reported:.2} by more than {tolerance}"
    )]
    MaxMismatch {
        label_max: f64,
        reported: f64,
        tolerance: f64,
    },
    #[error("QC: the reported slice(s) {slices:?} hold {voxels} label voxel(s) (need more than 1)")]
    SeedSliceSparse { slices: Vec<usize>, voxels: usize },
    #[error(
        "QC: the sentence says {side} but the label centroid x = {centroid_x:.1} mm lies on the other side of the midline x = {midline_x:.1} mm (margin {margin_mm:.1} mm)"
    )]
    WrongSide {
        side: Side,
        centroid_x: f64,
        midline_x: f64,
        margin_mm: f64,
    },
    #[error(
        "QC: the sentence names a side but no body voxel is above {threshold} SUV to place the midline"
    )]
    NoBody { threshold: f64 },
}

/// A patient side named by a sentence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Left,
    Right,
}

impl std::fmt::Display for Side {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Side::Left => "left",
            Side::Right => "right",
        })
    }
}

/// The side a sentence names when it names exactly one of "left" / "right" (whole words, any
/// case; "bilateral" or both words give `None`).
pub fn sentence_side(sentence: &str) -> Option<Side> {
    let lower = sentence.to_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    let left = words.contains(&"left");
    let right = words.contains(&"right");
    if words.contains(&"bilateral") {
        return None;
    }
    match (left, right) {
        (true, false) => Some(Side::Left),
        (false, true) => Some(Side::Right),
        _ => None,
    }
}

/// Patient x (mm, LPS) of the body midline: the centroid of the voxels above `threshold` SUV.
/// `None` when no voxel is above it.
pub fn body_midline_x(volume: &Volume, threshold: f64) -> Option<f64> {
    // Integer index sums are exact; comparing in f32 avoids a conversion per voxel (a body
    // threshold needs no more precision than that).
    let t = threshold as f32;
    let (mut sz, mut sy, mut sx, mut n) = (0u64, 0u64, 0u64, 0u64);
    for (z, plane) in volume.data.outer_iter().enumerate() {
        for (y, row) in plane.outer_iter().enumerate() {
            let (mut row_n, mut row_x) = (0u64, 0u64);
            for (x, &v) in row.iter().enumerate() {
                if v > t {
                    row_n += 1;
                    row_x += x as u64;
                }
            }
            sz += z as u64 * row_n;
            sy += y as u64 * row_n;
            sx += row_x;
            n += row_n;
        }
    }
    if n == 0 {
        return None;
    }
    let n = n as f64;
    // The index → mm map is affine, so the centroid in mm is the map of the centroid index.
    Some(
        volume
            .geometry
            .index_to_mm([sz as f64 / n, sy as f64 / n, sx as f64 / n])[0],
    )
}

/// Laterality check: `Ok` unless the label centroid is beyond the margin on the wrong side.
pub fn check_side(
    side: Side,
    centroid_x: f64,
    midline_x: f64,
    margin_mm: f64,
) -> Result<(), QcFailure> {
    let wrong = match side {
        Side::Left => centroid_x < midline_x - margin_mm,
        Side::Right => centroid_x > midline_x + margin_mm,
    };
    if wrong {
        Err(QcFailure::WrongSide {
            side,
            centroid_x,
            midline_x,
            margin_mm,
        })
    } else {
        Ok(())
    }
}

/// Label-maximum check.
pub fn check_max(label_max: f64, reported: f64, tolerance: f64) -> Result<(), QcFailure> {
    if (label_max - reported).abs() > tolerance + super::SUV_EPS {
        Err(QcFailure::MaxMismatch {
            label_max,
            reported,
            tolerance,
        })
    } else {
        Ok(())
    }
}

/// Seed-slice check over the label voxels `[z, y, x]` and the reported slice window.
pub fn check_seed_slice(
    voxels: &[[usize; 3]],
    slices: &[usize],
    tol: usize,
) -> Result<(), QcFailure> {
    if slices.is_empty() {
        return Ok(()); // no image number: nothing to check against
    }
    let on = voxels
        .iter()
        .filter(|p| slices.iter().any(|&z| p[0].abs_diff(z) <= tol))
        .count();
    if on > 1 {
        Ok(())
    } else {
        Err(QcFailure::SeedSliceSparse {
            slices: slices.to_vec(),
            voxels: on,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sides_from_sentences() {
        assert_eq!(
            sentence_side("Left axillary node SUV 5.2"),
            Some(Side::Left)
        );
        assert_eq!(sentence_side("RIGHT hilar mass"), Some(Side::Right));
        assert_eq!(sentence_side("left and right iliac nodes"), None);
        assert_eq!(sentence_side("bilateral left-predominant"), None);
        assert_eq!(sentence_side("cleft palate uptake"), None);
        assert_eq!(sentence_side("midline mass"), None);
    }

    #[test]
    fn midline_is_the_body_centroid_in_patient_x() {
        use crate::volume::Geometry;
        // Body = x indices 2..=5 of 10 (centroid x index 3.5); x runs along −patient-x here.
        // (ndarray's `s!` expands to an `allow(unsafe_code)` the crate's `forbid` rejects.)
        let data =
            ndarray::Array3::from_shape_fn((2, 3, 10), |(_, _, x)| f32::from((2..6).contains(&x)));
        let geometry = Geometry {
            dims: [2, 3, 10],
            origin: [100.0, 0.0, 0.0],
            spacing: [2.0, 2.0, 3.0],
            row_dir: [-1.0, 0.0, 0.0],
            col_dir: [0.0, 1.0, 0.0],
            slice_dir: [0.0, 0.0, 1.0],
        };
        let v = Volume { data, geometry };
        assert_eq!(body_midline_x(&v, 0.5), Some(100.0 - 3.5 * 2.0));
        assert_eq!(body_midline_x(&v, 2.0), None);
    }

    #[test]
    fn side_margin() {
        assert!(check_side(Side::Left, 10.0, 0.0, 5.0).is_ok());
        assert!(check_side(Side::Left, -4.0, 0.0, 5.0).is_ok());
        assert!(check_side(Side::Left, -6.0, 0.0, 5.0).is_err());
        assert!(check_side(Side::Right, -60.0, 0.0, 5.0).is_ok());
        assert!(check_side(Side::Right, 6.0, 0.0, 5.0).is_err());
    }

    #[test]
    fn seed_slice_needs_two_voxels() {
        let v = [[3, 0, 0], [3, 0, 1], [4, 0, 0]];
        assert!(check_seed_slice(&v, &[3], 0).is_ok());
        assert!(check_seed_slice(&v, &[4], 0).is_err());
        assert!(check_seed_slice(&v, &[5], 1).is_err());
        assert!(check_seed_slice(&v, &[5], 2).is_ok());
    }
}
