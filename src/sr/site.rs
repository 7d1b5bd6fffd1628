//! The finding site a sentence names, as a SNOMED CT code (TID 1411 "Finding Site", with a
//! laterality modifier for paired structures). As `seg::segment` picks a segment's property type
//! from the sentence, this picks its site; the node/lesion decision is that same rule
//! ([`SegmentedPropertyType::from_sentence`]) and the side is the QC's ([`sentence_side`]), so
//! the SEG, the QC and the SR never disagree about a sentence.
//!
//! Coverage is the sites the extractor's reports use (nodal stations, lung lobes, liver and its
//! Couinaud segments, spleen, vertebrae C1–L5, sacrum, iliac bone and a few other bones and
//! organs). Codes and meanings are those of DICOM PS3.16 (checked against pydicom 3.0.1's
//! `pydicom.sr._concepts_dict`, which is generated from it). A sentence naming none gets no site.

use crate::label::qc::{Side, sentence_side};
use crate::seg::{Code, Laterality, SegmentedPropertyType};

mod tables;
use tables::{COUINAUD, LOBES, NODES, OTHER, VERTEBRAE};

/// A coded finding site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FindingSite {
    pub site: Code,
    /// Only for paired structures, and only when the sentence names one side (or "bilateral").
    pub laterality: Option<Laterality>,
}

/// The site `sentence` names, if any.
pub fn finding_site(sentence: &str) -> Option<FindingSite> {
    let words = normalise(sentence);
    let side = side_of(sentence);
    let paired = |code: &str, meaning: &str, paired: bool| FindingSite {
        site: Code::new(code, "SCT", meaning),
        laterality: if paired { side } else { None },
    };
    if SegmentedPropertyType::from_sentence(sentence) == SegmentedPropertyType::LymphNode {
        let row = NODES.iter().find(|r| has_any(&words, r.0));
        return Some(match row {
            Some(&(_, code, meaning, p)) => paired(code, meaning, p),
            None => paired("59441001", "Lymph node", true),
        });
    }
    if let Some(&(_, code, meaning, own)) = LOBES.iter().find(|r| has_any(&words, r.0)) {
        let laterality = match own {
            Some(Side::Left) => Some(Laterality::Left),
            Some(Side::Right) => Some(Laterality::Right),
            // "Middle lobe of right lung" needs no side; a bare "upper lobe" takes the sentence's.
            None if code == "72481006" => None,
            None => side,
        };
        return Some(FindingSite {
            site: Code::new(code, "SCT", meaning),
            laterality,
        });
    }
    if let Some(s) = liver_segment(&words).or_else(|| vertebra(&words)) {
        return Some(s);
    }
    OTHER
        .iter()
        .find(|r| has_any(&words, r.0))
        .map(|&(_, code, meaning, p)| paired(code, meaning, p))
}

/// Lower-case words joined by single spaces, with a space at each end for whole-word search.
fn normalise(sentence: &str) -> String {
    let lower = sentence.to_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    format!(" {} ", words.join(" "))
}

fn has_any(words: &str, phrases: &[&str]) -> bool {
    phrases.iter().any(|p| words.contains(&format!(" {p} ")))
}

fn side_of(sentence: &str) -> Option<Laterality> {
    if has_any(&normalise(sentence), &["bilateral"]) {
        return Some(Laterality::Bilateral);
    }
    sentence_side(sentence).map(|s| match s {
        Side::Left => Laterality::Left,
        Side::Right => Laterality::Right,
    })
}

/// "hepatic segment 4", "segment IVa of the liver", "liver segment 7".
fn liver_segment(words: &str) -> Option<FindingSite> {
    if !has_any(words, &["liver", "hepatic"]) {
        return None;
    }
    let tokens: Vec<&str> = words.split_whitespace().collect();
    let after = tokens
        .windows(2)
        .find(|w| w[0] == "segment")
        .map(|w| w[1].trim_end_matches(['a', 'b']))?;
    const ROMAN: [&str; 8] = ["i", "ii", "iii", "iv", "v", "vi", "vii", "viii"];
    let n = match after.parse::<usize>() {
        Ok(n) => n,
        Err(_) => ROMAN.iter().position(|r| *r == after)? + 1,
    };
    let (code, meaning) = COUINAUD.get(n.checked_sub(1)?)?;
    Some(FindingSite {
        site: Code::new(code, "SCT", meaning),
        laterality: None,
    })
}

