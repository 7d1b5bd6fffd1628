//! Turns one sentence's SUV values and image numbers into findings.
//!
//! Values and image numbers are walked in order; a finding collects at most one current SUV and
//! one image number, and a second one of either (or a new lesion noun after "and", "," or ";")
//! starts the next finding, so "right hilar node (SUVmax 7.2, image 145) and left axillary node
//! (SUVmax 4.1, image 98)" gives two. Lists written "SUVmax 7.2 and 4.1 (images 145 and 98,
//! respectively)" are zipped. The subject of each value decides whether it is reference uptake
//! (see [`classify_lead`]); prior-exam values never fill a finding. Which findings are kept is
//! documented on the module root.
use super::cues;
use super::lexer::{Kind, Token};
use super::measure::{Status, SuvHit, word};
use super::slices::SliceHit;

/// A finding before its text is cut: token indices of its value and image number.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Draft {
    pub suv: Option<usize>,
    pub slice: Option<usize>,
}

/// What the words before a value say about its subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Subject {
    Lesion,
    /// Blood pool, background, physiologic uptake.
    Reference,
    /// An organ used as reference ("Liver SUVmax 2.6").
    OrganReference,
    Unknown,
}

enum Ev<'a> {
    Suv(&'a SuvHit, bool),
    Slice(&'a SliceHit),
}

impl Ev<'_> {
    fn tok(&self) -> usize {
        match self {
            Ev::Suv(h, _) => h.tok,
            Ev::Slice(h) => h.tok,
        }
    }
    fn anchor(&self) -> usize {
        match self {
            Ev::Suv(h, _) => h.anchor.min(h.tok),
            Ev::Slice(h) => h.anchor.min(h.tok),
        }
    }
}

struct Open {
    draft: Draft,
    start: usize,
    /// The finding holds a reference value, a prior-only value, or a negated one.
    tainted: bool,
    last: usize,
    /// A lesion word came before the finding's first value.
    has_subject: bool,
}

/// Groups values and image numbers into findings (token indices).
pub(crate) fn assemble(t: &[Token], suv: &[SuvHit], slices: &[SliceHit]) -> Vec<Draft> {
    let usable = usable_values(t, suv);
    if let Some(zipped) = zip_respectively(suv, &usable, slices) {
        return zipped;
    }
    let mut evs: Vec<Ev> = suv
        .iter()
        .zip(&usable)
        .map(|(h, &u)| Ev::Suv(h, u))
        .collect();
    evs.extend(slices.iter().filter(|s| !s.prior).map(Ev::Slice));
    evs.sort_by_key(Ev::tok);
    let mut out = Vec::new();
    let mut open = Open {
        draft: Draft::default(),
        start: 0,
        tainted: false,
        last: 0,
        has_subject: false,
    };
    for ev in &evs {
        // A lesion noun after the finding's numbers starts a new finding only when the finding
        // already named its own lesion ("SUVmax 6.1, right hilar node, im 145" is one finding).
        let new_lesion = (open.draft.suv.is_some() || open.draft.slice.is_some())
            && open.has_subject
            && starts_new_lesion(t, open.last + 1, ev.anchor());
        let clash = match ev {
            Ev::Suv(h, true) => h.status == Status::Current && open.draft.suv.is_some(),
            Ev::Slice(_) => open.draft.slice.is_some(),
            Ev::Suv(..) => false,
        };
        if new_lesion || clash {
            close(t, &mut open, &mut out, ev.anchor());
            let start = open.last + 1;
            open = Open {
                draft: Draft::default(),
                start,
                tainted: false,
                last: 0,
                has_subject: false,
            };
        }
        if open.draft.suv.is_none() && open.draft.slice.is_none() && !open.tainted {
            let lead = open.start..ev.anchor().min(t.len());
            open.has_subject = lead
                .clone()
                .any(|k| t[k].word().is_some_and(cues::is_lesion_cue));
        }
        match ev {
            Ev::Suv(h, true) if h.status == Status::Current => open.draft.suv = Some(h.tok),
            Ev::Suv(h, _) => open.tainted |= h.status != Status::RangeOther,
            Ev::Slice(h) => open.draft.slice = Some(h.tok),
        }
        open.last = ev.tok();
    }
    close(t, &mut open, &mut out, t.len());
    out
}

