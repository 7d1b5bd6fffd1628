//! Reading the plane geometry of every frame of an instance before any pixel is decoded:
//! classic single-frame images, and Enhanced multi-frame images through their per-frame and
//! shared functional groups (position, orientation, pixel measures, rescale).

use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;
use dicom_pixeldata::Rescale;

use crate::volume::attrs::{fixed_req, items, number, text};
use crate::volume::error::VolumeError;
use crate::volume::geometry::SliceRef;

/// Plane geometry and provenance of one frame, read before any pixel is decoded.
#[derive(Debug, Clone)]
pub(super) struct FrameHeader {
    pub(super) source: usize,
    /// 1-based frame number for multi-frame instances.
    pub(super) frame: Option<u32>,
    pub(super) slice: SliceRef,
    pub(super) position: [f64; 3],
    pub(super) orientation: [f64; 6],
    /// PixelSpacing as DICOM writes it: row step (between rows, along col_dir), column step.
    pub(super) pixel_spacing: [f64; 2],
    pub(super) rows: usize,
    pub(super) cols: usize,
    pub(super) rescale: Rescale,
    /// SpacingBetweenSlices, else SliceThickness: the z step of a one-frame series.
    pub(super) thickness: Option<f64>,
}

/// What every frame of an instance shares.
struct Instance<'a> {
    obj: &'a InMemDicomObject,
    source: usize,
    inst: String,
    sop_class: String,
    instance_number: Option<i32>,
    rows: usize,
    cols: usize,
}

impl Instance<'_> {
    fn slice(&self, frame: Option<u32>) -> SliceRef {
        SliceRef {
            sop_class_uid: self.sop_class.clone(),
            sop_instance_uid: self.inst.clone(),
            instance_number: self.instance_number,
            frame,
        }
    }
}

/// The frames of one instance: one for classic images, one per frame for Enhanced ones.
pub(super) fn frame_headers(
    source: usize,
    obj: &InMemDicomObject,
) -> Result<Vec<FrameHeader>, VolumeError> {
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
    let instance = Instance {
        obj,
        source,
        inst,
        sop_class,
        instance_number,
        rows,
        cols,
    };
    let per_frame = items(obj, tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE);
    if per_frame.is_empty() {
        return Ok(vec![classic_frame(&instance)?]);
    }
    per_frame
        .iter()
        .enumerate()
        .map(|(i, pf)| enhanced_frame(&instance, i, pf))
        .collect()
}

/// The one frame of a classic single-frame image.
fn classic_frame(instance: &Instance) -> Result<FrameHeader, VolumeError> {
    let (obj, inst) = (instance.obj, instance.inst.as_str());
    let n_frames = number(obj, tags::NUMBER_OF_FRAMES, "NumberOfFrames", inst)?.unwrap_or(1.0);
    if n_frames > 1.0 {
        return Err(VolumeError::invalid(
            "NumberOfFrames",
            inst,
            n_frames.to_string(),
            "multi-frame without per-frame functional groups is not supported",
        ));
    }
    Ok(FrameHeader {
        source: instance.source,
        frame: None,
        slice: instance.slice(None),
        position: fixed_req(
            obj,
            tags::IMAGE_POSITION_PATIENT,
            "ImagePositionPatient",
            inst,
        )?,
        orientation: fixed_req(
            obj,
            tags::IMAGE_ORIENTATION_PATIENT,
            "ImageOrientationPatient",
            inst,
        )?,
        pixel_spacing: fixed_req(obj, tags::PIXEL_SPACING, "PixelSpacing", inst)?,
        rows: instance.rows,
        cols: instance.cols,
        rescale: rescale_of(obj, inst)?,
        thickness: thickness_of(obj),
    })
}

/// Frame `i` (0-based) of an Enhanced image: its per-frame functional groups, else the shared
/// ones.
fn enhanced_frame(
    instance: &Instance,
    i: usize,
    pf: &InMemDicomObject,
) -> Result<FrameHeader, VolumeError> {
    let obj = instance.obj;
    let shared = items(obj, tags::SHARED_FUNCTIONAL_GROUPS_SEQUENCE).first();
    let n = u32::try_from(i + 1).map_err(|_| {
        VolumeError::invalid(
            "NumberOfFrames",
            &instance.inst,
            (i + 1).to_string(),
            "too many frames",
        )
    })?;
    let fr = format!("{} frame {n}", instance.inst);
    let group = |seq| -> Option<&InMemDicomObject> {
        items(pf, seq)
            .first()
            .or_else(|| shared.and_then(|s| items(s, seq).first()))
    };
    let need = |seq, attr: &'static str| group(seq).ok_or_else(|| VolumeError::missing(attr, &fr));
    let pos = need(tags::PLANE_POSITION_SEQUENCE, "PlanePositionSequence")?;
    let ori = need(tags::PLANE_ORIENTATION_SEQUENCE, "PlaneOrientationSequence")?;
    let meas = need(tags::PIXEL_MEASURES_SEQUENCE, "PixelMeasuresSequence")?;
    Ok(FrameHeader {
        source: instance.source,
        frame: Some(n),
        slice: instance.slice(Some(n)),
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
        rows: instance.rows,
        cols: instance.cols,
        thickness: thickness_of(meas),
        rescale: match group(tags::PIXEL_VALUE_TRANSFORMATION_SEQUENCE) {
            Some(pvt) => rescale_of(pvt, &fr)?,
            None => rescale_of(obj, &fr)?,
        },
    })
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

pub(super) fn name(f: &FrameHeader) -> String {
    match f.frame {
        Some(n) => format!("{} (frame {n})", f.slice.sop_instance_uid),
        None => f.slice.sop_instance_uid.clone(),
    }
}
