//! Retention (`[retention] keep_days`): a study is removed once its last instance arrived more
//! than `keep` ago, it has at least one job, every job of it is done or skipped (a failed job
//! keeps its study, for the operator to reprocess), no report waits for a job on it, and every
//! SEG and SR made for it was delivered. Removed: its instance files, its delivered SEG/SR files
//! and its studies/series/instances index entries. Kept: reports, jobs and outbox entries (the
//! history `status` shows), and a `study-removed` event.
//!
//! Safe against concurrent intake: the removal holds every SOP lock, so no instance commits
//! while it runs, and it deletes the files before the index entries, so a crash in between
//! leaves a study that is still eligible and is removed by the next run (missing files are not
//! an error there).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

use redb::ReadableTable;

use super::error::Db;
use super::index::{
    EVENTS, Event, EventKind, INSTANCES, OPEN_SERIES, SERIES, SERIES_BY_STUDY, SERIES_INSTANCES,
    STUDIES, push_event,
};
use super::jobs::{DeliveryState, JobRecord, JobState, OutboxItem};
use super::report_record::{PENDING, REPORTS, ReportRecord};
use super::{Store, StoreError};
use crate::ids::Uid;

/// What one removal freed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Removed {
    pub instances: usize,
    pub files: usize,
    pub bytes: u64,
}

impl Store {
    /// Removes every study retention allows at `now`; returns each removed study with what it
    /// freed.
    pub fn apply_retention(
        &self,
        now: u64,
        keep: Duration,
    ) -> Result<Vec<(Uid, Removed)>, StoreError> {
        let cutoff = now.saturating_sub(keep.as_secs());
        let mut out = Vec::new();
        for (study, delivered) in self.expired_studies(cutoff)? {
            let _all = self.lock_all_sops();
            // Checked again under the locks, which keep every instance from committing: a
            // study that received one meanwhile is not removed.
            let series = self.study_series(&study)?;
            if series.iter().all(|(_, s)| s.last_unix < cutoff) {
                let removed = self.remove_study(&study, &series, &delivered, now)?;
                out.push((study, removed));
            }
        }
        Ok(out)
    }

    /// The studies retention may remove (see the module comment), each with the paths of its
    /// delivered SEG and SR files. One pass over the jobs and the outbox.
    fn expired_studies(&self, cutoff: u64) -> Result<BTreeMap<Uid, Vec<String>>, StoreError> {
        let mut jobs_of: BTreeMap<Uid, Vec<(String, JobRecord)>> = BTreeMap::new();
        for (key, job) in self.all_jobs()? {
            jobs_of
                .entry(job.study.clone())
                .or_default()
                .push((key, job));
        }
        let mut outbox_of: BTreeMap<String, Vec<OutboxItem>> = BTreeMap::new();
        for (_, item) in self.all_outbox()? {
            outbox_of.entry(item.job.clone()).or_default().push(item);
        }
        let waiting = self.studies_with_pending_reports()?;
        let mut out = BTreeMap::new();
        for (study, _) in self.all_studies()? {
            let Ok(uid) = Uid::parse(&study) else {
                continue;
            };
            let Some(jobs) = jobs_of.get(&uid) else {
                continue; // no job yet: its report may still come
            };
            let ended = jobs
                .iter()
                .all(|(_, j)| matches!(j.state, JobState::Done | JobState::Skipped { .. }));
            let items: Vec<&OutboxItem> = jobs
                .iter()
                .flat_map(|(k, _)| outbox_of.get(k).into_iter().flatten())
                .collect();
            let delivered = items
                .iter()
                .all(|o| matches!(o.state, DeliveryState::Sent { .. }));
            if !ended || !delivered || waiting.contains(&uid) {
                continue;
            }
            let quiet = self
                .study_series(&study)?
                .iter()
                .all(|(_, s)| s.last_unix < cutoff);
            if quiet {
                let paths: BTreeSet<String> = items.iter().map(|o| o.path.clone()).collect();
                out.insert(uid, paths.into_iter().collect());
            }
        }
        Ok(out)
    }

