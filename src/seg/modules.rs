//! Assembles the IOD modules of a BINARY Segmentation (PS3.3 §A.51) from a validated builder's contents ([`super::plan`]):
//! Patient/Study copied from the source, new Series, equipment, Segmentation Image, segments,
//! references and the packed pixel data (functional groups and dimensions: `groups.rs`). All of
//! it may assume `SegmentationBuilder::validate` passed; the one thing it still checks is the
//! source header's StudyInstanceUID, which only becomes necessary here.

use dicom_core::{DataElement, PrimitiveValue, Tag, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_object::meta::FileMetaTableBuilder;
use dicom_object::{FileDicomObject, InMemDicomObject};
use ndarray::Axis;

use super::SegError;
use super::bits::pack_bits;
use super::elements::{code_item, code_seq, int, item, seq, text, texts, us};
use super::groups;
use super::plan::Plan;
use super::segment::{
    Code, SegmentDescription, category_morphologically_abnormal, default_display_cielab,
};
use super::uid::new_uid;
use crate::ids::is_uid;

/// Patient and Study attributes copied from the source; all Type 2, so written empty if absent.
const COPIED_TYPE2: [(Tag, VR); 9] = [
    (tags::PATIENT_NAME, VR::PN),
    (tags::PATIENT_ID, VR::LO),
    (tags::PATIENT_BIRTH_DATE, VR::DA),
    (tags::PATIENT_SEX, VR::CS),
    (tags::STUDY_DATE, VR::DA),
    (tags::STUDY_TIME, VR::TM),
    (tags::REFERRING_PHYSICIAN_NAME, VR::PN),
    (tags::STUDY_ID, VR::SH),
    (tags::ACCESSION_NUMBER, VR::SH),
];

/// Optional (Type 3) Patient and Study attributes copied when the source has them.
const COPIED_TYPE3: [Tag; 5] = [
    tags::ISSUER_OF_PATIENT_ID,
    tags::STUDY_DESCRIPTION,
    tags::PATIENT_AGE,
    tags::PATIENT_SIZE,
    tags::PATIENT_WEIGHT,
];

pub(super) fn assemble(p: &Plan) -> Result<FileDicomObject<InMemDicomObject>, SegError> {
    let mut obj = InMemDicomObject::new_empty();
    // UTF-8 throughout: finding sentences and copied names may be non-ASCII; the writer encodes
    // every later string with the character set named here.
    obj.put(text(tags::SPECIFIC_CHARACTER_SET, VR::CS, "ISO_IR 192"));
    copy_patient_study(p.b.source.header, &mut obj)?;
    copy_image_provenance(p.b.source.header, &mut obj);
    for e in series_equipment_image(p) {
        obj.put(e);
    }
    obj.put(seq(
        tags::SEGMENT_SEQUENCE,
        p.b.segments.iter().map(|(d, _)| segment_item(d)).collect(),
    ));
    obj.put(seq(
        tags::SHARED_FUNCTIONAL_GROUPS_SEQUENCE,
        vec![groups::shared_groups(p)],
    ));
    obj.put(seq(
        tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE,
        groups::per_frame_groups(p),
    ));
    for e in groups::dimensions(p) {
        obj.put(e);
    }
    obj.put(referenced_series(p));
    obj.put(pixel_data(p));
    obj.with_meta(FileMetaTableBuilder::new().transfer_syntax(uids::EXPLICIT_VR_LITTLE_ENDIAN))
        .map_err(|e| SegError::Meta(Box::new(e)))
}

/// Patient and General Study attributes of a derived object (SEG or SR), copied from the source
/// header: StudyInstanceUID (which must be valid), the Type 2 ones (empty when absent) and the
/// Type 3 ones the source has. The SR builder (`crate::sr`) shares this.
pub(crate) fn copy_patient_study(
    header: &InMemDicomObject,
    obj: &mut InMemDicomObject,
) -> Result<(), SegError> {
    let study_uid = header
        .get(tags::STUDY_INSTANCE_UID)
        .and_then(|e| e.value().to_str().ok())
        .map(|s| s.trim_end_matches(['\0', ' ']).to_owned())
        .unwrap_or_default();
    if !is_uid(&study_uid) {
        return Err(SegError::InvalidInput {
            what: "StudyInstanceUID",
            reason: format!("source header has no valid StudyInstanceUID ({study_uid:?})"),
        });
    }
    obj.put(text(tags::STUDY_INSTANCE_UID, VR::UI, &study_uid));
    for (tag, vr) in COPIED_TYPE2 {
        match header.get(tag) {
            Some(e) => obj.put(e.clone()),
            None => obj.put(DataElement::empty(tag, vr)),
        };
    }
    for tag in COPIED_TYPE3 {
        if let Some(e) = header.get(tag) {
            obj.put(e.clone());
        }
    }
    Ok(())
}

/// The image-only attributes a SEG inherits: Position Reference Indicator (Frame of Reference
/// module) and lossy compression (General Image module).
fn copy_image_provenance(header: &InMemDicomObject, obj: &mut InMemDicomObject) {
    match header.get(tags::POSITION_REFERENCE_INDICATOR) {
        Some(e) => obj.put(e.clone()),
        None => obj.put(DataElement::empty(
            tags::POSITION_REFERENCE_INDICATOR,
            VR::LO,
        )),
    };
    // Derived from lossy images is lossy too (PS3.3 §C.7.6.1.1.5); otherwise "00".
    let lossy = header
        .get(tags::LOSSY_IMAGE_COMPRESSION)
        .and_then(|e| e.value().to_str().ok())
        .is_some_and(|v| v.trim() == "01");
    obj.put(text(
        tags::LOSSY_IMAGE_COMPRESSION,
        VR::CS,
        if lossy { "01" } else { "00" },
    ));
    if let Some(e) = header.get(tags::LOSSY_IMAGE_COMPRESSION_METHOD) {
        obj.put(e.clone());
    }
    if lossy && let Some(e) = header.get(tags::LOSSY_IMAGE_COMPRESSION_RATIO) {
        obj.put(e.clone());
    }
}

fn series_equipment_image(p: &Plan) -> Vec<dicom_object::mem::InMemElement> {
    let b = p.b;
    let [_, ny, nx] = b.source.geometry.dims;
    // Validation bounds rows and columns by u16::MAX.
    let (rows, cols) = (ny as u16, nx as u16);
    vec![
        text(tags::SOP_CLASS_UID, VR::UI, uids::SEGMENTATION_STORAGE),
        text(tags::SOP_INSTANCE_UID, VR::UI, &p.sop_instance_uid),
        text(tags::INSTANCE_CREATION_DATE, VR::DA, &p.content_date),
        text(tags::INSTANCE_CREATION_TIME, VR::TM, &p.content_time),
        text(tags::MODALITY, VR::CS, "SEG"),
        text(tags::SERIES_INSTANCE_UID, VR::UI, &p.series_instance_uid),
        int(tags::SERIES_NUMBER, i64::from(b.series_number)),
        text(tags::SERIES_DESCRIPTION, VR::LO, &b.series_description),
        text(tags::SERIES_DATE, VR::DA, &p.content_date),
        text(tags::SERIES_TIME, VR::TM, &p.content_time),
        text(
            tags::FRAME_OF_REFERENCE_UID,
            VR::UI,
            b.source.frame_of_reference_uid,
        ),
        text(tags::MANUFACTURER, VR::LO, "petground"),
        text(
            tags::MANUFACTURER_MODEL_NAME,
            VR::LO,
            &b.manufacturer_model_name,
        ),
        text(tags::DEVICE_SERIAL_NUMBER, VR::LO, &b.device_serial_number),
        text(tags::SOFTWARE_VERSIONS, VR::LO, env!("CARGO_PKG_VERSION")),
        int(tags::INSTANCE_NUMBER, i64::from(b.instance_number)),
        text(tags::CONTENT_DATE, VR::DA, &p.content_date),
        text(tags::CONTENT_TIME, VR::TM, &p.content_time),
        text(tags::CONTENT_LABEL, VR::CS, &b.content_label),
        text(tags::CONTENT_DESCRIPTION, VR::LO, &b.content_description),
        text(tags::CONTENT_CREATOR_NAME, VR::PN, &b.content_creator_name),
        texts(
            tags::IMAGE_TYPE,
            VR::CS,
            vec!["DERIVED".into(), "PRIMARY".into()],
        ),
        us(tags::SAMPLES_PER_PIXEL, 1),
        text(tags::PHOTOMETRIC_INTERPRETATION, VR::CS, "MONOCHROME2"),
        us(tags::ROWS, rows),
        us(tags::COLUMNS, cols),
        us(tags::BITS_ALLOCATED, 1),
        us(tags::BITS_STORED, 1),
        us(tags::HIGH_BIT, 0),
        us(tags::PIXEL_REPRESENTATION, 0),
        text(tags::SEGMENTATION_TYPE, VR::CS, "BINARY"),
        int(tags::NUMBER_OF_FRAMES, p.frames.len() as i64),
    ]
}

fn segment_item(d: &SegmentDescription) -> InMemDicomObject {
    let mut it = item([
        us(tags::SEGMENT_NUMBER, d.segment_number),
        text(tags::SEGMENT_LABEL, VR::LO, &d.segment_label),
        code_seq(
            tags::SEGMENTED_PROPERTY_CATEGORY_CODE_SEQUENCE,
            &category_morphologically_abnormal(),
        ),
        text(
            tags::SEGMENT_ALGORITHM_TYPE,
            VR::CS,
            d.algorithm_type.as_str(),
        ),
        DataElement::new(
            tags::RECOMMENDED_DISPLAY_CIE_LAB_VALUE,
            VR::US,
            PrimitiveValue::U16(default_display_cielab(d.segment_number).to_vec().into()),
        ),
    ]);
    let mut type_item = code_item(&d.segmented_property_type.code());
    if let Some(lat) = d.laterality {
        // The modifier qualifies the property type ("Lymph node", "Left"): PS3.3 §C.8.20.4.
        type_item.put(code_seq(
            tags::SEGMENTED_PROPERTY_TYPE_MODIFIER_CODE_SEQUENCE,
            &lat.code(),
        ));
    }
    it.put(seq(
        tags::SEGMENTED_PROPERTY_TYPE_CODE_SEQUENCE,
        vec![type_item],
    ));
    if let Some(region) = &d.anatomic_region {
        it.put(seq(
            tags::ANATOMIC_REGION_SEQUENCE,
            vec![region_item(region, d)],
        ));
    }
    if let Some(desc) = &d.description {
        it.put(text(tags::SEGMENT_DESCRIPTION, VR::ST, desc));
    }
    if let Some(alg) = &d.algorithm_identification {
        it.put(text(tags::SEGMENT_ALGORITHM_NAME, VR::LO, &alg.name));
        let alg_item = item([
            code_seq(tags::ALGORITHM_FAMILY_CODE_SEQUENCE, &alg.family),
            text(tags::ALGORITHM_NAME, VR::LO, &alg.name),
            text(tags::ALGORITHM_VERSION, VR::LO, &alg.version),
        ]);
        it.put(seq(
            tags::SEGMENTATION_ALGORITHM_IDENTIFICATION_SEQUENCE,
            vec![alg_item],
        ));
    }
    if let Some(id) = &d.tracking_id {
        it.put(text(tags::TRACKING_ID, VR::UT, id));
        let uid = d.tracking_uid.clone().unwrap_or_else(new_uid);
        it.put(text(tags::TRACKING_UID, VR::UI, &uid));
    }
    it
}

fn region_item(region: &Code, d: &SegmentDescription) -> InMemDicomObject {
    let mut it = code_item(region);
    if let Some(lat) = d.laterality {
        it.put(code_seq(
            tags::ANATOMIC_REGION_MODIFIER_SEQUENCE,
            &lat.code(),
        ));
    }
    it
}

/// Common Instance Reference: the PET series and each distinct instance behind a slice.
fn referenced_series(p: &Plan) -> dicom_object::mem::InMemElement {
    let src = &p.b.source;
    let mut seen = std::collections::HashSet::new();
    let instances = src
        .slices
        .iter()
        .filter(|s| seen.insert(s.sop_instance_uid.as_str()))
        .map(|s| {
            item([
                text(tags::REFERENCED_SOP_CLASS_UID, VR::UI, &s.sop_class_uid),
                text(
                    tags::REFERENCED_SOP_INSTANCE_UID,
                    VR::UI,
                    &s.sop_instance_uid,
                ),
            ])
        })
        .collect();
    let series = item([
        seq(tags::REFERENCED_INSTANCE_SEQUENCE, instances),
        text(tags::SERIES_INSTANCE_UID, VR::UI, src.series_instance_uid),
    ]);
    seq(tags::REFERENCED_SERIES_SEQUENCE, vec![series])
}

fn pixel_data(p: &Plan) -> dicom_object::mem::InMemElement {
    let segments = &p.b.segments;
    let pixels = p.frames.iter().flat_map(|f| {
        // Validation made segment numbers 1..=n in order, so number − 1 indexes the list.
        let mask = &segments[usize::from(f.segment) - 1].1;
        mask.index_axis(Axis(0), f.z)
            .into_iter()
            .copied()
            .collect::<Vec<bool>>()
    });
    DataElement::new(
        tags::PIXEL_DATA,
        VR::OB,
        PrimitiveValue::from(pack_bits(pixels)),
    )
}
