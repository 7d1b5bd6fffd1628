//! Storing one received instance: read its header from the temporary file, fsync, rename into
//! `studies/<study>/<series>/`, fsync the folder, index it — in that order, so that an
//! acknowledged instance is always on disk, and a crash at any point leaves either nothing
//! visible or a complete file. The file is the record: an index commit that only adds an
//! instance to an already open series is not fsynced (`index_instance`), and
//! `reconcile_open_series` re-indexes at start-up what a crash took from the index.

use std::path::Path;
use std::sync::atomic::Ordering;

use redb::{ReadableTable, WriteTransaction};

use super::error::Db;
use super::identical::same_data_set;
use super::index::{
    EVENTS, INSTANCES, InstanceRecord, OPEN_SERIES, SERIES, SERIES_BY_STUDY, SERIES_INSTANCES,
    STUDIES, SeriesRecord, StudyRecord, complete, decode, encode, push_event,
};
use super::{Event, InstanceHeader, Layout, Store, StoreError, durable};

/// What happened to a received instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreOutcome {
    /// First time seen.
    Stored,
    /// Same UID and same bytes as already stored: nothing written.
    Duplicate,
    /// Same UID, different content: kept as version `n` beside the earlier ones.
    NewVersion(u32),
}

impl InstanceRecord {
    /// The index entry of version `version` of an instance, stored at `rel` (below the data dir).
    pub(super) fn new(h: &InstanceHeader, rel: &Path, bytes: u64, version: u32, now: u64) -> Self {
        Self {
            study: h.study.clone(),
            series: h.series.clone(),
            sop_class: h.sop_class.clone(),
            path: rel.to_string_lossy().into_owned(),
            bytes,
            version,
            transfer_syntax: h.transfer_syntax.clone(),
            instance_number: h.instance_number,
            received_unix: now,
        }
    }
}

impl Store {
    /// Moves a fully received, not yet synced temporary file into place and indexes it.
    /// Returns the outcome and, when this instance completed its series, the event recorded.
    pub fn commit_instance(
        &self,
        tmp: &Path,
        header: &InstanceHeader,
        now: u64,
    ) -> Result<(StoreOutcome, Vec<Event>), StoreError> {
        // One commit per SOP Instance UID at a time: the lookup below decides the version and
        // whether the series gains an instance, so two associations sending the same instance
        // at once must not both see it as new (the soak counted 58 instances for 20 files, and
        // completed a PET series with slices missing).
        let _same_sop = self.lock_sop(header.sop_instance.as_str());
        let existing = self.instance(header.sop_instance.as_str())?;
        let version = match &existing {
            Some(rec) if same_data_set(tmp, &self.absolute(&rec.path))? => {
                let _ = std::fs::remove_file(tmp);
                return Ok((StoreOutcome::Duplicate, Vec::new()));
            }
            Some(rec) => rec.version + 1,
            None => 1,
        };
        let rel =
            Layout::instance_rel(&header.study, &header.series, &header.sop_instance, version);
        let dest = self.layout().absolute(&rel);
        // A crash after the rename but before the index commit leaves an unindexed file at
        // `dest`; the resend of that (never acknowledged) instance lands here again.
        if existing.is_none() && dest.exists() && same_data_set(tmp, &dest)? {
            let _ = std::fs::remove_file(tmp);
        } else {
            durable::rename_durably(tmp, &dest)?;
        }
        let bytes = std::fs::metadata(&dest).map(|m| m.len()).unwrap_or(0);
        let record = InstanceRecord::new(header, &rel, bytes, version, now);
        let events = self.index_instance(header, &record, existing.is_none(), now)?;
        let outcome = if version == 1 {
            StoreOutcome::Stored
        } else {
            StoreOutcome::NewVersion(version)
        };
        Ok((outcome, events))
    }

    /// Indexes a stored instance file in one commit: the instance, its series (count,
    /// completeness, open or not) and, the first time, its study, which may match waiting
    /// reports. Returns the events recorded.
    pub(super) fn index_instance(
        &self,
        h: &InstanceHeader,
        record: &InstanceRecord,
        is_new: bool,
        now: u64,
    ) -> Result<Vec<Event>, StoreError> {
        let mut tx = self.write_tx()?;
        let was_open = self.is_open_series(&tx, h.series.as_str())?;
        self.write_instance(&tx, h, record)?;
        let (stays_open, mut events) = self.count_in_series(&tx, h, is_new, now)?;
        let new_study = match self.record_new_study(&tx, h, now)? {
            Some(matched) => {
                events.extend(matched);
                true
            }
            None => false,
        };
        // The instance file is already durable (fsync + folder fsync), so the index entry of an
        // instance of a series that stays open need not be: when that commit is lost in a
        // crash, `reconcile_open_series` re-indexes the series' files at the next start. Every
        // commit that opens or closes a series, or records a study, stays durable, so every
        // series with non-durable entries is durably listed in OPEN_SERIES.
        if was_open && stays_open && !new_study {
            tx.set_durability(redb::Durability::None)
                .db(self, "index instance")?;
            self.index_unsynced.store(true, Ordering::Release);
        }
        tx.commit().db(self, "commit instance")?;
        Ok(events)
    }

