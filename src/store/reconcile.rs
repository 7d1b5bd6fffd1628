//! After an unclean stop: re-index the instance files of every open series that the index
//! lacks (or knows in an older version). Those are the non-durable index commits a crash lost
//! (`index_instance` leaves commits that only add to an open series non-durable); the files
//! themselves were durable before their C-STORE was answered.

use std::collections::BTreeMap;

use redb::ReadableTable;

use super::error::Db;
use super::index::{InstanceRecord, OPEN_SERIES};
use super::layout::parse_instance_file_name;
use super::{InstanceHeader, Layout, Store, StoreError};
use crate::ids::Uid;

impl Store {
    /// Re-indexes what the index lacks of every open series. Returns how many instances were
    /// re-indexed.
    pub(super) fn reconcile_open_series(&self, now: u64) -> Result<usize, StoreError> {
        let mut fixed = 0;
        for series in self.open_series()? {
            let Some(rec) = self.series(&series)? else {
                continue;
            };
            let (Ok(study_uid), Ok(series_uid)) = (Uid::parse(&rec.study), Uid::parse(&series))
            else {
                continue;
            };
            for (sop, version) in newest_on_disk(&self.layout().series_dir(&study_uid, &series_uid))
            {
                if self.reindex_file(&study_uid, &series_uid, &sop, version, now)? {
                    fixed += 1;
                }
            }
        }
        self.sync_index()?;
        Ok(fixed)
    }

    fn open_series(&self) -> Result<Vec<String>, StoreError> {
        let tx = self.read_tx()?;
        let t = tx.open_table(OPEN_SERIES).db(self, "list open series")?;
        let mut v = Vec::new();
        for row in t.iter().db(self, "list open series")? {
            v.push(row.db(self, "list open series")?.0.value().to_owned());
        }
        Ok(v)
    }

    /// Indexes version `version` of `sop` from its file, unless the index already has it (or a
    /// newer version). Returns whether it indexed the file.
    fn reindex_file(
        &self,
        study: &Uid,
        series: &Uid,
        sop: &str,
        version: u32,
        now: u64,
    ) -> Result<bool, StoreError> {
        let existing = self.instance(sop)?;
        if existing.as_ref().is_some_and(|r| r.version >= version) {
            return Ok(false);
        }
        let Ok(sop_uid) = Uid::parse(sop) else {
            return Ok(false);
        };
        let rel = Layout::instance_rel(study, series, &sop_uid, version);
        let path = self.layout().absolute(&rel);
        let header = match InstanceHeader::read(&path) {
            Ok(h) if h.sop_instance == sop_uid && h.series == *series => h,
            Ok(_) | Err(_) => {
                tracing::warn!(file = %rel.display(), "unindexed file in an open series is unreadable or misplaced; left alone");
                return Ok(false);
            }
        };
        let bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        let record = InstanceRecord::new(&header, &rel, bytes, version, now);
        self.index_instance(&header, &record, existing.is_none(), now)?;
        Ok(true)
    }
}

/// The newest version of each SOP instance with a file in `dir` (none if `dir` is unreadable).
fn newest_on_disk(dir: &std::path::Path) -> BTreeMap<String, u32> {
    let mut newest = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return newest;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        if let Some((sop, version)) = name.to_str().and_then(parse_instance_file_name) {
            let v = newest.entry(sop.to_owned()).or_insert(version);
            *v = (*v).max(version);
        }
    }
    newest
}
