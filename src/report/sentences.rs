//! Sentence splitting for report text (plain text or OBX lines joined by line breaks).
//!
//! A sentence ends at ".", "!" or "?" followed by white space (so "7.2" never splits), unless the
//! word before is an abbreviation ("approx.", "e.g.", "i.e.", "Fig.", "vs.", a single letter) or
//! the next word starts in lower case. A semicolon never ends a sentence: what follows it is the
//! same finding's image number or SUV, or a prior-exam clause, or the next lesion of the same
//! sentence (the findings stage separates lesions). Hard-wrapped lines are unwrapped: a line
//! break is a space unless a blank line, a list item ("1.", "a)", "-", "•") or a line that could
//! not have been wrapped says otherwise (shorter than 40 characters, or the next line's first word
//! was clearly shorter than the report's longest line even with the next word). List markers are removed. A run
//! longer than [`MAX_SENTENCE`] bytes is cut at white space, so no sentence (and no finding) can
//! grow without bound. Output sentences are whitespace-normalised. Linear time.

use super::labels::{VALUE_WORDS, is_field_line, strip_region_label};

/// Longest sentence kept in one piece (bytes); longer runs are not prose.
pub(crate) const MAX_SENTENCE: usize = 2000;

const ABBREVIATIONS: &[&str] = &[
    "approx", "e.g", "i.e", "eg", "ie", "fig", "figs", "vs", "dr", "mr", "mrs", "ms", "no", "nos",
    "st", "cf", "incl", "ca", "resp", "pt", "pts", "hx", "dx", "max", "min", "im", "img", "ser",
    "sl", "ant", "post", "lat", "sup", "inf", "vol", "seg", "approx", "est", "prev", "int",
];

const JOINERS: &[&str] = &[
    "with",
    "of",
    "the",
    "and",
    "in",
    "a",
    "an",
    "to",
    "at",
    "on",
    "measuring",
    "or",
    "by",
    "from",
    "for",
    "is",
    "are",
    "was",
    "which",
    "that",
    "than",
    "demonstrating",
    "showing",
    "suvmax",
    "suv",
    "max",
    "image",
    "images",
    "slice",
    "slices",
    "im",
    "img",
    "series",
    "axial",
    "no",
    "up",
    "sl",
    "se",
    "ser",
    "number",
    "segment",
    "level",
    "station",
    "vs",
    "versus",
    "than",
];

/// Splits a block of report text into whitespace-normalised sentences. `width` is the longest
/// line of the whole report (characters): the hard-wrap width it was typed or sent at, at least.
pub(crate) fn split(block: &str, width: usize) -> Vec<String> {
    let mut out = Vec::new();
    for segment in join_lines(block, width) {
        split_segment(&segment, &mut out);
    }
    out
}

/// Shortest line that can be a hard wrap: RIS and editors wrap at 60-80 characters, so a line
/// shorter than this that ends without punctuation is a line of its own (an OBX per finding, a
/// terse fragment), not half of a wrapped sentence.
const MIN_WRAPPED_LINE: usize = 40;

