//! The store's side of withdrawing what the node delivered for a cancelled report (IHE IOCM
//! rejection notes). A cancelling report (`X`) is queued in `reports_cancelling` in the commit
//! that stores it (`reports`). The pipeline asks [`Store::pending_cancellations`] what each one
//! withdraws — the jobs of the accession's earlier reports that are not yet rejected, with their
//! outbox entries — builds the notes, and hands them to [`Store::finish_rejection`], which in
//! one commit records those jobs as rejected, queues the notes and takes the cancel off the
//! queue. So a restart never queues a note twice, and a job is rejected at most once (a second
//! `X` of the same accession finds nothing left to withdraw). Which objects a note names and
//! how it is built is the pipeline's business.

use std::collections::HashMap;

use redb::{ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};

use super::error::Db;
use super::index::{decode, encode};
use super::jobs::{DeliveryState, JOBS, JobRecord, JobState, OUTBOX, OutboxItem, job_key};
use super::report_record::{CANCELS, REPORTS, ReportRecord};
use super::{Store, StoreError};
use crate::ids::Uid;

/// Job key → [`RejectionRecord`]: the jobs whose delivered objects a cancel has withdrawn.
pub(super) const REJECTIONS: TableDefinition<&str, &[u8]> = TableDefinition::new("rejections");

/// That a job's objects were withdrawn, by which cancel and which notes.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RejectionRecord {
    /// The cancelling report's id.
    pub cancel: u64,
    /// SOP Instance UIDs of the rejection notes naming this job's objects (empty when none of
    /// them was delivered anywhere).
    pub notes: Vec<Uid>,
    pub unix: u64,
}

/// What one cancelling report withdraws.
#[derive(Debug, Clone, PartialEq)]
pub struct Cancellation {
    /// The cancelling report's id.
    pub cancel: u64,
    pub accession: Option<String>,
    /// The jobs of the accession's earlier reports not yet rejected, each with its outbox
    /// entries in queue order.
    pub jobs: Vec<(String, JobRecord, Vec<OutboxItem>)>,
}

impl Cancellation {
    /// Whether what was delivered is not final yet: a job may still run (it will be skipped, its
    /// report being cancelled) or one of its files is still being delivered.
    pub fn unsettled(&self) -> bool {
        self.jobs.iter().any(|(_, job, items)| {
            matches!(job.state, JobState::Queued | JobState::Running)
                || items
                    .iter()
                    .any(|i| matches!(i.state, DeliveryState::Pending { .. }))
        })
    }
}

impl Store {
    pub(super) fn init_rejection_tables(
        &self,
        tx: &redb::WriteTransaction,
    ) -> Result<(), StoreError> {
        tx.open_table(REJECTIONS).db(self, "create tables")?;
        Ok(())
    }

    /// Every queued cancel with what it withdraws, oldest first.
    pub fn pending_cancellations(&self) -> Result<Vec<Cancellation>, StoreError> {
        const OP: &str = "list cancellations";
        let tx = self.read_tx()?;
        let cancels = tx.open_table(CANCELS).db(self, OP)?;
        let ids: Vec<u64> = cancels
            .iter()
            .db(self, OP)?
            .map(|r| r.map(|(k, _)| k.value()))
            .collect::<Result<_, _>>()
            .db(self, OP)?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let outbox = self.outbox_by_job(&tx)?;
        let mut out = Vec::new();
        for cancel in ids {
            let accession = self.report_in(&tx, cancel)?.and_then(|r| r.accession);
            let mut jobs = Vec::new();
            if let Some(acc) = &accession {
                for id in self.accession_versions(&tx, acc)? {
                    if id >= cancel {
                        continue;
                    }
                    for (key, job) in self.unrejected_jobs(&tx, id)? {
                        let items = outbox.get(&key).cloned().unwrap_or_default();
                        jobs.push((key, job, items));
                    }
                }
            }
            out.push(Cancellation {
                cancel,
                accession,
                jobs,
            });
        }
        Ok(out)
    }

    fn report_in(
        &self,
        tx: &redb::ReadTransaction,
        id: u64,
    ) -> Result<Option<ReportRecord>, StoreError> {
        let reports = tx.open_table(REPORTS).db(self, "read report")?;
        match reports.get(id).db(self, "read report")? {
            Some(v) => Ok(Some(decode(&id.to_string(), v.value())?)),
            None => Ok(None),
        }
    }