/// Keeps a finished finding: any current SUV; an image number alone only with an uptake word,
/// no negation and no reference or prior value beside it.
fn close(t: &[Token], open: &mut Open, out: &mut Vec<Draft>, end: usize) {
    let d = std::mem::take(&mut open.draft);
    let keep = match (d.suv, d.slice) {
        (Some(_), _) => true,
        (None, Some(s)) => {
            let seg_end = clause_end(t, s, end);
            let uptake =
                (open.start..seg_end).any(|k| t[k].word().is_some_and(cues::is_uptake_cue));
            !open.tainted
                && uptake
                && !has_negation(t, open.start, seg_end)
                && !has_reference_word(t, open.start, seg_end)
                && matches!(
                    classify_lead(t, open.start, s),
                    Subject::Lesion | Subject::Unknown
                )
        }
        (None, None) => false,
    };
    if keep {
        out.push(d);
    }
    open.last = open.last.max(d.suv.max(d.slice).unwrap_or(0));
}

/// Whether a sentence without any SUV value or image number still describes a lesion with
/// uptake (see the module root): one lesion noun (singular), an uptake word, and no negator,
/// resolution, reference or prior-exam word.
pub(crate) fn numberless(t: &[Token]) -> bool {
    let words = || t.iter().filter_map(Token::word);
    // Exactly one lesion, named in the singular: "Multiple avid liver lesions" or an impression
    // listing "right axillary node, left iliac node and L3 lesion" is not one finding. Nouns in
    // the interpretation ("..., suspicious for nodal metastasis") name no second lesion.
    let first_noun = t
        .iter()
        .position(|x| x.word().is_some_and(cues::is_lesion_noun));
    let described = t
        .iter()
        .enumerate()
        .skip(first_noun.map_or(0, |n| n + 1))
        .find(|(_, x)| x.word().is_some_and(cues::is_interpretation))
        .map_or(t.len(), |(i, _)| i);
    let mut nouns = t[..described]
        .iter()
        .filter_map(Token::word)
        .filter(|w| cues::is_lesion_noun(w));
    let one_noun = nouns
        .next()
        .is_some_and(|w| !cues::is_plural_lesion_noun(w))
        && nouns.next().is_none();
    // Without a lesion noun, uptake at one site is the lesion ("Left fourth rib uptake due to a
    // healing fracture", "Incidental focal caecal uptake"), unless it is spread or plural.
    let technique = words().any(|w| {
        matches!(
            w,
            "min" | "minutes" | "mci" | "mbq" | "glucose" | "injected" | "injection"
        )
    });
    let site_uptake = first_noun.is_none()
        && words().any(|w| matches!(w, "uptake" | "activity" | "avidity"))
        && !words().any(cues::is_spread)
        && !technique;
    let one_lesion = (one_noun || site_uptake) && !words().any(cues::is_spread);
    let lesion_subject = classify_lead(t, 0, t.len());
    let subject_ok =
        lesion_subject == Subject::Lesion || (site_uptake && lesion_subject == Subject::Unknown);
    one_lesion
        && words().any(cues::is_uptake_cue)
        && !words().any(|w| {
            cues::is_prior(w) || cues::is_prior_after(w) || cues::is_strong_ref(w)
        })
        // Stricter than for sentences with numbers: any negator ("No new receptor-avid
        // lesions") or resolution word rules the sentence out.
        && !words().any(|w| cues::is_negator(w) || cues::is_resolution(w))
        && !has_negation(t, 0, t.len())
        && !called_benign(t)
        && subject_ok
}

/// "... is benign (PSMA-RADS 2)": uptake the reader calls benign outright (not "likely
/// benign", which stays a finding to follow).
fn called_benign(t: &[Token]) -> bool {
    (1..t.len()).any(|k| {
        t[k].word() == Some("benign")
            && matches!(
                t[k - 1].word(),
                Some("is" | "are" | "definitely" | "clearly")
            )
    })
}