/// Joins hard-wrapped lines; returns the line groups that cannot share a sentence. A line break
/// is a space unless a blank line, a list marker or end-of-sentence punctuation says otherwise,
/// or the line could not have been wrapped: it is short, or the next line's first word would
/// have fitted on it within `width`.
fn join_lines(block: &str, width: usize) -> Vec<String> {
    let mut groups = Vec::new();
    let mut cur = String::new();
    let mut prev_len = 0usize;
    // The last line continued a full line: it is the tail of a wrapped line (or of a line
    // wrapped twice, by its author and again by the RIS), so it goes on unless punctuated.
    let mut tail = false;
    let mut prev_field = false;
    // The group began as a dash item: its successors are dash items too.
    let mut dash_list = false;
    let mut last_number = 0u32;
    for raw in block.lines() {
        let full = prev_len >= MIN_WRAPPED_LINE && 4 * prev_len > 3 * width;
        let dash = raw.trim_start().starts_with(['-', '–']);
        // A numbered item out of sequence ("1. ... (Krenning\n4) in segments ...") is a
        // wrapped line, not item 4.
        let number = list_number(raw);
        let out_of_sequence =
            number.is_some_and(|n| last_number > 0 && n != 1 && n != last_number + 1);
        // "... more than three times the liver, Deauville\n5." after a full line that does not
        // end a sentence: no list has begun, so "5." is the wrapped end of the sentence.
        let orphan_number =
            number.is_some_and(|n| n != 1 && last_number == 0) && full && !ends_punctuated(&cur);
        let (marker, line) = match strip_list_marker(raw) {
            (true, _) if (out_of_sequence || orphan_number) && !cur.trim().is_empty() => {
                (false, raw.trim())
            }
            // "...SUV max 6.2, im\n83. 4R LN": a number after an open word is no list item, and
            // "...and liver\n- Deauville 3." a dash after a full unpunctuated line is no bullet.
            (true, _)
                if !cur.trim().is_empty()
                    && (ends_open(&cur)
                        || (dash && !dash_list && full && !ends_punctuated(&cur))) =>
            {
                (false, raw.trim())
            }
            other => other,
        };
        let field = is_field_line(line.trim());
        let (label, line) = if field {
            (false, line.trim())
        } else {
            strip_region_label(line.trim())
        };
        let (marker2, line) = if label {
            strip_list_marker(line)
        } else {
            (false, line)
        };
        let line = line.trim();
        if line.is_empty() {
            push_group(&mut cur, &mut groups);
            tail = false;
            prev_field = false;
            continue;
        }
        let go_on = (field && prev_field)
            || (tail && !ends_punctuated(&cur))
            || continues(&cur, prev_len, line, width);
        let joined = !cur.trim().is_empty() && !marker && !label && !marker2 && go_on;
        if !joined {
            push_group(&mut cur, &mut groups);
            dash_list = marker && dash;
        }
        if marker && let Some(n) = number {
            last_number = n;
        }
        tail = joined && full;
        prev_field = field;
        if !cur.is_empty() {
            cur.push(' ');
        }
        cur.push_str(line);
        prev_len = line.chars().count();
    }
    push_group(&mut cur, &mut groups);
    groups
}

fn ends_punctuated(cur: &str) -> bool {
    cur.trim_end().ends_with(['.', '!', '?', ':'])
}

/// Whether `next` continues the text `cur`, whose last line was `prev_len` characters long.
fn continues(cur: &str, prev_len: usize, next: &str, width: usize) -> bool {
    if cur.trim().is_empty() {
        return true;
    }
    if ends_open(cur) {
        return true;
    }
    // A line that starts in lower case, with a digit, "(" or an image keyword continues what
    // came before ("prior\nstudy dated", "SUVmax\n7.2", "SUVmax 12.7\n(im 70)").
    let starts_continuation = next.starts_with(|c: char| c.is_lowercase() || c.is_ascii_digit())
        || next.starts_with('(')
        || next
            .split(|c: char| !c.is_alphabetic())
            .next()
            .is_some_and(|w| VALUE_WORDS.contains(&w.to_lowercase().as_str()));
    if starts_continuation {
        return true;
    }
    if ends_punctuated(cur) {
        // A sentence end; the splitter decides (it keeps "approx." and "7." together).
        return true;
    }
    let first_word = next
        .split_whitespace()
        .next()
        .map_or(0, |w| w.chars().count());
    prev_len >= MIN_WRAPPED_LINE && 4 * (prev_len + 1 + first_word) > 3 * width
}

fn push_group(cur: &mut String, groups: &mut Vec<String>) {
    if !cur.trim().is_empty() {
        groups.push(std::mem::take(cur));
    }
    cur.clear();
}

/// Whether text ending this way continues on the next line (",", "with", "SUVmax").
fn ends_open(cur: &str) -> bool {
    let t = cur.trim_end();
    if t.ends_with([',', '(', '-', ';', '/', '&']) {
        return true;
    }
    let last = t
        .rsplit(|c: char| !c.is_alphanumeric())
        .next()
        .unwrap_or("")
        .to_lowercase();
    // An adverb cannot end a sentence without its punctuation ("...node is mildly\nFDG-avid").
    let adverb = last.len() > 4 && last.ends_with("ly");
    adverb || JOINERS.contains(&last.as_str())
}