    /// The jobs of report `id` on its matched study, every version (`reprocess` makes new
    /// ones), without those already rejected.
    fn unrejected_jobs(
        &self,
        tx: &redb::ReadTransaction,
        id: u64,
    ) -> Result<Vec<(String, JobRecord)>, StoreError> {
        const OP: &str = "list cancellations";
        let Some(study) = self.report_in(tx, id)?.and_then(|r| r.matched) else {
            return Ok(Vec::new());
        };
        // Keys are `<study>/<report>` and `<study>/<report>/v<N>`: '/' sorts before '0', so the
        // range holds exactly this report's versions and no other report's.
        let (lo, hi) = (
            job_key(&study.study, id),
            format!("{}0", job_key(&study.study, id)),
        );
        let rejected = tx.open_table(REJECTIONS).db(self, OP)?;
        let jobs = tx.open_table(JOBS).db(self, OP)?;
        let mut out = Vec::new();
        for row in jobs.range(lo.as_str()..hi.as_str()).db(self, OP)? {
            let (k, v) = row.db(self, OP)?;
            let key = k.value().to_owned();
            if rejected.get(key.as_str()).db(self, OP)?.is_none() {
                out.push((key.clone(), decode(&key, v.value())?));
            }
        }
        Ok(out)
    }

    /// Every outbox entry, grouped by job, in queue order.
    fn outbox_by_job(
        &self,
        tx: &redb::ReadTransaction,
    ) -> Result<HashMap<String, Vec<OutboxItem>>, StoreError> {
        let t = tx.open_table(OUTBOX).db(self, "list outbox")?;
        let mut out: HashMap<String, Vec<OutboxItem>> = HashMap::new();
        for row in t.iter().db(self, "list outbox")? {
            let (k, v) = row.db(self, "list outbox")?;
            let item: OutboxItem = decode(&k.value().to_string(), v.value())?;
            out.entry(item.job.clone()).or_default().push(item);
        }
        Ok(out)
    }

    /// Records the withdrawn jobs, queues the rejection notes (in the order given) and takes the
    /// cancel off the queue, in one commit.
    pub fn finish_rejection(
        &self,
        cancel: u64,
        jobs: &[(String, RejectionRecord)],
        notes: &[OutboxItem],
    ) -> Result<(), StoreError> {
        const OP: &str = "finish rejection";
        let tx = self.write_tx()?;
        {
            let mut rejections = tx.open_table(REJECTIONS).db(self, OP)?;
            for (key, rec) in jobs {
                rejections
                    .insert(key.as_str(), encode(rec).as_slice())
                    .db(self, OP)?;
            }
            drop(rejections);
            self.queue_outbox(&tx, notes, OP)?;
            tx.open_table(CANCELS)
                .db(self, OP)?
                .remove(cancel)
                .db(self, OP)?;
        }
        tx.commit().db(self, OP)
    }

    /// Every recorded rejection, by job key.
    pub fn all_rejections(&self) -> Result<Vec<(String, RejectionRecord)>, StoreError> {
        let tx = self.read_tx()?;
        let t = tx.open_table(REJECTIONS).db(self, "list rejections")?;
        let mut out = Vec::new();
        for row in t.iter().db(self, "list rejections")? {
            let (k, v) = row.db(self, "list rejections")?;
            out.push((k.value().to_owned(), decode(k.value(), v.value())?));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::matching::ReportKeys;
    use crate::store::{IncomingReport, ReportStatus};

    fn report(store: &Store, control_id: &str, status: ReportStatus) -> u64 {
        let r = IncomingReport {
            control_id,
            keys: ReportKeys {
                study_uid: None,
                accession: Some("ACC-19".to_owned()),
                patient_id: None,
                date: None,
            },
            status,
            text: "FINDINGS: node, SUVmax 5.0, image 3.",
            raw: b"MSH|",
        };
        store.put_report(&r, 1).expect("put report").0
    }

    #[test]
    fn versions_count_in_arrival_order_and_a_cancel_is_queued_until_finished() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("open");
        let first = report(&store, "A", ReportStatus::Final);
        let second = report(&store, "B", ReportStatus::Corrected);
        assert_eq!(store.report_version(first).expect("version"), 1);
        assert_eq!(store.report_version(second).expect("version"), 2);
        assert!(store.pending_cancellations().expect("list").is_empty());
        let cancel = report(&store, "C", ReportStatus::Cancelled);
        // A resent cancel (same control ID) is stored, and queued, once.
        assert_eq!(report(&store, "C", ReportStatus::Cancelled), cancel);
        drop(store);
        // Durable: the queue and the version numbers survive a restart.
        let store = Store::open(dir.path()).expect("reopen");
        assert_eq!(store.report_version(second).expect("version"), 2);
        let pending = store.pending_cancellations().expect("list");
        assert_eq!(pending.len(), 1);
        assert_eq!(pending[0].cancel, cancel);
        assert_eq!(pending[0].accession.as_deref(), Some("ACC-19"));
        // Unmatched reports have no jobs: nothing to withdraw, nothing unsettled.
        assert!(pending[0].jobs.is_empty() && !pending[0].unsettled());
        store
            .finish_rejection(cancel, &[], &[])
            .expect("finish rejection");
        assert!(store.pending_cancellations().expect("list").is_empty());
        assert!(store.all_outbox().expect("outbox").is_empty());
    }
}
