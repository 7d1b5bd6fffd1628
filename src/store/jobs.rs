//! Jobs and the SEG outbox in the store. A job is one (study, report version): created once
//! (its key makes creation idempotent), run by the pipeline, and finished with an outcome per
//! finding. The outbox holds the files to deliver, one entry per (file, destination) — the SEG and
//! then its SR — with the retry state the delivery worker needs to resume after a restart. An
//! entry waits while an earlier entry of its job to the same destination is pending, so a
//! destination never gets the SR before the SEG it measures.

use crate::ids::Uid;
use redb::{ReadableTable, ReadableTableMetadata, TableDefinition};
use serde::{Deserialize, Serialize};

use super::error::Db;
use super::error::key_uid;
use super::index::{SERIES, SERIES_BY_STUDY, SeriesRecord, decode, encode};
use super::report_record::{PENDING, REPORTS, ReportRecord};
use super::{Store, StoreError};

pub(super) const JOBS: TableDefinition<&str, &[u8]> = TableDefinition::new("jobs");
pub(super) const OUTBOX: TableDefinition<u64, &[u8]> = TableDefinition::new("outbox");
/// Jobs queued or running (key → created time): what the pipeline scans.
pub(super) const QUEUED_JOBS: TableDefinition<&str, u64> = TableDefinition::new("jobs_queued");
/// Pending deliveries → next try time: what the delivery worker scans.
pub(super) const DUE: TableDefinition<u64, u64> = TableDefinition::new("outbox_due");

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct JobRecord {
    pub study: Uid,
    pub report: u64,
    pub pet_series: Uid,
    pub state: JobState,
    pub attempts: u32,
    pub created_unix: u64,
    pub finished_unix: Option<u64>,
    pub findings: Vec<FindingOutcome>,
    /// SOP Instance UID of the SEG this job produced, if any.
    pub seg: Option<Uid>,
    /// SOP Instance UID of the SR that goes with the SEG, if any (`[results] sr`).
    #[serde(default)]
    pub sr: Option<Uid>,
    /// 1 for the job a report gets; `petground reprocess` adds versions 2, 3, … as records
    /// of their own (`requeue`); records written before versions existed read as 1.
    #[serde(default = "first_version")]
    pub version: u32,
    /// What a reader of the result should know about how the job ran, e.g. that it grounded on
    /// the PET alone because no complete CT series arrived in time or the CT was unusable.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

fn first_version() -> u32 {
    1
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum JobState {
    Queued,
    Running,
    Done,
    /// Not retried: the reason says why (e.g. a PET slice is missing).
    Failed {
        reason: String,
    },
    /// Its report was superseded or cancelled before the job ran.
    Skipped {
        reason: String,
    },
}

/// What a pending report gets (decided by `pipeline::jobs`, recorded here).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobPlan {
    /// No job, ever (not active, not matched): the report leaves the pending list.
    Drop,
    /// Not yet (e.g. its PET series is incomplete): it stays pending.
    Wait,
    /// A job on this PET series of the matched study, with the notes the decision leaves.
    Create {
        pet_series: String,
        notes: Vec<String>,
    },
}

impl JobRecord {
    /// A new job, queued.
    pub fn queued(study: Uid, report: u64, pet_series: Uid, now: u64) -> Self {
        JobRecord {
            study,
            report,
            pet_series,
            state: JobState::Queued,
            attempts: 0,
            created_unix: now,
            finished_unix: None,
            findings: Vec::new(),
            seg: None,
            sr: None,
            version: 1,
            notes: Vec::new(),
        }
    }
}

/// What became of one finding of the report.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FindingOutcome {
    pub sentence: String,
    pub suv_max: Option<f64>,
    pub slice: Option<u32>,
    /// `Some(method)` when grounded (the SEG's SegmentAlgorithmName), else `None`.
    pub method: Option<String>,
    /// Segment number in the SEG when grounded.
    pub segment: Option<u16>,
    /// Why it was not grounded, or how it was matched.
    pub detail: String,
    /// Measured SUVmax / MTV (mL) of the label, when grounded.
    pub label_suv_max: Option<f64>,
    pub mtv_ml: Option<f64>,
    /// When both the weak label and the model answered: how far they agree.
    #[serde(default)]
    pub agreement: Option<Agreement>,
    /// When this finding grounded to a lesion that another finding's sentence describes (an
    /// IMPRESSION restating FINDINGS, CONTRACT §5): that finding's number (1-based, report
    /// order). `segment` is then the shared segment.
    #[serde(default)]
    pub restatement_of: Option<usize>,
}

