//! Durable state below `node.data_dir`: instance files on disk and a redb index of studies,
//! series, instances and events. Synchronous (callers use `spawn_blocking`); every write that
//! an acknowledgement depends on is fsynced before the call returns. Where each file lives is
//! [`layout`]'s business; how a file is made durable, [`durable`]'s.
//!
//! Modules, each depending only on those above it: `error`, `backend`, `layout`, `durable`,
//! `matching` (pure), `index` (studies, series, instances, events), `header`, `report_record`,
//! `reports`,
//! `instances`, `reconcile`, `jobs`, `rejections`, `requeue` (operator requests), `retention`. This root opens the index and hands out transactions.
mod backend;
pub mod durable;
mod error;
mod header;
mod identical;
mod index;
mod instances;
mod jobs;
pub mod layout;
pub mod matching;
mod reconcile;
mod rejections;
mod report_record;
mod reports;
mod requeue;
mod retention;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::RwLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

pub use backend::DiskFull;
pub use durable::{rename_durably, sync_dir, write_durably};
pub use error::StoreError;
pub use header::{HeaderError, InstanceHeader};
pub use index::{Completion, Event, EventKind, InstanceRecord, SeriesRecord, StudyRecord};
pub use instances::StoreOutcome;
pub use jobs::{
    Agreement, DeliveryState, FindingOutcome, JobPlan, JobRecord, JobState, OutboxItem, OutboxKind,
    job_key,
};
pub use layout::Layout;
pub use rejections::{Cancellation, RejectionRecord};
pub use report_record::{IncomingReport, ReportMatch, ReportRecord, ReportState, ReportStatus};
pub use reports::ReportIntake;
pub use requeue::{Reprocess, Resend, job_version_key};
pub use retention::Removed;

use crate::ids::Uid;
use error::Db;

/// The node's durable store. One per process (redb locks the index file).
pub struct Store {
    layout: Layout,
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
        let layout = Layout::new(data_dir);
        for p in [layout.incoming(), layout.studies()] {
            std::fs::create_dir_all(&p).map_err(StoreError::io("create folder", &p))?;
        }
        let incoming = layout.incoming();
        let entries = std::fs::read_dir(&incoming).map_err(StoreError::io("list", &incoming))?;
        for entry in entries.flatten() {
            let _ = std::fs::remove_file(entry.path());
        }
        let db = open_index(&layout.index(), &disk_full)?;
        let store = Self {
            layout,
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
        self.layout.root()
    }

    /// The names below the data dir.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// A new, unique temporary file in `incoming/` for a transfer in progress.
    pub fn incoming_file(&self) -> Result<(PathBuf, File), StoreError> {
        let n = self.tmp_counter.fetch_add(1, Ordering::Relaxed);
        let path = self.layout.incoming_file(n);
        let file = File::create(&path).map_err(StoreError::io("create", &path))?;
        Ok((path, file))
    }

    /// Where an instance lives (relative to the data dir); see [`Layout::instance_rel`].
    pub fn instance_rel_path(study: &Uid, series: &Uid, sop: &Uid, version: u32) -> PathBuf {
        Layout::instance_rel(study, series, sop, version)
    }

    /// Absolute path of a stored file, from the path relative to the data dir the index records.
    pub fn absolute(&self, rel: &str) -> PathBuf {
        self.layout.absolute(rel)
    }

    /// Opens every table once, so that read transactions never meet a missing one.
    fn init_tables(&self) -> Result<(), StoreError> {
        let tx = self.write_tx()?;
        self.init_index_tables(&tx)?;
        self.init_report_tables(&tx)?;
        self.init_job_tables(&tx)?;
        self.init_rejection_tables(&tx)?;
        tx.commit().db(self, "create tables")
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

    /// Every SOP lock, in stripe order: no instance commits while the guards live. Only
    /// retention takes more than one lock, one removal at a time.
    pub(crate) fn lock_all_sops(&self) -> Vec<std::sync::MutexGuard<'_, ()>> {
        self.sop_locks
            .iter()
            .map(|l| l.lock().unwrap_or_else(|p| p.into_inner()))
            .collect()
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
                Some(Err(e)) => return Err(e).db(self, "begin transaction"),
                None => return Err(redb::Error::DatabaseClosed).db(self, "begin transaction"),
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
        let fresh = open_index(&self.layout.index(), &self.disk_full)?;
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

/// Opens (creating if needed) the index database at `path`.
fn open_index(path: &Path, disk_full: &DiskFull) -> Result<redb::Database, StoreError> {
    let backend = backend::IndexBackend::open(path, disk_full.clone())
        .map_err(StoreError::io("open", path))?;
    redb::Database::builder()
        .create_with_backend(backend)
        .map_err(|e| match e {
            redb::DatabaseError::DatabaseAlreadyOpen => StoreError::Locked {
                path: path.to_owned(),
            },
            other => StoreError::db(path, "open", other.into()),
        })
}

/// Seconds since the Unix epoch (the store's clock; tests pass their own).
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
