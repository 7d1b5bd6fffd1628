//! Finds axial image numbers in one lexed sentence: an integer after "image", "slice", "im",
//! "img" (optionally "no.", "number", "#", ":"), with "of 300" or "/300" skipped and
//! "series/image 4/145" read as 145. Plural keywords take lists ("images 145 and 98") and
//! ranges ("images 140-150" gives 140). A number written as the prior exam's ("previously on
//! image 150") is marked prior. Bounded forward scans: linear time.
use super::cues;
use super::lexer::{Kind, Token};
use super::measure::{is_candidate, number_value, punct, word};

/// One image number.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SliceHit {
    pub tok: usize,
    pub value: u32,
    /// Token index of the image keyword.
    pub anchor: usize,
    /// Written as a prior exam's image ("previously on image 150").
    pub prior: bool,
    /// Numbers listed after one keyword ("images 145 and 98") share a list number.
    pub list: usize,
}

/// All image numbers of a sentence, in order.
pub(crate) fn find_slices(t: &[Token]) -> Vec<SliceHit> {
    let mut hits = Vec::new();
    let mut list = 0;
    // Where the last image number list ended: "(im 70, im 74)" repeats the keyword, and the
    // second number continues the first one's list.
    let mut last_end: Option<usize> = None;
    let mut last_pair_end: Option<usize> = None;
    let mut i = 0;
    while i < t.len() {
        // "SUVmax 17.3 (4/121)": series 4, image 121.
        // "(4/246 and 4/128)": a pair that starts where the last one ended continues its list.
        if let Some(k) = super::measure::series_image_pair(t, i) {
            let continued = last_pair_end == Some(i);
            push_slice(
                t,
                k,
                i,
                false,
                if continued { list - 1 } else { list },
                &mut hits,
            );
            if !continued {
                list += 1;
            }
            last_pair_end = Some(k + 1);
            i = k + 1;
            continue;
        }
        let is_anchor = t[i].word().is_some_and(cues::is_slice_anchor);
        if !is_anchor {
            i += 1;
            continue;
        }
        let repeated = last_end
            .is_some_and(|e| e + 1 == i && (punct(t, e) == Some(',') || word(t, e) == Some("and")))
            && word(t, i) == hits.last().and_then(|h| word(t, h.anchor));
        let this_list = if repeated { list - 1 } else { list };
        let before = hits.len();
        let next = scan_slices(t, i, this_list, &mut hits);
        if hits.len() > before {
            last_end = Some(next);
            if !repeated {
                list += 1;
            }
        }
        i = next.max(i + 1);
    }
    hits
}

fn scan_slices(t: &[Token], anchor: usize, list: usize, out: &mut Vec<SliceHit>) -> usize {
    let mut k = anchor + 1;
    while k < t.len() && k - anchor <= 4 {
        match &t[k].kind {
            Kind::Word if cues::is_slice_filler(&t[k].lower) => {}
            Kind::Punct(':' | '#' | '.' | '=' | '(' | '°' | 'º') => {}
            _ => break,
        }
        k += 1;
    }
    if !is_candidate(t, k, false) {
        return k;
    }
    // "series/image 4/145": the second number is the image.
    let series_first = anchor >= 2
        && punct(t, anchor - 1) == Some('/')
        && matches!(word(t, anchor - 2), Some("series" | "se" | "ser"));
    if series_first && punct(t, k + 1) == Some('/') && is_candidate(t, k + 2, false) {
        k += 2;
    }
    let prior = slice_prior(t, anchor);
    let plural = matches!(word(t, anchor), Some("images" | "slices" | "ims" | "imgs"));
    push_slice(t, k, anchor, prior, list, out);
    let mut last = k;
    loop {
        let mut m = last + 1;
        // Denominator: "145/300", "145 of 300".
        if (punct(t, m) == Some('/') || word(t, m) == Some("of"))
            && t.get(m + 1).is_some_and(Token::is_number)
        {
            last = m + 1;
            m = last + 1;
        }
        if !plural {
            return last + 1;
        }
        let range =
            matches!(punct(t, m), Some('-' | '–')) || matches!(word(t, m), Some("to" | "through"));
        let listed = matches!(punct(t, m), Some(',')) || word(t, m) == Some("and");
        let mut n = m + 1;
        if punct(t, m) == Some(',') && word(t, n) == Some("and") {
            n += 1;
        }
        if !(range || listed) || !is_candidate(t, n, false) {
            return last + 1;
        }
        if listed {
            push_slice(t, n, anchor, prior, list, out);
        }
        last = n;
    }
}

fn push_slice(
    t: &[Token],
    k: usize,
    anchor: usize,
    prior: bool,
    list: usize,
    out: &mut Vec<SliceHit>,
) {
    let value = number_value(t, k);
    if value >= 0.0 && value <= f64::from(u32::MAX) {
        out.push(SliceHit {
            tok: k,
            // In range and integral: checked above and by `is_candidate` (no decimal point).
            value: value as u32,
            anchor,
            prior,
            list,
        });
    }
}

/// "previously on image 150", "(prior image 150)", "(prev SUVmax 10.3 image 60)".
fn slice_prior(t: &[Token], anchor: usize) -> bool {
    if super::measure::in_prior_opening(t, anchor) {
        return true;
    }
    (anchor.saturating_sub(6)..anchor)
        .rev()
        .take_while(|&k| !matches!(punct(t, k), Some(',' | ';' | '.' | ')' | '(')))
        .any(|k| word(t, k).is_some_and(cues::is_prior_after))
}
