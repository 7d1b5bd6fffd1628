//! The paper's metric (PAPER §5): per sentence, ground-truth components (6-connected) against
//! predicted components; a true positive needs spatial overlap AND |SUVmax(pred) − SUVmax(truth)|
//! ≤ 0.1, SUVmax measured on the native PET SUV. Unmatched truth = FN, unmatched prediction = FP.
//! Counts are pooled over sentences (micro F1); Dice is averaged per sentence.

use ndarray::{ArrayView3, Zip};
use petground::label::components::{Connectivity, component_stats, label};

/// The TP rule's SUVmax tolerance.
pub const SUV_TOLERANCE: f64 = 0.1;
/// Slack so a difference of exactly 0.1 in decimal still counts after f32 rounding.
const EPS: f64 = 1e-6;

#[derive(Debug, thiserror::Error)]
pub enum MetricError {
    #[error("shapes differ: truth {truth:?}, prediction {pred:?}, SUV {suv:?}")]
    Shape {
        truth: [usize; 3],
        pred: [usize; 3],
        suv: [usize; 3],
    },
    #[error("components: {0}")]
    Components(#[from] petground::label::components::ComponentsError),
}

/// TP/FP/FN of one sentence and its Dice.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SentenceScore {
    pub tp: usize,
    pub fp: usize,
    pub fn_: usize,
    pub dice: f64,
}

/// Pooled counts.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Counts {
    pub sentences: usize,
    pub tp: usize,
    pub fp: usize,
    pub fn_: usize,
    pub dice_sum: f64,
}

impl Counts {
    pub fn add(&mut self, s: &SentenceScore) {
        self.sentences += 1;
        self.tp += s.tp;
        self.fp += s.fp;
        self.fn_ += s.fn_;
        self.dice_sum += s.dice;
    }

    pub fn precision(&self) -> f64 {
        ratio(self.tp, self.tp + self.fp)
    }

    pub fn recall(&self) -> f64 {
        ratio(self.tp, self.tp + self.fn_)
    }

    pub fn f1(&self) -> f64 {
        let (p, r) = (self.precision(), self.recall());
        if p + r == 0.0 {
            0.0
        } else {
            2.0 * p * r / (p + r)
        }
    }

