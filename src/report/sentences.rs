//! Sentence splitting for report text (plain text or OBX lines joined by line breaks).
//!
//! A sentence ends at ".", "!" or "?" followed by white space (so "7.2" never splits), unless the
//! word before is an abbreviation ("approx.", "e.g.", "i.e.", "Fig.", "vs.", a single letter) or
//! the next word starts in lower case; at ";" outside parentheses (the ";" is dropped); and at a
//! line break when the line ends in punctuation, the next line is blank, starts a list item
//! ("1.", "a)", "-", "•") or starts with a capital after a line that does not end in a joining
//! word ("with", "of", ","). List markers are removed. A run longer than [`MAX_SENTENCE`] bytes
//! is cut at white space, so no sentence (and no finding) can grow without bound. Output
//! sentences are whitespace-normalised. Linear time.

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
];

/// Splits a block of report text into whitespace-normalised sentences.
pub(crate) fn split(block: &str) -> Vec<String> {
    let mut out = Vec::new();
    for segment in join_lines(block) {
        split_segment(&segment, &mut out);
    }
    out
}

/// Joins wrapped lines; returns the line groups that cannot share a sentence.
fn join_lines(block: &str) -> Vec<String> {
    let mut groups = Vec::new();
    let mut cur = String::new();
    for raw in block.lines() {
        let (marker, line) = strip_list_marker(raw);
        let line = line.trim();
        if line.is_empty() {
            push_group(&mut cur, &mut groups);
            continue;
        }
        let starts_upper = line.chars().next().is_some_and(char::is_uppercase);
        if marker || (starts_upper && !ends_open(&cur)) {
            push_group(&mut cur, &mut groups);
        }
        if !cur.is_empty() {
            cur.push(' ');
        }
        cur.push_str(line);
    }
    push_group(&mut cur, &mut groups);
    groups
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
    if t.ends_with(',') || t.ends_with('(') || t.ends_with('-') {
        return true;
    }
    let last = t
        .rsplit(|c: char| !c.is_alphanumeric())
        .next()
        .unwrap_or("")
        .to_lowercase();
    JOINERS.contains(&last.as_str())
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
            ';' if depth == 0 && !continues_measurement(&s[i + 1..]) => {
                emit(&s[start..i], out);
                start = i + 1;
            }
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

/// "Node: SUV 6.6; image 60": a piece that starts with an image or SUV keyword continues the
/// finding before the ";" rather than starting a sentence.
fn continues_measurement(rest: &str) -> bool {
    let word: String = rest
        .trim_start()
        .chars()
        .take_while(|c| c.is_alphabetic())
        .flat_map(char::to_lowercase)
        .take(12)
        .collect();
    word.starts_with("suv")
        || matches!(
            word.as_str(),
            "image" | "images" | "img" | "im" | "slice" | "sl" | "series" | "se"
        )
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
    let single_letter = word.chars().count() == 1;
    if single_letter || ABBREVIATIONS.contains(&word.as_str()) {
        return false;
    }
    let next = s[i + 1..].trim_start().chars().next();
    !next.is_some_and(char::is_lowercase)
}

fn emit(piece: &str, out: &mut Vec<String>) {
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
        let s = split("Node approx. 1.2 cm, e.g. hilar, SUVmax 7.2. Fig. 2 shows it. Second one.");
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
    fn semicolons_split_outside_parentheses() {
        let s = split("Right node, SUVmax 7.2; left node (SUVmax 4.1; image 98).");
        assert_eq!(
            s,
            [
                "Right node, SUVmax 7.2",
                "left node (SUVmax 4.1; image 98)."
            ]
        );
    }

    #[test]
    fn semicolon_before_a_measurement_does_not_split() {
        let s = split("Right node: SUV 6.6; image 60. Left node SUVmax 3; slice 9; liver normal.");
        assert_eq!(
            s,
            [
                "Right node: SUV 6.6; image 60.",
                "Left node SUVmax 3; slice 9",
                "liver normal."
            ]
        );
    }

    #[test]
    fn list_items_and_lines() {
        let s = split(
            "1. Right hilar node SUVmax 7.2\n2. Left axillary node SUVmax 4.1\n- Liver normal",
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
        let s = split("Right hilar lymph node with\nSUVmax 7.2, image\n145. Next");
        assert_eq!(
            s,
            ["Right hilar lymph node with SUVmax 7.2, image 145.", "Next"]
        );
    }

    #[test]
    fn obx_lines_without_punctuation_split() {
        let s = split("Right hilar node SUVmax 7.2 image 145\nLeft axillary node SUVmax 4.1");
        assert_eq!(s.len(), 2);
    }

    #[test]
    fn long_runs_are_cut() {
        let long = "word ".repeat(2000);
        assert!(split(&long).iter().all(|s| s.len() <= MAX_SENTENCE + 10));
    }

    #[test]
    fn whitespace_is_normalised() {
        assert_eq!(normalise("  a \t b\u{a0} c  "), "a b c");
    }
}
