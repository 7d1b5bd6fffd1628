//! Labels at the start of a report line or sentence: body-region labels ("CHEST:", "HEAD &
//! NECK:", "Head and neck:"), short labels ("Liver:", "Thyroid bed:"), numbered lesion labels
//! ("Lesion 1:") and key:value lesion fields ("Location:", "SUVmax:"). `sentences` keeps labels
//! out of the sentence (fields stay) and `sections` reads the findings that region labels open.
//! Pure string code.

/// Words of body-region labels ("Head and neck:", "Abdomen/pelvis:", "Musculoskeletal:").
const REGION_WORDS: &[&str] = &[
    "head",
    "neck",
    "chest",
    "thorax",
    "thoracic",
    "lung",
    "lungs",
    "mediastinum",
    "mediastinal",
    "hila",
    "hilar",
    "abdomen",
    "abdominal",
    "pelvis",
    "pelvic",
    "musculoskeletal",
    "skeleton",
    "skeletal",
    "bone",
    "bones",
    "osseous",
    "liver",
    "spleen",
    "extremities",
    "extremity",
    "lymph",
    "nodes",
    "node",
    "other",
    "brain",
    "soft",
    "tissues",
    "tissue",
    "and",
    "upper",
    "lower",
    "body",
    "whole",
    "axilla",
    "axillae",
    "breast",
    "breasts",
    "cardiac",
    "heart",
    "retroperitoneum",
    "marrow",
    "visceral",
    "viscera",
    "genitourinary",
    "gastrointestinal",
];

/// Words that make a "Label:" a measurement ("SUV: 7.2", "Image: 145"), never a region label.
pub(crate) const VALUE_WORDS: &[&str] = &[
    "suv", "suvmax", "image", "images", "im", "img", "slice", "sl", "series", "se",
];

/// First words of a diagnosis or response statement ("Recurrent metastatic melanoma:").
const DIAGNOSIS_LEADS: &[&str] = &[
    "recurrent",
    "partial",
    "complete",
    "progressive",
    "metastatic",
    "oligometastatic",
    "stable",
    "mixed",
    "residual",
];

/// A "Label:" at the start of a line or sentence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Label {
    /// A body region or organ system: all capitals ("CHEST:", "HEAD & NECK:",
    /// "ABDOMEN/PELVIS:") or made of region words ("Head and neck:", "Abdomen and pelvis:").
    Region,
    /// Another short label starting with a capital ("Liver:", "Thyroid bed:", "Note:").
    Other,
}

/// The label ending in ":" at the start of `s` and the text after it: 1-4 words of letters
/// only, without an SUV or image keyword ("Image 22:" and "SUVmax: 7.2" are content).
pub(crate) fn label(s: &str) -> Option<(Label, &str)> {
    let colon = s.char_indices().take(40).find(|(_, c)| *c == ':')?.0;
    let (label, rest) = (&s[..colon], &s[colon + 1..]);
    if !rest.is_empty() && !rest.starts_with(char::is_whitespace) {
        return None;
    }
    if is_lesion_number(label) {
        return Some((Label::Other, rest.trim_start()));
    }
    let is_sep = |c: char| c.is_whitespace() || matches!(c, '/' | '&' | ',' | '-' | '(' | ')');
    let words: Vec<String> = label
        .split(is_sep)
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect();
    let letters = label.chars().filter(|c| c.is_alphabetic()).count();
    let plain = label.chars().all(|c| c.is_alphabetic() || is_sep(c));
    if words.is_empty() || words.len() > 4 || letters < 2 || !plain {
        return None;
    }
    if words.iter().any(|w| VALUE_WORDS.contains(&w.as_str())) {
        return None;
    }
    let capitals = !label.chars().any(char::is_lowercase);
    let regions = words.iter().all(|w| REGION_WORDS.contains(&w.as_str()));
    // "Partial metabolic response (PERCIST): primary SUVmax 6.1 ..." and "Recurrent metastatic
    // melanoma: new avid left axillary node ...": a diagnosis or response before a colon, with
    // the text going on, is the start of the sentence, not a label.
    let diagnosis = !rest.trim().is_empty()
        && (label.contains('(')
            || (words.len() >= 2 && DIAGNOSIS_LEADS.contains(&words[0].as_str())));
    let kind = if capitals || regions {
        Label::Region
    } else if label.starts_with(char::is_uppercase) && !diagnosis {
        Label::Other
    } else {
        return None;
    };
    Some((kind, rest.trim_start()))
}

/// Whether `s` starts with a label made of body-region words ("CHEST:", "Head and neck:",
/// "ABDOMEN/PELVIS:"), not merely one in capitals ("TECH:", "HX:").
pub(crate) fn is_region_name(s: &str) -> bool {
    let Some((Label::Region, _)) = label(s) else {
        return false;
    };
    let colon = s.find(':').unwrap_or(s.len());
    s[..colon]
        .split(|c: char| c.is_whitespace() || matches!(c, '/' | '&' | ',' | '-'))
        .filter(|w| !w.is_empty())
        .all(|w| REGION_WORDS.contains(&w.to_lowercase().as_str()))
}

/// A numbered lesion label: "Lesion 1", "Target lesion 2", "Index lesion #3" (a list marker).
fn is_lesion_number(label: &str) -> bool {
    let words: Vec<String> = label
        .split(|c: char| c.is_whitespace() || c == '#')
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect();
    match words.as_slice() {
        [l, n] | [_, l, n] => {
            matches!(l.as_str(), "lesion" | "site" | "finding")
                && n.len() <= 2
                && n.chars().all(|c| c.is_ascii_digit())
                && (words.len() == 2
                    || matches!(words[0].as_str(), "target" | "index" | "measurable" | "non"))
        }
        _ => false,
    }
}

/// Removes a label ([`label`]) from the start of `s`; says whether one was there.
pub(crate) fn strip_region_label(s: &str) -> (bool, &str) {
    match label(s) {
        Some((_, rest)) => (true, rest),
        None => (false, s),
    }
}

/// Words that name a field of a key:value lesion block ("Location: segment VII", "Size: 2.1
/// cm", "SUVmax: 8.9", "Image: 141"): such lines join into one sentence and keep their labels.
const FIELD_WORDS: &[&str] = &[
    "location",
    "size",
    "site",
    "dimensions",
    "dimension",
    "measurement",
    "measurements",
    "description",
    "comment",
    "comments",
    "status",
    "suvmax",
    "suv",
    "image",
    "slice",
    "sl",
    "im",
    "level",
    "side",
    "morphology",
    "density",
];

pub(crate) fn is_field_line(line: &str) -> bool {
    let Some(colon) = line
        .char_indices()
        .take(24)
        .find(|(_, c)| *c == ':')
        .map(|(i, _)| i)
    else {
        return false;
    };
    let key = line[..colon].trim().to_lowercase();
    let first = key.split_whitespace().next().unwrap_or("");
    key.split_whitespace().count() <= 2 && FIELD_WORDS.contains(&first)
}
