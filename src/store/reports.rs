//! Reports in the store: durable intake (the HL7 listener's [`ReportSink`]), report versions
//! (a newer report of the same accession supersedes the older; `X` cancels), and matching to
//! studies (CONTRACT §3) both when a report arrives and when its study arrives later.

use redb::{ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};

use super::index::{EVENTS, STUDIES, StudyRecord, decode, encode, push_event};
use super::{Event, EventKind, Store, StoreError};
use crate::hl7::matching::{MatchPolicy, ReportKeys, StudyKeys, match_report};
use crate::hl7::{OruReport, ReportSink, ReportStatus, SinkError};

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
    pub study: String,
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
    fn keys(&self) -> ReportKeys {
        ReportKeys {
            study_uid: self.study_uid_hint.clone(),
            accession: self.accession.clone(),
            patient_id: self.patient_id.clone(),
            date: self.date.clone(),
        }
    }
}

fn study_keys(uid: &str, s: &StudyRecord) -> StudyKeys {
    StudyKeys {
        study_uid: uid.to_owned(),
        accession: s.accession.clone(),
        patient_id: s.patient_id.clone(),
        study_date: s.study_date.clone(),
    }
}

fn matched_event(id: u64, m: &ReportMatch) -> Event {
    Event {
        unix: m.unix,
        kind: EventKind::ReportMatched {
            report: id,
            study: m.study.clone(),
            rule: m.rule.clone(),
        },
    }
}

impl Store {
    /// Stores a report durably (one redb commit) and matches it against the known studies.
    /// A control ID seen before is not stored again. Returns the report id and the events.
    pub fn put_report(&self, r: &OruReport, now: u64) -> Result<(u64, Vec<Event>), StoreError> {
        let policy = self.match_policy();
        let tx = self.write_tx()?;
        let mut events = Vec::new();
        let id;
        {
            let mut ids = tx.open_table(REPORT_IDS).map_err(|e| self.db_err(e))?;
            if let Some(existing) = ids.get(r.control_id()).map_err(|e| self.db_err(e))? {
                return Ok((existing.value(), Vec::new()));
            }
            let mut reports = tx.open_table(REPORTS).map_err(|e| self.db_err(e))?;
            id = reports
                .last()
                .map_err(|e| self.db_err(e))?
                .map(|(k, _)| k.value() + 1)
                .unwrap_or(1);
            let mut rec = ReportRecord {
                control_id: r.control_id().to_owned(),
                accession: r.accession.clone(),
                study_uid_hint: r.study_uid.clone(),
                patient_id: r.patient_id.clone(),
                date: r.observation_date().map(str::to_owned),
                status: r.status,
                text: r.text.clone(),
                received_unix: now,
                matched: None,
                state: if r.status == ReportStatus::Cancelled {
                    ReportState::Cancelled
                } else {
                    ReportState::Active
                },
            };
            let mut waiting = tx.open_table(WAITING).map_err(|e| self.db_err(e))?;
            let mut pending = tx.open_table(PENDING).map_err(|e| self.db_err(e))?;
            // Versions: this report replaces every earlier active report of its accession.
            if let Some(acc) = &rec.accession {
                let mut by_acc = tx.open_table(BY_ACCESSION).map_err(|e| self.db_err(e))?;
                let mut ids: Vec<u64> =
                    match by_acc.get(acc.as_str()).map_err(|e| self.db_err(e))? {
                        Some(v) => decode(acc, v.value())?,
                        None => Vec::new(),
                    };
                let mut older = Vec::new();
                for k in &ids {
                    if let Some(v) = reports.get(*k).map_err(|e| self.db_err(e))? {
                        let old: ReportRecord = decode(&k.to_string(), v.value())?;
                        if old.state == ReportState::Active {
                            older.push((*k, old));
                        }
                    }
                }
                ids.push(id);
                by_acc
                    .insert(acc.as_str(), encode(&ids).as_slice())
                    .map_err(|e| self.db_err(e))?;
                for (k, mut old) in older {
                    waiting.remove(k).map_err(|e| self.db_err(e))?;
                    pending.remove(k).map_err(|e| self.db_err(e))?;
                    old.state = if rec.status == ReportStatus::Cancelled {
                        ReportState::Cancelled
                    } else {
                        ReportState::Superseded { by: id }
                    };
                    reports
                        .insert(k, encode(&old).as_slice())
                        .map_err(|e| self.db_err(e))?;
                }
            }
            if rec.state == ReportState::Active {
                let studies = tx.open_table(STUDIES).map_err(|e| self.db_err(e))?;
                for row in studies.iter().map_err(|e| self.db_err(e))? {
                    let (k, v) = row.map_err(|e| self.db_err(e))?;
                    let study: StudyRecord = decode(k.value(), v.value())?;
                    if let Some(rule) =
                        match_report(&rec.keys(), &study_keys(k.value(), &study), policy)
                    {
                        rec.matched = Some(ReportMatch {
                            study: k.value().to_owned(),
                            rule: rule.as_str().to_owned(),
                            unix: now,
                        });
                        break;
                    }
                }
            }
            reports
                .insert(id, encode(&rec).as_slice())
                .map_err(|e| self.db_err(e))?;
            if rec.state == ReportState::Active {
                if rec.matched.is_some() {
                    pending.insert(id, now).map_err(|e| self.db_err(e))?;
                } else {
                    waiting.insert(id, now).map_err(|e| self.db_err(e))?;
                }
            }
            ids.insert(r.control_id(), id).map_err(|e| self.db_err(e))?;
            let mut raw = tx.open_table(REPORT_RAW).map_err(|e| self.db_err(e))?;
            raw.insert(id, r.raw.as_slice())
                .map_err(|e| self.db_err(e))?;
            let mut ev = tx.open_table(EVENTS).map_err(|e| self.db_err(e))?;
            let stored = Event {
                unix: now,
                kind: EventKind::ReportStored {
                    report: id,
                    control_id: rec.control_id.clone(),
                    accession: rec.accession.clone(),
                    status: rec.status.code().to_owned(),
                },
            };
            push_event(&mut ev, &stored).map_err(|e| self.db_err(e))?;
            events.push(stored);
            if let Some(m) = &rec.matched {
                let e = matched_event(id, m);
                push_event(&mut ev, &e).map_err(|e| self.db_err(e))?;
                events.push(e);
            }
        }
        tx.commit().map_err(|e| self.db_err(e))?;
        Ok((id, events))
    }