    fn studies_with_pending_reports(&self) -> Result<BTreeSet<Uid>, StoreError> {
        const OP: &str = "list pending reports";
        let tx = self.read_tx()?;
        let pending = tx.open_table(PENDING).db(self, OP)?;
        let reports = tx.open_table(REPORTS).db(self, OP)?;
        let mut out = BTreeSet::new();
        for row in pending.iter().db(self, OP)? {
            let (id, _) = row.db(self, OP)?;
            if let Some(v) = reports.get(id.value()).db(self, OP)? {
                let rep: ReportRecord = super::index::decode(&id.value().to_string(), v.value())?;
                out.extend(rep.matched.map(|m| m.study));
            }
        }
        Ok(out)
    }

    /// Deletes the study's files, then its index entries, in one transaction.
    fn remove_study(
        &self,
        study: &Uid,
        series: &[(String, super::SeriesRecord)],
        delivered: &[String],
        now: u64,
    ) -> Result<Removed, StoreError> {
        let mut instances = Vec::new();
        for (uid, _) in series {
            instances.extend(self.series_instances(uid)?);
        }
        let mut files: Vec<PathBuf> = instances
            .iter()
            .map(|(_, r)| self.absolute(&r.path))
            .collect();
        files.extend(delivered.iter().map(|p| self.absolute(p)));
        let mut removed = Removed {
            instances: instances.len(),
            ..Removed::default()
        };
        for f in &files {
            if let Ok(meta) = std::fs::metadata(f) {
                removed.bytes += meta.len();
            }
            match std::fs::remove_file(f) {
                Ok(()) => removed.files += 1,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(StoreError::io("remove", f)(e)),
            }
        }
        self.remove_study_entries(study, series, &instances, &removed, now)?;
        for (uid, _) in series {
            if let Ok(s) = Uid::parse(uid) {
                let _ = std::fs::remove_dir(self.layout().series_dir(study, &s));
            }
        }
        let _ = std::fs::remove_dir(self.layout().studies().join(study.as_str()));
        Ok(removed)
    }

    fn remove_study_entries(
        &self,
        study: &Uid,
        series: &[(String, super::SeriesRecord)],
        instances: &[(String, super::InstanceRecord)],
        removed: &Removed,
        now: u64,
    ) -> Result<(), StoreError> {
        const OP: &str = "remove study";
        let tx = self.write_tx()?;
        {
            let mut inst = tx.open_table(INSTANCES).db(self, OP)?;
            let mut by_series = tx.open_table(SERIES_INSTANCES).db(self, OP)?;
            for (sop, rec) in instances {
                inst.remove(sop.as_str()).db(self, OP)?;
                let key = format!("{}/{sop}", rec.series);
                by_series.remove(key.as_str()).db(self, OP)?;
            }
            let mut ser = tx.open_table(SERIES).db(self, OP)?;
            let mut open = tx.open_table(OPEN_SERIES).db(self, OP)?;
            for (uid, _) in series {
                ser.remove(uid.as_str()).db(self, OP)?;
                open.remove(uid.as_str()).db(self, OP)?;
            }
            let mut by_study = tx.open_table(SERIES_BY_STUDY).db(self, OP)?;
            by_study.remove(study.as_str()).db(self, OP)?;
            let mut studies = tx.open_table(STUDIES).db(self, OP)?;
            studies.remove(study.as_str()).db(self, OP)?;
            let mut events = tx.open_table(EVENTS).db(self, OP)?;
            let event = Event {
                unix: now,
                kind: EventKind::StudyRemoved {
                    study: study.clone(),
                    instances: removed.instances,
                    bytes: removed.bytes,
                },
            };
            push_event(&mut events, &event).db(self, OP)?;
        }
        tx.commit().db(self, OP)
    }
}
