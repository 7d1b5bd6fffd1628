//! Report findings (CONTRACT §4): from a report's text, every sentence that describes a lesion
//! with uptake, its current-exam SUVmax and its axial image number. Pure, synchronous,
//! deterministic, linear-time text code with no regular expressions; the `hl7` listener, the
//! pipeline and `tools/train` call it, and the CLI's `petground findings` prints it.
//!
//! Steps: an ORU message's text comes from the node's one HL7 reader, [`crate::hl7::oru`]
//! (or the input is plain text);
//! `sections` keeps FINDINGS/IMPRESSION (or all text when there are no headings); `sentences`
//! splits; `lexer` tokenises one sentence; `measure` finds SUV values and `slices` image numbers,
//! each with the exam it belongs to; `findings` groups them into findings. Rules the code follows:
//!
//! - **SUV**: "SUVmax 7.2", "SUV max (of|=|:) 7.2", "max/maximum SUV 7.2", "SUV 7.2",
//!   "(SUV 7.2)", "SUV (max) 7.2", "SUVbw 7.2", "7.2 g/mL", "maximum standardized uptake value
//!   of 7.2", numbers written 7, 7.2 or .9. SUVmean, SUVpeak and SUL are not SUVmax.
//! - **Image**: "image 145", "slice 145", "axial image 145", "im 145", "img 145", "image no. 145",
//!   "(series 4, image 145)", "series/image 4/145", "image 145 of 300", "image 145/300".
//!   A range "images 140-150" gives its first number; "images 145 and 98" a list.
//! - **Not a finding's value**: prior-exam values ("previously 4.1", "was 5.0", "compared to 6.3
//!   on the prior", "from 8.2", "prior SUVmax 4.1", "5.0 at baseline"); reference and physiologic
//!   uptake ("Liver SUVmax 2.8", "mediastinal blood pool SUVmax 1.9", "physiologic uptake in the
//!   bowel, SUVmax 6.0", "vs liver 2.3"); sizes, doses, times and counts (a number followed by a
//!   unit or a lesion noun); dates; stations and vertebrae written glued to letters ("4R",
//!   "T12"); series numbers; the lower end of a range ("SUVmax 4.1-7.2" gives 7.2).
//! - **Which sentences give findings**: a sentence with a current-exam SUVmax gives a finding,
//!   with or without an image number, unless the uptake is negated or gone ("without
//!   significant uptake", "non-avid", "resolved"). A sentence with an image number but no SUV
//!   gives a finding with `suv_max` null only when it has an uptake word ("hypermetabolic",
//!   "avid", "uptake", "activity", "PSMA-expressing", "positive"), no negation, and no reference
//!   or prior-exam value in the same finding: "Left axillary node, image 98, is hypermetabolic"
//!   is one, "8 mm nodule on image 88" and "previously SUVmax 5.0, image 150" are not. We keep
//!   these because a physician pointed at the lesion and called it avid; the weak-label step
//!   skips findings without an SUV, so they cost nothing there.
//! - **Sentences with no number at all** give one finding with `suv_max` and `slice` null when
//!   they name exactly one lesion, in the singular ("node", "mass", "lesion", "focus", …), say it
//!   has uptake (an uptake word as above), and have no negator, no resolution, reference or
//!   physiologic word and no prior-exam word: "Hypermetabolic right axillary lymph node (1.6
//!   cm)." is one; "No hypermetabolic lymphadenopathy", "Physiologic uptake in the bowel",
//!   "Previously avid node has resolved", "Multiple avid liver lesions" and an impression that
//!   lists several lesions are not. Only the grounding model can place these (the weak-label step needs an SUV); its input
//!   `text` is the whole sentence.
//! - **Several lesions in one sentence** give one finding each (a second SUV or image number, or
//!   a new lesion noun after "and"/","/";", starts the next finding; "respectively" lists are
//!   zipped). Each finding's `sentence` is the whole source sentence (CONTRACT §4) and its `text`
//!   is that sentence with only this finding's SUV value and image number cut out, so the other
//!   lesion's numbers remain and still tell the model which lesion is meant.
//! - **Uptake called physiologic after the value**: "Coeliac ganglion uptake, SUVmax 3.1, is
//!   physiological" gives nothing when no lesion word comes before the value; with one
//!   ("Focus in the sigmoid colon, SUVmax 12.4, likely physiologic") the physician still points
//!   at a focus with uptake, so it stays a finding.
//! - FINDINGS and IMPRESSION are both read and their findings are not merged here: an
//!   impression that repeats "SUVmax 6.4" gives a second finding, marked [`Section::Impression`].
//!   The job core merges findings that ground to the same lesion into one segment
//!   (`pipeline::restate`), since only the image can tell that two sentences mean one lesion.
//! - **Whole reports**: hard-wrapped lines are unwrapped (`sentences`); body-region labels
//!   alone or inline ("CHEST:", "HEAD & NECK:", "ABDOMEN/PELVIS:", "Head and neck:") and list
//!   markers are kept out of the sentence; a semicolon never ends a sentence.
//! - **Tables of lesions** (`tables`): a header row naming the SUVmax column (and the image
//!   column), then a row per lesion; each row is one sentence. "Prior"/"baseline" columns are
//!   never the value.
//! - Sentences are at most 2000 bytes; longer runs are cut at white space (they are not prose),
//!   which also bounds the output of hostile input.
mod cues;
mod findings;
mod labels;
mod lexer;
mod measure;
mod sections;
mod sentences;
mod slices;
mod tables;

