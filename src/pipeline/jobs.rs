//! Which job a report gets, and when (the store records the decision atomically): an active
//! report matched to a study gets one job as soon as the study has a complete PET series, on its
//! fullest complete PET series (a study may carry several reconstructions; the first listed
//! wins a tie). A report that is not active or not matched never gets one.
//!
//! A job that will use the model (`[grounding] mode` other than `weak-label`) also waits for a
//! complete CT series of the study, the model's second channel, for at most
//! `[grounding] ct_wait_seconds` after the PET series completed; then it runs on the PET alone
//! and says so in its notes (shown by `status`). Without this a job that started while the CT
//! was still arriving ran on the PET alone without a word.

use std::time::Duration;

use crate::store::{JobPlan, ReportRecord, ReportState, SeriesRecord};

/// The job for a pending report, given its matched study's series (empty when unmatched), at
/// `now`; `ct_wait` is `Some` when the job will use the model.
pub fn plan_job(
    report: &ReportRecord,
    study_series: &[(String, SeriesRecord)],
    now: u64,
    ct_wait: Option<Duration>,
) -> JobPlan {
    if !matches!(report.state, ReportState::Active) || report.matched.is_none() {
        return JobPlan::Drop;
    }
    let fullest = study_series
        .iter()
        .filter(|(_, s)| s.modality == "PT" && s.complete.is_some())
        .min_by_key(|(_, s)| std::cmp::Reverse(s.instances));
    let Some((uid, pet)) = fullest else {
        return JobPlan::Wait;
    };
    let mut notes = Vec::new();
    if let Some(wait) = ct_wait {
        let ct_complete = study_series
            .iter()
            .any(|(_, s)| s.modality == "CT" && s.complete.is_some());
        let since = pet.complete.as_ref().map_or(now, |c| c.unix);
        if !ct_complete {
            if now < since.saturating_add(wait.as_secs()) {
                return JobPlan::Wait;
            }
            notes.push(format!(
                "no complete CT series {} s after the PET series completed: the model grounds on the PET alone",
                wait.as_secs()
            ));
        }
    }
    JobPlan::Create {
        pet_series: uid.clone(),
        notes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::Uid;
    use crate::store::{Completion, ReportMatch, ReportStatus};

    fn report() -> ReportRecord {
        ReportRecord {
            control_id: "C".into(),
            accession: None,
            study_uid_hint: None,
            patient_id: None,
            date: None,
            status: ReportStatus::Final,
            text: String::new(),
            received_unix: 0,
            matched: Some(ReportMatch {
                study: Uid::parse("1.2").expect("uid"),
                rule: "study-uid".into(),
                unix: 0,
            }),
            state: ReportState::Active,
        }
    }

    fn series(modality: &str, completed: Option<u64>) -> SeriesRecord {
        SeriesRecord {
            study: Uid::parse("1.2").expect("uid"),
            modality: modality.into(),
            instances: 10,
            expected: None,
            last_unix: 0,
            complete: completed.map(|unix| Completion {
                unix,
                reason: "stable".into(),
            }),
        }
    }

    #[test]
    fn a_model_job_waits_for_the_ct_then_runs_on_the_pet_alone_and_says_so() {
        let wait = Some(Duration::from_secs(60));
        let pet = ("1.2.1".to_owned(), series("PT", Some(100)));
        let ct_open = ("1.2.2".to_owned(), series("CT", None));
        let ct_done = ("1.2.2".to_owned(), series("CT", Some(120)));
        let create = |notes: Vec<String>| JobPlan::Create {
            pet_series: "1.2.1".into(),
            notes,
        };
        let r = report();
        // Weak labels alone need no CT.
        let no_ct = [pet.clone()];
        assert_eq!(plan_job(&r, &no_ct, 100, None), create(vec![]));
        // The model waits while the CT is incomplete or missing ...
        let open = [pet.clone(), ct_open];
        assert_eq!(plan_job(&r, &open, 159, wait), JobPlan::Wait);
        assert_eq!(plan_job(&r, &no_ct, 120, wait), JobPlan::Wait);
        // ... runs at once with a complete CT ...
        let done = [pet.clone(), ct_done];
        assert_eq!(plan_job(&r, &done, 121, wait), create(vec![]));
        // ... and after the limit without one, with a note.
        match plan_job(&r, &open, 160, wait) {
            JobPlan::Create { notes, .. } => {
                assert_eq!(notes.len(), 1);
                assert!(notes[0].contains("PET alone"), "{notes:?}");
            }
            other => panic!("expected a job, got {other:?}"),
        }
        // No complete PET: wait; not active: never.
        assert_eq!(
            plan_job(&r, &[series_pair("PT", None)], 500, wait),
            JobPlan::Wait
        );
        let mut cancelled = report();
        cancelled.state = ReportState::Cancelled;
        assert_eq!(plan_job(&cancelled, &done, 500, wait), JobPlan::Drop);
    }

    fn series_pair(modality: &str, completed: Option<u64>) -> (String, SeriesRecord) {
        ("1.2.9".to_owned(), series(modality, completed))
    }
}
