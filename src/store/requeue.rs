//! Operator requests that queue work again (`petground resend`, `petground reprocess`): each is
//! one write transaction that adds records and never rewrites an old one, so the history of what
//! was sent and which job made which SEG stays readable. Resolving names (an accession to a
//! study, a destination name to a configured one) is the caller's; waking the workers too.

use redb::{ReadableTable, WriteTransaction};

use super::error::Db;
use super::index::{decode, encode};
use super::jobs::{JOBS, OUTBOX, QUEUED_JOBS};
use super::{DeliveryState, JobRecord, JobState, OutboxItem, OutboxKind, Store, StoreError};

/// What `Store::resend` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resend {
    /// New outbox entries (the SEG, then its SR, per destination), in queue order.
    Queued(Vec<u64>),
    /// No outbox entry delivers a SEG with this SOP Instance UID.
    UnknownSeg,
    /// The SEG still waits for delivery to this destination: nothing was queued.
    StillPending { destination: String },
}

/// What `Store::reprocess` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reprocess {
    /// A new job version was queued under `key`.
    Queued { key: String, version: u32 },
    /// The study has no job to run again (no report matched it, or its PET is incomplete).
    NoJob,
    /// A job of the study is queued or running already.
    Busy { key: String },
}

impl Store {
    /// Queues the SEG `seg` (and the SRs of the same job) again: to `to`, or to every
    /// destination it was queued for before. New entries start pending with no attempts; the
    /// old entries keep their outcome.
    pub fn resend(&self, seg: &str, to: Option<&str>, now: u64) -> Result<Resend, StoreError> {
        const OP: &str = "resend";
        let tx = self.write_tx()?;
        let items = {
            let out = tx.open_table(OUTBOX).db(self, OP)?;
            let mut items: Vec<OutboxItem> = Vec::new();
            for row in out.iter().db(self, OP)? {
                let (k, v) = row.db(self, OP)?;
                items.push(decode(&k.value().to_string(), v.value())?);
            }
            items
        };
        let fresh = match copies(&items, seg, to, now) {
            Ok(fresh) => fresh,
            Err(refusal) => return Ok(refusal),
        };
        let queued = self.queue_outbox(&tx, &fresh, OP)?;
        tx.commit().db(self, OP)?;
        Ok(Resend::Queued(queued))
    }

    /// Queues a new version of the study's newest job (same report and PET series): a new
    /// record under [`job_version_key`], beside the old ones.
    pub fn reprocess(&self, study: &str, now: u64) -> Result<Reprocess, StoreError> {
        const OP: &str = "reprocess";
        let tx = self.write_tx()?;
        let outcome = {
            let mut jobs = tx.open_table(JOBS).db(self, OP)?;
            let mut of_study: Vec<(String, JobRecord)> = Vec::new();
            for row in jobs.iter().db(self, OP)? {
                let (k, v) = row.db(self, OP)?;
                let job: JobRecord = decode(k.value(), v.value())?;
                if job.study.as_str() == study {
                    of_study.push((k.value().to_owned(), job));
                }
            }
            if let Some((key, _)) = (of_study.iter())
                .find(|(_, j)| matches!(j.state, JobState::Queued | JobState::Running))
            {
                return Ok(Reprocess::Busy { key: key.clone() });
            }
            let Some((_, newest)) = of_study.iter().max_by_key(|(_, j)| (j.report, j.version))
            else {
                return Ok(Reprocess::NoJob);
            };
            let mut job = JobRecord::queued(
                newest.study.clone(),
                newest.report,
                newest.pet_series.clone(),
                now,
            );
            job.version = newest.version.max(1) + 1;
            let key = job_version_key(study, job.report, job.version);
            jobs.insert(key.as_str(), encode(&job).as_slice())
                .db(self, OP)?;
            queue_job(self, &tx, &key, now)?;
            Reprocess::Queued {
                key,
                version: job.version,
            }
        };
        tx.commit().db(self, OP)?;
        Ok(outcome)
    }
}

/// The new entries that resend `seg` (to `to`, or where it went before), or why there are none.
fn copies(
    items: &[OutboxItem],
    seg: &str,
    to: Option<&str>,
    now: u64,
) -> Result<Vec<OutboxItem>, Resend> {
    let segs: Vec<&OutboxItem> = (items.iter())
        .filter(|i| i.kind == OutboxKind::Seg && i.sop_instance.as_str() == seg)
        .collect();
    let Some(first) = segs.first() else {
        return Err(Resend::UnknownSeg);
    };
    let mut dests: Vec<&str> = Vec::new();
    for d in segs.iter().map(|i| i.destination.as_str()) {
        if !dests.contains(&d) && to.is_none_or(|t| t == d) {
            dests.push(d);
        }
    }
    if let Some(t) = to.filter(|_| dests.is_empty()) {
        dests.push(t);
    }
    let busy = (segs.iter()).find(|i| dests.contains(&i.destination.as_str()) && is_pending(i));
    if let Some(busy) = busy {
        return Err(Resend::StillPending {
            destination: busy.destination.clone(),
        });
    }
    Ok(fresh_items(&files_of_job(items, first), &dests, now))
}

fn is_pending(item: &OutboxItem) -> bool {
    matches!(item.state, DeliveryState::Pending { .. })
}

/// The key of a job version: `study/report` for version 1 (the key a report's first job has
/// always had), `study/report/vN` for a reprocessed one.
pub fn job_version_key(study: &str, report: u64, version: u32) -> String {
    match version {
        0 | 1 => super::job_key(study, report),
        n => format!("{study}/{report}/v{n}"),
    }
}

fn queue_job(store: &Store, tx: &WriteTransaction, key: &str, now: u64) -> Result<(), StoreError> {
    tx.open_table(QUEUED_JOBS)
        .db(store, "reprocess")?
        .insert(key, now)
        .db(store, "reprocess")?;
    Ok(())
}

/// The id after the last outbox entry.
/// The SEG entry, then one entry per SR of the same job (each SOP Instance once).
fn files_of_job<'a>(items: &'a [OutboxItem], seg: &'a OutboxItem) -> Vec<&'a OutboxItem> {
    let mut files = vec![seg];
    for i in items {
        let sr = i.kind == OutboxKind::Sr && i.job == seg.job;
        if sr && !files.iter().any(|f| f.sop_instance == i.sop_instance) {
            files.push(i);
        }
    }
    files
}

/// Per destination, a pending copy of every file, in order.
fn fresh_items(files: &[&OutboxItem], dests: &[&str], now: u64) -> Vec<OutboxItem> {
    let mut fresh = Vec::new();
    for dest in dests {
        for f in files {
            fresh.push(OutboxItem {
                destination: (*dest).to_owned(),
                state: DeliveryState::Pending {
                    next_try_unix: 0,
                    last_error: None,
                },
                attempts: 0,
                created_unix: now,
                ..(*f).clone()
            });
        }
    }
    fresh
}
