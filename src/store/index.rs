//! The redb index: tables, record types (JSON values, readable with any tool) and the
//! transactions that keep studies, series, instances and events consistent.

use redb::{ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};

use super::{Store, StoreError};

pub(super) const INSTANCES: TableDefinition<&str, &[u8]> = TableDefinition::new("instances");
pub(super) const SERIES: TableDefinition<&str, &[u8]> = TableDefinition::new("series");
pub(super) const STUDIES: TableDefinition<&str, &[u8]> = TableDefinition::new("studies");
pub(super) const EVENTS: TableDefinition<u64, &[u8]> = TableDefinition::new("events");
/// Series not yet complete → time of their last instance: what the completeness watcher scans,
/// so its work does not grow with the store's history.
pub(super) const OPEN_SERIES: TableDefinition<&str, u64> = TableDefinition::new("open_series");
/// `<series>/<sop>` → (): the instances of a series by range scan, without reading them all.
pub(super) const SERIES_INSTANCES: TableDefinition<&str, ()> =
    TableDefinition::new("series_instances");
/// Study → its series UIDs (JSON list).
pub(super) const SERIES_BY_STUDY: TableDefinition<&str, &[u8]> =
    TableDefinition::new("series_by_study");

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct InstanceRecord {
    pub study: String,
    pub series: String,
    pub sop_class: String,
    /// Path of the newest version, relative to the data dir.
    pub path: String,
    pub bytes: u64,
    pub version: u32,
    pub transfer_syntax: String,
    pub instance_number: Option<i32>,
    pub received_unix: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SeriesRecord {
    pub study: String,
    pub modality: String,
    pub instances: u32,
    /// NumberOfSlices (0054,0081) of a PET series: complete at once when all have arrived.
    pub expected: Option<u32>,
    pub last_unix: u64,
    pub complete: Option<Completion>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Completion {
    pub unix: u64,
    /// `all-slices` or `stable`.
    pub reason: String,
}

/// Study-level identifiers used for report matching. The patient ID is stored (CONTRACT §3
/// rule 3) but never logged.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct StudyRecord {
    pub accession: Option<String>,
    pub patient_id: Option<String>,
    pub study_date: Option<String>,
    pub first_unix: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Event {
    pub unix: u64,
    pub kind: EventKind,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum EventKind {
    SeriesComplete {
        study: String,
        series: String,
        modality: String,
        instances: u32,
        reason: String,
    },
    ReportStored {
        report: u64,
        control_id: String,
        accession: Option<String>,
        status: String,
    },
    ReportMatched {
        report: u64,
        study: String,
        rule: String,
    },
}

pub(super) fn decode<T: for<'de> Deserialize<'de>>(
    key: &str,
    bytes: &[u8],
) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt {
        key: key.to_owned(),
        message: e.to_string(),
    })
}

pub(super) fn encode<T: Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).expect("index records are plain data and always serialise")
}

impl Store {
    pub(super) fn init_tables(&self) -> Result<(), StoreError> {
        let tx = self.write_tx()?;
        tx.open_table(INSTANCES).map_err(|e| self.db_err(e))?;
        tx.open_table(SERIES).map_err(|e| self.db_err(e))?;
        tx.open_table(STUDIES).map_err(|e| self.db_err(e))?;
        tx.open_table(EVENTS).map_err(|e| self.db_err(e))?;
        tx.open_table(OPEN_SERIES).map_err(|e| self.db_err(e))?;
        tx.open_table(SERIES_BY_STUDY).map_err(|e| self.db_err(e))?;
        tx.open_table(SERIES_INSTANCES)
            .map_err(|e| self.db_err(e))?;
        tx.open_table(super::reports::REPORTS)
            .map_err(|e| self.db_err(e))?;
        tx.open_table(super::reports::REPORT_IDS)
            .map_err(|e| self.db_err(e))?;
        tx.open_table(super::reports::REPORT_RAW)
            .map_err(|e| self.db_err(e))?;
        tx.open_table(super::reports::BY_ACCESSION)
            .map_err(|e| self.db_err(e))?;
        tx.open_table(super::reports::WAITING)
            .map_err(|e| self.db_err(e))?;
        tx.open_table(super::reports::PENDING)
            .map_err(|e| self.db_err(e))?;
        self.init_job_tables(&tx)?;
        tx.commit().map_err(|e| self.db_err(e))
    }