/// The number of a numbered list marker ("3.", "3)", "(3)") at the start of the line.
fn list_number(line: &str) -> Option<u32> {
    let t = line.trim_start();
    let t = t.strip_prefix('(').unwrap_or(t);
    let digits: String = t.chars().take_while(char::is_ascii_digit).collect();
    let after = t[digits.len()..].chars().next();
    if digits.is_empty() || digits.len() > 2 || !matches!(after, Some('.' | ')')) {
        return None;
    }
    digits.parse().ok()
}

/// Removes a leading list marker ("1.", "2)", "a)", "-", "*", "•") and says whether one was there.
fn strip_list_marker(line: &str) -> (bool, &str) {
    let t = line.trim_start();
    let mut chars = t.char_indices();
    let Some((_, c0)) = chars.next() else {
        return (false, t);
    };
    let after_marker = if matches!(c0, '-' | '*' | '•' | '·' | '▪' | '‣' | '–') {
        Some(c0.len_utf8())
    } else {
        let body = t.strip_prefix('(').unwrap_or(t);
        let off = t.len() - body.len();
        let digits = body.bytes().take_while(u8::is_ascii_digit).count();
        let letter = usize::from(
            digits == 0 && body.chars().next().is_some_and(|c| c.is_ascii_alphabetic()),
        );
        let n = if (1..=2).contains(&digits) {
            digits
        } else {
            letter
        };
        match body.as_bytes().get(n) {
            Some(b'.' | b')') if n > 0 => Some(off + n + 1),
            _ => None,
        }
    };
    match after_marker {
        Some(i) if t[i..].starts_with(char::is_whitespace) => (true, t[i..].trim_start()),
        _ => (false, t),
    }
}

/// Splits one group of joined lines at sentence ends.
fn split_segment(s: &str, out: &mut Vec<String>) {
    let bytes = s.as_bytes();
    let mut start = 0;
    let mut depth = 0usize;
    for (i, c) in s.char_indices() {
        match c {
            '(' | '[' => depth += 1,
            ')' | ']' => depth = depth.saturating_sub(1),
            '.' | '!' | '?' => {
                let end = i + 1;
                let at_space = bytes.get(end).is_none_or(u8::is_ascii_whitespace);
                if at_space && ends_sentence(s, start, i) {
                    emit(&s[start..end], out);
                    start = end;
                    depth = 0;
                }
            }
            c if c.is_whitespace() && i - start > MAX_SENTENCE => {
                emit(&s[start..i], out);
                start = i;
                depth = 0;
            }
            _ => {}
        }
    }
    emit(&s[start..], out);
}

/// Whether the terminator at `i` (with white space after it) ends a sentence.
fn ends_sentence(s: &str, start: usize, i: usize) -> bool {
    if s.as_bytes()[i] != b'.' {
        return true;
    }
    let before = &s[start..i];
    let word_start = before
        .rfind(|c: char| !(c.is_alphabetic() || c == '.'))
        .map_or(0, |p| {
            p + before[p..].chars().next().map_or(1, char::len_utf8)
        });
    let word = before[word_start..].to_lowercase();
    // "e." or "A." is an initial; "3A." or "4R." ends a sentence (a station, a PSMA-RADS grade).
    let after_digit = before[..word_start].ends_with(|c: char| c.is_ascii_digit());
    let single_letter = word.chars().count() == 1 && !after_digit;
    if single_letter || ABBREVIATIONS.contains(&word.as_str()) {
        return false;
    }
    let rest = s[i + 1..].trim_start();
    // "... therapy. miTNM: miT0 miN1": a "word:" label starts the next sentence in any case.
    let label_next = rest
        .char_indices()
        .take(14)
        .find(|&(_, c)| !c.is_alphanumeric())
        .is_some_and(|(n, c)| c == ':' && n > 0);
    label_next || !rest.chars().next().is_some_and(char::is_lowercase)
}

