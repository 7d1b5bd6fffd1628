//! Assembly of one DICOM series into a geometry-true [`Volume`]: reads the plane geometry of
//! every frame (classic single-frame instances or Enhanced multi-frame per-frame functional
//! groups), sorts frames along the slice normal by ImagePositionPatient (never by
//! InstanceNumber), checks that they form one regular grid, and decodes each frame straight into
//! its z-plane with that frame's RescaleSlope/Intercept. SUV and resampling live elsewhere.
//!
//! z order: index 0 is the frame with the smallest projection of its position on
//! `row × col` (for axial head-first images, the most inferior slice).

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use dicom_dictionary_std::tags;
use dicom_object::{DefaultDicomObject, InMemDicomObject, OpenFileOptions};
use dicom_pixeldata::{ConvertOptions, ModalityLutOption, PixelDecoder, Rescale};
use ndarray::Array3;

use super::attrs::{fixed_req, items, number, text};
use super::error::VolumeError;
use super::geometry::{Geometry, SliceRef, Volume, cross, dot};

/// Directions may differ by this much (cosine components) and still be one series.
const ORIENTATION_TOL: f64 = 1e-3;
/// Relative tolerance on pixel spacing and on the slice step.
const SPACING_REL_TOL: f64 = 0.02;
/// Positions closer than this along the normal (mm) are duplicates.
const DUPLICATE_MM: f64 = 1e-3;

/// Which study, series and frame of reference a volume belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeriesIdentity {
    pub study_instance_uid: String,
    pub series_instance_uid: String,
    pub frame_of_reference_uid: String,
    pub modality: String,
}

/// A decoded series: voxel values after rescale (Bq/mL, counts or HU as stored), one
/// [`SliceRef`] per z, and the series identity.
#[derive(Debug, Clone)]
pub struct AssembledSeries {
    pub volume: Volume,
    pub slices: Vec<SliceRef>,
    pub identity: SeriesIdentity,
    /// For each z, the index of the input (path or object) it came from.
    pub sources: Vec<usize>,
}

/// Plane geometry and provenance of one frame, read before any pixel is decoded.
#[derive(Debug, Clone)]
struct FrameHeader {
    source: usize,
    /// 1-based frame number for multi-frame instances.
    frame: Option<u32>,
    slice: SliceRef,
    position: [f64; 3],
    orientation: [f64; 6],
    /// PixelSpacing as DICOM writes it: row step (between rows, along col_dir), column step.
    pixel_spacing: [f64; 2],
    rows: usize,
    cols: usize,
    rescale: Rescale,
    /// SpacingBetweenSlices, else SliceThickness: the z step of a one-frame series.
    thickness: Option<f64>,
}

/// Assembles a series from the paths the store gives for it. Headers are read first without
/// pixel data; each file is then opened again and decoded into its plane, so memory stays near
/// one volume of `f32` plus one slice.
pub fn assemble_files<P: AsRef<Path>>(paths: &[P]) -> Result<AssembledSeries, VolumeError> {
    let headers = read_headers(paths)?;
    assemble_with_headers(paths, &headers)
}

/// As [`assemble_files`], with the headers (from [`read_headers`]) already read.
pub(crate) fn assemble_with_headers<P: AsRef<Path>>(
    paths: &[P],
    headers: &[DefaultDicomObject],
) -> Result<AssembledSeries, VolumeError> {
    assemble_with(headers, |i| {
        let p = paths[i].as_ref();
        dicom_object::open_file(p)
            .map(Cow::Owned)
            .map_err(|e| VolumeError::Read {
                path: p.to_path_buf(),
                source: Box::new(e),
            })
    })
}

/// Assembles a series from instances already in memory (with pixel data).
pub fn assemble_objects(objects: &[DefaultDicomObject]) -> Result<AssembledSeries, VolumeError> {
    assemble_with(objects, |i| Ok(Cow::Borrowed(&objects[i])))
}

/// Reads headers only (no pixel data) of a list of files; used by SUV on whole series.
pub fn read_headers<P: AsRef<Path>>(paths: &[P]) -> Result<Vec<DefaultDicomObject>, VolumeError> {
    paths
        .iter()
        .map(|p| {
            OpenFileOptions::new()
                .read_until(tags::PIXEL_DATA)
                .open_file(p.as_ref())
                .map_err(|e| VolumeError::Read {
                    path: PathBuf::from(p.as_ref()),
                    source: Box::new(e),
                })
        })
        .collect()
}

