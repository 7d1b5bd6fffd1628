//! Finds SUV values in one lexed sentence, with the exam they belong to (image numbers are in
//! `slices`, which shares the number checks here).
//!
//! An SUV value is a number reached from an SUV keyword ("SUVmax", "SUV max", "max SUV",
//! "SUV (max)", "SUVbw", "maximum standardized uptake value") through a short run of filler words
//! and symbols ("of", "=", ":", "up to", "approximately"), or a number written with "g/mL".
//! Further values chain on through connectors ("7.2, previously 4.1", "from 4.1 to 7.2",
//! "7.2 and 4.1, respectively"). Each value gets a [`Status`] from the words around it.
//! SUVmean, SUVpeak, sizes, dates, counts, stations ("4R") and vertebrae ("T12") are never
//! values. Every scan moves
//! forward a bounded number of tokens, so a sentence costs linear time.
use super::cues;
use super::lexer::{Kind, Token};

/// Which exam or tissue an SUV value describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    /// The current exam's value for the lesion.
    Current,
    /// A prior exam's value ("previously 4.1", "from 8.2").
    Prior,
    /// Reference tissue named between values ("vs liver 2.3").
    Reference,
    /// The lower end of a range ("4.1-7.2"): the range reports its highest value.
    RangeOther,
}

/// One SUV value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SuvHit {
    /// Token index of the number.
    pub tok: usize,
    pub value: f64,
    pub status: Status,
    /// Token index of the keyword that introduced the group (the number itself for "g/mL").
    pub anchor: usize,
    /// Values of one keyword share a group number.
    pub group: usize,
}

/// How many tokens a scan may skip between a keyword and its value, or between two values.
const MAX_GAP: usize = 8;

pub(crate) fn word(t: &[Token], i: usize) -> Option<&str> {
    t.get(i).and_then(Token::word)
}

pub(crate) fn punct(t: &[Token], i: usize) -> Option<char> {
    match t.get(i).map(|x| x.kind) {
        Some(Kind::Punct(c)) => Some(c),
        _ => None,
    }
}

/// If an SUV keyword starts at `i`, the index just after it.
pub(crate) fn suv_anchor(t: &[Token], i: usize) -> Option<usize> {
    let w = word(t, i)?;
    let excluded = |x: &str| {
        [
            "mean", "peak", "avg", "average", "min", "lbm", "sul", "ratio",
        ]
        .iter()
        .any(|e| x.starts_with(e))
    };
    let prev_excluded = i > 0 && word(t, i - 1).is_some_and(excluded);
    let after = if let Some(rest) = w.strip_prefix("suv") {
        if excluded(rest) {
            return None;
        }
        i + 1
    } else if (w == "standardized" || w == "standardised")
        && word(t, i + 1) == Some("uptake")
        && word(t, i + 2) == Some("value")
    {
        i + 3
    } else {
        return None;
    };
    // "SUV mean", "SUV (peak)", "SUV-peak": the keyword names another statistic.
    let mut k = after;
    while matches!(punct(t, k), Some('(' | '-' | '_')) {
        k += 1;
    }
    if prev_excluded || word(t, k).is_some_and(excluded) {
        return None;
    }
    Some(after)
}

/// Whether the number at `k` can be an SUV (`suv`) or an image number (`!suv`).
pub(crate) fn is_candidate(t: &[Token], k: usize, suv: bool) -> bool {
    let Some(Kind::Number {
        int_digits,
        decimal,
        ..
    }) = t.get(k).map(|x| x.kind)
    else {
        return false;
    };
    if (suv && int_digits > 3) || (!suv && (decimal || int_digits > 5)) {
        return false;
    }
    // Glued to a word before: "T12", "L2", "segment S7" (anchors are checked by the caller).
    let prev_word_glued = t[k].glued && k > 0 && t[k - 1].word().is_some();
    if prev_word_glued && !is_anchor_word(t, k - 1) {
        return false;
    }
    if let Some(next) = t.get(k + 1) {
        if let Some(w) = next.word() {
            let unit_ok = suv && (w == "g" || w == "ml");
            if (next.glued || cues::is_unit(w)) && !unit_ok {
                return false;
            }
        }
        if matches!(next.kind, Kind::Punct('%' | '×')) {
            return false;
        }
    }
    !is_date_part(t, k)
}

