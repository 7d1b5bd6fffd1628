//! The IHE IOCM rejection note: a Key Object Selection Document (PS3.3 §A.35.4, SOP Class
//! 1.2.840.10008.5.1.4.1.1.88.59) whose Document Title is (113037, DCM, "Rejected for Patient
//! Safety Reasons") and whose TID 2010 content names the objects withdrawn — here the SEGs
//! (IMAGE items) and SRs (COMPOSITE items) the node derived from a report the RIS cancelled.
//! Modules: Patient and General Study copied from a withdrawn object (`seg::copy_patient_study`),
//! Key Object Document Series, General Equipment, Key Object Document (Referenced Request when
//! the study has an accession, Current Requested Procedure Evidence naming every withdrawn
//! object by study and series), SR Document Content and SOP Common. Pure like the SEG and SR
//! builders (STYLE habit 11): which objects, and to whom it goes, is the pipeline's business.
//!
//! ```text
//! CONTAINER Rejected for Patient Safety Reasons [2010]
//!  ├ HAS CONCEPT MOD  Language = en-US
//!  ├ CONTAINS TEXT    Key Object Description = why
//!  └ CONTAINS IMAGE | COMPOSITE  (one per withdrawn object)
//! ```

use dicom_core::{DataElement, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_object::InMemDicomObject;
use dicom_object::mem::InMemElement;
use dicom_object::meta::FileMetaTableBuilder;

use super::codes as c;
use super::content::{Rel, code, container, text_item, with_children};
use super::{SrError, SrObject};
use crate::ids::is_uid;
use crate::seg::elements::{int, is_da, is_tm, item, now_date_time, seq, text};
use crate::seg::{Code, check_lo, copy_patient_study, new_uid};

/// CID 7010 Key Object Selection Document Title, the IOCM rejection reason the node uses.
pub fn rejected_for_patient_safety() -> Code {
    Code::new("113037", "DCM", "Rejected for Patient Safety Reasons")
}

fn key_object_description() -> Code {
    Code::new("113012", "DCM", "Key Object Description")
}

/// One object the note withdraws.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedObject {
    pub sop_class_uid: String,
    pub sop_instance_uid: String,
    pub series_instance_uid: String,
}

/// Builds one rejection note for objects of one study.
#[derive(Debug, Clone)]
pub struct RejectionNoteBuilder<'a> {
    /// Patient and Study attributes come from here (a withdrawn SEG, or the PET).
    header: &'a InMemDicomObject,
    series_number: i32,
    series_description: String,
    description: String,
    objects: Vec<RejectedObject>,
    content_date_time: Option<(String, String)>,
}

impl<'a> RejectionNoteBuilder<'a> {
    pub fn new(header: &'a InMemDicomObject, series_number: i32) -> Self {
        RejectionNoteBuilder {
            header,
            series_number,
            series_description: "petground rejection note".to_owned(),
            description: String::new(),
            objects: Vec::new(),
            content_date_time: None,
        }
    }

    pub fn reject(mut self, object: RejectedObject) -> Self {
        self.objects.push(object);
        self
    }

    /// The Key Object Description (why the objects are withdrawn); none when empty.
    pub fn description(mut self, text: &str) -> Self {
        self.description = text.to_owned();
        self
    }

    pub fn series_description(mut self, text: &str) -> Self {
        self.series_description = text.to_owned();
        self
    }

    /// Content Date (`YYYYMMDD`) and Time (`HHMMSS`); the current UTC time by default.
    pub fn content_date_time(mut self, date: &str, time: &str) -> Self {
        self.content_date_time = Some((date.to_owned(), time.to_owned()));
        self
    }

    /// Checks the inputs, then assembles the note with fresh UIDs.
    pub fn build(self) -> Result<SrObject, SrError> {
        self.validate()?;
        let (date, time) = match &self.content_date_time {
            Some((d, t)) => (d.clone(), t.clone()),
            None => now_date_time(),
        };
        let sop = new_uid();
        let mut obj = InMemDicomObject::new_empty();
        obj.put(text(tags::SPECIFIC_CHARACTER_SET, VR::CS, "ISO_IR 192"));
        copy_patient_study(self.header, &mut obj)?;
        for e in self.series_equipment_document(&sop, &date, &time) {
            obj.put(e);
        }
        if let Some(request) = self.referenced_request() {
            obj.put(request);
        }
        obj.put(self.evidence());
        for e in self.content().into_iter() {
            obj.put(e);
        }
        obj.with_meta(FileMetaTableBuilder::new().transfer_syntax(uids::EXPLICIT_VR_LITTLE_ENDIAN))
            .map_err(|e| SrError::Meta(Box::new(e)))
    }

