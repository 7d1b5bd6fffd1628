//! Storing one received instance: read its header from the temporary file, fsync, rename into
//! `studies/<study>/<series>/`, fsync the folder, index it — in that order, so that an
//! acknowledged instance is always on disk, and a crash at any point leaves either nothing
//! visible or a complete file. The file is the record: an index commit that only adds an
//! instance to an already open series is not fsynced (`index_instance`), and
//! `reconcile_open_series` re-indexes at start-up what a crash took from the index.

use std::path::{Path, PathBuf};

use dicom_dictionary_std::tags;
use dicom_object::{DefaultDicomObject, OpenFileOptions};
use redb::ReadableTable;

use super::index::{
    INSTANCES, InstanceRecord, SERIES, STUDIES, SeriesRecord, StudyRecord, complete, decode,
    encode, push_event,
};
use super::{Event, Store, StoreError, sync_dir};
use crate::ids::Uid;
use std::sync::atomic::Ordering;

/// What the store needs to know of an instance, read from its header.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceHeader {
    pub sop_class: String,
    pub sop_instance: Uid,
    pub study: Uid,
    pub series: Uid,
    pub modality: String,
    pub transfer_syntax: String,
    pub instance_number: Option<i32>,
    pub number_of_slices: Option<u32>,
    pub accession: Option<String>,
    pub patient_id: Option<String>,
    pub study_date: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum HeaderError {
    #[error("data set cannot be parsed: {0}")]
    Unreadable(String),
    #[error("data set lacks {0}")]
    Missing(&'static str),
    #[error("{0}")]
    BadUid(#[from] crate::ids::IdError),
}

impl InstanceHeader {
    /// Reads the header (everything before PixelData) of a Part 10 file, walked first
    /// (`walk::check_part10`): dicom-object reserves from claimed lengths, and a file in
    /// a folder given to `petground ground DIR` has been checked by nobody.
    pub fn read(path: &Path) -> Result<Self, HeaderError> {
        std::fs::File::open(path)
            .map_err(|e| HeaderError::Unreadable(e.to_string()))
            .and_then(|f| {
                crate::walk::check_part10(f).map_err(|e| HeaderError::Unreadable(e.to_string()))
            })?;
        Self::read_walked(path)
    }

    /// [`InstanceHeader::read`] of a file whose lengths are already checked: the SCP walks every
    /// data set it receives before this, and the file meta group is its own.
    pub fn read_walked(path: &Path) -> Result<Self, HeaderError> {
        let obj = OpenFileOptions::new()
            .read_until(tags::PIXEL_DATA)
            .open_file(path)
            .map_err(|e| HeaderError::Unreadable(e.to_string()))?;
        Self::from_object(&obj)
    }

    pub fn from_object(obj: &DefaultDicomObject) -> Result<Self, HeaderError> {
        let text = |tag| {
            obj.element_opt(tag)
                .ok()
                .flatten()
                .and_then(|e| e.to_str().ok())
                .map(|s| s.trim_matches(['\0', ' ']).to_owned())
                .filter(|s| !s.is_empty())
        };
        let uid = |tag, name| -> Result<Uid, HeaderError> {
            Ok(Uid::parse(&text(tag).ok_or(HeaderError::Missing(name))?)?)
        };
        Ok(Self {
            sop_class: text(tags::SOP_CLASS_UID).ok_or(HeaderError::Missing("SOPClassUID"))?,
            sop_instance: uid(tags::SOP_INSTANCE_UID, "SOPInstanceUID")?,
            study: uid(tags::STUDY_INSTANCE_UID, "StudyInstanceUID")?,
            series: uid(tags::SERIES_INSTANCE_UID, "SeriesInstanceUID")?,
            modality: text(tags::MODALITY).unwrap_or_default(),
            transfer_syntax: obj
                .meta()
                .transfer_syntax()
                .trim_end_matches('\0')
                .to_owned(),
            instance_number: text(tags::INSTANCE_NUMBER).and_then(|s| s.parse().ok()),
            number_of_slices: text(tags::NUMBER_OF_SLICES).and_then(|s| s.parse().ok()),
            accession: text(tags::ACCESSION_NUMBER),
            patient_id: text(tags::PATIENT_ID),
            study_date: text(tags::STUDY_DATE),
        })
    }
}

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
            Some(rec) if same_bytes(tmp, &self.dir.join(&rec.path))? => {
                let _ = std::fs::remove_file(tmp);
                return Ok((StoreOutcome::Duplicate, Vec::new()));
            }
            Some(rec) => rec.version + 1,
            None => 1,
        };
        let rel =
            Store::instance_rel_path(&header.study, &header.series, &header.sop_instance, version);
        let dest = self.dir.join(&rel);
        // A crash after the rename but before the index commit leaves an unindexed file at
        // `dest`; the resend of that (never acknowledged) instance lands here again.
        if existing.is_none() && dest.exists() && same_bytes(tmp, &dest)? {
            let _ = std::fs::remove_file(tmp);
        } else {
            self.place(tmp, &dest)?;
        }
        let bytes = std::fs::metadata(&dest).map(|m| m.len()).unwrap_or(0);
        let record = InstanceRecord {
            study: header.study.to_string(),
            series: header.series.to_string(),
            sop_class: header.sop_class.clone(),
            path: rel.to_string_lossy().into_owned(),
            bytes,
            version,
            transfer_syntax: header.transfer_syntax.clone(),
            instance_number: header.instance_number,
            received_unix: now,
        };
        let events = self.index_instance(header, &record, existing.is_none(), now)?;
        let outcome = if version == 1 {
            StoreOutcome::Stored
        } else {
            StoreOutcome::NewVersion(version)
        };
        Ok((outcome, events))
    }

    /// fsync the file, rename it into place, fsync the folders whose entries changed.
    fn place(&self, tmp: &Path, dest: &Path) -> Result<(), StoreError> {
        std::fs::File::open(tmp)
            .and_then(|f| f.sync_all())
            .map_err(StoreError::io("fsync", tmp))?;
        let series_dir = dest.parent().expect("instance paths have a series folder");
        let new_dir = !series_dir.exists();
        std::fs::create_dir_all(series_dir).map_err(StoreError::io("create folder", series_dir))?;
        std::fs::rename(tmp, dest).map_err(StoreError::io("rename into", dest))?;
        sync_dir(series_dir)?;
        if new_dir {
            let study_dir = series_dir
                .parent()
                .expect("series folders sit in a study folder");
            sync_dir(study_dir)?;
            sync_dir(&self.dir.join("studies"))?;
        }
        Ok(())
    }

    fn index_instance(
        &self,
        h: &InstanceHeader,
        record: &InstanceRecord,
        is_new: bool,
        now: u64,
    ) -> Result<Vec<Event>, StoreError> {
        let mut tx = self.write_tx()?;
        let mut events = Vec::new();
        let was_open;
        let stays_open;
        let mut new_study = false;
        {
            was_open = tx
                .open_table(super::index::OPEN_SERIES)
                .map_err(|e| self.db_err(e))?
                .get(h.series.as_str())
                .map_err(|e| self.db_err(e))?
                .is_some();
            let mut inst = tx.open_table(INSTANCES).map_err(|e| self.db_err(e))?;
            inst.insert(h.sop_instance.as_str(), encode(record).as_slice())
                .map_err(|e| self.db_err(e))?;
            let member = format!("{}/{}", h.series, h.sop_instance);
            tx.open_table(super::index::SERIES_INSTANCES)
                .map_err(|e| self.db_err(e))?
                .insert(member.as_str(), ())
                .map_err(|e| self.db_err(e))?;
            let mut series = tx.open_table(SERIES).map_err(|e| self.db_err(e))?;
            let key = h.series.as_str();
            let existing: Option<SeriesRecord> =
                match series.get(key).map_err(|e| self.db_err(e))? {
                    Some(v) => Some(decode(key, v.value())?),
                    None => None,
                };
            let mut rec = match existing {
                Some(r) => r,
                None => {
                    self.add_series_to_study(&tx, h.study.as_str(), key)?;
                    SeriesRecord {
                        study: h.study.to_string(),
                        modality: h.modality.clone(),
                        instances: 0,
                        expected: None,
                        last_unix: now,
                        complete: None,
                    }
                }
            };
            if is_new {
                rec.instances += 1;
            }
            rec.last_unix = now;
            // A late instance reopens a completed series; it completes again when quiet.
            rec.complete = None;
            if rec.modality == "PT" {
                rec.expected = h.number_of_slices.or(rec.expected);
            }
            if rec.expected.is_some_and(|n| n > 0 && rec.instances >= n) {
                let ev = complete(&mut rec, key, now, "all-slices");
                let mut table = tx
                    .open_table(super::index::EVENTS)
                    .map_err(|e| self.db_err(e))?;
                push_event(&mut table, &ev).map_err(|e| self.db_err(e))?;
                events.push(ev);
            }
            series
                .insert(key, encode(&rec).as_slice())
                .map_err(|e| self.db_err(e))?;
            let mut open = tx
                .open_table(super::index::OPEN_SERIES)
                .map_err(|e| self.db_err(e))?;
            stays_open = rec.complete.is_none();
            if stays_open {
                open.insert(key, now).map_err(|e| self.db_err(e))?;
            } else {
                open.remove(key).map_err(|e| self.db_err(e))?;
            }
            let mut studies = tx.open_table(STUDIES).map_err(|e| self.db_err(e))?;
            let skey = h.study.as_str();
            if studies.get(skey).map_err(|e| self.db_err(e))?.is_none() {
                new_study = true;
                let study = StudyRecord {
                    accession: h.accession.clone(),
                    patient_id: h.patient_id.clone(),
                    study_date: h.study_date.clone(),
                    first_unix: now,
                };
                studies
                    .insert(skey, encode(&study).as_slice())
                    .map_err(|e| self.db_err(e))?;
                drop(studies);
                events.extend(self.match_waiting_reports(&tx, skey, &study, now)?);
            }
        }
        // The instance file is already durable (fsync + folder fsync), so the index entry of an
        // instance of a series that stays open need not be: when that commit is lost in a
        // crash, `reconcile_open_series` re-indexes the series' files at the next start. Every
        // commit that opens or closes a series, or records a study, stays durable, so every
        // series with non-durable entries is durably listed in OPEN_SERIES.
        if was_open && stays_open && !new_study {
            tx.set_durability(redb::Durability::None)
                .map_err(|e| self.db_err(e))?;
            self.index_unsynced.store(true, Ordering::Release);
        }
        tx.commit().map_err(|e| self.db_err(e))?;
        Ok(events)
    }

    /// Makes every earlier non-durable index commit durable (one empty durable commit). The
    /// series watcher calls it every tick; closing the database does it too.
    pub fn sync_index(&self) -> Result<(), StoreError> {
        if !self.index_unsynced.swap(false, Ordering::AcqRel) {
            return Ok(());
        }
        let tx = self.write_tx()?;
        tx.commit().map_err(|e| {
            self.index_unsynced.store(true, Ordering::Release);
            self.db_err(e)
        })
    }

    /// Re-indexes the files of every open series that the index lacks (or knows in an older
    /// version): the non-durable index commits a crash lost. Returns how many were re-indexed.
    pub(super) fn reconcile_open_series(&self, now: u64) -> Result<usize, StoreError> {
        let open: Vec<String> = {
            let tx = self.read_tx()?;
            let t = tx
                .open_table(super::index::OPEN_SERIES)
                .map_err(|e| self.db_err(e))?;
            let mut v = Vec::new();
            for row in t.iter().map_err(|e| self.db_err(e))? {
                v.push(row.map_err(|e| self.db_err(e))?.0.value().to_owned());
            }
            v
        };
        let mut fixed = 0;
        for series in open {
            let Some(rec) = self.series(&series)? else {
                continue;
            };
            let dir = self.dir.join("studies").join(&rec.study).join(&series);
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            // Newest version of each SOP instance present on disk.
            let mut newest: std::collections::BTreeMap<String, u32> = Default::default();
            for entry in entries.flatten() {
                let name = entry.file_name();
                if let Some((sop, version)) = name.to_str().and_then(parse_instance_file_name) {
                    let v = newest.entry(sop.to_owned()).or_insert(version);
                    *v = (*v).max(version);
                }
            }
            for (sop, version) in newest {
                let existing = self.instance(&sop)?;
                if existing.as_ref().is_some_and(|r| r.version >= version) {
                    continue;
                }
                let (Ok(study_uid), Ok(series_uid), Ok(sop_uid)) = (
                    Uid::parse(&rec.study),
                    Uid::parse(&series),
                    Uid::parse(&sop),
                ) else {
                    continue;
                };
                let rel = Store::instance_rel_path(&study_uid, &series_uid, &sop_uid, version);
                let path = self.dir.join(&rel);
                let header = match InstanceHeader::read(&path) {
                    Ok(h) if h.sop_instance == sop_uid && h.series == series_uid => h,
                    Ok(_) | Err(_) => {
                        tracing::warn!(file = %rel.display(), "unindexed file in an open series is unreadable or misplaced; left alone");
                        continue;
                    }
                };
                let record = InstanceRecord {
                    study: header.study.to_string(),
                    series: header.series.to_string(),
                    sop_class: header.sop_class.clone(),
                    path: rel.to_string_lossy().into_owned(),
                    bytes: std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0),
                    version,
                    transfer_syntax: header.transfer_syntax.clone(),
                    instance_number: header.instance_number,
                    received_unix: now,
                };
                self.index_instance(&header, &record, existing.is_none(), now)?;
                fixed += 1;
            }
        }
        self.sync_index()?;
        Ok(fixed)
    }

    fn add_series_to_study(
        &self,
        tx: &redb::WriteTransaction,
        study: &str,
        series: &str,
    ) -> Result<(), StoreError> {
        let mut t = tx
            .open_table(super::index::SERIES_BY_STUDY)
            .map_err(|e| self.db_err(e))?;
        let mut list: Vec<String> = match t.get(study).map_err(|e| self.db_err(e))? {
            Some(v) => decode(study, v.value())?,
            None => Vec::new(),
        };
        list.push(series.to_owned());
        t.insert(study, encode(&list).as_slice())
            .map_err(|e| self.db_err(e))?;
        Ok(())
    }

    /// Absolute path of a stored instance.
    pub fn absolute(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }
}