    pub fn mean_dice(&self) -> f64 {
        if self.sentences == 0 {
            0.0
        } else {
            self.dice_sum / self.sentences as f64
        }
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

fn dims(a: &ArrayView3<'_, impl Sized>) -> [usize; 3] {
    let (z, y, x) = a.dim();
    [z, y, x]
}

/// One component: its voxels' flat indices and SUVmax.
struct Comp {
    voxels: Vec<usize>,
    suv_max: f64,
}

fn comps(mask: ArrayView3<bool>, suv: ArrayView3<f32>) -> Result<Vec<Comp>, MetricError> {
    let (labels, n) = label(mask, Connectivity::Six)?;
    let stats = component_stats(labels.view(), suv, n)?;
    let mut out: Vec<Comp> = stats
        .iter()
        .map(|s| Comp {
            voxels: Vec::with_capacity(s.voxels),
            suv_max: f64::from(s.max),
        })
        .collect();
    for (i, &l) in labels.iter().enumerate() {
        if l > 0 {
            out[(l - 1) as usize].voxels.push(i);
        }
    }
    Ok(out)
}

/// Scores one sentence: `truth` and `pred` masks and the SUV, all on the native PET grid.
pub fn score(
    truth: ArrayView3<bool>,
    pred: ArrayView3<bool>,
    suv: ArrayView3<f32>,
) -> Result<SentenceScore, MetricError> {
    if dims(&truth) != dims(&pred) || dims(&truth) != dims(&suv) {
        return Err(MetricError::Shape {
            truth: dims(&truth),
            pred: dims(&pred),
            suv: dims(&suv),
        });
    }
    let t = comps(truth, suv)?;
    let p = comps(pred, suv)?;
    let truth_flat: Vec<bool> = truth.iter().copied().collect();
    let mut truth_label = vec![usize::MAX; truth_flat.len()];
    for (k, c) in t.iter().enumerate() {
        for &i in &c.voxels {
            truth_label[i] = k;
        }
    }
    let mut matched = vec![false; t.len()];
    let mut s = SentenceScore::default();
    for pc in &p {
        // Truth components this prediction overlaps, in first-touch order.
        let mut touched: Vec<usize> = Vec::new();
        for &i in &pc.voxels {
            let k = truth_label[i];
            if k != usize::MAX && !touched.contains(&k) {
                touched.push(k);
            }
        }
        let hit = touched
            .into_iter()
            .find(|&k| !matched[k] && (pc.suv_max - t[k].suv_max).abs() <= SUV_TOLERANCE + EPS);
        match hit {
            Some(k) => {
                matched[k] = true;
                s.tp += 1;
            }
            None => s.fp += 1,
        }
    }
    s.fn_ = matched.iter().filter(|m| !**m).count();
    s.dice = dice(truth, pred);
    Ok(s)
}

/// Dice of two masks (1 when both are empty).
pub fn dice(a: ArrayView3<bool>, b: ArrayView3<bool>) -> f64 {
    let (mut both, mut na, mut nb) = (0usize, 0usize, 0usize);
    Zip::from(a).and(b).for_each(|&x, &y| {
        both += usize::from(x && y);
        na += usize::from(x);
        nb += usize::from(y);
    });
    if na + nb == 0 {
        1.0
    } else {
        2.0 * both as f64 / (na + nb) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array3;

    fn mask(points: &[[usize; 3]]) -> Array3<bool> {
        let mut m = Array3::from_elem((4, 6, 6), false);
        for &p in points {
            m[p] = true;
        }
        m
    }

    /// SUV 1 everywhere, a lesion of max 5.0 at [1,1,1..3] and a hot spot of 9.0 at [3,4,4].
    fn suv() -> Array3<f32> {
        let mut s = Array3::from_elem((4, 6, 6), 1.0f32);
        s[[1, 1, 1]] = 4.0;
        s[[1, 1, 2]] = 5.0;
        s[[3, 4, 4]] = 9.0;
        s
    }

    #[test]
    fn exact_prediction_is_one_tp_with_dice_one() {
        let t = mask(&[[1, 1, 1], [1, 1, 2]]);
        let s = score(t.view(), t.view(), suv().view()).expect("score");
        assert_eq!(
            s,
            SentenceScore {
                tp: 1,
                fp: 0,
                fn_: 0,
                dice: 1.0
            }
        );
    }

    #[test]
    fn overlap_missing_the_max_voxel_fails_the_suv_rule() {
        // The prediction overlaps the truth but only holds the 4.0 voxel: |4.0 − 5.0| > 0.1,
        // so by the paper's rule it is a FP and the truth a FN. Dice = 2·1/(2+1) = 2/3.
        let t = mask(&[[1, 1, 1], [1, 1, 2]]);
        let p = mask(&[[1, 1, 1]]);
        let s = score(t.view(), p.view(), suv().view()).expect("score");
        assert_eq!((s.tp, s.fp, s.fn_), (0, 1, 1));
        assert!((s.dice - 2.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn larger_prediction_with_the_same_max_is_a_tp() {
        // Overlap plus the same SUVmax (5.0; the extra voxels are background 1.0).
        let t = mask(&[[1, 1, 2]]);
        let p = mask(&[[1, 1, 2], [1, 1, 3], [1, 2, 3]]);
        let s = score(t.view(), p.view(), suv().view()).expect("score");
        assert_eq!((s.tp, s.fp, s.fn_), (1, 0, 0));
        assert!((s.dice - 0.5).abs() < 1e-12, "2·1/(1+3)");
    }

    #[test]
    fn wrong_place_is_one_fp_and_one_fn_and_empty_is_one_fn() {
        let t = mask(&[[1, 1, 1], [1, 1, 2]]);
        let p = mask(&[[3, 4, 4]]);
        let s = score(t.view(), p.view(), suv().view()).expect("score");
        assert_eq!((s.tp, s.fp, s.fn_, s.dice), (0, 1, 1, 0.0));
        let empty = mask(&[]);
        let s = score(t.view(), empty.view(), suv().view()).expect("score");
        assert_eq!((s.tp, s.fp, s.fn_), (0, 0, 1));
    }

    #[test]
    fn pooled_counts_give_micro_f1() {
        // 3 sentences: TP; FP+FN; FN  → P = 1/2, R = 1/3, F1 = 2·(1/6)/(5/6) = 0.4.
        let mut c = Counts::default();
        c.add(&SentenceScore {
            tp: 1,
            fp: 0,
            fn_: 0,
            dice: 1.0,
        });
        c.add(&SentenceScore {
            tp: 0,
            fp: 1,
            fn_: 1,
            dice: 0.0,
        });
        c.add(&SentenceScore {
            tp: 0,
            fp: 0,
            fn_: 1,
            dice: 0.0,
        });
        assert!((c.precision() - 0.5).abs() < 1e-12);
        assert!((c.recall() - 1.0 / 3.0).abs() < 1e-12);
        assert!((c.f1() - 0.4).abs() < 1e-12);
        assert!((c.mean_dice() - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(Counts::default().f1(), 0.0);
    }

    #[test]
    fn shape_mismatch_is_an_error() {
        let t = Array3::from_elem((2, 2, 2), false);
        let p = Array3::from_elem((2, 2, 3), false);
        let s = Array3::from_elem((2, 2, 2), 0.0f32);
        assert!(score(t.view(), p.view(), s.view()).is_err());
    }
}