    /// The index entry of an instance, if stored.
    pub fn instance(&self, sop: &str) -> Result<Option<InstanceRecord>, StoreError> {
        let tx = self.read_tx()?;
        let t = tx.open_table(INSTANCES).map_err(|e| self.db_err(e))?;
        match t.get(sop).map_err(|e| self.db_err(e))? {
            Some(v) => Ok(Some(decode(sop, v.value())?)),
            None => Ok(None),
        }
    }

    /// One series' record, if known.
    pub fn series(&self, uid: &str) -> Result<Option<SeriesRecord>, StoreError> {
        let tx = self.read_tx()?;
        let t = tx.open_table(SERIES).map_err(|e| self.db_err(e))?;
        match t.get(uid).map_err(|e| self.db_err(e))? {
            Some(v) => Ok(Some(decode(uid, v.value())?)),
            None => Ok(None),
        }
    }

    /// Every series, keyed by SeriesInstanceUID.
    pub fn all_series(&self) -> Result<Vec<(String, SeriesRecord)>, StoreError> {
        self.scan(SERIES)
    }

    pub fn all_studies(&self) -> Result<Vec<(String, StudyRecord)>, StoreError> {
        self.scan(STUDIES)
    }

    /// Instances of one series (a scan: fine for status and pipeline, not for a hot path).
    pub fn series_instances(
        &self,
        series: &str,
    ) -> Result<Vec<(String, InstanceRecord)>, StoreError> {
        let tx = self.read_tx()?;
        let by_series = tx
            .open_table(SERIES_INSTANCES)
            .map_err(|e| self.db_err(e))?;
        let inst = tx.open_table(INSTANCES).map_err(|e| self.db_err(e))?;
        // Keys are `<series>/<sop>`; '0' is the byte after '/', so this is exactly the prefix.
        let (lo, hi) = (format!("{series}/"), format!("{series}0"));
        let mut out = Vec::new();
        for row in by_series
            .range(lo.as_str()..hi.as_str())
            .map_err(|e| self.db_err(e))?
        {
            let (k, _) = row.map_err(|e| self.db_err(e))?;
            let sop = &k.value()[lo.len()..];
            if let Some(v) = inst.get(sop).map_err(|e| self.db_err(e))? {
                out.push((sop.to_owned(), decode(sop, v.value())?));
            }
        }
        Ok(out)
    }

    /// The series of one study.
    pub fn study_series(&self, study: &str) -> Result<Vec<(String, SeriesRecord)>, StoreError> {
        let tx = self.read_tx()?;
        let by_study = tx.open_table(SERIES_BY_STUDY).map_err(|e| self.db_err(e))?;
        let series = tx.open_table(SERIES).map_err(|e| self.db_err(e))?;
        let uids: Vec<String> = match by_study.get(study).map_err(|e| self.db_err(e))? {
            Some(v) => decode(study, v.value())?,
            None => Vec::new(),
        };
        let mut out = Vec::new();
        for uid in uids {
            if let Some(v) = series.get(uid.as_str()).map_err(|e| self.db_err(e))? {
                out.push((uid.clone(), decode(&uid, v.value())?));
            }
        }
        Ok(out)
    }