    fn validate(&self) -> Result<(), SrError> {
        let invalid = |what: &'static str, reason: String| SrError::InvalidInput { what, reason };
        if self.objects.is_empty() {
            return Err(invalid(
                "RejectedObject",
                "a note names at least one".into(),
            ));
        }
        for o in &self.objects {
            for uid in [
                &o.sop_class_uid,
                &o.sop_instance_uid,
                &o.series_instance_uid,
            ] {
                if !is_uid(uid) {
                    return Err(invalid("RejectedObject", format!("not a UID: {uid:?}")));
                }
            }
        }
        check_lo(&self.series_description).map_err(|r| invalid("SeriesDescription", r))?;
        if self.description.chars().count() > 1024 {
            return Err(invalid(
                "Key Object Description",
                "over 1024 characters".into(),
            ));
        }
        if let Some((d, t)) = &self.content_date_time
            && !(is_da(d) && is_tm(t))
        {
            return Err(invalid("ContentDate/Time", format!("{d:?} {t:?}")));
        }
        Ok(())
    }

    fn series_equipment_document(&self, sop: &str, date: &str, time: &str) -> Vec<InMemElement> {
        vec![
            text(
                tags::SOP_CLASS_UID,
                VR::UI,
                uids::KEY_OBJECT_SELECTION_DOCUMENT_STORAGE,
            ),
            text(tags::SOP_INSTANCE_UID, VR::UI, sop),
            text(tags::INSTANCE_CREATION_DATE, VR::DA, date),
            text(tags::INSTANCE_CREATION_TIME, VR::TM, time),
            text(tags::MODALITY, VR::CS, "KO"),
            text(tags::SERIES_INSTANCE_UID, VR::UI, &new_uid()),
            int(tags::SERIES_NUMBER, i64::from(self.series_number)),
            text(tags::SERIES_DESCRIPTION, VR::LO, &self.series_description),
            text(tags::SERIES_DATE, VR::DA, date),
            text(tags::SERIES_TIME, VR::TM, time),
            seq(
                tags::REFERENCED_PERFORMED_PROCEDURE_STEP_SEQUENCE,
                Vec::new(),
            ),
            text(tags::MANUFACTURER, VR::LO, "petground"),
            text(tags::MANUFACTURER_MODEL_NAME, VR::LO, "petground"),
            text(tags::SOFTWARE_VERSIONS, VR::LO, env!("CARGO_PKG_VERSION")),
            int(tags::INSTANCE_NUMBER, 1),
            text(tags::CONTENT_DATE, VR::DA, date),
            text(tags::CONTENT_TIME, VR::TM, time),
        ]
    }

    fn study_uid(&self) -> String {
        header_string(self.header, tags::STUDY_INSTANCE_UID)
    }

    /// The requested procedure the withdrawn objects belong to, named by the study's
    /// accession (the order the cancelled report answered); none without an accession.
    fn referenced_request(&self) -> Option<InMemElement> {
        let accession = header_string(self.header, tags::ACCESSION_NUMBER);
        if accession.is_empty() {
            return None;
        }
        let empty = |tag, vr| DataElement::empty(tag, vr);
        Some(seq(
            tags::REFERENCED_REQUEST_SEQUENCE,
            vec![item([
                text(tags::STUDY_INSTANCE_UID, VR::UI, &self.study_uid()),
                seq(tags::REFERENCED_STUDY_SEQUENCE, Vec::new()),
                text(tags::ACCESSION_NUMBER, VR::SH, &accession),
                empty(tags::PLACER_ORDER_NUMBER_IMAGING_SERVICE_REQUEST, VR::LO),
                empty(tags::FILLER_ORDER_NUMBER_IMAGING_SERVICE_REQUEST, VR::LO),
                empty(tags::REQUESTED_PROCEDURE_ID, VR::SH),
                empty(tags::REQUESTED_PROCEDURE_DESCRIPTION, VR::LO),
                seq(tags::REQUESTED_PROCEDURE_CODE_SEQUENCE, Vec::new()),
            ])],
        ))
    }

    /// Current Requested Procedure Evidence: every withdrawn object, by series (first-seen
    /// order), in the one study.
    fn evidence(&self) -> InMemElement {
        let mut series: Vec<(&str, Vec<InMemDicomObject>)> = Vec::new();
        for o in &self.objects {
            let reference = sop_item(o);
            match series
                .iter_mut()
                .find(|(uid, _)| *uid == o.series_instance_uid)
            {
                Some((_, items)) => items.push(reference),
                None => series.push((&o.series_instance_uid, vec![reference])),
            }
        }
        let series = series
            .into_iter()
            .map(|(uid, items)| {
                item([
                    seq(tags::REFERENCED_SOP_SEQUENCE, items),
                    text(tags::SERIES_INSTANCE_UID, VR::UI, uid),
                ])
            })
            .collect();
        let study = item([
            seq(tags::REFERENCED_SERIES_SEQUENCE, series),
            text(tags::STUDY_INSTANCE_UID, VR::UI, &self.study_uid()),
        ]);
        seq(
            tags::CURRENT_REQUESTED_PROCEDURE_EVIDENCE_SEQUENCE,
            vec![study],
        )
    }