pub use crate::label::Agreement;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OutboxItem {
    /// Path of the file, relative to the data dir.
    pub path: String,
    /// What the file is (entries written before the SR existed are SEGs).
    #[serde(default)]
    pub kind: OutboxKind,
    pub sop_instance: Uid,
    pub destination: String,
    pub job: String,
    pub state: DeliveryState,
    pub attempts: u32,
    pub created_unix: u64,
}

/// The kind of object an outbox entry delivers.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum OutboxKind {
    #[default]
    Seg,
    Sr,
    /// An IOCM rejection note (Key Object Selection) withdrawing SEGs and SRs of a cancelled
    /// report (`store::rejections`).
    Kos,
}

impl OutboxKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OutboxKind::Seg => "seg",
            OutboxKind::Sr => "sr",
            OutboxKind::Kos => "kos",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum DeliveryState {
    Pending {
        next_try_unix: u64,
        last_error: Option<String>,
    },
    Sent {
        unix: u64,
    },
    Failed {
        reason: String,
    },
}

/// The key of a report's first job (version 1): `study/report`.
pub fn job_key(study: &str, report: u64) -> String {
    format!("{study}/{report}")
}

impl Store {
    pub(super) fn init_job_tables(&self, tx: &redb::WriteTransaction) -> Result<(), StoreError> {
        tx.open_table(JOBS).db(self, "create tables")?;
        tx.open_table(OUTBOX).db(self, "create tables")?;
        tx.open_table(QUEUED_JOBS).db(self, "create tables")?;
        tx.open_table(DUE).db(self, "create tables")?;
        Ok(())
    }

    /// Gives every pending report the job `plan` decides on, in one transaction: `plan` sees the
    /// report and its matched study's series (none when unmatched). Returns the keys of the jobs
    /// created. Idempotent: a report whose job exists gets no second one.
    pub fn create_ready_jobs(
        &self,
        now: u64,
        plan: impl Fn(&ReportRecord, &[(String, SeriesRecord)]) -> JobPlan,
    ) -> Result<Vec<String>, StoreError> {
        const OP: &str = "create jobs";
        if self.count(PENDING)? == 0 {
            return Ok(Vec::new());
        }
        let tx = self.write_tx()?;
        let mut created = Vec::new();
        {
            let reports = tx.open_table(REPORTS).db(self, OP)?;
            let series = tx.open_table(SERIES).db(self, OP)?;
            let by_study = tx.open_table(SERIES_BY_STUDY).db(self, OP)?;
            let mut pending = tx.open_table(PENDING).db(self, OP)?;
            let mut jobs = tx.open_table(JOBS).db(self, OP)?;
            let mut queued = tx.open_table(QUEUED_JOBS).db(self, OP)?;
            let ids: Vec<u64> = pending
                .iter()
                .db(self, OP)?
                .map(|r| r.map(|(k, _)| k.value()))
                .collect::<Result<_, _>>()
                .db(self, OP)?;
            for id in ids {
                let Some(v) = reports.get(id).db(self, OP)? else {
                    pending.remove(id).db(self, OP)?;
                    continue;
                };
                let rep: ReportRecord = decode(&id.to_string(), v.value())?;
                let study = rep.matched.as_ref().map(|m| m.study.clone());
                let study_series = match &study {
                    Some(study) => self.series_of(&by_study, &series, study)?,
                    None => Vec::new(),
                };
                let (study, pet_series) = match (plan(&rep, &study_series), study) {
                    (JobPlan::Wait, _) => continue,
                    (JobPlan::Create { pet_series, notes }, Some(study)) => {
                        (study, (pet_series, notes))
                    }
                    (JobPlan::Drop | JobPlan::Create { .. }, _) => {
                        pending.remove(id).db(self, OP)?;
                        continue;
                    }
                };
                let key = job_key(&study, id);
                pending.remove(id).db(self, OP)?;
                if jobs.get(key.as_str()).db(self, OP)?.is_some() {
                    continue;
                }
                let (pet_series, notes) = pet_series;
                let mut job = JobRecord::queued(study, id, key_uid(&pet_series)?, now);
                job.notes = notes;
                jobs.insert(key.as_str(), encode(&job).as_slice())
                    .db(self, OP)?;
                queued.insert(key.as_str(), now).db(self, OP)?;
                created.push(key);
            }
        }
        tx.commit().db(self, OP)?;
        Ok(created)
    }

