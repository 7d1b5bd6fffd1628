//! The job core's results as the store records them (and as `petground status` and
//! `petground ground` print them): one [`FindingOutcome`] per finding.

use super::ground::FindingResult;
use super::segmentation::Outcome;
use crate::report::Finding;
use crate::store::FindingOutcome;

/// The store's record of one finding's outcome.
pub fn finding_record(f: &Finding, o: &Outcome) -> FindingOutcome {
    let mut rec = FindingOutcome {
        sentence: f.sentence.clone(),
        suv_max: f.suv_max,
        slice: f.slice,
        method: None,
        segment: o.segment,
        detail: String::new(),
        label_suv_max: None,
        mtv_ml: None,
        agreement: None,
        restatement_of: o.restatement_of,
    };
    match &o.result {
        FindingResult::Grounded(g) => {
            rec.method = Some(g.method.algorithm_name().to_owned());
            rec.detail = match &g.weak_failed {
                None => g.method.rule(),
                Some(why) => format!("{}; weak label: {why}", g.method.rule()),
            };
            rec.label_suv_max = Some(g.measurements.suv_max);
            rec.mtv_ml = Some(g.measurements.mtv_ml);
            rec.agreement = g.agreement;
        }
        FindingResult::NotGrounded(why) => rec.detail = why.to_string(),
    }
    rec
}

/// The records of every finding, in report order.
pub fn finding_records(findings: &[Finding], outcomes: &[Outcome]) -> Vec<FindingOutcome> {
    findings
        .iter()
        .zip(outcomes)
        .map(|(f, o)| finding_record(f, o))
        .collect()
}