fn assemble_with<'a, F>(
    headers: &[DefaultDicomObject],
    mut load: F,
) -> Result<AssembledSeries, VolumeError>
where
    F: FnMut(usize) -> Result<Cow<'a, DefaultDicomObject>, VolumeError>,
{
    let first = headers.first().ok_or(VolumeError::EmptySeries)?;
    let identity = series_identity(first)?;
    let mut frames = Vec::new();
    for (i, h) in headers.iter().enumerate() {
        check_same_series(&identity, first, h)?;
        frames.extend(frame_headers(i, h)?);
    }
    let geometry = sort_and_check(&mut frames)?;
    let [nz, ny, nx] = geometry.dims;
    let mut data = Array3::<f32>::zeros((nz, ny, nx));
    // Frames of one multi-frame instance are decoded from one loaded object.
    let mut loaded: Option<(usize, Cow<'a, DefaultDicomObject>)> = None;
    for (z, f) in frames.iter().enumerate() {
        if loaded.as_ref().is_none_or(|(s, _)| *s != f.source) {
            loaded = Some((f.source, load(f.source)?));
        }
        let obj = &loaded.as_ref().expect("loaded just above").1;
        let values = decode_frame(obj, f)?;
        let mut plane = data.index_axis_mut(ndarray::Axis(0), z);
        let src = ndarray::ArrayView2::from_shape((ny, nx), &values).map_err(|e| {
            VolumeError::Decode {
                instance: f.slice.sop_instance_uid.clone(),
                message: e.to_string(),
            }
        })?;
        plane.assign(&src);
    }
    Ok(AssembledSeries {
        volume: Volume { data, geometry },
        sources: frames.iter().map(|f| f.source).collect(),
        slices: frames.into_iter().map(|f| f.slice).collect(),
        identity,
    })
}

fn decode_frame(obj: &DefaultDicomObject, f: &FrameHeader) -> Result<Vec<f32>, VolumeError> {
    let err = |message: String| VolumeError::Decode {
        instance: f.slice.sop_instance_uid.clone(),
        message,
    };
    // Decode only the frame needed: a multi-frame instance is never decoded whole.
    let decoded = match f.frame {
        Some(n) => obj.decode_pixel_data_frame(n - 1),
        None => obj.decode_pixel_data(),
    }
    .map_err(|e| err(e.to_string()))?;
    if decoded.samples_per_pixel() != 1 {
        return Err(err(format!(
            "{} samples per pixel; PET/CT must be monochrome",
            decoded.samples_per_pixel()
        )));
    }
    // Our own per-frame rescale, not the library's: Enhanced objects keep it per frame.
    let opts = ConvertOptions::new().with_modality_lut(ModalityLutOption::Override(f.rescale));
    let values: Vec<f32> = decoded
        .to_vec_frame_with_options(0, &opts)
        .map_err(|e| err(e.to_string()))?;
    if values.len() != f.rows * f.cols {
        return Err(err(format!(
            "{} samples for a {}x{} frame",
            values.len(),
            f.rows,
            f.cols
        )));
    }
    Ok(values)
}

fn series_identity(obj: &InMemDicomObject) -> Result<SeriesIdentity, VolumeError> {
    let inst = text(obj, tags::SOP_INSTANCE_UID).unwrap_or_else(|| "?".to_owned());
    let req = |tag, attr| text(obj, tag).ok_or_else(|| VolumeError::missing(attr, &inst));
    Ok(SeriesIdentity {
        study_instance_uid: req(tags::STUDY_INSTANCE_UID, "StudyInstanceUID")?,
        series_instance_uid: req(tags::SERIES_INSTANCE_UID, "SeriesInstanceUID")?,
        frame_of_reference_uid: req(tags::FRAME_OF_REFERENCE_UID, "FrameOfReferenceUID")?,
        modality: req(tags::MODALITY, "Modality")?,
    })
}

fn check_same_series(
    id: &SeriesIdentity,
    first: &InMemDicomObject,
    obj: &InMemDicomObject,
) -> Result<(), VolumeError> {
    let other = series_identity(obj)?;
    let pairs = [
        (
            "SeriesInstanceUID",
            &id.series_instance_uid,
            &other.series_instance_uid,
        ),
        (
            "FrameOfReferenceUID",
            &id.frame_of_reference_uid,
            &other.frame_of_reference_uid,
        ),
        ("Modality", &id.modality, &other.modality),
    ];
    for (attr, a, b) in pairs {
        if a != b {
            return Err(VolumeError::Inconsistent {
                attr,
                first: text(first, tags::SOP_INSTANCE_UID).unwrap_or_default(),
                other: text(obj, tags::SOP_INSTANCE_UID).unwrap_or_default(),
                first_value: a.clone(),
                other_value: b.clone(),
            });
        }
    }
    Ok(())
}

/// The frames of one instance: one for classic images, one per frame for Enhanced ones.
fn frame_headers(source: usize, obj: &InMemDicomObject) -> Result<Vec<FrameHeader>, VolumeError> {
    let inst = text(obj, tags::SOP_INSTANCE_UID)
        .ok_or_else(|| VolumeError::missing("SOPInstanceUID", "?"))?;
    let sop_class = text(obj, tags::SOP_CLASS_UID).unwrap_or_default();
    let instance_number =
        number(obj, tags::INSTANCE_NUMBER, "InstanceNumber", &inst)?.map(|v| v.round() as i32);
    let dim = |tag, attr| -> Result<usize, VolumeError> {
        match number(obj, tag, attr, &inst)? {
            Some(v) if v >= 1.0 => Ok(v as usize),
            Some(v) => Err(VolumeError::invalid(
                attr,
                &inst,
                v.to_string(),
                "must be >= 1",
            )),
            None => Err(VolumeError::missing(attr, &inst)),
        }
    };
    let (rows, cols) = (dim(tags::ROWS, "Rows")?, dim(tags::COLUMNS, "Columns")?);
    let slice = |frame| SliceRef {
        sop_class_uid: sop_class.clone(),
        sop_instance_uid: inst.clone(),
        instance_number,
        frame,
    };
    let per_frame = items(obj, tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE);
    if per_frame.is_empty() {
        let n_frames = number(obj, tags::NUMBER_OF_FRAMES, "NumberOfFrames", &inst)?.unwrap_or(1.0);
        if n_frames > 1.0 {
            return Err(VolumeError::invalid(
                "NumberOfFrames",
                &inst,
                n_frames.to_string(),
                "multi-frame without per-frame functional groups is not supported",
            ));
        }
        return Ok(vec![FrameHeader {
            source,
            frame: None,
            slice: slice(None),
            position: fixed_req(
                obj,
                tags::IMAGE_POSITION_PATIENT,
                "ImagePositionPatient",
                &inst,
            )?,
            orientation: fixed_req(
                obj,
                tags::IMAGE_ORIENTATION_PATIENT,
                "ImageOrientationPatient",
                &inst,
            )?,
            pixel_spacing: fixed_req(obj, tags::PIXEL_SPACING, "PixelSpacing", &inst)?,
            rows,
            cols,
            rescale: rescale_of(obj, &inst)?,
            thickness: thickness_of(obj),
        }]);
    }
    let shared = items(obj, tags::SHARED_FUNCTIONAL_GROUPS_SEQUENCE).first();
    per_frame
        .iter()
        .enumerate()
        .map(|(i, pf)| {
            let n = u32::try_from(i + 1).expect("frame count fits in u32");
            let group = |seq| -> Option<&InMemDicomObject> {
                items(pf, seq)
                    .first()
                    .or_else(|| shared.and_then(|s| items(s, seq).first()))
            };
            let need = |seq, attr: &'static str| {
                group(seq).ok_or_else(|| VolumeError::missing(attr, &format!("{inst} frame {n}")))
            };
            let fr = format!("{inst} frame {n}");
            let pos = need(tags::PLANE_POSITION_SEQUENCE, "PlanePositionSequence")?;
            let ori = need(tags::PLANE_ORIENTATION_SEQUENCE, "PlaneOrientationSequence")?;
            let meas = need(tags::PIXEL_MEASURES_SEQUENCE, "PixelMeasuresSequence")?;
            Ok(FrameHeader {
                source,
                frame: Some(n),
                slice: slice(Some(n)),
                position: fixed_req(
                    pos,
                    tags::IMAGE_POSITION_PATIENT,
                    "ImagePositionPatient",
                    &fr,
                )?,
                orientation: fixed_req(
                    ori,
                    tags::IMAGE_ORIENTATION_PATIENT,
                    "ImageOrientationPatient",
                    &fr,
                )?,
                pixel_spacing: fixed_req(meas, tags::PIXEL_SPACING, "PixelSpacing", &fr)?,
                rows,
                cols,
                thickness: thickness_of(meas),
                rescale: match group(tags::PIXEL_VALUE_TRANSFORMATION_SEQUENCE) {
                    Some(pvt) => rescale_of(pvt, &fr)?,
                    None => rescale_of(obj, &fr)?,
                },
            })
        })
        .collect()
}

