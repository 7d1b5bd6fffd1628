//! Reports in the store: durable intake (one commit per report), report versions (a newer
//! report of the same accession supersedes the older; `X` cancels), and matching to studies
//! (CONTRACT §3, the rule in [`super::matching`]) both when a report arrives and when its study
//! arrives later. The HL7 side turns a parsed message into an [`IncomingReport`]; this module
//! knows nothing of HL7 framing or parsing.

use redb::{ReadableTable, WriteTransaction};

use super::error::Db;
use super::error::key_uid;
use super::index::{EVENTS, STUDIES, StudyRecord, decode, encode, push_event};
use super::matching::{MatchPolicy, ReportKeys, StudyKeys, match_report};
use super::report_record::{
    BY_ACCESSION, CANCELS, IncomingReport, PENDING, REPORT_IDS, REPORT_RAW, REPORTS, ReportMatch,
    ReportRecord, ReportState, ReportStatus, WAITING, matched_event, study_keys,
};
use super::{Event, Store, StoreError};
use crate::ids::Uid;

impl Store {
    pub(super) fn init_report_tables(&self, tx: &WriteTransaction) -> Result<(), StoreError> {
        tx.open_table(REPORTS).db(self, "create tables")?;
        tx.open_table(REPORT_IDS).db(self, "create tables")?;
        tx.open_table(REPORT_RAW).db(self, "create tables")?;
        tx.open_table(BY_ACCESSION).db(self, "create tables")?;
        tx.open_table(WAITING).db(self, "create tables")?;
        tx.open_table(PENDING).db(self, "create tables")?;
        tx.open_table(CANCELS).db(self, "create tables")?;
        Ok(())
    }

    /// Stores a report durably (one redb commit) and matches it against the known studies.
    /// A control ID seen before is not stored again. Returns the report id and the events.
    pub fn put_report(
        &self,
        r: &IncomingReport<'_>,
        now: u64,
    ) -> Result<(u64, Vec<Event>), StoreError> {
        let policy = self.match_policy();
        let tx = self.write_tx()?;
        if let Some(id) = self.report_id_of(&tx, r.control_id)? {
            return Ok((id, Vec::new()));
        }
        let id = self.next_report_id(&tx)?;
        let mut rec = ReportRecord::received(r, now);
        if let Some(acc) = &rec.accession {
            self.supersede_versions(&tx, acc, id, rec.status)?;
        }
        if rec.state == ReportState::Active {
            rec.matched = self.find_study(&tx, &rec.keys(), policy, now)?;
        }
        self.write_new_report(&tx, id, &rec, r)?;
        let events = self.report_events(&tx, id, &rec)?;
        tx.commit().db(self, "commit report")?;
        Ok((id, events))
    }

    /// The id under which a control ID was stored, if it was.
    fn report_id_of(
        &self,
        tx: &WriteTransaction,
        control_id: &str,
    ) -> Result<Option<u64>, StoreError> {
        let ids = tx.open_table(REPORT_IDS).db(self, "look up control id")?;
        let id = ids.get(control_id).db(self, "look up control id")?;
        Ok(id.map(|v| v.value()))
    }

    fn next_report_id(&self, tx: &WriteTransaction) -> Result<u64, StoreError> {
        let reports = tx.open_table(REPORTS).db(self, "next report id")?;
        let last = reports.last().db(self, "next report id")?;
        Ok(last.map(|(k, _)| k.value() + 1).unwrap_or(1))
    }

