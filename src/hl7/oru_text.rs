//! The OBX part of an ORU^R01: report text in OBX order, the Study Instance UID observation and
//! the first OBX-11 status. Split from `oru.rs`, which owns the message-level rules.
use hl7_parser::message::Separators;

use super::er7::Segment;

use super::er7::component;
use super::error::OruError;
use super::escape::decode;

/// OBX-3 texts that name a report section. When such a section starts and its text does not
/// begin with the heading already, the heading is written as its own line (`IMPRESSION:`), so
/// the section structure survives for the text stage (report::sections).
/// OBX-3 code for "Study Instance UID" (DCM 113014 "DICOM Study").
pub const STUDY_UID_CODE: &str = "113014";

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

pub(crate) fn collect<'m>(
    segments: impl Iterator<Item = Segment<'m>>,
    seps: &Separators,
) -> Result<Observations, OruError> {
    let mut out = Observations::default();
    // Every line ends with '\n' here; one buffer, not one String per line (an OBX-5 of
    // millions of empty repetitions once cost ~50 bytes of bookkeeping per byte received).
    let mut text = String::new();
    let mut section: Option<String> = None;
    for obx in segments.filter(|s| s.name == "OBX") {
        let code = component(&obx, 3, 1, seps).unwrap_or_default();
        let name = component(&obx, 3, 2, seps).unwrap_or_default();
        if code == STUDY_UID_CODE || name.eq_ignore_ascii_case("Study Instance UID") {
            let uid = component(&obx, 5, 1, seps).ok_or(OruError::BadStudyUid)?;
            if !crate::ids::is_uid(&uid) {
                return Err(OruError::BadStudyUid);
            }
            out.study_uid.get_or_insert(uid);
            continue;
        }
        let value_type = component(&obx, 2, 1, seps).unwrap_or_default();
        if !matches!(value_type.as_str(), "TX" | "FT" | "ST") {
            continue;
        }
        if out.first_status.is_none() {
            out.first_status = component(&obx, 11, 1, seps);
        }
        let value = value_lines(&obx, seps);
        let heading = name.to_ascii_uppercase();
        if SECTION_NAMES.contains(&heading.as_str()) && section.as_ref() != Some(&heading) {
            if !starts_with_heading(&value, &heading) {
                if last_line_has_text(&text) {
                    text.push('\n');
                }
                text.push_str(&heading);
                text.push_str(":\n");
            }
            section = Some(heading);
        }
        text.push_str(&value);
    }
    // Trailing blank lines go (lines are trimmed at the end, so blank lines are empty).
    text.truncate(text.trim_end_matches('\n').len());
    out.text = text;
    Ok(out)
}

/// OBX-5: one line per repetition, each split again at decoded line breaks (`\.br\`); every
/// line trimmed at its end and followed by '\n'.
fn value_lines(obx: &Segment<'_>, seps: &Separators) -> String {
    let mut out = String::new();
    if obx.field(5).is_none() {
        out.push('\n');
        return out;
    }
    for rep in obx.repetitions(5) {
        for line in decode(rep, seps).split('\n') {
            out.push_str(line.trim_end());
            out.push('\n');
        }
    }
    out
}

fn last_line_has_text(text: &str) -> bool {
    text.strip_suffix('\n')
        .is_some_and(|t| !t.is_empty() && !t.ends_with('\n'))
}

fn starts_with_heading(lines: &str, heading: &str) -> bool {
    lines
        .lines()
        .find(|l| !l.trim().is_empty())
        .is_some_and(|l| l.trim_start().to_ascii_uppercase().starts_with(heading))
}