    fn is_open_series(&self, tx: &WriteTransaction, series: &str) -> Result<bool, StoreError> {
        let open = tx.open_table(OPEN_SERIES).db(self, "read open series")?;
        Ok(open.get(series).db(self, "read open series")?.is_some())
    }

    /// The instance's entry and its membership of its series.
    fn write_instance(
        &self,
        tx: &WriteTransaction,
        h: &InstanceHeader,
        record: &InstanceRecord,
    ) -> Result<(), StoreError> {
        tx.open_table(INSTANCES)
            .db(self, "write instance")?
            .insert(h.sop_instance.as_str(), encode(record).as_slice())
            .db(self, "write instance")?;
        let member = format!("{}/{}", h.series, h.sop_instance);
        tx.open_table(SERIES_INSTANCES)
            .db(self, "add instance to series")?
            .insert(member.as_str(), ())
            .db(self, "add instance to series")?;
        Ok(())
    }

    /// Counts the instance in its series (creating the series the first time), completes the
    /// series when all its PET slices are in, and keeps OPEN_SERIES in step. Returns whether
    /// the series stays open, and the completion event if it completed.
    fn count_in_series(
        &self,
        tx: &WriteTransaction,
        h: &InstanceHeader,
        is_new: bool,
        now: u64,
    ) -> Result<(bool, Vec<Event>), StoreError> {
        let key = h.series.as_str();
        let mut series = tx.open_table(SERIES).db(self, "read series")?;
        let existing: Option<SeriesRecord> = match series.get(key).db(self, "read series")? {
            Some(v) => Some(decode(key, v.value())?),
            None => None,
        };
        let mut rec = match existing {
            Some(r) => r,
            None => {
                self.add_series_to_study(tx, h.study.as_str(), key)?;
                SeriesRecord {
                    study: h.study.clone(),
                    modality: h.modality.clone(),
                    instances: 0,
                    expected: None,
                    last_unix: now,
                    complete: None,
                }
            }
        };
        let mut events = Vec::new();
        if let Some(ev) = count_instance(&mut rec, h, is_new, now) {
            let mut table = tx.open_table(EVENTS).db(self, "record series complete")?;
            push_event(&mut table, &ev).db(self, "record series complete")?;
            events.push(ev);
        }
        series
            .insert(key, encode(&rec).as_slice())
            .db(self, "write series")?;
        let mut open = tx.open_table(OPEN_SERIES).db(self, "write open series")?;
        let stays_open = rec.complete.is_none();
        if stays_open {
            open.insert(key, now).db(self, "write open series")?;
        } else {
            open.remove(key).db(self, "write open series")?;
        }
        Ok((stays_open, events))
    }

    /// Records the instance's study if it is new, and matches the waiting reports to it.
    /// Returns `None` when the study was known, else the match events.
    fn record_new_study(
        &self,
        tx: &WriteTransaction,
        h: &InstanceHeader,
        now: u64,
    ) -> Result<Option<Vec<Event>>, StoreError> {
        let key = h.study.as_str();
        let mut studies = tx.open_table(STUDIES).db(self, "write study")?;
        if studies.get(key).db(self, "read study")?.is_some() {
            return Ok(None);
        }
        let study = StudyRecord {
            accession: h.accession.clone(),
            patient_id: h.patient_id.clone(),
            study_date: h.study_date.clone(),
            first_unix: now,
        };
        studies
            .insert(key, encode(&study).as_slice())
            .db(self, "write study")?;
        drop(studies);
        Ok(Some(self.match_waiting_reports(tx, &h.study, &study, now)?))
    }

    fn add_series_to_study(
        &self,
        tx: &WriteTransaction,
        study: &str,
        series: &str,
    ) -> Result<(), StoreError> {
        let mut t = tx
            .open_table(SERIES_BY_STUDY)
            .db(self, "add series to study")?;
        let mut list: Vec<String> = match t.get(study).db(self, "add series to study")? {
            Some(v) => decode(study, v.value())?,
            None => Vec::new(),
        };
        list.push(series.to_owned());
        t.insert(study, encode(&list).as_slice())
            .db(self, "add series to study")?;
        Ok(())
    }

    /// Makes every earlier non-durable index commit durable (one empty durable commit). The
    /// series watcher calls it every tick; closing the database does it too.
    pub fn sync_index(&self) -> Result<(), StoreError> {
        if !self.index_unsynced.swap(false, Ordering::AcqRel) {
            return Ok(());
        }
        let tx = self.write_tx()?;
        let done = tx.commit().db(self, "sync index");
        if done.is_err() {
            self.index_unsynced.store(true, Ordering::Release);
        }
        done
    }
}

/// Counts one more instance into its series record (a new SOP instance adds one; a new version
/// does not), and completes the series when it has all its PET slices. A late instance reopens
/// a completed series; it completes again when quiet. Returns the completion event.
fn count_instance(
    rec: &mut SeriesRecord,
    h: &InstanceHeader,
    is_new: bool,
    now: u64,
) -> Option<Event> {
    if is_new {
        rec.instances += 1;
    }
    rec.last_unix = now;
    rec.complete = None;
    if rec.modality == "PT" {
        rec.expected = h.number_of_slices.or(rec.expected);
    }
    rec.expected
        .is_some_and(|n| n > 0 && rec.instances >= n)
        .then(|| complete(rec, &h.series, now, "all-slices"))
}