/// "... corresponds to urine in the ureter and is not a lesion": the reader denies that there
/// is a lesion at all, in `[a, b)`.
fn not_a_lesion(t: &[Token], a: usize, b: usize) -> bool {
    (a..b.min(t.len())).any(|k| {
        t[k].word() == Some("not")
            && (k + 1..(k + 3).min(b).min(t.len()))
                .find(|&j| !matches!(t[j].word(), Some("a" | "an")))
                .is_some_and(|j| t[j].word().is_some_and(cues::is_lesion_noun))
    })
}

/// A strong reference word ("physiologic", "excretion") in `[a, b)` that is not the object of
/// a comparison: the image number points at normal tissue.
fn has_reference_word(t: &[Token], a: usize, b: usize) -> bool {
    (a..b.min(t.len()))
        .any(|k| t[k].word().is_some_and(cues::is_strong_ref) && !compared_before(t, a, k))
}

/// Whether the word at `k` is the object of a comparison: a comparator among the three words
/// before it, or one that is not a likeness ("similar to", "equal to") among the four words
/// ("slightly above the mediastinal blood pool"), within eight tokens of `[a, k)`.
fn compared_before(t: &[Token], a: usize, k: usize) -> bool {
    (a..k)
        .rev()
        .take(8)
        .filter_map(|j| t[j].word())
        .take(4)
        .enumerate()
        .any(|(n, w)| {
            cues::is_comparator(w)
                && (n < 3 || !matches!(w, "to" | "similar" | "equal" | "like" | "approximating"))
        })
}

/// End of the clause holding token `from`: the next ';' or the given limit.
fn clause_end(t: &[Token], from: usize, limit: usize) -> usize {
    (from..limit.min(t.len()))
        .find(|&k| t[k].is_punct(';'))
        .unwrap_or(limit.min(t.len()))
}

/// For each value: current, not reference tissue, uptake not negated. One pass over the groups:
/// the lead of a group runs from after the previous group's last value (or a later ';') to its
/// keyword.
fn usable_values(t: &[Token], all: &[SuvHit]) -> Vec<bool> {
    let mut out = vec![false; all.len()];
    let mut prev_end = 0;
    let mut i = 0;
    while i < all.len() {
        let head = &all[i];
        let j = all[i..]
            .iter()
            .position(|x| x.group != head.group)
            .map_or(all.len(), |p| i + p);
        let first = head.anchor.min(head.tok);
        let semi = (prev_end..first)
            .rev()
            .find(|&k| t[k].is_punct(';'))
            .map_or(prev_end, |k| k + 1);
        let subject = classify_lead(t, semi, first);
        let trail = trailing(t, head.tok);
        // "Focal uptake in the uncinate process, SUVmax 9.0, is within the physiologic range":
        // uptake called physiologic after the value, with no lesion noun before it.
        let noun = (semi..first).any(|k| t[k].word().is_some_and(cues::is_lesion_noun));
        let physiologic = physiologic_later(t, head.tok, clause_end(t, head.tok, t.len()));
        let reference = match subject {
            Subject::Reference => true,
            // "Mild diffuse splenic uptake, SUVmax 2.9, greater than liver" is a finding.
            Subject::OrganReference => trail != Trail::Elevated,
            Subject::Lesion => !noun && (trail == Trail::Physiologic || physiologic),
            Subject::Unknown => {
                matches!(trail, Trail::Reference | Trail::Physiologic) || physiologic
            }
        };
        // "... SUV max 2.1 which is similar to blood pool and is not hypermetabolic": the
        // denial may follow the value, within its clause.
        let after_end = all
            .get(j)
            .map_or(t.len(), |n| n.anchor.min(n.tok))
            .min(clause_end(t, head.tok, t.len()));
        let denied_after = denied_after_value(t, all[j - 1].tok + 1, after_end);
        // "Total metabolic tumour volume (fixed threshold SUV 4,0): 412 mL": a segmentation
        // threshold, not a lesion's value.
        let threshold = (first.saturating_sub(3)..first).any(|k| {
            matches!(
                t[k].word(),
                Some("threshold" | "cutoff" | "cut" | "thresholded")
            )
        });
        // "For reference, the mediastinal blood pool measures SUVmax 1.9 and the normal right
        // hepatic lobe SUVmax 2.8": every value of the opening clause is reference uptake.
        let for_reference = word(t, 0) == Some("for")
            && word(t, 1) == Some("reference")
            && !(0..first).any(|k| t[k].is_punct(';'));
        let ok = head.status != Status::Reference
            && !threshold
            && !for_reference
            && !reference
            && !has_negation(t, semi, first)
            && !denied_after;
        for k in i..j {
            out[k] = ok && all[k].status == Status::Current;
        }
        prev_end = all[j - 1].tok + 1;
        i = j;
    }
    out
}