fn is_anchor_word(t: &[Token], i: usize) -> bool {
    word(t, i).is_some_and(|w| w.starts_with("suv") || cues::is_slice_anchor(w))
}

/// Whether the number at `k` is part of a date (1/2/2023, 2023-01-05, 01.02.2023).
fn is_date_part(t: &[Token], k: usize) -> bool {
    // "01/2025", "06/2025": a month and a year.
    let year = |i: usize| {
        t.get(i).is_some_and(|x| {
            matches!(x.kind, Kind::Number { int_digits: 4, decimal: false, value } if (1900.0..2100.0).contains(&value))
        })
    };
    let month = |i: usize| {
        t.get(i).is_some_and(|x| {
            matches!(x.kind, Kind::Number { int_digits: 1..=2, decimal: false, value } if (1.0..=12.0).contains(&value))
        })
    };
    let slash_glued =
        |i: usize| punct(t, i) == Some('/') && t[i].glued && t.get(i + 1).is_some_and(|x| x.glued);
    if (month(k) && slash_glued(k + 1) && year(k + 2))
        || (k >= 2 && year(k) && slash_glued(k - 1) && month(k - 2))
    {
        return true;
    }
    let num = |i: usize| t.get(i).is_some_and(Token::is_number);
    let sep = |i: usize| matches!(punct(t, i), Some('/' | '-'));
    let glued = |i: usize| t.get(i).is_some_and(|x| x.glued);
    // Look for number sep number sep number with k in it, all glued.
    (0..3).any(|back| {
        let Some(s) = k.checked_sub(back * 2) else {
            return false;
        };
        num(s)
            && sep(s + 1)
            && num(s + 2)
            && sep(s + 3)
            && num(s + 4)
            && (s + 1..=s + 4).all(glued)
            && s + 4 >= k
    })
}

/// All SUV values of a sentence, in order.
pub(crate) fn find_suv(t: &[Token]) -> Vec<SuvHit> {
    let mut hits = Vec::new();
    let mut group = 0;
    let mut i = 0;
    while i < t.len() {
        if let Some(after) = suv_anchor(t, i) {
            let next = scan_group(t, i, after, group, &mut hits);
            group += 1;
            i = next.max(i + 1);
        } else if is_gml_value(t, i) {
            let prior = prior_before(t, i);
            let status = if prior {
                Status::Prior
            } else {
                Status::Current
            };
            hits.push(SuvHit {
                tok: i,
                value: number_value(t, i),
                status,
                anchor: i,
                group,
            });
            group += 1;
            i += 1;
        } else {
            i += 1;
        }
    }
    hits
}

pub(crate) fn number_value(t: &[Token], i: usize) -> f64 {
    match t.get(i).map(|x| x.kind) {
        Some(Kind::Number { value, .. }) => value,
        _ => 0.0,
    }
}

/// "5.2 g/mL" with no SUV keyword before it.
fn is_gml_value(t: &[Token], i: usize) -> bool {
    is_candidate(t, i, true)
        && word(t, i + 1) == Some("g")
        && punct(t, i + 2) == Some('/')
        && matches!(word(t, i + 3), Some("ml" | "cc"))
}

/// A prior-exam word within the three tokens before `i` (same clause): "previously SUVmax
/// 4.1", "increased from SUVmax 15.0".
fn prior_before(t: &[Token], i: usize) -> bool {
    for k in (i.saturating_sub(3)..i).rev() {
        match &t[k].kind {
            Kind::Punct(',' | ';' | '.') | Kind::Number { .. } => return false,
            Kind::Word if cues::is_current(&t[k].lower) => return false,
            Kind::Word if cues::is_prior_after(&t[k].lower) || t[k].lower == "from" => return true,
            _ => {}
        }
    }
    false
}

