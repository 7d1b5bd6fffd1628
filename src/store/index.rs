//! The redb index: tables, record types (JSON values, readable with any tool) and the
//! transactions that keep studies, series, instances and events consistent.

use crate::ids::Uid;
use redb::{ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};

use super::error::Db;
use super::error::key_uid;
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
    pub study: Uid,
    pub series: Uid,
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
    pub study: Uid,
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
        study: Uid,
        series: Uid,
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
        study: Uid,
        rule: String,
    },
    /// Retention removed the study's instances and delivered files.
    StudyRemoved {
        study: Uid,
        instances: usize,
        bytes: u64,
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
    pub(super) fn init_index_tables(&self, tx: &redb::WriteTransaction) -> Result<(), StoreError> {
        tx.open_table(INSTANCES).db(self, "create tables")?;
        tx.open_table(SERIES).db(self, "create tables")?;
        tx.open_table(STUDIES).db(self, "create tables")?;
        tx.open_table(EVENTS).db(self, "create tables")?;
        tx.open_table(OPEN_SERIES).db(self, "create tables")?;
        tx.open_table(SERIES_BY_STUDY).db(self, "create tables")?;
        tx.open_table(SERIES_INSTANCES).db(self, "create tables")?;
        Ok(())
    }

    /// The index entry of an instance, if stored.
    pub fn instance(&self, sop: &str) -> Result<Option<InstanceRecord>, StoreError> {
        let tx = self.read_tx()?;
        let t = tx.open_table(INSTANCES).db(self, "read instance")?;
        match t.get(sop).db(self, "read instance")? {
            Some(v) => Ok(Some(decode(sop, v.value())?)),
            None => Ok(None),
        }
    }

    /// One series' record, if known.
    pub fn series(&self, uid: &str) -> Result<Option<SeriesRecord>, StoreError> {
        let tx = self.read_tx()?;
        let t = tx.open_table(SERIES).db(self, "read series")?;
        match t.get(uid).db(self, "read series")? {
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
            .db(self, "list series instances")?;
        let inst = tx.open_table(INSTANCES).db(self, "list series instances")?;
        // Keys are `<series>/<sop>`; '0' is the byte after '/', so this is exactly the prefix.
        let (lo, hi) = (format!("{series}/"), format!("{series}0"));
        let mut out = Vec::new();
        for row in by_series
            .range(lo.as_str()..hi.as_str())
            .db(self, "list series instances")?
        {
            let (k, _) = row.db(self, "list series instances")?;
            let sop = &k.value()[lo.len()..];
            if let Some(v) = inst.get(sop).db(self, "list series instances")? {
                out.push((sop.to_owned(), decode(sop, v.value())?));
            }
        }
        Ok(out)
    }

    /// The series of one study.
    pub fn study_series(&self, study: &str) -> Result<Vec<(String, SeriesRecord)>, StoreError> {
        let tx = self.read_tx()?;
        let by_study = tx
            .open_table(SERIES_BY_STUDY)
            .db(self, "list study series")?;
        let series = tx.open_table(SERIES).db(self, "list study series")?;
        self.series_of(&by_study, &series, study)
    }

    /// A study's series, in the order the index lists them.
    pub(super) fn series_of(
        &self,
        by_study: &impl ReadableTable<&'static str, &'static [u8]>,
        series: &impl ReadableTable<&'static str, &'static [u8]>,
        study: &str,
    ) -> Result<Vec<(String, SeriesRecord)>, StoreError> {
        let uids: Vec<String> = match by_study.get(study).db(self, "list study series")? {
            Some(v) => decode(study, v.value())?,
            None => Vec::new(),
        };
        let mut out = Vec::with_capacity(uids.len());
        for uid in uids {
            if let Some(v) = series.get(uid.as_str()).db(self, "list study series")? {
                let s: SeriesRecord = decode(&uid, v.value())?;
                out.push((uid, s));
            }
        }
        Ok(out)
    }

    /// Events with id greater than `after`, in order.
    pub fn events_after(&self, after: u64) -> Result<Vec<(u64, Event)>, StoreError> {
        let tx = self.read_tx()?;
        let t = tx.open_table(EVENTS).db(self, "read events")?;
        let mut out = Vec::new();
        for row in t.range(after.saturating_add(1)..).db(self, "read events")? {
            let (k, v) = row.db(self, "read events")?;
            out.push((k.value(), decode(&k.value().to_string(), v.value())?));
        }
        Ok(out)
    }

    fn scan<T: for<'de> Deserialize<'de>>(
        &self,
        def: TableDefinition<&str, &[u8]>,
    ) -> Result<Vec<(String, T)>, StoreError> {
        let tx = self.read_tx()?;
        let t = tx.open_table(def).db(self, "scan table")?;
        let mut out = Vec::new();
        for row in t.iter().db(self, "scan table")? {
            let (k, v) = row.db(self, "scan table")?;
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
            let open = tx
                .open_table(OPEN_SERIES)
                .db(self, "complete stable series")?;
            let mut due = Vec::new();
            for row in open.iter().db(self, "complete stable series")? {
                let (k, v) = row.db(self, "complete stable series")?;
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
            let mut series = tx.open_table(SERIES).db(self, "complete stable series")?;
            let mut open = tx
                .open_table(OPEN_SERIES)
                .db(self, "complete stable series")?;
            let mut ev = tx.open_table(EVENTS).db(self, "complete stable series")?;
            for uid in due {
                // Re-read inside the write transaction: an instance may have arrived meanwhile.
                let Some(current) = series
                    .get(uid.as_str())
                    .db(self, "complete stable series")?
                else {
                    open.remove(uid.as_str())
                        .db(self, "complete stable series")?;
                    continue;
                };
                let mut rec: SeriesRecord = decode(&uid, current.value())?;
                drop(current);
                if rec.complete.is_some() || now < rec.last_unix.saturating_add(stable_secs) {
                    continue;
                }
                let event = complete(&mut rec, &key_uid(&uid)?, now, "stable");
                series
                    .insert(uid.as_str(), encode(&rec).as_slice())
                    .db(self, "complete stable series")?;
                open.remove(uid.as_str())
                    .db(self, "complete stable series")?;
                push_event(&mut ev, &event).db(self, "complete stable series")?;
                events.push(event);
            }
        }
        tx.commit().db(self, "complete stable series")?;
        Ok(events)
    }
}

/// Marks a series complete and returns the event that says so.
pub(super) fn complete(rec: &mut SeriesRecord, uid: &Uid, now: u64, reason: &str) -> Event {
    rec.complete = Some(Completion {
        unix: now,
        reason: reason.to_owned(),
    });
    Event {
        unix: now,
        kind: EventKind::SeriesComplete {
            study: rec.study.clone(),
            series: uid.clone(),
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