    /// Matches waiting reports to a study that has just become known. Called inside the write
    /// transaction that created the study record.
    pub(super) fn match_waiting_reports(
        &self,
        tx: &redb::WriteTransaction,
        study_uid: &str,
        study: &StudyRecord,
        now: u64,
    ) -> Result<Vec<Event>, StoreError> {
        let policy = self.match_policy();
        let keys = study_keys(study_uid, study);
        let mut reports = tx.open_table(REPORTS).map_err(|e| self.db_err(e))?;
        let mut waiting = tx.open_table(WAITING).map_err(|e| self.db_err(e))?;
        let mut pending = tx.open_table(PENDING).map_err(|e| self.db_err(e))?;
        let mut hits = Vec::new();
        for row in waiting.iter().map_err(|e| self.db_err(e))? {
            let (k, _) = row.map_err(|e| self.db_err(e))?;
            let Some(v) = reports.get(k.value()).map_err(|e| self.db_err(e))? else {
                continue;
            };
            let rec: ReportRecord = decode(&k.value().to_string(), v.value())?;
            if rec.state != ReportState::Active || rec.matched.is_some() {
                continue;
            }
            if let Some(rule) = match_report(&rec.keys(), &keys, policy) {
                hits.push((k.value(), rec, rule));
            }
        }
        let mut ev = tx.open_table(EVENTS).map_err(|e| self.db_err(e))?;
        let mut events = Vec::new();
        for (id, mut rec, rule) in hits {
            let m = ReportMatch {
                study: study_uid.to_owned(),
                rule: rule.as_str().to_owned(),
                unix: now,
            };
            let e = matched_event(id, &m);
            rec.matched = Some(m);
            reports
                .insert(id, encode(&rec).as_slice())
                .map_err(|e| self.db_err(e))?;
            waiting.remove(id).map_err(|e| self.db_err(e))?;
            pending.insert(id, now).map_err(|e| self.db_err(e))?;
            push_event(&mut ev, &e).map_err(|e| self.db_err(e))?;
            events.push(e);
        }
        Ok(events)
    }

    /// Every report, by id.
    pub fn all_reports(&self) -> Result<Vec<(u64, ReportRecord)>, StoreError> {
        let tx = self.read_tx()?;
        let t = tx.open_table(REPORTS).map_err(|e| self.db_err(e))?;
        let mut out = Vec::new();
        for row in t.iter().map_err(|e| self.db_err(e))? {
            let (k, v) = row.map_err(|e| self.db_err(e))?;
            out.push((k.value(), decode(&k.value().to_string(), v.value())?));
        }
        Ok(out)
    }

    fn match_policy(&self) -> MatchPolicy {
        MatchPolicy {
            patient_and_date: self
                .match_patient_and_date
                .load(std::sync::atomic::Ordering::Relaxed),
        }
    }

    /// CONTRACT §3 rule 3 (`hl7.match_patient_and_date`).
    pub fn set_match_patient_and_date(&self, on: bool) {
        self.match_patient_and_date
            .store(on, std::sync::atomic::Ordering::Relaxed);
    }
}

/// The HL7 listener's durable sink: `persist` returns after the redb commit, so `AA` is only
/// sent for a report that survives a crash. New events go to the node's event channel.
pub struct ReportIntake {
    pub store: std::sync::Arc<Store>,
    pub events: tokio::sync::broadcast::Sender<Event>,
}

impl ReportSink for ReportIntake {
    fn persist(&self, report: &OruReport) -> Result<(), SinkError> {
        let (id, events) = self
            .store
            .put_report(report, super::unix_now())
            .map_err(|e| SinkError::Storage(Box::new(e)))?;
        tracing::info!(report = id, control_id = %crate::logtext::capped(report.control_id()), accession = ?report.accession.as_deref().map(crate::logtext::capped), status = report.status.code(), "report stored");
        for e in events {
            let _ = self.events.send(e);
        }
        Ok(())
    }
}