    /// Report `id` replaces every earlier active report of its accession: they are superseded
    /// by it, or cancelled with it when it cancels, and leave the waiting and pending queues.
    fn supersede_versions(
        &self,
        tx: &WriteTransaction,
        accession: &str,
        id: u64,
        status: ReportStatus,
    ) -> Result<(), StoreError> {
        let mut reports = tx
            .open_table(REPORTS)
            .db(self, "supersede report versions")?;
        let mut by_acc = tx
            .open_table(BY_ACCESSION)
            .db(self, "supersede report versions")?;
        let mut ids: Vec<u64> = match by_acc
            .get(accession)
            .db(self, "supersede report versions")?
        {
            Some(v) => decode(accession, v.value())?,
            None => Vec::new(),
        };
        let mut older = Vec::new();
        for k in &ids {
            if let Some(v) = reports.get(*k).db(self, "supersede report versions")? {
                let old: ReportRecord = decode(&k.to_string(), v.value())?;
                if old.state == ReportState::Active {
                    older.push((*k, old));
                }
            }
        }
        ids.push(id);
        by_acc
            .insert(accession, encode(&ids).as_slice())
            .db(self, "supersede report versions")?;
        let mut waiting = tx
            .open_table(WAITING)
            .db(self, "supersede report versions")?;
        let mut pending = tx
            .open_table(PENDING)
            .db(self, "supersede report versions")?;
        for (k, mut old) in older {
            waiting.remove(k).db(self, "supersede report versions")?;
            pending.remove(k).db(self, "supersede report versions")?;
            old.state = if status == ReportStatus::Cancelled {
                ReportState::Cancelled
            } else {
                ReportState::Superseded { by: id }
            };
            reports
                .insert(k, encode(&old).as_slice())
                .db(self, "supersede report versions")?;
        }
        Ok(())
    }

    /// The first known study the report matches (CONTRACT §3), if any.
    fn find_study(
        &self,
        tx: &WriteTransaction,
        keys: &ReportKeys,
        policy: MatchPolicy,
        now: u64,
    ) -> Result<Option<ReportMatch>, StoreError> {
        let studies = tx.open_table(STUDIES).db(self, "match report to studies")?;
        for row in studies.iter().db(self, "match report to studies")? {
            let (k, v) = row.db(self, "match report to studies")?;
            let study: StudyRecord = decode(k.value(), v.value())?;
            if let Some(rule) = match_report(keys, &study_keys(k.value(), &study), policy) {
                return Ok(Some(ReportMatch {
                    study: key_uid(k.value())?,
                    rule: rule.as_str().to_owned(),
                    unix: now,
                }));
            }
        }
        Ok(None)
    }

    /// Writes the new report, its control ID and raw message, and queues it: pending (for a
    /// job) when matched, waiting (for its study) when not; neither when it cancels.
    fn write_new_report(
        &self,
        tx: &WriteTransaction,
        id: u64,
        rec: &ReportRecord,
        r: &IncomingReport<'_>,
    ) -> Result<(), StoreError> {
        tx.open_table(REPORTS)
            .db(self, "write report")?
            .insert(id, encode(rec).as_slice())
            .db(self, "write report")?;
        if rec.state == ReportState::Active {
            let queue = if rec.matched.is_some() {
                PENDING
            } else {
                WAITING
            };
            tx.open_table(queue)
                .db(self, "write report")?
                .insert(id, rec.received_unix)
                .db(self, "write report")?;
        }
        if rec.status == ReportStatus::Cancelled {
            tx.open_table(CANCELS)
                .db(self, "write report")?
                .insert(id, rec.received_unix)
                .db(self, "write report")?;
        }
        tx.open_table(REPORT_IDS)
            .db(self, "write report")?
            .insert(r.control_id, id)
            .db(self, "write report")?;
        tx.open_table(REPORT_RAW)
            .db(self, "write report")?
            .insert(id, r.raw)
            .db(self, "write report")?;
        Ok(())
    }

    /// Records (and returns) the events of a new report: stored, then matched if it was.
    fn report_events(
        &self,
        tx: &WriteTransaction,
        id: u64,
        rec: &ReportRecord,
    ) -> Result<Vec<Event>, StoreError> {
        let mut ev = tx.open_table(EVENTS).db(self, "record report events")?;
        let mut events = vec![rec.stored_event(id)];
        if let Some(m) = &rec.matched {
            events.push(matched_event(id, m));
        }
        for e in &events {
            push_event(&mut ev, e).db(self, "record report events")?;
        }
        Ok(events)
    }