#[cfg(test)]
mod tests;

use serde::Serialize;

use crate::hl7::oru::OruError;

/// One finding (CONTRACT §4). Field order is the JSON order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    /// The source sentence, whitespace-normalised.
    pub sentence: String,
    /// The current exam's SUVmax of the lesion, if written.
    pub suv_max: Option<f64>,
    /// The axial image number as written, if any.
    pub slice: Option<u32>,
    /// The sentence with this finding's SUV value and image number removed (the model's input).
    pub text: String,
    /// The part of the report the sentence is in (not part of the JSON of CONTRACT §4): decides
    /// which sentence describes a lesion that FINDINGS and IMPRESSION both name.
    #[serde(skip)]
    pub section: Section,
}

/// Where in the report a finding was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Section {
    /// FINDINGS (or a report without headings).
    #[default]
    Findings,
    /// IMPRESSION, CONCLUSION, SUMMARY, OPINION and the like: restates what FINDINGS describe.
    Impression,
}

/// Why a report could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The input is an HL7 message whose report text cannot be read.
    #[error("reading report text from HL7 message: {0}")]
    Hl7(#[from] OruError),
}

/// Findings of a plain-text report.
pub fn findings_from_text(report: &str) -> Vec<Finding> {
    // "\r\n" and a lone "\r" (as in HL7 text pasted into a file) are line breaks too.
    let normalised;
    let report = if report.contains('\r') {
        normalised = report.replace("\r\n", "\n").replace('\r', "\n");
        normalised.as_str()
    } else {
        report
    };
    let mut out = Vec::new();
    let width = wrap_width(report);
    for (section, block) in sections::readable_blocks(report) {
        for piece in tables::split_tables(&block) {
            match piece {
                tables::Piece::Prose(text) => {
                    for sentence in sentences::split(&text, width) {
                        findings_of_sentence(&sentence, section, &mut out);
                    }
                }
                tables::Piece::Rows(rows) => out.extend(rows.into_iter().map(|r| Finding {
                    sentence: r.sentence,
                    suv_max: r.suv_max,
                    slice: r.slice,
                    text: r.text,
                    section,
                })),
            }
        }
    }
    out
}