    fn count<K: redb::Key + 'static, V: redb::Value + 'static>(
        &self,
        def: TableDefinition<K, V>,
    ) -> Result<u64, StoreError> {
        let tx = self.read_tx()?;
        let t = tx.open_table(def).db(self, "count table")?;
        t.len().db(self, "count table")
    }

    /// Jobs that should run now: queued ones, and running ones a crash interrupted (at start-up
    /// every `Running` job was interrupted, since jobs only run inside a live node).
    pub fn runnable_jobs(&self) -> Result<Vec<(String, JobRecord)>, StoreError> {
        let tx = self.read_tx()?;
        let queued = tx.open_table(QUEUED_JOBS).db(self, "list runnable jobs")?;
        let jobs = tx.open_table(JOBS).db(self, "list runnable jobs")?;
        let mut out = Vec::new();
        for row in queued.iter().db(self, "list runnable jobs")? {
            let (k, _) = row.db(self, "list runnable jobs")?;
            if let Some(v) = jobs.get(k.value()).db(self, "list runnable jobs")? {
                let job: JobRecord = decode(k.value(), v.value())?;
                if matches!(job.state, JobState::Queued | JobState::Running) {
                    out.push((k.value().to_owned(), job));
                }
            }
        }
        Ok(out)
    }

    pub fn all_jobs(&self) -> Result<Vec<(String, JobRecord)>, StoreError> {
        let tx = self.read_tx()?;
        let t = tx.open_table(JOBS).db(self, "list jobs")?;
        let mut out = Vec::new();
        for row in t.iter().db(self, "list jobs")? {
            let (k, v) = row.db(self, "list jobs")?;
            out.push((k.value().to_owned(), decode(k.value(), v.value())?));
        }
        Ok(out)
    }

    /// One job by its key.
    pub fn job(&self, key: &str) -> Result<Option<JobRecord>, StoreError> {
        let tx = self.read_tx()?;
        let t = tx.open_table(JOBS).db(self, "read job")?;
        match t.get(key).db(self, "read job")? {
            Some(v) => Ok(Some(decode(key, v.value())?)),
            None => Ok(None),
        }
    }

    pub fn put_job(&self, key: &str, job: &JobRecord) -> Result<(), StoreError> {
        let tx = self.write_tx()?;
        self.write_job(&tx, key, job)?;
        tx.commit().db(self, "put job")
    }

    /// Writes a job and keeps the queue of runnable jobs in step with its state.
    fn write_job(
        &self,
        tx: &redb::WriteTransaction,
        key: &str,
        job: &JobRecord,
    ) -> Result<(), StoreError> {
        tx.open_table(JOBS)
            .db(self, "write job")?
            .insert(key, encode(job).as_slice())
            .db(self, "write job")?;
        let mut queued = tx.open_table(QUEUED_JOBS).db(self, "write job")?;
        if matches!(job.state, JobState::Queued | JobState::Running) {
            queued.insert(key, job.created_unix).db(self, "write job")?;
        } else {
            queued.remove(key).db(self, "write job")?;
        }
        Ok(())
    }

    /// Records a finished job and queues its files (SEG, then SR) for every destination, in one
    /// commit, so a crash can never leave a done job without its deliveries (or deliveries twice).
    /// `deliveries` are queued in the order given.
    pub fn finish_job(
        &self,
        key: &str,
        job: &JobRecord,
        deliveries: &[OutboxItem],
    ) -> Result<(), StoreError> {
        let tx = self.write_tx()?;
        self.write_job(&tx, key, job)?;
        self.queue_outbox(&tx, deliveries, "finish job")?;
        tx.commit().db(self, "finish job")
    }

