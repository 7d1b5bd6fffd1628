//! Does a report belong to a study? CONTRACT §3. The rule itself lives in
//! [`crate::store::matching`] (the store applies it inside its transactions); this module
//! re-exports it and reads the report side of it from a parsed message.
pub use crate::store::matching::{MatchPolicy, MatchRule, ReportKeys, StudyKeys, match_report};

use super::oru::OruReport;

impl ReportKeys {
    pub fn from_report(report: &OruReport) -> Self {
        Self {
            study_uid: report.study_uid.clone(),
            accession: report.accession.clone(),
            patient_id: report.patient_id.clone(),
            date: report.observation_date().map(str::to_owned),
        }
    }
}
