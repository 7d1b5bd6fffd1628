//! Synthetic DICOM series for tests, benchmarks and phantoms: classic single-frame PET/CT
//! instances and Enhanced multi-frame ones, built with dicom-object from a description of each
//! slice, so assembly can be checked against known geometry. Writes nothing but what it is
//! asked to; knows nothing of SUV (callers add PET attributes with `put`).

use std::path::Path;

use dicom_core::value::{DataSetSequence, PrimitiveValue};
use dicom_core::{DataElement, Tag, VR, smallvec::SmallVec};
use dicom_dictionary_std::tags;
use dicom_object::{DefaultDicomObject, FileMetaTableBuilder, InMemDicomObject};

use super::geometry::Geometry;

pub const PET_SOP_CLASS: &str = "1.2.840.10008.5.1.4.1.1.128";
pub const CT_SOP_CLASS: &str = "1.2.840.10008.5.1.4.1.1.2";
pub const ENHANCED_PET_SOP_CLASS: &str = "1.2.840.10008.5.1.4.1.1.130";
const EXPLICIT_VR_LE: &str = "1.2.840.10008.1.2.1";

/// The identity shared by every instance of a synthetic series.
#[derive(Debug, Clone)]
pub struct SeriesIds {
    pub study: String,
    pub series: String,
    pub frame_of_reference: String,
    /// "PT" or "CT".
    pub modality: String,
}

/// One slice: geometry, rescale and stored 16-bit values (row-major, `rows × cols`).
#[derive(Debug, Clone)]
pub struct SynthSlice {
    pub sop_instance_uid: String,
    pub instance_number: i32,
    pub position: [f64; 3],
    pub orientation: [f64; 6],
    /// PixelSpacing as DICOM writes it: row step, column step.
    pub pixel_spacing: [f64; 2],
    pub rows: usize,
    pub cols: usize,
    pub slope: f64,
    pub intercept: f64,
    pub stored: Vec<u16>,
}

/// Slices on the grid `geom`, voxel value `value(patient mm)`, rescale `rescale(z)`; stored
/// values are rounded and clamped to 16 bits. Instance numbers count from 1 along z.
pub fn regular_slices(
    geom: &Geometry,
    uid_prefix: &str,
    value: impl Fn([f64; 3]) -> f64,
    rescale: impl Fn(usize) -> (f64, f64),
) -> Vec<SynthSlice> {
    let [nz, ny, nx] = geom.dims;
    (0..nz)
        .map(|z| {
            let (slope, intercept) = rescale(z);
            let mut stored = Vec::with_capacity(ny * nx);
            for y in 0..ny {
                for x in 0..nx {
                    let p = geom.index_to_mm([z as f64, y as f64, x as f64]);
                    let s = ((value(p) - intercept) / slope).round();
                    stored.push(s.clamp(0.0, 65535.0) as u16);
                }
            }
            SynthSlice {
                sop_instance_uid: format!("{uid_prefix}.{}", z + 1),
                instance_number: z as i32 + 1,
                position: geom.slice_position(z),
                orientation: geom.image_orientation(),
                pixel_spacing: [geom.spacing[1], geom.spacing[0]],
                rows: ny,
                cols: nx,
                slope,
                intercept,
                stored,
            }
        })
        .collect()
}

fn ds(values: &[f64]) -> PrimitiveValue {
    let s: Vec<String> = values.iter().map(|v| format!("{v:.6}")).collect();
    PrimitiveValue::from(s.join("\\"))
}

fn el(tag: Tag, vr: VR, v: impl Into<PrimitiveValue>) -> DataElement<InMemDicomObject> {
    DataElement::new(tag, vr, v.into())
}

fn seq(tag: Tag, items: Vec<InMemDicomObject>) -> DataElement<InMemDicomObject> {
    DataElement::new(tag, VR::SQ, DataSetSequence::from(items))
}

fn item(elements: Vec<DataElement<InMemDicomObject>>) -> InMemDicomObject {
    InMemDicomObject::from_element_iter(elements)
}

/// Attributes common to classic and Enhanced instances.
fn base(ids: &SeriesIds, sop_class: &str, uid: &str, rows: usize, cols: usize) -> InMemDicomObject {
    item(vec![
        el(tags::SOP_CLASS_UID, VR::UI, sop_class),
        el(tags::SOP_INSTANCE_UID, VR::UI, uid),
        el(tags::STUDY_INSTANCE_UID, VR::UI, ids.study.as_str()),
        el(tags::SERIES_INSTANCE_UID, VR::UI, ids.series.as_str()),
        el(
            tags::FRAME_OF_REFERENCE_UID,
            VR::UI,
            ids.frame_of_reference.as_str(),
        ),
        el(tags::MODALITY, VR::CS, ids.modality.as_str()),
        el(tags::SAMPLES_PER_PIXEL, VR::US, PrimitiveValue::from(1u16)),
        el(tags::PHOTOMETRIC_INTERPRETATION, VR::CS, "MONOCHROME2"),
        el(tags::ROWS, VR::US, PrimitiveValue::from(rows as u16)),
        el(tags::COLUMNS, VR::US, PrimitiveValue::from(cols as u16)),
        el(tags::BITS_ALLOCATED, VR::US, PrimitiveValue::from(16u16)),
        el(tags::BITS_STORED, VR::US, PrimitiveValue::from(16u16)),
        el(tags::HIGH_BIT, VR::US, PrimitiveValue::from(15u16)),
        el(
            tags::PIXEL_REPRESENTATION,
            VR::US,
            PrimitiveValue::from(0u16),
        ),
    ])
}