/// "On the prior study, the right axillary node on image 90 measured SUVmax 6.2; it now
/// measures 8 mm": a sentence that opens on a prior exam puts everything up to the first ";"
/// (or a "now" / "today") on that exam. Whether token `i` lies there.
pub(crate) fn in_prior_opening(t: &[Token], i: usize) -> bool {
    let mut k = 0;
    // "For comparison, the same mass measured SUVmax 14.8 at baseline and 5.1 after two cycles."
    let comparison = word(t, 0) == Some("for") && word(t, 1) == Some("comparison");
    if comparison {
        return (2..i.min(t.len()))
            .all(|j| !t[j].is_punct(';') && !t[j].word().is_some_and(cues::is_current));
    }
    if !matches!(word(t, k), Some("on" | "in" | "at")) {
        return false;
    }
    k += 1;
    if word(t, k) == Some("the") {
        k += 1;
    }
    if !matches!(
        word(t, k),
        Some("prior" | "previous" | "preceding" | "earlier" | "baseline" | "last")
    ) {
        return false;
    }
    (k + 1..i.min(t.len()))
        .all(|j| !t[j].is_punct(';') && !t[j].word().is_some_and(cues::is_current))
}

/// The SUV keyword at `anchor` sits in a clause about a prior exam: walking back to the clause
/// start (";", ",", "(" or the sentence start) there is a prior-exam word ("on the prior study
/// dated 03/14/2025 it measured SUVmax 3.2", "previously 1.5 cm and SUVmax 3.6", "at interim it
/// was SUVmax 6.0") and no lesion noun between it and the keyword ("Previously treated node,
/// SUVmax 5.2" is today's value: the comma ends that clause).
fn prior_clause(t: &[Token], anchor: usize) -> bool {
    if in_prior_opening(t, anchor) {
        return true;
    }
    // "(previously post-operative change, SUVmax 2.9)": a parenthesis about the prior exam.
    let open = (anchor.saturating_sub(16)..anchor)
        .rev()
        .take_while(|&k| !t[k].is_punct(')'))
        .find(|&k| t[k].is_punct('('));
    if open.is_some_and(|o| word(t, o + 1).is_some_and(cues::is_prior_clause_word)) {
        return true;
    }
    for k in (anchor.saturating_sub(16)..anchor).rev() {
        let month = |i: Option<usize>| {
            i.and_then(|i| word(t, i)).is_some_and(|w| {
                [
                    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov",
                    "dec",
                ]
                .iter()
                .any(|m| w.starts_with(m))
            })
        };
        let value_between = t[k].is_number()
            && !is_date_part(t, k)
            && !month(k.checked_sub(1))
            && !month(Some(k + 1))
            && !t
                .get(k + 1)
                .and_then(Token::word)
                .is_some_and(cues::is_unit);
        if value_between {
            // Another value stands between: "previously SUV max 6.1 and the second ... SUV max
            // 7.7" puts only the first on the prior exam.
            return false;
        }
        match &t[k].kind {
            Kind::Punct(',' | ';' | '(' | ')' | '.') => return false,
            Kind::Word if cues::is_current(&t[k].lower) => return false,
            // "previously bulky mass has decreased to 1.6 cm with SUV max 6.9": a change
            // "to" today's state.
            Kind::Word
                if matches!(
                    t[k].lower.as_str(),
                    "decreased" | "increased" | "reduced" | "regressed" | "grown" | "progressed"
                ) && word(t, k + 1) == Some("to") =>
            {
                return false;
            }
            // "previously treated node SUVmax 5.2" describes today's lesion.
            Kind::Word
                if cues::is_prior_clause_word(&t[k].lower)
                    && !t
                        .get(k + 1)
                        .and_then(Token::word)
                        .is_some_and(|w| w.ends_with("ed")) =>
            {
                return true;
            }
            _ => {}
        }
    }
    false
}

/// "compared with SUVmax 4.0 on the right", "vs SUVmax 3.1 contralaterally": a value written
/// as what the lesion is compared with.
fn comparison_before(t: &[Token], anchor: usize) -> bool {
    (anchor.saturating_sub(3)..anchor)
        .filter_map(|k| t[k].word())
        .any(|w| {
            matches!(
                w,
                "compared" | "versus" | "vs" | "relative" | "contralateral"
            )
        })
}

