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
mod backend;
mod index;
mod instances;
mod jobs;
mod reports;
pub mod status;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::RwLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

pub use backend::DiskFull;

pub use index::{Event, EventKind, InstanceRecord, SeriesRecord, StudyRecord};
pub use instances::{InstanceHeader, StoreOutcome};
pub use jobs::{
    Agreement, DeliveryState, FindingOutcome, JobRecord, JobState, OutboxItem, OutboxKind, job_key,
};
pub use reports::{ReportIntake, ReportMatch, ReportRecord, ReportState};

use crate::ids::Uid;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("index database {path}: {message}")]
    Db {
        path: PathBuf,
        message: String,
        /// The database failed for lack of disk space (ENOSPC).
        no_space: bool,
    },
    #[error("index database {path} is in use by another petground process")]
    Locked { path: PathBuf },
    #[error("index record for {key} is unreadable: {message}")]
    Corrupt { key: String, message: String },
}

impl StoreError {
    /// Whether the operation failed for lack of disk space (a C-STORE answers A700 then).
    pub fn is_out_of_space(&self) -> bool {
        match self {
            Self::Io { source, .. } => is_enospc(source),
            Self::Db { no_space, .. } => *no_space,
            _ => false,
        }
    }

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
    /// `None` only after a failed re-open (the next transaction tries again).
    db: RwLock<Option<redb::Database>>,
    /// Counts re-opens, so that threads that saw the same failure re-open once.
    generation: AtomicU64,
    /// A re-index after a re-open is running (it must not start another).
    reindexing: AtomicBool,
    disk_full: DiskFull,
    tmp_counter: AtomicU64,
    match_patient_and_date: AtomicBool,
    /// Some index commit since the last durable one was non-durable (see `sync_index`).
    index_unsynced: AtomicBool,
    /// Striped by SOP Instance UID: commits of the same instance take turns.
    sop_locks: [std::sync::Mutex<()>; SOP_LOCKS],
}

/// Stripes of [`Store::lock_sop`]: enough that different instances rarely wait for each other.
const SOP_LOCKS: usize = 64;

impl Store {
    /// Opens (creating if needed) the store below `data_dir`, and clears leftovers of transfers
    /// that a crash interrupted: those were never acknowledged, so the sender resends them.
    pub fn open(data_dir: &Path) -> Result<Self, StoreError> {
        Self::open_with_faults(data_dir, DiskFull::default())
    }