    /// Matches waiting reports to a study that has just become known. Called inside the write
    /// transaction that created the study record.
    pub(super) fn match_waiting_reports(
        &self,
        tx: &WriteTransaction,
        study_uid: &Uid,
        study: &StudyRecord,
        now: u64,
    ) -> Result<Vec<Event>, StoreError> {
        let hits = self.waiting_matches(tx, &study_keys(study_uid, study))?;
        let mut reports = tx.open_table(REPORTS).db(self, "match waiting reports")?;
        let mut waiting = tx.open_table(WAITING).db(self, "match waiting reports")?;
        let mut pending = tx.open_table(PENDING).db(self, "match waiting reports")?;
        let mut ev = tx.open_table(EVENTS).db(self, "match waiting reports")?;
        let mut events = Vec::new();
        for (id, mut rec, rule) in hits {
            let m = ReportMatch {
                study: study_uid.clone(),
                rule: rule.to_owned(),
                unix: now,
            };
            let e = matched_event(id, &m);
            rec.matched = Some(m);
            reports
                .insert(id, encode(&rec).as_slice())
                .db(self, "match waiting reports")?;
            waiting.remove(id).db(self, "match waiting reports")?;
            pending.insert(id, now).db(self, "match waiting reports")?;
            push_event(&mut ev, &e).db(self, "match waiting reports")?;
            events.push(e);
        }
        Ok(events)
    }

    /// The waiting reports that match a study, with the rule that matched.
    fn waiting_matches(
        &self,
        tx: &WriteTransaction,
        study: &StudyKeys,
    ) -> Result<Vec<(u64, ReportRecord, &'static str)>, StoreError> {
        let policy = self.match_policy();
        let reports = tx.open_table(REPORTS).db(self, "match waiting reports")?;
        let waiting = tx.open_table(WAITING).db(self, "match waiting reports")?;
        let mut hits = Vec::new();
        for row in waiting.iter().db(self, "match waiting reports")? {
            let (k, _) = row.db(self, "match waiting reports")?;
            let Some(v) = reports.get(k.value()).db(self, "match waiting reports")? else {
                continue;
            };
            let rec: ReportRecord = decode(&k.value().to_string(), v.value())?;
            if rec.state != ReportState::Active || rec.matched.is_some() {
                continue;
            }
            if let Some(rule) = match_report(&rec.keys(), study, policy) {
                hits.push((k.value(), rec, rule.as_str()));
            }
        }
        Ok(hits)
    }

    /// The report's version among its accession's reports, 1-based in arrival order (1 for a
    /// report without accession). Read from the durable list of versions, so it is the same
    /// after a restart; a later report never changes an earlier one's number.
    pub fn report_version(&self, id: u64) -> Result<u32, StoreError> {
        const OP: &str = "read report version";
        let tx = self.read_tx()?;
        let reports = tx.open_table(REPORTS).db(self, OP)?;
        let Some(v) = reports.get(id).db(self, OP)? else {
            return Ok(1);
        };
        let rec: ReportRecord = decode(&id.to_string(), v.value())?;
        let Some(acc) = rec.accession else {
            return Ok(1);
        };
        let ids = self.accession_versions(&tx, &acc)?;
        let index = ids.iter().position(|&k| k == id).unwrap_or(0);
        Ok(u32::try_from(index + 1).unwrap_or(u32::MAX))
    }

    /// The ids of an accession's reports, in arrival order.
    pub(super) fn accession_versions(
        &self,
        tx: &redb::ReadTransaction,
        accession: &str,
    ) -> Result<Vec<u64>, StoreError> {
        let by_acc = tx
            .open_table(BY_ACCESSION)
            .db(self, "list report versions")?;
        match by_acc.get(accession).db(self, "list report versions")? {
            Some(v) => decode(accession, v.value()),
            None => Ok(Vec::new()),
        }
    }

    /// Every report, by id.
    pub fn all_reports(&self) -> Result<Vec<(u64, ReportRecord)>, StoreError> {
        let tx = self.read_tx()?;
        let t = tx.open_table(REPORTS).db(self, "list reports")?;
        let mut out = Vec::new();
        for row in t.iter().db(self, "list reports")? {
            let (k, v) = row.db(self, "list reports")?;
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

/// The HL7 listener's durable sink (`impl ReportSink` in `hl7::sink`): a report is durable once
/// [`Store::put_report`] returns, and its events go to the node's event channel.
pub struct ReportIntake {
    pub store: std::sync::Arc<Store>,
    pub events: tokio::sync::broadcast::Sender<Event>,
}