fn emit(piece: &str, out: &mut Vec<String>) {
    // A region label after a sentence end on the same line ("... image 145. CHEST: ..."); a
    // key:value lesion block keeps its field names.
    let piece = piece.trim_start();
    let piece = if is_field_line(piece) {
        piece
    } else {
        strip_region_label(piece).1
    };
    let norm = normalise(piece);
    if norm.chars().any(char::is_alphanumeric) {
        out.push(norm);
    }
}

/// Runs of white space become one space; leading and trailing space is removed.
pub(crate) fn normalise(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_and_abbreviations_do_not_split() {
        let s = split(
            "Node approx. 1.2 cm, e.g. hilar, SUVmax 7.2. Fig. 2 shows it. Second one.",
            80,
        );
        assert_eq!(
            s,
            [
                "Node approx. 1.2 cm, e.g. hilar, SUVmax 7.2.",
                "Fig. 2 shows it.",
                "Second one."
            ]
        );
    }

    #[test]
    fn semicolons_never_end_a_sentence() {
        // Issue 15: the image number after ";" is the same finding's, and a prior-exam clause
        // after ";" must not cut the sentence it belongs to.
        let s = split(
            "Right node, SUVmax 6.8; axial slice 89. Left node SUVmax 5.1 on slice 9; on the \
             prior study it measured SUVmax 3.2.",
            200,
        );
        assert_eq!(
            s,
            [
                "Right node, SUVmax 6.8; axial slice 89.",
                "Left node SUVmax 5.1 on slice 9; on the prior study it measured SUVmax 3.2."
            ]
        );
    }

    #[test]
    fn list_items_and_lines() {
        let s = split(
            "1. Right hilar node SUVmax 7.2\n2. Left axillary node SUVmax 4.1\n- Liver normal",
            80,
        );
        assert_eq!(
            s,
            [
                "Right hilar node SUVmax 7.2",
                "Left axillary node SUVmax 4.1",
                "Liver normal"
            ]
        );
    }

    #[test]
    fn wrapped_lines_join() {
        let s = split(
            "Right hilar lymph node with\nSUVmax 7.2, image\n145. Next",
            80,
        );
        assert_eq!(
            s,
            ["Right hilar lymph node with SUVmax 7.2, image 145.", "Next"]
        );
    }

    #[test]
    fn obx_lines_without_punctuation_split() {
        let s = split(
            "Right hilar node SUVmax 7.2 image 145\nLeft axillary node SUVmax 4.1",
            80,
        );
        assert_eq!(s.len(), 2);
    }

    #[test]
    fn hard_wrapped_lines_join_before_capitals_and_numbers() {
        // Wrapped at 60: "Mildly" ends a full line, so the break inside the sentence is a space.
        let text = "Mediastinal blood pool SUVmax 1.7 and liver SUVmax 3.1 serve\n\
                    as reference. There is a new focus of uptake that is mildly\n\
                    FDG-avid in the left supraclavicular region, SUVmax 3.3 and\n\
                    image 61. Mildly increased uptake in a right hilar node, SUVmax\n\
                    7.2, image 145.";
        assert_eq!(
            split(text, 60),
            [
                "Mediastinal blood pool SUVmax 1.7 and liver SUVmax 3.1 serve as reference.",
                "There is a new focus of uptake that is mildly FDG-avid in the left \
                 supraclavicular region, SUVmax 3.3 and image 61.",
                "Mildly increased uptake in a right hilar node, SUVmax 7.2, image 145."
            ]
        );
    }

    #[test]
    fn long_runs_are_cut() {
        let long = "word ".repeat(2000);
        assert!(
            split(&long, 80)
                .iter()
                .all(|s| s.len() <= MAX_SENTENCE + 10)
        );
    }

    #[test]
    fn whitespace_is_normalised() {
        assert_eq!(normalise("  a \t b\u{a0} c  "), "a b c");
    }
}
