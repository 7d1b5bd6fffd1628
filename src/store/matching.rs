//! Does a report belong to a study? CONTRACT §3, as a pure function over identifiers.
//!
//! Rules, in order: (1) the report's Study Instance UID equals the study's; (2) the report's
//! accession (OBR-18, else OBR-3, else ORC-3) equals the study's AccessionNumber; (3) only when
//! enabled, PID-3 equals PatientID and the report's observation date (OBR-7) equals StudyDate.
//! A stronger identifier present on both sides and different vetoes the weaker rules: a report
//! naming another Study Instance UID never matches by accession (one accession may cover a
//! PET/CT and a separate diagnostic CT), and different accessions never match by patient + date.
//! Values are compared exactly after trimming DICOM padding (spaces, trailing NUL).
//!
//! It lives in the store because the store applies it inside the transactions that record a
//! report or a study; `hl7::matching` re-exports it and fills [`ReportKeys`] from a message.

/// The report side.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReportKeys {
    pub study_uid: Option<String>,
    /// Already resolved: OBR-18, else OBR-3, else ORC-3.
    pub accession: Option<String>,
    pub patient_id: Option<String>,
    /// YYYYMMDD.
    pub date: Option<String>,
}

/// The study side, from the DICOM attributes of any of its instances.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StudyKeys {
    /// StudyInstanceUID (0020,000D).
    pub study_uid: String,
    /// AccessionNumber (0008,0050).
    pub accession: Option<String>,
    /// PatientID (0010,0020).
    pub patient_id: Option<String>,
    /// StudyDate (0008,0020), YYYYMMDD.
    pub study_date: Option<String>,
}

/// Which rule tied the report to the study (recorded with the match).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchRule {
    StudyUid,
    Accession,
    PatientAndDate,
}

impl MatchRule {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::StudyUid => "study-uid",
            Self::Accession => "accession",
            Self::PatientAndDate => "patient-and-date",
        }
    }
}

/// Matching options (from config).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MatchPolicy {
    /// Allow rule 3 (patient ID + date). Off by default: a patient can have two PET/CTs a day.
    pub patient_and_date: bool,
}

/// The rule that matches, or `None`.
pub fn match_report(
    report: &ReportKeys,
    study: &StudyKeys,
    policy: MatchPolicy,
) -> Option<MatchRule> {
    match compare(report.study_uid.as_deref(), Some(&study.study_uid)) {
        Cmp::Equal => return Some(MatchRule::StudyUid),
        Cmp::Different => return None,
        Cmp::Unknown => {}
    }
    match compare(report.accession.as_deref(), study.accession.as_deref()) {
        Cmp::Equal => return Some(MatchRule::Accession),
        Cmp::Different => return None,
        Cmp::Unknown => {}
    }
    let same_patient = compare(report.patient_id.as_deref(), study.patient_id.as_deref());
    let same_date = compare(report.date.as_deref(), study.study_date.as_deref());
    (policy.patient_and_date && same_patient == Cmp::Equal && same_date == Cmp::Equal)
        .then_some(MatchRule::PatientAndDate)
}

#[derive(Debug, PartialEq, Eq)]
enum Cmp {
    Equal,
    Different,
    /// At least one side has no value.
    Unknown,
}

fn compare(a: Option<&str>, b: Option<&str>) -> Cmp {
    let clean = |s: &str| s.trim_matches(|c: char| c == ' ' || c == '\0').to_owned();
    match (a.map(clean), b.map(clean)) {
        (Some(a), Some(b)) if !a.is_empty() && !b.is_empty() => {
            if a == b {
                Cmp::Equal
            } else {
                Cmp::Different
            }
        }
        _ => Cmp::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn study() -> StudyKeys {
        StudyKeys {
            study_uid: "1.2.826.0.1.3680043.8.498.1".into(),
            accession: Some("ACC123 ".into()),
            patient_id: Some("P1".into()),
            study_date: Some("20260127".into()),
        }
    }

    fn keys(
        uid: Option<&str>,
        acc: Option<&str>,
        pid: Option<&str>,
        date: Option<&str>,
    ) -> ReportKeys {
        ReportKeys {
            study_uid: uid.map(Into::into),
            accession: acc.map(Into::into),
            patient_id: pid.map(Into::into),
            date: date.map(Into::into),
        }
    }

    const ON: MatchPolicy = MatchPolicy {
        patient_and_date: true,
    };
    const OFF: MatchPolicy = MatchPolicy {
        patient_and_date: false,
    };

    #[test]
    fn study_uid_wins_first() {
        let r = keys(
            Some("1.2.826.0.1.3680043.8.498.1"),
            Some("OTHER"),
            None,
            None,
        );
        assert_eq!(match_report(&r, &study(), OFF), Some(MatchRule::StudyUid));
    }

    #[test]
    fn different_study_uid_vetoes_accession() {
        let r = keys(Some("1.2.3"), Some("ACC123"), None, None);
        assert_eq!(match_report(&r, &study(), ON), None);
    }

    #[test]
    fn accession_matches_with_dicom_padding() {
        let r = keys(None, Some("ACC123"), None, None);
        assert_eq!(match_report(&r, &study(), OFF), Some(MatchRule::Accession));
    }

    #[test]
    fn accession_is_case_sensitive() {
        let r = keys(None, Some("acc123"), Some("P1"), Some("20260127"));
        assert_eq!(match_report(&r, &study(), ON), None);
    }

    #[test]
    fn patient_and_date_only_when_enabled() {
        let r = keys(None, None, Some("P1"), Some("20260127"));
        assert_eq!(match_report(&r, &study(), OFF), None);
        assert_eq!(
            match_report(&r, &study(), ON),
            Some(MatchRule::PatientAndDate)
        );
        let wrong_day = keys(None, None, Some("P1"), Some("20260128"));
        assert_eq!(match_report(&wrong_day, &study(), ON), None);
    }

    #[test]
    fn patient_rule_applies_when_study_has_no_accession() {
        let mut s = study();
        s.accession = None;
        let r = keys(None, Some("ACC9"), Some("P1"), Some("20260127"));
        assert_eq!(match_report(&r, &s, ON), Some(MatchRule::PatientAndDate));
    }

    #[test]
    fn nothing_in_common_is_no_match() {
        assert_eq!(match_report(&ReportKeys::default(), &study(), ON), None);
    }
}