fn thickness_of(obj: &InMemDicomObject) -> Option<f64> {
    [tags::SPACING_BETWEEN_SLICES, tags::SLICE_THICKNESS]
        .into_iter()
        .find_map(|t| number(obj, t, "SliceThickness", "").ok().flatten())
        .filter(|v| *v > 0.0)
}

fn rescale_of(obj: &InMemDicomObject, inst: &str) -> Result<Rescale, VolumeError> {
    let slope = number(obj, tags::RESCALE_SLOPE, "RescaleSlope", inst)?.unwrap_or(1.0);
    let intercept = number(obj, tags::RESCALE_INTERCEPT, "RescaleIntercept", inst)?.unwrap_or(0.0);
    if slope == 0.0 {
        return Err(VolumeError::invalid(
            "RescaleSlope",
            inst,
            "0",
            "a zero slope erases the image",
        ));
    }
    Ok(Rescale { slope, intercept })
}

fn name(f: &FrameHeader) -> String {
    match f.frame {
        Some(n) => format!("{} (frame {n})", f.slice.sop_instance_uid),
        None => f.slice.sop_instance_uid.clone(),
    }
}

/// Sorts the frames along the slice normal and checks they form one regular grid.
fn sort_and_check(frames: &mut [FrameHeader]) -> Result<Geometry, VolumeError> {
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
