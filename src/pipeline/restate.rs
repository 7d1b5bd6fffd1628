//! Restatements (CONTRACT §5): findings of one report whose masks are the same lesion share one
//! segment. An IMPRESSION sentence that repeats a FINDINGS lesion ("Hypermetabolic left hilar
//! node (SUVmax 6.6), suspicious for malignancy.") grounds to the same voxels as the FINDINGS
//! sentence, in any grounding mode; a second segment with the same mask would be a duplicate
//! that viewers mishandle and every scorer counts as a false positive.
//!
//! **Same lesion**: two masks overlap by at least [`SAME_LESION_OVERLAP`] of the smaller one
//! (|A ∩ B| ≥ 0.5 · min(|A|, |B|)). Weak labels of the same component are identical (overlap
//! 1.0); a model mask and a weak label of the same lesion overlap mostly; masks of two
//! neighbouring lesions touch at most at their borders. Groups are closed under the relation
//! (A~B and B~C put A, B and C in one group).
//!
//! **Which sentence describes the segment**: the most specific one: with an image number, else
//! with an SUVmax, else the one in FINDINGS rather than IMPRESSION, else the first in report order.
//! Pure code: masks in, groups out; the job core builds the SEG from them.

use ndarray::Array3;

use crate::report::{Finding, Section};

/// Share of the smaller mask that must lie inside the other for the two to be one lesion.
pub const SAME_LESION_OVERLAP: f64 = 0.5;

/// One lesion: the findings that grounded to it, and the one whose sentence describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lesion {
    /// Index (into the report's findings) of the describing finding.
    pub described_by: usize,
    /// Indices of every finding on this lesion, in report order (`described_by` among them).
    pub findings: Vec<usize>,
}

/// Groups the grounded findings (`masks[i]` is finding `i`'s mask, `None` when not grounded)
/// into lesions, in the report order of their describing findings.
pub fn lesions(findings: &[Finding], masks: &[Option<&Array3<bool>>]) -> Vec<Lesion> {
    let voxels: Vec<Option<Vec<usize>>> = masks.iter().map(|m| m.map(set_voxels)).collect();
    let mut parent: Vec<usize> = (0..masks.len()).collect();
    for i in 0..voxels.len() {
        for j in i + 1..voxels.len() {
            if let (Some(a), Some(b)) = (&voxels[i], &voxels[j])
                && same_lesion(a, b)
            {
                union(&mut parent, i, j);
            }
        }
    }
    let mut groups: Vec<Vec<usize>> = Vec::new();
    let mut root_group: Vec<Option<usize>> = vec![None; masks.len()];
    for i in (0..masks.len()).filter(|&i| voxels[i].is_some()) {
        let r = find(&mut parent, i);
        match root_group[r] {
            Some(g) => groups[g].push(i),
            None => {
                root_group[r] = Some(groups.len());
                groups.push(vec![i]);
            }
        }
    }
    let mut out: Vec<Lesion> = groups
        .into_iter()
        .map(|members| Lesion {
            described_by: most_specific(findings, &members),
            findings: members,
        })
        .collect();
    out.sort_by_key(|l| l.described_by);
    out
}

/// The describing finding among `members` (non-empty, in report order).
fn most_specific(findings: &[Finding], members: &[usize]) -> usize {
    let rank = |&i: &usize| {
        let f = findings.get(i);
        (
            f.is_some_and(|f| f.slice.is_some()),
            f.is_some_and(|f| f.suv_max.is_some()),
            f.is_some_and(|f| f.section == Section::Findings),
            std::cmp::Reverse(i),
        )
    };
    members.iter().copied().max_by_key(rank).unwrap_or(0)
}

/// Flat indices of the set voxels, ascending.
fn set_voxels(mask: &Array3<bool>) -> Vec<usize> {
    mask.iter()
        .enumerate()
        .filter_map(|(i, &v)| v.then_some(i))
        .collect()
}

