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
use super::measure::{SliceHit, Status, SuvHit};

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
    Reference,
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
}

/// Groups values and image numbers into findings (token indices).
pub(crate) fn assemble(t: &[Token], suv: &[SuvHit], slices: &[SliceHit]) -> Vec<Draft> {
    let usable = usable_values(t, suv);
    if let Some(zipped) = zip_respectively(suv, &usable, slices) {
        return zipped;
    }
    let mut evs: Vec<Ev> = suv.iter().zip(&usable).map(|(h, &u)| Ev::Suv(h, u)).collect();
    evs.extend(slices.iter().filter(|s| !s.prior).map(Ev::Slice));
    evs.sort_by_key(Ev::tok);
    let mut out = Vec::new();
    let mut open = Open { draft: Draft::default(), start: 0, tainted: false, last: 0 };
    for ev in &evs {
        let new_lesion = (open.draft.suv.is_some() || open.draft.slice.is_some())
            && starts_new_lesion(t, open.last + 1, ev.anchor());
        let clash = match ev {
            Ev::Suv(h, true) => h.status == Status::Current && open.draft.suv.is_some(),
            Ev::Slice(_) => open.draft.slice.is_some(),
            Ev::Suv(..) => false,
        };
        if new_lesion || clash {
            close(t, &mut open, &mut out, ev.anchor());
            open = Open { draft: Draft::default(), start: open.last + 1, tainted: false, last: 0 };
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
            let uptake = (open.start..seg_end).any(|k| t[k].word().is_some_and(cues::is_uptake_cue));
            !open.tainted
                && uptake
                && !has_negation(t, open.start, seg_end)
                && classify_lead(t, open.start, s) != Subject::Reference
        }
        (None, None) => false,
    };
    if keep {
        out.push(d);
    }
    open.last = open.last.max(d.suv.max(d.slice).unwrap_or(0));
}

/// End of the clause holding token `from`: the next ';' or the given limit.
fn clause_end(t: &[Token], from: usize, limit: usize) -> usize {
    (from..limit.min(t.len())).find(|&k| t[k].is_punct(';')).unwrap_or(limit.min(t.len()))
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
        let j = all[i..].iter().position(|x| x.group != head.group).map_or(all.len(), |p| i + p);
        let first = head.anchor.min(head.tok);
        let semi = (prev_end..first).rev().find(|&k| t[k].is_punct(';')).map_or(prev_end, |k| k + 1);
        let ok = head.status != Status::Reference
            && classify_lead(t, semi, first) != Subject::Reference
            && !has_negation(t, semi, first);
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
        t[k].is_punct(';') || t[k].is_punct(',') || matches!(t[k].word(), Some("and" | "while" | "whereas" | "plus"))
    }) else {
        return false;
    };
    t[join].is_punct(';') || (join..b).any(|k| t[k].word().is_some_and(cues::is_lesion_noun))
}

/// Decides from the words in `[a, b)` (before a value) whether its subject is reference tissue.
///
/// Walking back from the value: a strong reference word ("blood pool", "background",
/// "physiologic") right before it (no comma, at most two words between) makes it reference;
/// a reference word after a comparison ("greater than liver") is ignored when the lead names a
/// lesion; a strong word elsewhere counts unless a lesion word is closer to the value; an organ
/// ("liver", "spleen") counts only when no lesion word is in the lead at all.
pub(crate) fn classify_lead(t: &[Token], a: usize, b: usize) -> Subject {
    let b = b.min(t.len());
    let lead_has_lesion = (a..b).any(|k| t[k].word().is_some_and(cues::is_lesion_cue));
    let mut lesion_closer = false;
    let mut immediate = true;
    let mut words = 0;
    for k in (a..b).rev() {
        let w = match &t[k].kind {
            Kind::Punct(',' | ';' | ')') => {
                immediate = false;
                continue;
            }
            Kind::Word => t[k].lower.as_str(),
            _ => continue,
        };
        let strong = cues::is_strong_ref(w);
        if cues::is_lesion_cue(w) {
            lesion_closer = true;
        } else if strong || cues::is_ref_organ(w) {
            let near = immediate && words <= 2;
            let compared = (a..k).rev().take(6).filter_map(|j| t[j].word()).take(3).any(cues::is_comparator);
            let reference = if strong && near && !(compared && lead_has_lesion) {
                true
            } else if compared {
                !lead_has_lesion
            } else if strong {
                !lesion_closer
            } else {
                !lead_has_lesion
            };
            if reference {
                return Subject::Reference;
            }
        }
        words += 1;
    }
    if lead_has_lesion { Subject::Lesion } else { Subject::Unknown }
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
                    matches!(p, "partial" | "partially" | "near" | "nearly" | "incomplete" | "incompletely" | "almost")
                });
            return !partial;
        }
        if !cues::is_negator(w) {
            return false;
        }
        for j in k + 1..(k + 6).min(b) {
            match t[j].word() {
                Some(x) if cues::is_uptake_cue(x) => return true,
                Some(x) if cues::is_negation_qualifier(x) => {}
                None if t[j].is_punct('-') => {}
                _ => return false,
            }
        }
        false
    })
}

/// "SUVmax 7.2 and 4.1 ... images 145 and 98, respectively": one group of k current values and
/// one list of k image numbers pair up in order.
fn zip_respectively(suv: &[SuvHit], usable: &[bool], slices: &[SliceHit]) -> Option<Vec<Draft>> {
    let cur: Vec<&SuvHit> = suv.iter().zip(usable).filter(|(_, u)| **u).map(|(h, _)| h).collect();
    let first = cur.first()?;
    let live: Vec<&SliceHit> = slices.iter().filter(|s| !s.prior).collect();
    let one_group = cur.iter().all(|h| h.group == first.group);
    let one_list = live.first().is_some_and(|s0| live.iter().all(|s| s.list == s0.list));
    if cur.len() < 2 || cur.len() != live.len() || !one_group || !one_list {
        return None;
    }
    Some(
        cur.iter()
            .zip(&live)
            .map(|(h, s)| Draft { suv: Some(h.tok), slice: Some(s.tok) })
            .collect(),
    )
}