/// The width a report is (or could be) hard-wrapped at: the 75th percentile of the lengths of
/// its lines of 40 characters or more (a few longer lines, a title or an unwrapped paragraph,
/// do not raise it), in characters.
fn wrap_width(report: &str) -> usize {
    let mut long: Vec<usize> = report
        .lines()
        .map(|l| l.trim().chars().count())
        .filter(|&n| n >= 40)
        .collect();
    long.sort_unstable();
    long.get(long.len() * 3 / 4).copied().unwrap_or(80)
}

/// Findings of a report given as bytes: plain text, or an HL7 v2 ORU message (`\r` or `\n`
/// segment separators, with or without MLLP framing). An ORU is read by the listener's own
/// reader ([`crate::hl7::oru::parse_text`]: OBX text, section headings from OBX-3, escapes,
/// MSH-18 character set), so a report gives the same findings here as through the network.
/// Invalid UTF-8 in plain text is decoded lossily.
pub fn findings_from_input(bytes: &[u8]) -> Result<Vec<Finding>, ReportError> {
    let unframed = crate::hl7::mllp::unframe(bytes);
    if crate::hl7::oru::looks_like_hl7(unframed) {
        let text = crate::hl7::oru::parse_text(unframed)?;
        Ok(findings_from_text(&text))
    } else {
        // Plain text never carries framing; use the bytes as given.
        Ok(findings_from_text(&String::from_utf8_lossy(bytes)))
    }
}

/// Writes one JSON object per finding per line (CONTRACT §4), as `petground findings --json`.
pub fn write_findings_json(
    findings: &[Finding],
    out: &mut impl std::io::Write,
) -> std::io::Result<()> {
    for f in findings {
        serde_json::to_writer(&mut *out, f)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

/// Writes one human-readable line per finding: SUVmax, image number ("-" when absent), sentence,
/// tab-separated; for `petground findings` without `--json`.
pub fn write_findings_text(
    findings: &[Finding],
    out: &mut impl std::io::Write,
) -> std::io::Result<()> {
    for f in findings {
        let suv = f.suv_max.map_or_else(|| "-".to_string(), |v| v.to_string());
        let slice = f.slice.map_or_else(|| "-".to_string(), |v| v.to_string());
        writeln!(out, "{suv}\t{slice}\t{}", f.sentence)?;
    }
    Ok(())
}

/// Appends the findings of one (normalised) sentence.
fn findings_of_sentence(sentence: &str, section: Section, out: &mut Vec<Finding>) {
    let toks = lexer::lex(sentence);
    let suv = measure::find_suv(&toks);
    let slices = slices::find_slices(&toks);
    if suv.is_empty() && slices.is_empty() {
        if findings::numberless(&toks) {
            out.push(Finding {
                sentence: sentence.to_string(),
                suv_max: None,
                slice: None,
                text: sentence.to_string(),
                section,
            });
        }
        return;
    }
    for d in findings::assemble(&toks, &suv, &slices) {
        let suv_hit = d.suv.and_then(|k| suv.iter().find(|h| h.tok == k));
        let slice_hit = d.slice.and_then(|k| slices.iter().find(|h| h.tok == k));
        let mut cuts: Vec<(usize, usize)> = Vec::new();
        cuts.extend(suv_hit.map(|h| (toks[h.tok].start, toks[h.tok].end)));
        cuts.extend(slice_hit.map(|h| (toks[h.tok].start, toks[h.tok].end)));
        cuts.sort_unstable();
        out.push(Finding {
            sentence: sentence.to_string(),
            suv_max: suv_hit.map(|h| h.value),
            slice: slice_hit.map(|h| h.value),
            text: cut(sentence, &cuts),
            section,
        });
    }
}

/// The sentence without the given (sorted, disjoint) byte spans.
fn cut(s: &str, spans: &[(usize, usize)]) -> String {
    let mut out = String::with_capacity(s.len());
    let mut at = 0;
    for &(a, b) in spans {
        if a >= at {
            out.push_str(&s[at..a]);
            at = b;
        }
    }
    out.push_str(&s[at..]);
    out
}