/// "T10", "L3 vertebral body", "C7".
fn vertebra(words: &str) -> Option<FindingSite> {
    words.split_whitespace().find_map(|w| {
        let (letter, digits) = w.split_at_checked(1)?;
        let n: usize = digits.parse().ok()?;
        let (name, codes) = VERTEBRAE
            .iter()
            .find(|(l, _)| l.eq_ignore_ascii_case(letter))?;
        let code = codes.get(n.checked_sub(1)?)?;
        Some(FindingSite {
            site: Code::new(code, "SCT", &format!("{name}{n} vertebra")),
            laterality: None,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site(s: &str) -> Option<(String, Option<Laterality>)> {
        finding_site(s).map(|f| (f.site.value, f.laterality))
    }

    #[test]
    fn the_phantom_sites() {
        use Laterality::*;
        // Every site text of tools/phantom (lesion.rs SITES), as its reports write them.
        for (s, code, lat) in [
            (
                "Right hilar lymph node, SUVmax 7.2, image 145.",
                "53074004",
                Some(Right),
            ),
            ("Left hilar lymph node, SUVmax 5.0.", "53074004", Some(Left)),
            ("Subcarinal lymph node, SUVmax 6.1.", "28330007", None),
            (
                "Right lower paratracheal (station 4R) lymph node.",
                "127932007",
                None,
            ),
            (
                "Right axillary lymph node, SUVmax 4.",
                "68171009",
                Some(Right),
            ),
            ("Left supraclavicular lymph node.", "76838003", Some(Left)),
            ("Right external iliac lymph node.", "65349008", Some(Right)),
            (
                "Right upper lobe pulmonary nodule.",
                "45653009",
                Some(Right),
            ),
            ("Right middle lobe pulmonary nodule.", "72481006", None),
            (
                "Right lower lobe pulmonary nodule.",
                "90572001",
                Some(Right),
            ),
            ("Left upper lobe pulmonary nodule.", "45653009", Some(Left)),
            ("Left lower lobe pulmonary nodule.", "90572001", Some(Left)),
            ("Hepatic segment 4 lesion, SUVmax 6.", "277958008", None),
            ("Hepatic segment 8 lesion.", "277962002", None),
            ("T10 vertebral body lesion, SUVmax 5.5.", "7610001", None),
            ("L3 vertebral body lesion.", "36470004", None),
            ("T6 vertebral body lesion.", "45296009", None),
            ("Right iliac bone lesion.", "22356005", Some(Right)),
            ("Left iliac bone lesion.", "22356005", Some(Left)),
        ] {
            assert_eq!(site(s), Some((code.to_owned(), lat)), "{s}");
        }
    }

    #[test]
    fn other_phrasings() {
        use Laterality::*;
        assert_eq!(
            site("Splenic lesion, SUVmax 4.1."),
            Some(("78961009".into(), None))
        );
        assert_eq!(
            site("Bilateral axillary nodes."),
            Some(("68171009".into(), Some(Bilateral)))
        );
        assert_eq!(
            site("Avid mediastinal adenopathy."),
            Some(("62683002".into(), None))
        );
        assert_eq!(
            site("A node in the left neck."),
            Some(("81105003".into(), Some(Left)))
        );
        assert_eq!(
            site("Liver lesion in segment VII."),
            Some(("277961009".into(), None))
        );
        assert_eq!(
            site("Hypermetabolic liver lesion."),
            Some(("10200004".into(), None))
        );
        assert_eq!(site("Lytic C7 lesion."), Some(("87391001".into(), None)));
        assert_eq!(site("Uptake in the L6 region."), None, "no L6 vertebra");
        assert_eq!(
            site("Left adrenal nodule."),
            Some(("23451007".into(), Some(Left)))
        );
        assert_eq!(site("Avid lymph node."), Some(("59441001".into(), None)));
        assert_eq!(site("Focal uptake, SUVmax 4.2."), None);
        // Staging shorthand is not a vertebra.
        assert_eq!(site("cT2N1M0 disease."), None);
    }
}