    /// Events with id greater than `after`, in order.
    pub fn events_after(&self, after: u64) -> Result<Vec<(u64, Event)>, StoreError> {
        let tx = self.read_tx()?;
        let t = tx.open_table(EVENTS).map_err(|e| self.db_err(e))?;
        let mut out = Vec::new();
        for row in t
            .range(after.saturating_add(1)..)
            .map_err(|e| self.db_err(e))?
        {
            let (k, v) = row.map_err(|e| self.db_err(e))?;
            out.push((k.value(), decode(&k.value().to_string(), v.value())?));
        }
        Ok(out)
    }

    fn scan<T: for<'de> Deserialize<'de>>(
        &self,
        def: TableDefinition<&str, &[u8]>,
    ) -> Result<Vec<(String, T)>, StoreError> {
        let tx = self.read_tx()?;
        let t = tx.open_table(def).map_err(|e| self.db_err(e))?;
        let mut out = Vec::new();
        for row in t.iter().map_err(|e| self.db_err(e))? {
            let (k, v) = row.map_err(|e| self.db_err(e))?;
            out.push((k.value().to_owned(), decode(k.value(), v.value())?));
        }
        Ok(out)
    }

    /// Marks complete every series that has been quiet for `stable_secs`, and records an event
    /// for each. Returns the events written.
    pub fn complete_stable_series(
        &self,
        now: u64,
        stable_secs: u64,
    ) -> Result<Vec<Event>, StoreError> {
        let due: Vec<String> = {
            let tx = self.read_tx()?;
            let open = tx.open_table(OPEN_SERIES).map_err(|e| self.db_err(e))?;
            let mut due = Vec::new();
            for row in open.iter().map_err(|e| self.db_err(e))? {
                let (k, v) = row.map_err(|e| self.db_err(e))?;
                if now >= v.value().saturating_add(stable_secs) {
                    due.push(k.value().to_owned());
                }
            }
            due
        };
        if due.is_empty() {
            return Ok(Vec::new());
        }
        let tx = self.write_tx()?;
        let mut events = Vec::new();
        {
            let mut series = tx.open_table(SERIES).map_err(|e| self.db_err(e))?;
            let mut open = tx.open_table(OPEN_SERIES).map_err(|e| self.db_err(e))?;
            let mut ev = tx.open_table(EVENTS).map_err(|e| self.db_err(e))?;
            for uid in due {
                // Re-read inside the write transaction: an instance may have arrived meanwhile.
                let Some(current) = series.get(uid.as_str()).map_err(|e| self.db_err(e))? else {
                    open.remove(uid.as_str()).map_err(|e| self.db_err(e))?;
                    continue;
                };
                let mut rec: SeriesRecord = decode(&uid, current.value())?;
                drop(current);
                if rec.complete.is_some() || now < rec.last_unix.saturating_add(stable_secs) {
                    continue;
                }
                let event = complete(&mut rec, &uid, now, "stable");
                series
                    .insert(uid.as_str(), encode(&rec).as_slice())
                    .map_err(|e| self.db_err(e))?;
                open.remove(uid.as_str()).map_err(|e| self.db_err(e))?;
                push_event(&mut ev, &event).map_err(|e| self.db_err(e))?;
                events.push(event);
            }
        }
        tx.commit().map_err(|e| self.db_err(e))?;
        Ok(events)
    }
}

/// Marks a series complete and returns the event that says so.
pub(super) fn complete(rec: &mut SeriesRecord, uid: &str, now: u64, reason: &str) -> Event {
    rec.complete = Some(Completion {
        unix: now,
        reason: reason.to_owned(),
    });
    Event {
        unix: now,
        kind: EventKind::SeriesComplete {
            study: rec.study.clone(),
            series: uid.to_owned(),
            modality: rec.modality.clone(),
            instances: rec.instances,
            reason: reason.to_owned(),
        },
    }
}

pub(super) fn push_event(
    table: &mut redb::Table<u64, &[u8]>,
    event: &Event,
) -> Result<(), redb::StorageError> {
    let next = table.last()?.map(|(k, _)| k.value() + 1).unwrap_or(1);
    table.insert(next, encode(event).as_slice())?;
    Ok(())
}