/// Whether the words in `[a, b)` introduce another lesion: "and"/","/";" followed by a lesion noun.
fn starts_new_lesion(t: &[Token], a: usize, b: usize) -> bool {
    let b = b.min(t.len());
    let Some(join) = (a..b).find(|&k| {
        t[k].is_punct(';')
            || t[k].is_punct(',')
            || matches!(t[k].word(), Some("and" | "while" | "whereas" | "plus"))
    }) else {
        return false;
    };
    (join..b).any(|k| t[k].word().is_some_and(cues::is_lesion_noun))
}

/// Decides from the words in `[a, b)` (before a value) whether its subject is reference tissue.
///
/// The "near" window is the last three words before the value, not crossing ",", ";" or ")".
/// Walking back from the value: a strong reference word ("blood pool", "background",
/// "physiologic") in the near window makes it reference (unless it is a comparison and the lead
/// names a lesion); a reference word after a comparison ("greater than liver") outside the near
/// window is only what the lesion is compared with; elsewhere a strong word counts unless a
/// lesion word is closer to the value, and an organ ("liver", "spleen") counts only when the
/// lead names no lesion and makes no "greater than" comparison.
pub(crate) fn classify_lead(t: &[Token], a: usize, b: usize) -> Subject {
    let b = b.min(t.len());
    let near_start = near_window_start(t, a, b);
    // "Location: Liver, segment IVa ... SUVmax: 6.4": a key:value block's location field names
    // the lesion's site.
    let site_field = (a..b).any(|k| {
        matches!(t[k].word(), Some("location" | "site"))
            && t.get(k + 1).is_some_and(|x| x.is_punct(':'))
    });
    let lesion_words = site_field
        || (a..b).any(|k| {
            t[k].word().is_some_and(cues::is_lesion_cue)
                && !(k > a && matches!(t[k - 1].word(), Some("without" | "no")))
        });
    let elevated = (a..b).any(|k| t[k].word().is_some_and(cues::is_elevating));
    let mut lesion_closer = false;
    for k in (a..b).rev() {
        let Some(w) = t[k].word() else { continue };
        let denied = k > a && matches!(t[k - 1].word(), Some("without" | "no"));
        if cues::is_lesion_cue(w) && !denied {
            lesion_closer = true;
            continue;
        }
        let strong = cues::is_strong_ref(w);
        if !strong && !cues::is_ref_organ(w) {
            continue;
        }
        // "Liver segment VI, SUVmax 16.5": an organ's segment or lobe is a lesion's site, and
        // so is a place beside it ("left para-aortic (SUVmax 9.0)").
        let beside = k >= 2
            && t[k - 1].is_punct('-')
            && matches!(
                t[k - 2].word(),
                Some("para" | "peri" | "juxta" | "retro" | "pre")
            );
        if !strong
            && (beside || matches!(word(t, k + 1), Some("segment" | "seg" | "lobe" | "dome")))
        {
            lesion_closer = true;
            continue;
        }
        let near = k >= near_start;
        let compared = compared_before(t, a, k);
        let reference = match (near, strong) {
            (true, true) => !(compared && lesion_words),
            (true, false) => !lesion_words,
            (false, _) if compared => false,
            (false, true) => !lesion_closer,
            (false, false) => !(lesion_words || elevated),
        };
        if reference {
            return if strong {
                Subject::Reference
            } else {
                Subject::OrganReference
            };
        }
    }
    if lesion_words {
        Subject::Lesion
    } else {
        Subject::Unknown
    }
}

