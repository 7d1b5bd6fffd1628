//! Durable state below `node.data_dir`: instance files on disk and a redb index of studies,
//! series, instances and events. Synchronous (callers use `spawn_blocking`); every write that
//! an acknowledgement depends on is fsynced before the call returns.
//!
//! Layout:
//! ```text
//! data_dir/index.redb                      redb database (ACID, fsync on commit)
//! data_dir/incoming/                       temporary files being received (cleared at start)
//! data_dir/studies/<study>/<series>/<sop>.dcm   stored instances (UIDs validated before use)
//! ```
mod index;
mod instances;
mod jobs;
mod reports;
pub mod status;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

pub use index::{Event, EventKind, InstanceRecord, SeriesRecord, StudyRecord};
pub use instances::{InstanceHeader, StoreOutcome};
pub use jobs::{
    Agreement, DeliveryState, FindingOutcome, JobRecord, JobState, OutboxItem, OutboxKind, job_key,
};
pub use reports::{ReportIntake, ReportMatch, ReportRecord, ReportState};

use crate::dicom::Uid;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("index database {path}: {message}")]
    Db { path: PathBuf, message: String },
    #[error("index database {path} is in use by another petground process")]
    Locked { path: PathBuf },
    #[error("index record for {key} is unreadable: {message}")]
    Corrupt { key: String, message: String },
}

impl StoreError {
    pub(crate) fn io<'a>(
        op: &'static str,
        path: &'a Path,
    ) -> impl FnOnce(std::io::Error) -> Self + 'a {
        move |source| Self::Io {
            op,
            path: path.to_owned(),
            source,
        }
    }
}

/// The node's durable store. One per process (redb locks the index file).
pub struct Store {
    dir: PathBuf,
    db: redb::Database,
    tmp_counter: AtomicU64,
    match_patient_and_date: AtomicBool,
    /// Some index commit since the last durable one was non-durable (see `sync_index`).
    index_unsynced: AtomicBool,
}

impl Store {
    /// Opens (creating if needed) the store below `data_dir`, and clears leftovers of transfers
    /// that a crash interrupted: those were never acknowledged, so the sender resends them.
    pub fn open(data_dir: &Path) -> Result<Self, StoreError> {
        for sub in ["incoming", "studies"] {
            let p = data_dir.join(sub);
            std::fs::create_dir_all(&p).map_err(StoreError::io("create folder", &p))?;
        }
        let incoming = data_dir.join("incoming");
        let entries = std::fs::read_dir(&incoming).map_err(StoreError::io("list", &incoming))?;
        for entry in entries.flatten() {
            let _ = std::fs::remove_file(entry.path());
        }
        let path = data_dir.join("index.redb");
        let db = redb::Database::create(&path).map_err(|e| match e {
            redb::DatabaseError::DatabaseAlreadyOpen => StoreError::Locked { path: path.clone() },
            other => StoreError::Db {
                path: path.clone(),
                message: other.to_string(),
            },
        })?;
        let store = Self {
            dir: data_dir.to_owned(),
            db,
            tmp_counter: AtomicU64::new(0),
            match_patient_and_date: AtomicBool::new(false),
            index_unsynced: AtomicBool::new(false),
        };
        store.init_tables()?;
        let fixed = store.reconcile_open_series(unix_now())?;
        if fixed > 0 {
            tracing::info!(
                instances = fixed,
                "re-indexed stored instances whose index entries an unclean stop lost"
            );
        }
        Ok(store)
    }

    pub fn data_dir(&self) -> &Path {
        &self.dir
    }

    /// A new, unique temporary file in `incoming/` for a transfer in progress.
    pub fn incoming_file(&self) -> Result<(PathBuf, File), StoreError> {
        let n = self.tmp_counter.fetch_add(1, Ordering::Relaxed);
        let path = self
            .dir
            .join("incoming")
            .join(format!("{}-{n}.tmp", std::process::id()));
        let file = File::create(&path).map_err(StoreError::io("create", &path))?;
        Ok((path, file))
    }

    /// Where an instance lives (relative to the data dir).
    pub fn instance_rel_path(study: &Uid, series: &Uid, sop: &Uid, version: u32) -> PathBuf {
        let name = if version <= 1 {
            format!("{sop}.dcm")
        } else {
            format!("{sop}.v{version}.dcm")
        };
        PathBuf::from("studies")
            .join(study.as_str())
            .join(series.as_str())
            .join(name)
    }

    fn db_err(&self, e: impl std::fmt::Display) -> StoreError {
        StoreError::Db {
            path: self.dir.join("index.redb"),
            message: e.to_string(),
        }
    }
}

/// Seconds since the Unix epoch (the store's clock; tests pass their own).
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// fsync a directory so that a rename or a new entry in it survives a crash.
pub(crate) fn sync_dir(path: &Path) -> Result<(), StoreError> {
    File::open(path)
        .and_then(|d| d.sync_all())
        .map_err(StoreError::io("fsync folder", path))
}