/// A prior-exam word just after the value at `k` that is not the lead-in of another value
/// ("5.0 on the prior" but not "7.2, previously 4.1").
fn prior_after(t: &[Token], k: usize) -> bool {
    for m in k + 1..(k + 5).min(t.len()) {
        match t[m].word() {
            // "measured SUVmax 3.0 at that time"
            Some("that") if word(t, m + 1) == Some("time") => return true,
            Some(w) if cues::is_prior_after(w) => return !value_follows(t, m),
            // "SUVmax 8.0 now measures SUVmax 3.0": a "now" value after this one.
            Some(w) if cues::is_current(w) => {
                // ... unless a prior word comes first ("6.1 today compared with 6.0").
                return t
                    .iter()
                    .enumerate()
                    .skip(m + 1)
                    .take(3)
                    .take_while(|(_, tok)| !tok.word().is_some_and(cues::is_prior))
                    .any(|(x, tok)| tok.is_number() || suv_anchor(t, x).is_some());
            }
            Some(w) if suv_anchor(t, m).is_some() || cues::is_slice_anchor(w) => return false,
            Some(_) => {}
            // "SUV max 5.0 on 01/02/2023 PET": a dated value is a prior exam's.
            // ... but "increased since 04/2025" dates the comparison, not the value.
            None if t[m].is_number() => {
                return is_date_part(t, m) && m > 0 && word(t, m - 1) != Some("since");
            }
            None if matches!(punct(t, m), Some(';' | '.')) => return false,
            None => {}
        }
    }
    false
}

/// A value right after the prior word at `m` ("previously 4.1"), with no "now" before it.
fn value_follows(t: &[Token], m: usize) -> bool {
    for tok in t.iter().skip(m + 1).take(3) {
        if tok.is_number() {
            return true;
        }
        if tok.word().is_some_and(cues::is_current) {
            return false;
        }
    }
    false
}

/// What the words between an SUV keyword and its first value said.
struct LeadIn {
    /// Token index of the first value.
    value: usize,
    range: bool,
    from: bool,
    current: bool,
}

/// Reads the fillers between a keyword and its first value. After "of"/"in"/"for" a subject
/// phrase may come first ("SUVmax of the right hilar node is 7.2") if a verb stands right
/// before the value. `Err` carries the index where reading stopped.
fn lead_in(t: &[Token], after: usize) -> Result<LeadIn, usize> {
    let mut li = LeadIn {
        value: after,
        range: false,
        from: false,
        current: false,
    };
    let subject_phrase = matches!(word(t, after), Some("of" | "in" | "for" | "within"));
    let mut k = after;
    loop {
        if k >= t.len() || k - after > MAX_GAP {
            return Err(k);
        }
        match &t[k].kind {
            Kind::Word if cues::is_suv_filler(&t[k].lower) => {
                let w = t[k].lower.as_str();
                li.range |= matches!(w, "ranging" | "range" | "between");
                li.from |= w == "from";
                li.current |= cues::is_current(w);
            }
            Kind::Word
                if subject_phrase
                    && suv_anchor(t, k).is_none()
                    && !cues::is_slice_anchor(&t[k].lower) => {}
            Kind::Punct(
                '(' | ')' | ':' | '=' | '~' | '≈' | '-' | '_' | '>' | '#' | '[' | ']' | '.',
            ) => {}
            Kind::Number { .. } if is_candidate(t, k, true) => break,
            _ => return Err(k),
        }
        k += 1;
    }
    let direct = (after..k).all(|x| t[x].word().is_none_or(cues::is_suv_filler));
    let verb_before = k > after
        && (word(t, k - 1).is_some_and(cues::is_value_verb) || punct(t, k - 1) == Some('='));
    if !direct && !verb_before {
        return Err(k);
    }
    li.value = k;
    Ok(li)
}