/// Start of the near window: the last three words before `b`, not crossing ",", ";" or ")".
fn near_window_start(t: &[Token], a: usize, b: usize) -> usize {
    let mut k = b;
    let mut words = 0;
    while k > a {
        let j = k - 1;
        if t[j].is_punct(',') || t[j].is_punct(';') || t[j].is_punct(')') {
            break;
        }
        if t[j].word().is_some() {
            words += 1;
            if words > 3 {
                break;
            }
        }
        k = j;
    }
    k
}

/// What follows a value: "2.1 in the mediastinal blood pool" (reference) or "2.9, greater than
/// liver" (elevated uptake).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Trail {
    Nothing,
    /// A reference organ ("2.1 in the liver").
    Reference,
    /// A strong reference word ("physiologic", "blood pool", "background").
    Physiologic,
    Elevated,
}

fn is_trail_filler(w: &str) -> bool {
    matches!(
        w,
        "g" | "ml"
            | "cc"
            | "in"
            | "within"
            | "of"
            | "for"
            | "at"
            | "the"
            | "normal"
            | "is"
            | "are"
            | "likely"
            | "probably"
            | "most"
            | "felt"
            | "thought"
            | "to"
            | "be"
            | "consistent"
            | "with"
            | "keeping"
            | "compatible"
            | "presumably"
            | "considered"
            | "in keeping"
            // "2.1 in the mediastinal blood pool": on the way to "pool".
            | "mediastinal"
            | "mediastinum"
            | "blood"
    )
}

/// Reads up to eight tokens after the value at `v`. An organ followed by a lesion word names
/// the lesion's site, not reference tissue ("SUV max of 12.0 in the hepatic segment VI lesion").
pub(crate) fn trailing(t: &[Token], v: usize) -> Trail {
    let mut k = v + 1;
    let mut seen = 0;
    while k < t.len() && seen < 8 {
        let tok = &t[k];
        // Step over a parenthesised image number: "SUVmax 6.8 (im. 229), is physiological".
        if tok.is_punct('(')
            && t.get(k + 1)
                .and_then(Token::word)
                .is_some_and(cues::is_slice_anchor)
            && let Some(close) = (k + 2..(k + 7).min(t.len())).find(|&x| t[x].is_punct(')'))
        {
            k = close + 1;
            continue;
        }
        seen += 1;
        k += 1;
        match tok.word() {
            Some(w) if cues::is_elevating(w) => return Trail::Elevated,
            // `k` is already the next token's index.
            Some(w) if cues::is_ref_organ(w) && lesion_follows(t, k) => return Trail::Nothing,
            Some(w) if cues::is_strong_ref(w) => return Trail::Physiologic,
            Some(w) if cues::is_ref_organ(w) => return Trail::Reference,
            Some(w) if is_trail_filler(w) => {}
            Some(_) => return Trail::Nothing,
            None if matches!(tok.kind, Kind::Punct('/' | ',' | '(' | ')')) => {}
            None => return Trail::Nothing,
        }
    }
    Trail::Nothing
}

/// A denial of uptake after a value, in `[a, b)`: "... and is not hypermetabolic", "not above
/// background". Not a resolution word ("below PET resolution") and not a prior exam's state
/// ("previously not avid" says it is avid now).
fn denied_after_value(t: &[Token], a: usize, b: usize) -> bool {
    if not_a_lesion(t, a, b) {
        return true;
    }
    // Up to the next lesion ("..., and the T8 lesion shows no uptake" denies the T8 lesion).
    let b = (a..b.min(t.len()))
        .find(|&k| t[k].word().is_some_and(cues::is_lesion_noun))
        .unwrap_or(b.min(t.len()));
    (a..b).any(|k| {
        let w = t[k].word();
        let negator = w.is_some_and(cues::is_negator) || w == Some("negative");
        // "previously 0.6 cm and not avid" is the prior exam's state.
        let prior = (a..k).any(|j| t[j].word().is_some_and(cues::is_prior_after));
        let resolved = w == Some("resolved")
            && !(k > a
                && matches!(
                    t[k - 1].word(),
                    Some("partially" | "partly" | "nearly" | "almost")
                ));
        // "..., no hypermetabolic hilar or mediastinal adenopathy": "no" before a noun of
        // its own denies another finding, not this one.
        let other_subject = w == Some("no")
            && (k + 1..(k + 8).min(t.len())).any(|j| {
                t[j].word().is_some_and(|x| {
                    cues::is_lesion_noun(x) || matches!(x, "disease" | "adenopathy")
                })
            });
        (resolved && !prior)
            || (negator && !prior && !other_subject && has_negation(t, k, (k + 7).min(b)))
    })
}