    /// The TID 2010 root: title, language, description, one reference per object.
    fn content(&self) -> InMemDicomObject {
        let mut children = vec![code(
            Rel::HasConceptMod,
            &c::language_of_content(),
            &c::english_us(),
        )];
        if !self.description.is_empty() {
            children.push(text_item(
                Rel::Contains,
                &key_object_description(),
                &self.description,
            ));
        }
        children.extend(self.objects.iter().map(reference_item));
        with_children(
            container(None, &rejected_for_patient_safety(), Some("2010")),
            children,
        )
    }
}

/// A TID 2010 reference (no concept name): IMAGE for a SEG (an image IOD), COMPOSITE for the
/// rest.
fn reference_item(o: &RejectedObject) -> InMemDicomObject {
    let value_type = if o.sop_class_uid == uids::SEGMENTATION_STORAGE {
        "IMAGE"
    } else {
        "COMPOSITE"
    };
    item([
        text(tags::RELATIONSHIP_TYPE, VR::CS, "CONTAINS"),
        text(tags::VALUE_TYPE, VR::CS, value_type),
        seq(tags::REFERENCED_SOP_SEQUENCE, vec![sop_item(o)]),
    ])
}

fn sop_item(o: &RejectedObject) -> InMemDicomObject {
    item([
        text(tags::REFERENCED_SOP_CLASS_UID, VR::UI, &o.sop_class_uid),
        text(
            tags::REFERENCED_SOP_INSTANCE_UID,
            VR::UI,
            &o.sop_instance_uid,
        ),
    ])
}

fn header_string(obj: &InMemDicomObject, tag: dicom_core::Tag) -> String {
    obj.get(tag)
        .and_then(|e| e.value().to_str().ok())
        .map(|s| s.trim_end_matches(['\0', ' ']).to_owned())
        .unwrap_or_default()
}

/// The Document Title of a built note (for checks and logs).
pub fn document_title(obj: &InMemDicomObject) -> Option<String> {
    let it = obj
        .get(tags::CONCEPT_NAME_CODE_SEQUENCE)?
        .items()?
        .first()?;
    Some(header_string(it, tags::CODE_VALUE))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> InMemDicomObject {
        item([
            text(tags::STUDY_INSTANCE_UID, VR::UI, "1.2.3"),
            text(tags::PATIENT_ID, VR::LO, "P1"),
            text(tags::ACCESSION_NUMBER, VR::SH, "ACC1"),
        ])
    }

    fn object(class: &str, sop: &str, series: &str) -> RejectedObject {
        RejectedObject {
            sop_class_uid: class.to_owned(),
            sop_instance_uid: sop.to_owned(),
            series_instance_uid: series.to_owned(),
        }
    }

    #[test]
    fn a_note_names_its_objects_by_series_and_in_its_content() {
        let h = header();
        let note = RejectionNoteBuilder::new(&h, 9900)
            .reject(object(uids::SEGMENTATION_STORAGE, "1.5.1", "1.5"))
            .reject(object(uids::COMPREHENSIVE3_DSR_STORAGE, "1.6.1", "1.6"))
            .description("report cancelled")
            .build()
            .expect("note");
        assert_eq!(document_title(&note).as_deref(), Some("113037"));
        let evidence = note
            .get(tags::CURRENT_REQUESTED_PROCEDURE_EVIDENCE_SEQUENCE)
            .and_then(|e| e.items())
            .expect("evidence");
        let series = evidence[0]
            .get(tags::REFERENCED_SERIES_SEQUENCE)
            .and_then(|e| e.items())
            .expect("series");
        assert_eq!(series.len(), 2);
        let content = note
            .get(tags::CONTENT_SEQUENCE)
            .and_then(|e| e.items())
            .expect("content");
        let types: Vec<String> = content
            .iter()
            .map(|i| header_string(i, tags::VALUE_TYPE))
            .collect();
        assert_eq!(types, ["CODE", "TEXT", "IMAGE", "COMPOSITE"]);
        assert_eq!(header_string(&note, tags::MODALITY), "KO");
    }

    #[test]
    fn a_note_without_objects_or_with_a_bad_uid_is_refused() {
        let h = header();
        assert!(RejectionNoteBuilder::new(&h, 9900).build().is_err());
        let bad = RejectionNoteBuilder::new(&h, 9900).reject(object("x", "1.2", "1.3"));
        assert!(bad.build().is_err());
    }
}
