//! Checking that the frames of a series form one regular grid and deriving its geometry:
//! one orientation, matrix and pixel spacing; positions on one line along the slice normal,
//! sorted, without duplicates or gaps.

use crate::volume::error::VolumeError;
use crate::volume::geometry::{Geometry, cross, dot};

use super::frames::{FrameHeader, name};

/// Directions may differ by this much (cosine components) and still be one series.
const ORIENTATION_TOL: f64 = 1e-3;
/// Relative tolerance on pixel spacing and on the slice step.
const SPACING_REL_TOL: f64 = 0.02;
/// Positions closer than this along the normal (mm) are duplicates.
const DUPLICATE_MM: f64 = 1e-3;
/// Sorts the frames along the slice normal and checks they form one regular grid.
pub(super) fn sort_and_check(frames: &mut [FrameHeader]) -> Result<Geometry, VolumeError> {
    let first = frames.first().ok_or(VolumeError::EmptySeries)?.clone();
    let o = first.orientation;
    let row_dir = unit([o[0], o[1], o[2]], "ImageOrientationPatient", &first)?;
    let col_dir = unit([o[3], o[4], o[5]], "ImageOrientationPatient", &first)?;
    if dot(row_dir, col_dir).abs() > ORIENTATION_TOL {
        return Err(VolumeError::invalid(
            "ImageOrientationPatient",
            &name(&first),
            format!("{o:?}"),
            "row and column directions are not orthogonal",
        ));
    }
    let normal = cross(row_dir, col_dir);
    for f in frames.iter() {
        check_frame(&first, f)?;
    }
    frames.sort_by(|a, b| dot(a.position, normal).total_cmp(&dot(b.position, normal)));
    let d: Vec<f64> = frames.iter().map(|f| dot(f.position, normal)).collect();
    for (i, w) in d.windows(2).enumerate() {
        if w[1] - w[0] < DUPLICATE_MM {
            return Err(VolumeError::DuplicatePosition {
                first: name(&frames[i]),
                other: name(&frames[i + 1]),
                position_mm: w[0],
            });
        }
    }
    let step = slice_step(frames, &d)?;
    check_in_plane(frames, row_dir, col_dir)?;
    let [dy, dx] = first.pixel_spacing;
    Ok(Geometry {
        dims: [frames.len(), first.rows, first.cols],
        origin: frames[0].position,
        spacing: [dx, dy, step],
        row_dir,
        col_dir,
        slice_dir: normal,
    })
}

fn unit(v: [f64; 3], attr: &'static str, f: &FrameHeader) -> Result<[f64; 3], VolumeError> {
    let n = dot(v, v).sqrt();
    if (n - 1.0).abs() > 0.01 {
        return Err(VolumeError::invalid(
            attr,
            &name(f),
            format!("{v:?}"),
            "not a unit vector",
        ));
    }
    Ok(v.map(|c| c / n))
}

/// Same orientation, matrix and pixel spacing as the first frame.
fn check_frame(first: &FrameHeader, f: &FrameHeader) -> Result<(), VolumeError> {
    let incons = |attr, a: String, b: String| VolumeError::Inconsistent {
        attr,
        first: name(first),
        other: name(f),
        first_value: a,
        other_value: b,
    };
    if (first.rows, first.cols) != (f.rows, f.cols) {
        let show = |x: &FrameHeader| format!("{}x{}", x.rows, x.cols);
        return Err(incons("Rows/Columns", show(first), show(f)));
    }
    if first
        .orientation
        .iter()
        .zip(&f.orientation)
        .any(|(a, b)| (a - b).abs() > ORIENTATION_TOL)
    {
        return Err(incons(
            "ImageOrientationPatient",
            format!("{:?}", first.orientation),
            format!("{:?}", f.orientation),
        ));
    }
    let close = |a: f64, b: f64| (a - b).abs() <= SPACING_REL_TOL * a.abs().max(b.abs());
    if !(close(first.pixel_spacing[0], f.pixel_spacing[0])
        && close(first.pixel_spacing[1], f.pixel_spacing[1]))
    {
        return Err(incons(
            "PixelSpacing",
            format!("{:?}", first.pixel_spacing),
            format!("{:?}", f.pixel_spacing),
        ));
    }
    if !(first.pixel_spacing[0] > 0.0 && first.pixel_spacing[1] > 0.0) {
        return Err(VolumeError::invalid(
            "PixelSpacing",
            &name(first),
            format!("{:?}", first.pixel_spacing),
            "must be positive",
        ));
    }
    Ok(())
}

/// The common slice step: the median gap, every gap within tolerance of it. A single frame has
/// no gap: its SpacingBetweenSlices or SliceThickness stands in (1 mm when it has neither).
fn slice_step(frames: &[FrameHeader], d: &[f64]) -> Result<f64, VolumeError> {
    if d.len() < 2 {
        return Ok(frames.first().and_then(|f| f.thickness).unwrap_or(1.0));
    }
    let mut gaps: Vec<f64> = d.windows(2).map(|w| w[1] - w[0]).collect();
    let mut sorted = gaps.clone();
    sorted.sort_by(f64::total_cmp);
    let median = sorted[sorted.len() / 2];
    for (i, g) in gaps.iter_mut().enumerate() {
        if (*g - median).abs() > SPACING_REL_TOL * median {
            return Err(VolumeError::Gap {
                before: name(&frames[i]),
                after: name(&frames[i + 1]),
                expected_mm: median,
                found_mm: *g,
            });
        }
    }
    Ok((d[d.len() - 1] - d[0]) / (d.len() - 1) as f64)
}

/// Every frame's first voxel must lie on the line through the first frame along the normal:
/// a shifted frame (in-plane offset) would silently misregister the volume.
fn check_in_plane(
    frames: &[FrameHeader],
    row_dir: [f64; 3],
    col_dir: [f64; 3],
) -> Result<(), VolumeError> {
    let p0 = frames[0].position;
    let tol = 0.05 * frames[0].pixel_spacing[0].min(frames[0].pixel_spacing[1]);
    for f in &frames[1..] {
        let diff = std::array::from_fn::<f64, 3, _>(|i| f.position[i] - p0[i]);
        if dot(diff, row_dir).abs() > tol || dot(diff, col_dir).abs() > tol {
            return Err(VolumeError::Inconsistent {
                attr: "ImagePositionPatient (in-plane offset)",
                first: name(&frames[0]),
                other: name(f),
                first_value: format!("{p0:?}"),
                other_value: format!("{:?}", f.position),
            });
        }
    }
    Ok(())
}