/// Reads the values of one SUV keyword; returns the index after the group.
fn scan_group(
    t: &[Token],
    anchor: usize,
    after: usize,
    group: usize,
    out: &mut Vec<SuvHit>,
) -> usize {
    let li = match lead_in(t, after) {
        Ok(li) => li,
        Err(stop) => return stop,
    };
    let prior = !li.current
        && (prior_before(t, anchor)
            || (li.from && !li.range)
            || prior_clause(t, anchor)
            || comparison_before(t, anchor));
    let start = out.len();
    let hit = |tok: usize, status: Status| SuvHit {
        tok,
        value: number_value(t, tok),
        status,
        anchor,
        group,
    };
    out.push(hit(
        li.value,
        if prior {
            Status::Prior
        } else {
            Status::Current
        },
    ));
    let mut range = li.range;
    // Further values through connectors.
    let mut last = li.value;
    let mut m = last + 1;
    let mut between: Vec<usize> = Vec::new();
    while m < t.len() && m - last <= MAX_GAP + 4 {
        match &t[m].kind {
            Kind::Word if suv_anchor(t, m).is_some() => break,
            // "19.5 (image 170) and 16.2": step over a parenthesised image number.
            Kind::Word if cues::is_slice_anchor(&t[m].lower) => {
                let open = m > 0 && punct(t, m - 1) == Some('(');
                match (m + 1..(m + 5).min(t.len())).find(|&x| punct(t, x) == Some(')')) {
                    Some(close) if open => {
                        between.clear();
                        m = close;
                    }
                    _ => break,
                }
            }
            Kind::Number { .. } if is_date_part(t, m) => between.push(m),
            Kind::Word if cues::is_suv_connector(&t[m].lower) => between.push(m),
            // "SUVmax 17.3 (4/121)", "(SUVmax 9.6, 4/232)": a series/image pair ends the values.
            Kind::Punct('(' | ',') if series_image_pair(t, m).is_some() => break,
            Kind::Punct(',' | '(' | ')' | '-' | '–' | '/' | ':' | '=' | '~') => between.push(m),
            Kind::Number { .. } if is_candidate(t, m, true) => {
                let previous = out.last().map_or(Status::Current, |h: &SuvHit| h.status);
                out.push(hit(m, link_status(t, &between, &mut range, previous)));
                between.clear();
                last = m;
            }
            _ => break,
        }
        m += 1;
    }
    finish_group(t, &mut out[start..], range);
    last + 1
}

/// "(4/121)": a parenthesised series/image pair, glued; returns the image number's index.
/// Inside parentheses a pair may also follow "," or "and" and end at "," or "and": "(SUVmax
/// 9.6, 4/232)", "(4/246 and 4/128)".
pub(crate) fn series_image_pair(t: &[Token], open: usize) -> Option<usize> {
    let inside = || {
        (open.saturating_sub(12)..open)
            .rev()
            .take_while(|&k| punct(t, k) != Some(')'))
            .any(|k| punct(t, k) == Some('('))
    };
    let opener = match (punct(t, open), word(t, open)) {
        (Some('('), _) => true,
        (Some(','), _) | (_, Some("and")) => inside(),
        _ => false,
    };
    let int = |i: usize, digits: std::ops::RangeInclusive<usize>| {
        t.get(i).is_some_and(|x| {
            matches!(x.kind, Kind::Number { int_digits, decimal: false, .. } if digits.contains(&int_digits))
        })
    };
    let glued = |i: usize| t.get(i).is_some_and(|x| x.glued);
    let closer = |i: usize| match (punct(t, i), word(t, i)) {
        (Some(')' | ','), _) => glued(i),
        (_, Some("and")) => true,
        _ => false,
    };
    let ok = opener
        && int(open + 1, 1..=2)
        && punct(t, open + 2) == Some('/')
        && int(open + 3, 1..=4)
        && closer(open + 4)
        && (glued(open + 1) || punct(t, open) != Some('('))
        && glued(open + 2)
        && glued(open + 3)
        && !is_date_part(t, open + 1);
    ok.then_some(open + 3)
}