/// `<sop>.dcm` → (sop, 1); `<sop>.v<N>.dcm` → (sop, N) (see `Store::instance_rel_path`).
fn parse_instance_file_name(name: &str) -> Option<(&str, u32)> {
    let stem = name.strip_suffix(".dcm")?;
    if let Some((sop, v)) = stem.rsplit_once(".v")
        && let Ok(n) = v.parse::<u32>()
        && n >= 2
    {
        return Some((sop, n));
    }
    Some((stem, 1))
}

/// Whether two Part 10 files hold the same data set in the same transfer syntax. The file meta
/// groups are not compared: we write them, and they record the sending AE, so the same data set
/// from another sender would otherwise be kept as a new version. Streamed: large instances cost
/// no memory.
fn same_bytes(a: &Path, b: &Path) -> Result<bool, StoreError> {
    use std::io::{Read, Seek, SeekFrom};
    let open = |p: &Path| std::fs::File::open(p).map_err(StoreError::io("open", p));
    let mut fa = open(a)?;
    let Ok(mut fb) = open(b) else {
        return Ok(false);
    };
    let layout = |f: &mut std::fs::File| -> Option<(u64, Option<String>, u64)> {
        let len = f.metadata().ok()?.len();
        let (offset, ts) = crate::walk::file_meta(&mut *f).unwrap_or((0, None));
        Some((offset, ts, len - offset.min(len)))
    };
    let (Some((oa, ta, la)), Some((ob, tb, lb))) = (layout(&mut fa), layout(&mut fb)) else {
        return Ok(false);
    };
    if ta != tb || la != lb {
        return Ok(false);
    }
    fa.seek(SeekFrom::Start(oa))
        .map_err(StoreError::io("read", a))?;
    fb.seek(SeekFrom::Start(ob))
        .map_err(StoreError::io("read", b))?;
    let (mut fa, mut fb) = (std::io::BufReader::new(fa), std::io::BufReader::new(fb));
    let (mut ba, mut bb) = (vec![0u8; 1 << 16], vec![0u8; 1 << 16]);
    loop {
        let n = fa.read(&mut ba).map_err(StoreError::io("read", a))?;
        if n == 0 {
            return Ok(true);
        }
        fb.read_exact(&mut bb[..n])
            .map_err(StoreError::io("read", b))?;
        if ba[..n] != bb[..n] {
            return Ok(false);
        }
    }
}
