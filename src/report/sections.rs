//! Report sections: which parts of a report are read for findings.
//!
//! A heading is a line that starts with a known heading name followed by ":" ("FINDINGS:",
//! "Impression: 1. ..."), possibly after a short prefix ("PET/CT FINDINGS:", "CLINICAL
//! HISTORY:"), or a line that is only a heading name ("FINDINGS"). Findings, impression,
//! conclusion, summary, opinion and addendum are read; history, indication, technique,
//! comparison, procedure, radiopharmaceutical and the like are not (they hold prior values,
//! doses and technique numbers). Other "Label:" lines such as "Chest:" are body-region labels
//! inside findings and stay content. Policy:
//! - no heading at all: the whole text is read;
//! - at least one read heading: only the read sections;
//! - only ignored headings: everything except them, where an ignored section ends at the first
//!   blank line after its text.
//!
//! Linear in the text; looks at most the first 48 bytes of a line for a heading.

use super::Section;

/// Whether a section is read for findings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Read,
    Ignored,
}

/// Read headings that conclude the report: their sentences restate what FINDINGS describe.
const CONCLUDING: &[&str] = &[
    "impression",
    "impressions",
    "conclusion",
    "conclusions",
    "summary",
    "opinion",
    "interpretation",
    "diagnosis",
];

/// Read headings that name the findings themselves ("FINDINGS:", "PET/CT FINDINGS", "Results:").
const FINDINGS_NAMES: &[&str] = &["findings", "finding", "results", "result"];

/// The last word of a heading's label, lower-cased ("PET/CT FINDINGS" → "findings").
fn last_word(label: &str) -> Option<String> {
    label
        .split(|c: char| !c.is_alphabetic())
        .rfind(|w| !w.is_empty())
        .map(str::to_lowercase)
}

/// Whether a read heading names the findings.
fn is_findings_name(label: &str) -> bool {
    last_word(label).is_some_and(|w| FINDINGS_NAMES.contains(&w.as_str()))
}

/// The section a read heading opens.
fn section_of(label: &str) -> Section {
    if last_word(label).is_some_and(|w| CONCLUDING.contains(&w.as_str())) {
        Section::Impression
    } else {
        Section::Findings
    }
}

const IGNORED: &[&str] = &[
    "history",
    "indication",
    "indications",
    "clinical information",
    "clinical details",
    "clinical data",
    "clinical question",
    "reason for exam",
    "reason for study",
    "reason for examination",
    "reason for referral",
    "technique",
    "procedure",
    "protocol",
    "comparison",
    "comparisons",
    "prior studies",
    "prior study",
    "radiopharmaceutical",
    "radiotracer",
    "dose",
    "exam",
    "examination",
    "glucose",
    "blood glucose",
    "signed",
    "electronically signed",
    "dictated by",
    "clinical",
    "tech",
    "compare",
    "hx",
];

/// Longest prefix (bytes) of a line that is examined for a heading.
const HEAD_MAX: usize = 48;

/// Classifies a line as a heading; returns its class and the text after the colon.
fn heading(line: &str) -> Option<(Class, &str)> {
    let trimmed =
        line.trim_start_matches(|c: char| c.is_whitespace() || matches!(c, '#' | '*' | '_'));
    // A list item ("1) Reference: ...", "- Liver: ...") is content, never a section heading.
    if trimmed.starts_with(|c: char| c.is_ascii_digit() || matches!(c, '-' | '•' | '(')) {
        return None;
    }
    let colon = trimmed
        .char_indices()
        .take_while(|(i, _)| *i < HEAD_MAX)
        .find(|(_, c)| *c == ':');
    let (label, rest) = match colon {
        // "...corresponding to the MRI\nfindings:" is a wrapped sentence's tail: a heading
        // starts with a capital.
        Some(_) if !trimmed.starts_with(char::is_uppercase) => return None,
        Some((i, _)) => (&trimmed[..i], &trimmed[i + 1..]),
        // A heading alone on its line: short, starting with a capital, and not a sentence's
        // end ("...serve as\nreference." is the tail of a wrapped sentence, not a heading).
        None if trimmed.trim_end().len() <= HEAD_MAX
            && trimmed.starts_with(char::is_uppercase)
            && !trimmed.trim_end().ends_with(['.', ',', ';', ')']) =>
        {
            (trimmed, "")
        }
        None => return None,
    };
    let norm: String = label
        .chars()
        .map(|c| {
            if c.is_alphabetic() {
                c.to_ascii_lowercase()
            } else {
                ' '
            }
        })
        .collect();
    let words: Vec<&str> = norm.split_whitespace().collect();
    if words.is_empty() || words.len() > 5 {
        return None;
    }
    let joined = words.join(" ");
    let ends = |name: &&str| joined == *name || joined.ends_with(&format!(" {name}"));
    let exact = |name: &&str| joined == *name;
    // Without a colon the whole line must be the name (or an all-caps "PET/CT FINDINGS").
    let shouty = label.chars().any(char::is_alphabetic) && !label.chars().any(char::is_lowercase);
    let fits = |name: &&str| {
        if colon.is_some() || shouty {
            ends(name)
        } else {
            exact(name)
        }
    };
    if FINDINGS_NAMES
        .iter()
        .chain(CONCLUDING)
        .chain(&["addendum"])
        .any(fits)
    {
        Some((Class::Read, rest))
    } else if IGNORED.iter().any(fits) {
        Some((Class::Ignored, rest))
    } else {
        None
    }
}

