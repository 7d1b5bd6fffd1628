//! The IOD modules of a Comprehensive 3D SR (PS3.3 §A.35.13) around the content tree: Patient
//! and General Study copied from the PET (through `seg::copy_patient_study`), SR Document Series,
//! General Equipment, SR Document General (with the PET and SEG as evidence) and SOP Common.
//! Assumes `MeasurementReportBuilder::validate` passed.

use dicom_core::VR;
use dicom_dictionary_std::{tags, uids};
use dicom_object::InMemDicomObject;
use dicom_object::meta::FileMetaTableBuilder;

use super::SrError;
use super::plan::Plan;
use super::tree;
use crate::seg::elements::{int, item, seq, text};
use crate::seg::{SegObject, copy_patient_study};

pub(super) fn assemble(p: &Plan) -> Result<SegObject, SrError> {
    let mut obj = InMemDicomObject::new_empty();
    // UTF-8: sentences and copied names may be non-ASCII.
    obj.put(text(tags::SPECIFIC_CHARACTER_SET, VR::CS, "ISO_IR 192"));
    copy_patient_study(p.b.source.header, &mut obj)?;
    for e in series_equipment_document(p) {
        obj.put(e);
    }
    obj.put(evidence(p));
    let root = tree::document(p);
    for e in root.into_iter() {
        obj.put(e);
    }
    obj.with_meta(FileMetaTableBuilder::new().transfer_syntax(uids::EXPLICIT_VR_LITTLE_ENDIAN))
        .map_err(|e| SrError::Meta(Box::new(e)))
}

fn series_equipment_document(p: &Plan) -> Vec<dicom_object::mem::InMemElement> {
    let b = p.b;
    vec![
        text(
            tags::SOP_CLASS_UID,
            VR::UI,
            uids::COMPREHENSIVE3_DSR_STORAGE,
        ),
        text(tags::SOP_INSTANCE_UID, VR::UI, &p.sop_instance_uid),
        text(tags::INSTANCE_CREATION_DATE, VR::DA, &p.content_date),
        text(tags::INSTANCE_CREATION_TIME, VR::TM, &p.content_time),
        text(tags::MODALITY, VR::CS, "SR"),
        text(tags::SERIES_INSTANCE_UID, VR::UI, &p.series_instance_uid),
        int(tags::SERIES_NUMBER, i64::from(b.series_number)),
        text(tags::SERIES_DESCRIPTION, VR::LO, &b.series_description),
        text(tags::SERIES_DATE, VR::DA, &p.content_date),
        text(tags::SERIES_TIME, VR::TM, &p.content_time),
        seq(
            tags::REFERENCED_PERFORMED_PROCEDURE_STEP_SEQUENCE,
            Vec::new(),
        ),
        text(tags::MANUFACTURER, VR::LO, "petground"),
        text(tags::MANUFACTURER_MODEL_NAME, VR::LO, "petground"),
        text(tags::DEVICE_SERIAL_NUMBER, VR::LO, &b.device_serial_number),
        text(tags::SOFTWARE_VERSIONS, VR::LO, env!("CARGO_PKG_VERSION")),
        int(tags::INSTANCE_NUMBER, 1),
        text(tags::COMPLETION_FLAG, VR::CS, "COMPLETE"),
        text(tags::VERIFICATION_FLAG, VR::CS, "UNVERIFIED"),
        text(tags::CONTENT_DATE, VR::DA, &p.content_date),
        text(tags::CONTENT_TIME, VR::TM, &p.content_time),
        seq(tags::PERFORMED_PROCEDURE_CODE_SEQUENCE, Vec::new()),
    ]
}

/// Current Requested Procedure Evidence: the PET instances the measurements come from and the
/// SEG whose segments they measure (one study, two series).
fn evidence(p: &Plan) -> dicom_object::mem::InMemElement {
    let src = &p.b.source;
    let mut seen = std::collections::HashSet::new();
    let pet_instances = src
        .slices
        .iter()
        .filter(|s| seen.insert(s.sop_instance_uid.as_str()))
        .map(|s| sop_item(&s.sop_class_uid, &s.sop_instance_uid))
        .collect();
    let series = |uid: &str, instances| {
        item([
            seq(tags::REFERENCED_SOP_SEQUENCE, instances),
            text(tags::SERIES_INSTANCE_UID, VR::UI, uid),
        ])
    };
    let study = item([
        seq(
            tags::REFERENCED_SERIES_SEQUENCE,
            vec![
                series(src.series_instance_uid, pet_instances),
                series(
                    &p.seg.series_instance_uid,
                    vec![sop_item(&p.seg.sop_class_uid, &p.seg.sop_instance_uid)],
                ),
            ],
        ),
        text(tags::STUDY_INSTANCE_UID, VR::UI, &p.seg.study_instance_uid),
    ]);
    seq(
        tags::CURRENT_REQUESTED_PROCEDURE_EVIDENCE_SEQUENCE,
        vec![study],
    )
}

fn sop_item(class: &str, instance: &str) -> InMemDicomObject {
    item([
        text(tags::REFERENCED_SOP_CLASS_UID, VR::UI, class),
        text(tags::REFERENCED_SOP_INSTANCE_UID, VR::UI, instance),
    ])
}