    /// Appends `items` to the outbox, in order, each due at once; returns their ids. Every
    /// writer of new deliveries (a finished job, a resend, a rejection note) goes through here.
    pub(super) fn queue_outbox(
        &self,
        tx: &redb::WriteTransaction,
        items: &[OutboxItem],
        op: &'static str,
    ) -> Result<Vec<u64>, StoreError> {
        let mut out = tx.open_table(OUTBOX).db(self, op)?;
        let mut due = tx.open_table(DUE).db(self, op)?;
        let first = out
            .last()
            .db(self, op)?
            .map(|(k, _)| k.value() + 1)
            .unwrap_or(1);
        let mut ids = Vec::with_capacity(items.len());
        for (id, d) in (first..).zip(items) {
            out.insert(id, encode(d).as_slice()).db(self, op)?;
            due.insert(id, 0).db(self, op)?;
            ids.push(id);
        }
        Ok(ids)
    }

    /// The report a job is for.
    pub fn report(&self, id: u64) -> Result<Option<ReportRecord>, StoreError> {
        let tx = self.read_tx()?;
        let t = tx.open_table(REPORTS).db(self, "read report")?;
        match t.get(id).db(self, "read report")? {
            Some(v) => Ok(Some(decode(&id.to_string(), v.value())?)),
            None => Ok(None),
        }
    }

    pub fn all_outbox(&self) -> Result<Vec<(u64, OutboxItem)>, StoreError> {
        let tx = self.read_tx()?;
        let t = tx.open_table(OUTBOX).db(self, "list outbox")?;
        let mut out = Vec::new();
        for row in t.iter().db(self, "list outbox")? {
            let (k, v) = row.db(self, "list outbox")?;
            out.push((k.value(), decode(&k.value().to_string(), v.value())?));
        }
        Ok(out)
    }

    /// Outbox entries due for a (re)try at `now`, in queue order, without those that wait for an
    /// earlier pending entry of the same job and destination (an SR waits for its SEG; once the
    /// SEG is sent or has failed for good, the SR goes).
    pub fn due_deliveries(&self, now: u64) -> Result<Vec<(u64, OutboxItem)>, StoreError> {
        let tx = self.read_tx()?;
        let due = tx.open_table(DUE).db(self, "list due deliveries")?;
        let out = tx.open_table(OUTBOX).db(self, "list due deliveries")?;
        // Every pending entry is in DUE (a small table), due now or later, in id order.
        let mut pending: Vec<(u64, u64, OutboxItem)> = Vec::new();
        for row in due.iter().db(self, "list due deliveries")? {
            let (k, at) = row.db(self, "list due deliveries")?;
            if let Some(v) = out.get(k.value()).db(self, "list due deliveries")? {
                let item: OutboxItem = decode(&k.value().to_string(), v.value())?;
                pending.push((k.value(), at.value(), item));
            }
        }
        let mut items = Vec::new();
        for (i, (id, at, item)) in pending.iter().enumerate() {
            let waits = pending[..i]
                .iter()
                .any(|(_, _, e)| e.job == item.job && e.destination == item.destination);
            if *at <= now && !waits {
                items.push((*id, item.clone()));
            }
        }
        Ok(items)
    }

    pub fn put_delivery(&self, id: u64, item: &OutboxItem) -> Result<(), StoreError> {
        let tx = self.write_tx()?;
        tx.open_table(OUTBOX)
            .db(self, "put delivery")?
            .insert(id, encode(item).as_slice())
            .db(self, "put delivery")?;
        let mut due = tx.open_table(DUE).db(self, "put delivery")?;
        match item.state {
            DeliveryState::Pending { next_try_unix, .. } => {
                due.insert(id, next_try_unix).db(self, "put delivery")?;
            }
            _ => {
                due.remove(id).db(self, "put delivery")?;
            }
        }
        drop(due);
        tx.commit().db(self, "put delivery")
    }
}