/// |A ∩ B| ≥ [`SAME_LESION_OVERLAP`] · min(|A|, |B|), for ascending index lists.
fn same_lesion(a: &[usize], b: &[usize]) -> bool {
    let smaller = a.len().min(b.len());
    if smaller == 0 {
        return false;
    }
    let (mut i, mut j, mut both) = (0, 0, 0usize);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                both += 1;
                i += 1;
                j += 1;
            }
        }
    }
    both as f64 >= SAME_LESION_OVERLAP * smaller as f64
}

fn find(parent: &mut [usize], mut i: usize) -> usize {
    while parent[i] != i {
        parent[i] = parent[parent[i]];
        i = parent[i];
    }
    i
}

fn union(parent: &mut [usize], a: usize, b: usize) {
    let (ra, rb) = (find(parent, a), find(parent, b));
    if ra != rb {
        parent[ra.max(rb)] = ra.min(rb);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(suv: Option<f64>, slice: Option<u32>, section: Section) -> Finding {
        Finding {
            sentence: format!("node {suv:?} {slice:?}"),
            suv_max: suv,
            slice,
            text: String::new(),
            section,
        }
    }

    /// A 1×1×20 mask with voxels `from..to` set.
    fn mask(from: usize, to: usize) -> Array3<bool> {
        Array3::from_shape_fn((1, 1, 20), |(_, _, x)| (from..to).contains(&x))
    }

    #[test]
    fn an_impression_restating_a_finding_shares_its_segment() {
        let f = [
            finding(Some(6.6), Some(145), Section::Findings),
            finding(Some(4.1), Some(98), Section::Findings),
            finding(Some(6.6), None, Section::Impression),
        ];
        let (a, b) = (mask(0, 5), mask(10, 15));
        let got = lesions(&f, &[Some(&a), Some(&b), Some(&a)]);
        assert_eq!(
            got,
            [
                Lesion {
                    described_by: 0,
                    findings: vec![0, 2]
                },
                Lesion {
                    described_by: 1,
                    findings: vec![1]
                }
            ]
        );
    }

    #[test]
    fn the_most_specific_sentence_describes_the_lesion() {
        // The IMPRESSION sentence comes first in the report but has no image number.
        let f = [
            finding(Some(6.6), None, Section::Impression),
            finding(None, None, Section::Findings),
            finding(Some(6.6), Some(145), Section::Findings),
        ];
        let a = mask(0, 6);
        let got = lesions(&f, &[Some(&a), Some(&a), Some(&a)]);
        assert_eq!(got[0].described_by, 2);
        // Without any number, FINDINGS wins over IMPRESSION.
        let f = [
            finding(None, None, Section::Impression),
            finding(None, None, Section::Findings),
        ];
        assert_eq!(lesions(&f, &[Some(&a), Some(&a)])[0].described_by, 1);
    }

    #[test]
    fn overlap_is_measured_against_the_smaller_mask() {
        let f = [
            finding(Some(5.0), Some(1), Section::Findings),
            finding(None, None, Section::Impression),
            finding(Some(3.0), Some(2), Section::Findings),
        ];
        // A model mask (2..8) half inside the weak label (0..5): 3 of 6 voxels → same lesion.
        let (weak, model, touching) = (mask(0, 5), mask(2, 8), mask(4, 14));
        assert_eq!(lesions(&f, &[Some(&weak), Some(&model), None]).len(), 1);
        // A neighbour touching at one voxel (1 of 5) is another lesion.
        assert_eq!(lesions(&f, &[Some(&weak), None, Some(&touching)]).len(), 2);
    }

    #[test]
    fn ungrounded_findings_are_in_no_lesion() {
        let f = [
            finding(Some(5.0), Some(1), Section::Findings),
            finding(Some(3.0), None, Section::Findings),
        ];
        let a = mask(0, 5);
        let got = lesions(&f, &[None, Some(&a)]);
        assert_eq!(
            got,
            [Lesion {
                described_by: 1,
                findings: vec![1]
            }]
        );
        assert!(lesions(&f, &[None, None]).is_empty());
    }
}