fn finish(obj: InMemDicomObject, sop_class: &str, uid: &str) -> DefaultDicomObject {
    obj.with_meta(
        FileMetaTableBuilder::new()
            .transfer_syntax(EXPLICIT_VR_LE)
            .media_storage_sop_class_uid(sop_class)
            .media_storage_sop_instance_uid(uid),
    )
    .expect("synthetic file meta has every required UID")
}

fn pixels(stored: Vec<u16>) -> DataElement<InMemDicomObject> {
    el(
        tags::PIXEL_DATA,
        VR::OW,
        PrimitiveValue::U16(SmallVec::from_vec(stored)),
    )
}

/// A classic single-frame PET or CT instance.
pub fn slice_object(ids: &SeriesIds, s: &SynthSlice) -> DefaultDicomObject {
    let class = if ids.modality == "CT" {
        CT_SOP_CLASS
    } else {
        PET_SOP_CLASS
    };
    let mut obj = base(ids, class, &s.sop_instance_uid, s.rows, s.cols);
    for e in [
        el(tags::INSTANCE_NUMBER, VR::IS, s.instance_number.to_string()),
        el(tags::IMAGE_POSITION_PATIENT, VR::DS, ds(&s.position)),
        el(tags::IMAGE_ORIENTATION_PATIENT, VR::DS, ds(&s.orientation)),
        el(tags::PIXEL_SPACING, VR::DS, ds(&s.pixel_spacing)),
        el(tags::RESCALE_SLOPE, VR::DS, ds(&[s.slope])),
        el(tags::RESCALE_INTERCEPT, VR::DS, ds(&[s.intercept])),
        pixels(s.stored.clone()),
    ] {
        obj.put(e);
    }
    finish(obj, class, &s.sop_instance_uid)
}

/// Writes a classic instance to `path`.
pub fn write_slice(path: &Path, ids: &SeriesIds, s: &SynthSlice) -> std::io::Result<()> {
    slice_object(ids, s)
        .write_to_file(path)
        .map_err(std::io::Error::other)
}

/// One Enhanced PET instance holding `slices` as frames in the given order: orientation and
/// pixel measures shared, position and rescale per frame.
///
/// # Panics
/// When `slices` is empty (a test-data builder: an empty Enhanced image is a caller bug).
pub fn enhanced_object(ids: &SeriesIds, uid: &str, slices: &[SynthSlice]) -> DefaultDicomObject {
    let first = &slices[0];
    let mut obj = base(ids, ENHANCED_PET_SOP_CLASS, uid, first.rows, first.cols);
    obj.put(el(tags::INSTANCE_NUMBER, VR::IS, "1"));
    obj.put(el(tags::NUMBER_OF_FRAMES, VR::IS, slices.len().to_string()));
    let shared = item(vec![
        seq(
            tags::PLANE_ORIENTATION_SEQUENCE,
            vec![item(vec![el(
                tags::IMAGE_ORIENTATION_PATIENT,
                VR::DS,
                ds(&first.orientation),
            )])],
        ),
        seq(
            tags::PIXEL_MEASURES_SEQUENCE,
            vec![item(vec![el(
                tags::PIXEL_SPACING,
                VR::DS,
                ds(&first.pixel_spacing),
            )])],
        ),
    ]);
    let per_frame = slices
        .iter()
        .map(|s| {
            item(vec![
                seq(
                    tags::PLANE_POSITION_SEQUENCE,
                    vec![item(vec![el(
                        tags::IMAGE_POSITION_PATIENT,
                        VR::DS,
                        ds(&s.position),
                    )])],
                ),
                seq(
                    tags::PIXEL_VALUE_TRANSFORMATION_SEQUENCE,
                    vec![item(vec![
                        el(tags::RESCALE_SLOPE, VR::DS, ds(&[s.slope])),
                        el(tags::RESCALE_INTERCEPT, VR::DS, ds(&[s.intercept])),
                    ])],
                ),
            ])
        })
        .collect();
    obj.put(seq(tags::SHARED_FUNCTIONAL_GROUPS_SEQUENCE, vec![shared]));
    obj.put(seq(tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE, per_frame));
    obj.put(pixels(
        slices
            .iter()
            .flat_map(|s| s.stored.iter().copied())
            .collect(),
    ));
    finish(obj, ENHANCED_PET_SOP_CLASS, uid)
}
