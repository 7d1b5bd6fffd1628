//! Which job a report gets, and when (the store records the decision atomically): an active
//! report matched to a study gets one job as soon as the study has a complete PET series, on its
//! fullest complete PET series (a study may carry several reconstructions; the first listed
//! wins a tie). A report that is not active or not matched never gets one.

use crate::store::{JobPlan, ReportRecord, ReportState, SeriesRecord};

/// The job for a pending report, given its matched study's series (empty when unmatched).
pub fn plan_job(report: &ReportRecord, study_series: &[(String, SeriesRecord)]) -> JobPlan {
    if !matches!(report.state, ReportState::Active) || report.matched.is_none() {
        return JobPlan::Drop;
    }
    let fullest = study_series
        .iter()
        .filter(|(_, s)| s.modality == "PT" && s.complete.is_some())
        .min_by_key(|(_, s)| std::cmp::Reverse(s.instances));
    match fullest {
        Some((uid, _)) => JobPlan::Create {
            pet_series: uid.clone(),
        },
        None => JobPlan::Wait,
    }
}
