//! What the store keeps of a report: its tables, the [`ReportRecord`] with its state (active,
//! superseded, cancelled) and status, and the [`IncomingReport`] the store takes in. The
//! transactions that write them are in `reports`.

use crate::ids::Uid;
use redb::TableDefinition;
use serde::{Deserialize, Serialize};

use super::index::StudyRecord;
use super::matching::{ReportKeys, StudyKeys};
use super::{Event, EventKind};

pub(super) const REPORTS: TableDefinition<u64, &[u8]> = TableDefinition::new("reports");
/// MSH-10 → report id, so a message resent after a lost ACK is stored once.
pub(super) const REPORT_IDS: TableDefinition<&str, u64> = TableDefinition::new("report_ids");
/// The message as received, by report id.
pub(super) const REPORT_RAW: TableDefinition<u64, &[u8]> = TableDefinition::new("report_raw");
/// Accession → ids of its reports (JSON list), for versioning without a scan.
pub(super) const BY_ACCESSION: TableDefinition<&str, &[u8]> =
    TableDefinition::new("reports_by_accession");
/// Active reports not yet matched to a study (id → received time).
pub(super) const WAITING: TableDefinition<u64, u64> = TableDefinition::new("reports_waiting");
/// Active matched reports without a job yet (id → matched time): what the pipeline looks at.
pub(crate) const PENDING: TableDefinition<u64, u64> = TableDefinition::new("reports_pending");
/// Cancelling reports (`X`) whose withdrawal of delivered SEGs and SRs is not yet queued
/// (id → received time): what the pipeline looks at for rejection notes (`rejections`).
pub(super) const CANCELS: TableDefinition<u64, u64> = TableDefinition::new("reports_cancelling");

/// OBR-25 result status (HL7 table 0123), the subset a report can have. It lives here, not in
/// `hl7`, because the store's versioning acts on it (`X` cancels).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReportStatus {
    Preliminary,
    Final,
    /// Replaces an earlier report of the same accession.
    Corrected,
    /// Withdraws the report; its processing stops.
    Cancelled,
}

impl ReportStatus {
    pub fn parse(code: &str) -> Option<Self> {
        match code {
            "P" => Some(Self::Preliminary),
            "F" => Some(Self::Final),
            "C" => Some(Self::Corrected),
            "X" => Some(Self::Cancelled),
            _ => None,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Self::Preliminary => "P",
            Self::Final => "F",
            Self::Corrected => "C",
            Self::Cancelled => "X",
        }
    }
}

/// A report as the store takes it in.
#[derive(Debug, Clone)]
pub struct IncomingReport<'a> {
    /// MSH-10: a control ID seen before is not stored again.
    pub control_id: &'a str,
    /// What the matching rule compares; `accession` also groups the report's versions.
    pub keys: ReportKeys,
    pub status: ReportStatus,
    pub text: &'a str,
    /// The message as received.
    pub raw: &'a [u8],
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ReportRecord {
    pub control_id: String,
    pub accession: Option<String>,
    /// Study Instance UID named by the report itself (OBX 113014), if any.
    pub study_uid_hint: Option<String>,
    /// PID-3; stored for matching rule 3, never logged.
    pub patient_id: Option<String>,
    pub date: Option<String>,
    pub status: ReportStatus,
    pub text: String,
    pub received_unix: u64,
    pub matched: Option<ReportMatch>,
    pub state: ReportState,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ReportMatch {
    pub study: Uid,
    pub rule: String,
    pub unix: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum ReportState {
    /// The newest report of its accession: it is processed once matched.
    Active,
    Superseded {
        by: u64,
    },
    Cancelled,
}

impl ReportRecord {
    /// The record of a report just received: active unless it cancels, not yet matched.
    pub(super) fn received(r: &IncomingReport<'_>, now: u64) -> Self {
        Self {
            control_id: r.control_id.to_owned(),
            accession: r.keys.accession.clone(),
            study_uid_hint: r.keys.study_uid.clone(),
            patient_id: r.keys.patient_id.clone(),
            date: r.keys.date.clone(),
            status: r.status,
            text: r.text.to_owned(),
            received_unix: now,
            matched: None,
            state: if r.status == ReportStatus::Cancelled {
                ReportState::Cancelled
            } else {
                ReportState::Active
            },
        }
    }

    pub(super) fn keys(&self) -> ReportKeys {
        ReportKeys {
            study_uid: self.study_uid_hint.clone(),
            accession: self.accession.clone(),
            patient_id: self.patient_id.clone(),
            date: self.date.clone(),
        }
    }

    pub(super) fn stored_event(&self, id: u64) -> Event {
        Event {
            unix: self.received_unix,
            kind: EventKind::ReportStored {
                report: id,
                control_id: self.control_id.clone(),
                accession: self.accession.clone(),
                status: self.status.code().to_owned(),
            },
        }
    }
}

pub(super) fn study_keys(uid: &str, s: &StudyRecord) -> StudyKeys {
    StudyKeys {
        study_uid: uid.to_owned(),
        accession: s.accession.clone(),
        patient_id: s.patient_id.clone(),
        study_date: s.study_date.clone(),
    }
}

pub(super) fn matched_event(id: u64, m: &ReportMatch) -> Event {
    Event {
        unix: m.unix,
        kind: EventKind::ReportMatched {
            report: id,
            study: m.study.clone(),
            rule: m.rule.clone(),
        },
    }
}