    /// [`Store::open`] with a switch that makes index writes fail as on a full disk (tests).
    pub fn open_with_faults(data_dir: &Path, disk_full: DiskFull) -> Result<Self, StoreError> {
        for sub in ["incoming", "studies"] {
            let p = data_dir.join(sub);
            std::fs::create_dir_all(&p).map_err(StoreError::io("create folder", &p))?;
        }
        let incoming = data_dir.join("incoming");
        let entries = std::fs::read_dir(&incoming).map_err(StoreError::io("list", &incoming))?;
        for entry in entries.flatten() {
            let _ = std::fs::remove_file(entry.path());
        }
        let db = open_index(data_dir, &disk_full)?;
        let store = Self {
            dir: data_dir.to_owned(),
            db: RwLock::new(Some(db)),
            generation: AtomicU64::new(0),
            reindexing: AtomicBool::new(false),
            disk_full,
            tmp_counter: AtomicU64::new(0),
            match_patient_and_date: AtomicBool::new(false),
            index_unsynced: AtomicBool::new(false),
            sop_locks: std::array::from_fn(|_| std::sync::Mutex::new(())),
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

    /// Held while one SOP Instance UID is committed.
    pub(crate) fn lock_sop(&self, sop: &str) -> std::sync::MutexGuard<'_, ()> {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        sop.hash(&mut h);
        let stripe = (h.finish() % SOP_LOCKS as u64) as usize;
        self.sop_locks[stripe]
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    fn db_err(&self, e: impl Into<redb::Error>) -> StoreError {
        db_error(self.dir.join("index.redb"), e.into())
    }

    /// A read transaction; see [`Store::begin`].
    pub(crate) fn read_tx(&self) -> Result<redb::ReadTransaction, StoreError> {
        self.begin(redb::ReadableDatabase::begin_read)
    }

    /// A write transaction; see [`Store::begin`].
    pub(crate) fn write_tx(&self) -> Result<redb::WriteTransaction, StoreError> {
        self.begin(redb::Database::begin_write)
    }

    /// Starts a transaction. redb refuses every transaction after a failed write (a full disk,
    /// any I/O error) until the database is closed and opened again; so does this store: it
    /// re-opens the index (redb repairs it) and tries once more, and serving resumes by itself
    /// once the disk has room. Nothing acknowledged is lost: a failed commit was never
    /// acknowledged, and every acknowledged one is durable in the file that is re-opened.
    fn begin<T>(
        &self,
        start: impl Fn(&redb::Database) -> Result<T, redb::TransactionError>,
    ) -> Result<T, StoreError> {
        let mut reopened = false;
        loop {
            let seen = self.generation.load(Ordering::Acquire);
            let result = {
                let db = self.db.read().unwrap_or_else(|p| p.into_inner());
                db.as_ref().map(&start)
            };
            match result {
                Some(Ok(tx)) => return Ok(tx),
                Some(Err(redb::TransactionError::Storage(redb::StorageError::PreviousIo)))
                | None
                    if !reopened =>
                {
                    reopened = true;
                    if self.reopen(seen)? {
                        self.reindex_after_reopen();
                    }
                }
                Some(Err(e)) => return Err(self.db_err(e)),
                None => return Err(self.db_err(redb::Error::DatabaseClosed)),
            }
        }
    }

    /// Closes and re-opens the index, unless another thread already did since `seen`. Returns
    /// whether this call re-opened it.
    fn reopen(&self, seen: u64) -> Result<bool, StoreError> {
        let mut db = self.db.write().unwrap_or_else(|p| p.into_inner());
        if self.generation.load(Ordering::Acquire) != seen && db.is_some() {
            return Ok(false);
        }
        if db.take().is_some() {
            tracing::warn!("index database failed after an I/O error; re-opening it");
        }
        let fresh = open_index(&self.dir, &self.disk_full)?;
        *db = Some(fresh);
        self.generation.fetch_add(1, Ordering::AcqRel);
        tracing::info!("index database re-opened");
        Ok(true)
    }

    /// After a re-open: the non-durable commits since the last durable one are gone from the
    /// index (their files are not), so the open series are re-indexed as at start-up.
    fn reindex_after_reopen(&self) {
        if self.reindexing.swap(true, Ordering::AcqRel) {
            return; // a re-open during the re-index itself
        }
        match self.reconcile_open_series(unix_now()) {
            Ok(0) => {}
            Ok(n) => tracing::info!(instances = n, "re-indexed instances after re-opening"),
            Err(e) => tracing::warn!(error = %e, "re-indexing after re-opening failed"),
        }
        self.reindexing.store(false, Ordering::Release);
    }
}

/// Opens (creating if needed) `data_dir/index.redb`.
fn open_index(data_dir: &Path, disk_full: &DiskFull) -> Result<redb::Database, StoreError> {
    let path = data_dir.join("index.redb");
    let backend = backend::IndexBackend::open(&path, disk_full.clone())
        .map_err(StoreError::io("open", &path))?;
    redb::Database::builder()
        .create_with_backend(backend)
        .map_err(|e| match e {
            redb::DatabaseError::DatabaseAlreadyOpen => StoreError::Locked { path: path.clone() },
            other => db_error(path.clone(), other.into()),
        })
}

/// An index error, marked when it is a full disk.
fn db_error(path: PathBuf, e: redb::Error) -> StoreError {
    StoreError::Db {
        path,
        no_space: matches!(&e, redb::Error::Io(io) if is_enospc(io)),
        message: e.to_string(),
    }
}

fn is_enospc(e: &std::io::Error) -> bool {
    e.raw_os_error() == Some(28) || e.kind() == std::io::ErrorKind::StorageFull
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