/// Status of a value from the tokens that link it to the previous value (`previous`: that
/// value's status; "compared with 11.9 at baseline and 6.0 in 06/2025" stays prior).
fn link_status(t: &[Token], between: &[usize], range: &mut bool, previous: Status) -> Status {
    let words = || between.iter().filter_map(|&i| t[i].word());
    if previous == Status::Prior
        && words().all(|w| matches!(w, "and" | "or"))
        && !words().collect::<Vec<_>>().is_empty()
    {
        return Status::Prior;
    }
    // The marker nearest the value decides: "6.1 today compared with 6.0" is prior.
    for w in words().collect::<Vec<_>>().into_iter().rev() {
        if matches!(w, "compared" | "versus") {
            return Status::Prior;
        }
        if cues::is_current(w) {
            return Status::Current;
        }
        if matches!(w, "liver" | "pool" | "background" | "mediastinal" | "blood") {
            return Status::Reference;
        }
        if cues::is_prior(w) {
            return Status::Prior;
        }
    }
    if between.iter().any(|&i| matches!(punct(t, i), Some('/'))) {
        return Status::RangeOther;
    }
    let dash = between
        .iter()
        .any(|&i| matches!(punct(t, i), Some('-' | '–')));
    if dash || words().any(|w| w == "to") {
        *range = true;
    }
    Status::Current
}

/// Applies post-value prior words and collapses ranges to their highest value.
fn finish_group(t: &[Token], hits: &mut [SuvHit], range: bool) {
    for h in hits.iter_mut() {
        if h.status == Status::Current && prior_after(t, h.tok) {
            h.status = Status::Prior;
        }
    }
    if range {
        let best = hits
            .iter()
            .enumerate()
            .filter(|(_, h)| h.status == Status::Current)
            .max_by(|a, b| a.1.value.total_cmp(&b.1.value))
            .map(|(i, _)| i);
        for (i, h) in hits.iter_mut().enumerate() {
            if h.status == Status::Current && Some(i) != best {
                h.status = Status::RangeOther;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::lexer::lex;

    fn values(s: &str) -> Vec<(f64, Status)> {
        find_suv(&lex(s))
            .iter()
            .map(|h| (h.value, h.status))
            .collect()
    }

    #[test]
    fn statuses_from_the_words_around() {
        use Status::*;
        assert_eq!(
            values("SUVmax 7.2, previously 4.1"),
            [(7.2, Current), (4.1, Prior)]
        );
        assert_eq!(
            values("SUVmax 9.0 previously, now 7.2"),
            [(9.0, Prior), (7.2, Current)]
        );
        assert_eq!(
            values("SUVmax 5.1 vs liver 2.3"),
            [(5.1, Current), (2.3, Reference)]
        );
        assert_eq!(
            values("SUVmax 4.1-7.2"),
            [(4.1, RangeOther), (7.2, Current)]
        );
        assert_eq!(
            values("SUVmax 7.2 and 4.1"),
            [(7.2, Current), (4.1, Current)]
        );
        assert_eq!(values("prior SUVmax 4.1"), [(4.1, Prior)]);
        assert_eq!(values("SUV max 5.0 on 01/02/2023"), [(5.0, Prior)]);
        assert_eq!(
            values("SUVmax 6.1 today compared with 6.0"),
            [(6.1, Current), (6.0, Prior)]
        );
        assert_eq!(
            values("SUVmax 8.0 now measures SUVmax 3.0"),
            [(8.0, Prior), (3.0, Current)]
        );
        assert_eq!(values("SUVmax approx. 3.5"), [(3.5, Current)]);
    }

    #[test]
    fn other_statistics_and_non_values() {
        assert!(values("SUVmean 3.1, SUV peak 4.0, peak SUV 5").is_empty());
        assert!(values("SUVmax 1.5 cm").is_empty());
        assert!(values("SUVmax 2023").is_empty());
        assert!(values("SUVmax of the node in 4R").is_empty());
    }

    #[test]
    fn dates_are_recognised() {
        let t = lex("on 01/02/2023 and 2023-01-05 but 145/300");
        let dated: Vec<bool> = (0..t.len())
            .filter(|&k| t[k].is_number())
            .map(|k| is_date_part(&t, k))
            .collect();
        assert_eq!(dated, [true, true, true, true, true, true, false, false]);
    }
}
