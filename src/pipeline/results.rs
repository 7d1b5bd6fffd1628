//! The quantitative results of a job: the TID 1500 SR built from the SEG, the outcomes and the
//! measurements the job core made (CONTRACT §6). Called once, after the SEG is built.

use super::ground::FindingResult;
use super::segmentation::Outcome;
use super::study::StudyError;
use crate::report::Finding;
use crate::seg::{SegObject, SourceSeries};
use crate::sr::{LesionGroup, MeasurementReportBuilder, SrObject, UngroundedFinding};

/// The SR of a built SEG (CONTRACT §6): a volumetric group per segment with the measurements of
/// its mask, taking the sentence and method of the finding that describes the segment (not a
/// restatement of it: CONTRACT §5), and a qualitative group for every finding without a
/// segment.
pub fn quantitative_report(
    source: SourceSeries,
    seg: &SegObject,
    findings: &[Finding],
    outcomes: &[Outcome],
    series_number: i32,
) -> Result<SrObject, StudyError> {
    let mut builder = MeasurementReportBuilder::new(source, seg, series_number);
    for (i, (f, o)) in findings.iter().zip(outcomes).enumerate() {
        match (&o.result, o.segment) {
            (FindingResult::Grounded(g), Some(n)) => {
                // A restatement's lesion is reported once, under the sentence that describes it.
                if o.restatement_of.is_none() {
                    builder = builder.add_group(LesionGroup {
                        segment_number: n,
                        sentence: f.sentence.clone(),
                        method: g.method.algorithm_name().to_owned(),
                        measurements: g.measurements.clone(),
                    });
                }
            }
            (FindingResult::NotGrounded(why), _) => {
                builder = builder.add_ungrounded(UngroundedFinding {
                    index: i + 1,
                    sentence: f.sentence.clone(),
                    reason: why.to_string(),
                });
            }
            (FindingResult::Grounded(_), None) => {}
        }
    }
    Ok(builder.build()?)
}