/// The blocks of text to read for findings, in order, with the section each lies in. Blocks
/// never share a sentence.
pub(crate) fn readable_blocks(text: &str) -> Vec<(Section, String)> {
    let lines: Vec<(Option<(Class, &str)>, &str)> = text.lines().map(|l| (heading(l), l)).collect();
    let any_heading = lines.iter().any(|(h, _)| h.is_some());
    if !any_heading {
        return vec![(Section::Findings, text.to_string())];
    }
    let any_read = lines
        .iter()
        .any(|(h, _)| matches!(h, Some((Class::Read, _))));
    let mut blocks = Vec::new();
    let mut cur = String::new();
    let mut section = Section::Findings;
    // Before the first heading: read when no heading introduces the findings themselves (a
    // free-text body followed only by "IMPRESSION:" or "ADDENDUM:" is the findings).
    let findings_heading = lines.iter().any(|(h, l)| {
        matches!(h, Some((Class::Read, rest)) if is_findings_name(&l[..l.len() - rest.len()]))
    });
    let mut reading = !any_read || !findings_heading;
    let mut ignored_has_text = false;
    for (h, line) in lines {
        match h {
            Some((class, rest)) => {
                flush(&mut cur, section, &mut blocks);
                reading = class == Class::Read;
                if reading {
                    section = section_of(&line[..line.len() - rest.len()]);
                }
                ignored_has_text = !rest.trim().is_empty();
                if reading {
                    push_line(&mut cur, rest);
                }
            }
            None if reading => push_line(&mut cur, line),
            // A body-region label ("CHEST: ...", "ABDOMEN/PELVIS: ...") after an ignored
            // section or before any read heading is the findings of a report that has no
            // FINDINGS heading: read it.
            None if is_region_line(line) => {
                flush(&mut cur, section, &mut blocks);
                reading = true;
                section = Section::Findings;
                push_line(&mut cur, line);
            }
            None => {
                let blank = line.trim().is_empty();
                if !any_read && blank && ignored_has_text {
                    reading = true;
                    section = Section::Findings;
                }
                ignored_has_text |= !blank;
            }
        }
    }
    flush(&mut cur, section, &mut blocks);
    blocks
}

fn is_region_line(line: &str) -> bool {
    super::labels::is_region_name(line.trim_start())
}

fn push_line(cur: &mut String, line: &str) {
    cur.push_str(line);
    cur.push('\n');
}

fn flush(cur: &mut String, section: Section, blocks: &mut Vec<(Section, String)>) {
    if !cur.trim().is_empty() {
        blocks.push((section, std::mem::take(cur)));
    }
    cur.clear();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headings_recognised() {
        assert_eq!(heading("FINDINGS:"), Some((Class::Read, "")));
        assert_eq!(
            heading("Impression: 1. Node."),
            Some((Class::Read, " 1. Node."))
        );
        assert_eq!(heading("PET/CT FINDINGS"), Some((Class::Read, "")));
        assert_eq!(
            heading("CLINICAL HISTORY: lymphoma"),
            Some((Class::Ignored, " lymphoma"))
        );
        assert_eq!(
            heading("Comparison: PET/CT 1/2/2023."),
            Some((Class::Ignored, " PET/CT 1/2/2023."))
        );
        assert_eq!(heading("Findings of the neck are normal."), None);
        assert_eq!(heading("Chest: right hilar node."), None);
        assert_eq!(heading("Right hilar node SUVmax 7.2"), None);
        // Issue 15: the tail of a wrapped sentence is no heading.
        assert_eq!(heading("reference."), None);
        assert_eq!(heading("as reference."), None);
        // "Reference: liver SUVmax 2.8" is content (the reference rules skip it), not a section
        // whose end would have to be guessed.
        assert_eq!(heading("Reference:"), None);
    }

    #[test]
    fn only_read_sections_when_present() {
        let r = "HISTORY: prior SUVmax 9.\nTECHNIQUE: 370 MBq.\nFINDINGS:\nNode SUVmax 7.2.\n\
                 COMPARISON: none\nIMPRESSION: Node.";
        let b = readable_blocks(r);
        assert_eq!(
            b,
            vec![
                (Section::Findings, "\nNode SUVmax 7.2.\n".to_string()),
                (Section::Impression, " Node.\n".to_string())
            ]
        );
    }

    #[test]
    fn no_headings_reads_everything() {
        let r = "Right hilar node SUVmax 7.2.\nLeft node.";
        assert_eq!(readable_blocks(r), vec![(Section::Findings, r.to_string())]);
    }

    #[test]
    fn ignored_only_ends_at_blank_line() {
        let r = "Clinical history: lymphoma, SUVmax 9 before.\n\nRight hilar node SUVmax 7.2.";
        let b = readable_blocks(r);
        assert_eq!(
            b,
            vec![(
                Section::Findings,
                "Right hilar node SUVmax 7.2.\n".to_string()
            )]
        );
    }
}
