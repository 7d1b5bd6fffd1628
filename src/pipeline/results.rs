//! The quantitative results of a job: the TID 1500 SR built from the SEG, the outcomes and the
//! measurements the job core made (CONTRACT §6). Called once, after the SEG is built, so the
//! per-finding loop in `ground.rs` only has to record each segment's measurements.

use super::ground::GroundError;
use crate::label::Measurements;
use crate::seg::{SegObject, SourceSeries};
use crate::sr::{LesionGroup, MeasurementReportBuilder, SrObject, UngroundedFinding};
use crate::store::FindingOutcome;

/// The SR of a built SEG (CONTRACT §6): a volumetric group per segment with the measurements of
/// its mask (`measurements[segment − 1]`), taking the sentence and method of the finding that
/// describes the segment (not a restatement of it: CONTRACT §5), and a qualitative group for
/// every finding without a segment.
pub fn quantitative_report(
    source: SourceSeries,
    seg: &SegObject,
    findings: &[FindingOutcome],
    measurements: &[Measurements],
    series_number: i32,
) -> Result<SrObject, GroundError> {
    let mut builder = MeasurementReportBuilder::new(source, seg, series_number);
    let mut seen = std::collections::BTreeSet::new();
    for (i, f) in findings.iter().enumerate() {
        match (f.segment, &f.method) {
            // A restatement's lesion is reported once, under the sentence that describes it.
            (Some(_), Some(_)) if f.restatement_of.is_some() => {}
            (Some(n), Some(method)) => {
                let m = usize::from(n)
                    .checked_sub(1)
                    .and_then(|k| measurements.get(k));
                if let Some(m) = m
                    && seen.insert(n)
                {
                    builder = builder.add_group(LesionGroup {
                        segment_number: n,
                        sentence: f.sentence.clone(),
                        method: method.clone(),
                        measurements: m.clone(),
                    });
                }
            }
            _ => {
                builder = builder.add_ungrounded(UngroundedFinding {
                    index: i + 1,
                    sentence: f.sentence.clone(),
                    reason: f.detail.clone(),
                });
            }
        }
    }
    Ok(builder.build()?)
}
