//! SR content items (PS3.3 §C.17.3): one constructor per value type the report uses, so that
//! `tree.rs` reads as the TID 1500 table it implements. Items are plain data sets; children go
//! in with [`with_children`]. Element constructors come from `seg::elements`.

use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;

use crate::seg::Code;
use crate::seg::elements::{code_item, code_seq, ds, item, seq, text, us};

/// Relationship Type (0040,A010) of a content item to its parent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rel {
    Contains,
    HasObsContext,
    HasConceptMod,
    HasAcqContext,
}

impl Rel {
    fn as_str(self) -> &'static str {
        match self {
            Rel::Contains => "CONTAINS",
            Rel::HasObsContext => "HAS OBS CONTEXT",
            Rel::HasConceptMod => "HAS CONCEPT MOD",
            Rel::HasAcqContext => "HAS ACQ CONTEXT",
        }
    }
}

/// Mapping Resource UID of DCMR, the DICOM Content Mapping Resource (PS3.16).
pub const DCMR_UID: &str = "1.2.840.10008.8.1.1";

fn base(rel: Option<Rel>, value_type: &str, name: &Code) -> InMemDicomObject {
    let mut it = InMemDicomObject::new_empty();
    if let Some(r) = rel {
        it.put(text(tags::RELATIONSHIP_TYPE, VR::CS, r.as_str()));
    }
    it.put(text(tags::VALUE_TYPE, VR::CS, value_type));
    it.put(code_seq(tags::CONCEPT_NAME_CODE_SEQUENCE, name));
    it
}

/// A CONTAINER (SEPARATE continuity), optionally naming the DCMR template it follows. `rel` is
/// `None` only for the document root, whose attributes go into the data set itself.
pub fn container(rel: Option<Rel>, name: &Code, template: Option<&str>) -> InMemDicomObject {
    let mut it = base(rel, "CONTAINER", name);
    it.put(text(tags::CONTINUITY_OF_CONTENT, VR::CS, "SEPARATE"));
    if let Some(id) = template {
        it.put(seq(
            tags::CONTENT_TEMPLATE_SEQUENCE,
            vec![item([
                text(tags::MAPPING_RESOURCE, VR::CS, "DCMR"),
                text(tags::MAPPING_RESOURCE_UID, VR::UI, DCMR_UID),
                text(tags::TEMPLATE_IDENTIFIER, VR::CS, id),
            ])],
        ));
    }
    it
}

pub fn text_item(rel: Rel, name: &Code, value: &str) -> InMemDicomObject {
    let mut it = base(Some(rel), "TEXT", name);
    it.put(text(tags::TEXT_VALUE, VR::UT, value));
    it
}

pub fn code(rel: Rel, name: &Code, value: &Code) -> InMemDicomObject {
    let mut it = base(Some(rel), "CODE", name);
    it.put(code_seq(tags::CONCEPT_CODE_SEQUENCE, value));
    it
}

pub fn uidref(rel: Rel, name: &Code, uid: &str) -> InMemDicomObject {
    let mut it = base(Some(rel), "UIDREF", name);
    it.put(text(tags::UID, VR::UI, uid));
    it
}

/// A NUM: the value as a Decimal String, plus the exact double in Floating Point Value when the
/// 16-character DS cannot hold it (PS3.3 §C.18.1: Type 1C).
pub fn num(rel: Rel, name: &Code, value: f64, unit: &Code) -> InMemDicomObject {
    let mut it = base(Some(rel), "NUM", name);
    let shown = ds(value);
    let mut measured = item([
        seq(tags::MEASUREMENT_UNITS_CODE_SEQUENCE, vec![code_item(unit)]),
        text(tags::NUMERIC_VALUE, VR::DS, &shown),
    ]);
    if shown.parse::<f64>().ok() != Some(value) {
        measured.put(DataElement::new(
            tags::FLOATING_POINT_VALUE,
            VR::FD,
            PrimitiveValue::F64(vec![value].into()),
        ));
    }
    it.put(seq(tags::MEASURED_VALUE_SEQUENCE, vec![measured]));
    it
}

/// An IMAGE reference; `segment` names one segment of a SEG (Referenced Segment Number).
pub fn image(
    rel: Rel,
    name: &Code,
    sop_class: &str,
    sop_instance: &str,
    segment: Option<u16>,
) -> InMemDicomObject {
    let mut it = base(Some(rel), "IMAGE", name);
    let mut reference = item([
        text(tags::REFERENCED_SOP_CLASS_UID, VR::UI, sop_class),
        text(tags::REFERENCED_SOP_INSTANCE_UID, VR::UI, sop_instance),
    ]);
    if let Some(n) = segment {
        reference.put(us(tags::REFERENCED_SEGMENT_NUMBER, n));
    }
    it.put(seq(tags::REFERENCED_SOP_SEQUENCE, vec![reference]));
    it
}

/// Sets the item's Content Sequence (nothing when `children` is empty: an empty sequence is not
/// allowed there).
pub fn with_children(
    mut it: InMemDicomObject,
    children: Vec<InMemDicomObject>,
) -> InMemDicomObject {
    if !children.is_empty() {
        it.put(seq(tags::CONTENT_SEQUENCE, children));
    }
    it
}
