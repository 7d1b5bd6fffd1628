//! The OBX part of an ORU^R01: report text in OBX order, the Study Instance UID observation and
//! the first OBX-11 status. Split from `oru.rs`, which owns the message-level rules.
use hl7_parser::Message;
use hl7_parser::message::Separators;

use super::escape::decode;
use super::oru::{OruError, STUDY_UID_CODE, component};

/// OBX-3 texts that name a report section. When such a section starts and its text does not
/// begin with the heading already, the heading is written as its own line (`IMPRESSION:`), so
/// the section structure survives for the text stage (report::sections).
const SECTION_NAMES: &[&str] = &[
    "HISTORY",
    "CLINICAL HISTORY",
    "INDICATION",
    "INDICATIONS",
    "CLINICAL INDICATION",
    "REASON FOR EXAM",
    "TECHNIQUE",
    "PROCEDURE",
    "COMPARISON",
    "FINDING",
    "FINDINGS",
    "IMPRESSION",
    "IMPRESSIONS",
    "CONCLUSION",
    "CONCLUSIONS",
    "SUMMARY",
    "RECOMMENDATION",
    "RECOMMENDATIONS",
    "ADDENDUM",
];

/// What the OBX segments carry.
#[derive(Debug, Default)]
pub(crate) struct Observations {
    pub text: String,
    pub study_uid: Option<String>,
    /// OBX-11 of the first text OBX, the fallback when OBR-25 is empty.
    pub first_status: Option<String>,
}

pub(crate) fn collect(message: &Message<'_>, seps: &Separators) -> Result<Observations, OruError> {
    let mut out = Observations::default();
    let mut lines: Vec<String> = Vec::new();
    let mut section: Option<String> = None;
    for obx in message.segments().filter(|s| s.name == "OBX") {
        let code = component(obx, 3, 1, seps).unwrap_or_default();
        let name = component(obx, 3, 2, seps).unwrap_or_default();
        if code == STUDY_UID_CODE || name.eq_ignore_ascii_case("Study Instance UID") {
            let uid = component(obx, 5, 1, seps).ok_or(OruError::BadStudyUid)?;
            if !is_uid(&uid) {
                return Err(OruError::BadStudyUid);
            }
            out.study_uid.get_or_insert(uid);
            continue;
        }
        let value_type = component(obx, 2, 1, seps).unwrap_or_default();
        if !matches!(value_type.as_str(), "TX" | "FT" | "ST") {
            continue;
        }
        if out.first_status.is_none() {
            out.first_status = component(obx, 11, 1, seps);
        }
        let value = value_lines(obx.field(5), seps);
        let heading = name.to_ascii_uppercase();
        if SECTION_NAMES.contains(&heading.as_str()) && section.as_ref() != Some(&heading) {
            if !starts_with_heading(&value, &heading) {
                if lines.last().is_some_and(|l| !l.is_empty()) {
                    lines.push(String::new());
                }
                lines.push(format!("{heading}:"));
            }
            section = Some(heading);
        }
        lines.extend(value);
    }
    while lines.last().is_some_and(|l| l.trim().is_empty()) {
        lines.pop();
    }
    out.text = lines.join("\n");
    Ok(out)
}

/// OBX-5: one line per repetition, each split again at decoded line breaks (`\.br\`).
fn value_lines(field: Option<&hl7_parser::message::Field<'_>>, seps: &Separators) -> Vec<String> {
    let Some(field) = field else {
        return vec![String::new()];
    };
    field
        .repeats()
        .flat_map(|rep| {
            decode(rep.raw_value(), seps)
                .split('\n')
                .map(|l| l.trim_end().to_owned())
                .collect::<Vec<_>>()
        })
        .collect()
}

fn starts_with_heading(lines: &[String], heading: &str) -> bool {
    lines
        .iter()
        .find(|l| !l.trim().is_empty())
        .is_some_and(|l| l.trim_start().to_ascii_uppercase().starts_with(heading))
}

/// DICOM UI: 1–64 characters of digits and dots.
fn is_uid(s: &str) -> bool {
    (1..=64).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit() || b == b'.')
}
