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
use dicom_pixeldata::{ConvertOptions, ModalityLutOption, PixelDecoder};
use ndarray::Array3;

mod frames;
mod grid;

use super::attrs::text;
use super::error::VolumeError;
use super::geometry::{SliceRef, Volume};
use frames::{FrameHeader, frame_headers};
use grid::sort_and_check;

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