/// "Mild focal uptake in the uncinate process (SUVmax 6.9) without a CT abnormality is typical
/// of physiological uptake": a physiologic word later in the value's clause.
/// Hedged ("may be physiologic", "likely physiologic") it still points at a lesion.
fn physiologic_later(t: &[Token], v: usize, end: usize) -> bool {
    let hedge = |k: usize| {
        (k.saturating_sub(3)..k).any(|j| {
            matches!(
                t[j].word(),
                Some("may" | "might" | "likely" | "possibly" | "probably" | "could" | "or" | "vs")
            )
        })
    };
    (v + 1..end.min(t.len())).any(|k| {
        let as_reference = t[k].word() == Some("reference") && word(t, k - 1) == Some("as");
        (as_reference
            || t[k]
                .word()
                .is_some_and(|w| w.starts_with("physiolog") || w == "reactive" || w == "rebound"))
            && !hedge(k)
    })
}

/// A lesion word within the next six tokens, before any punctuation but a hyphen or slash.
fn lesion_follows(t: &[Token], from: usize) -> bool {
    t.iter()
        .skip(from)
        .take(6)
        .take_while(|x| x.word().is_some() || x.is_number() || x.is_punct('-') || x.is_punct('/'))
        .any(|x| x.word().is_some_and(cues::is_lesion_cue))
}

/// Negated or resolved uptake in `[a, b)`: "no significant uptake", "non-avid", "without FDG
/// avidity", "has resolved" (but not "partially resolved").
pub(crate) fn has_negation(t: &[Token], a: usize, b: usize) -> bool {
    let b = b.min(t.len());
    (a..b).any(|k| {
        let Some(w) = t[k].word() else { return false };
        if cues::is_resolution(w) {
            let partial = k > a
                && t[k - 1].word().is_some_and(|p| {
                    matches!(
                        p,
                        "partial"
                            | "partially"
                            | "near"
                            | "nearly"
                            | "incomplete"
                            | "incompletely"
                            | "almost"
                    )
                });
            return !partial;
        }
        // "PSMA-negative", "FDG-negative": the tracer's uptake is denied.
        if w == "negative" && k >= 2 && t[k - 1].is_punct('-') {
            return true;
        }
        if !cues::is_negator(w) {
            return false;
        }
        // "not above background", "not greater than blood pool": elevation denied.
        if t.get(k + 1)
            .and_then(Token::word)
            .is_some_and(cues::is_elevating)
            && k + 1 < b
        {
            return true;
        }
        for tok in &t[k + 1..(k + 6).min(b)] {
            match tok.word() {
                Some(x) if cues::is_uptake_cue(x) => return true,
                Some(x) if cues::is_negation_qualifier(x) => {}
                None if tok.is_punct('-') => {}
                _ => return false,
            }
        }
        false
    })
}

/// "SUVmax 7.2 and 4.1 ... images 145 and 98, respectively": one group of k current values and
/// one list of k image numbers pair up in order.
fn zip_respectively(suv: &[SuvHit], usable: &[bool], slices: &[SliceHit]) -> Option<Vec<Draft>> {
    let cur: Vec<&SuvHit> = suv
        .iter()
        .zip(usable)
        .filter(|(_, u)| **u)
        .map(|(h, _)| h)
        .collect();
    let first = cur.first()?;
    let live: Vec<&SliceHit> = slices.iter().filter(|s| !s.prior).collect();
    let one_group = cur.iter().all(|h| h.group == first.group);
    let one_list = live
        .first()
        .is_some_and(|s0| live.iter().all(|s| s.list == s0.list));
    if cur.len() < 2 || cur.len() != live.len() || !one_group || !one_list {
        return None;
    }
    Some(
        cur.iter()
            .zip(&live)
            .map(|(h, s)| Draft {
                suv: Some(h.tok),
                slice: Some(s.tok),
            })
            .collect(),
    )
}
