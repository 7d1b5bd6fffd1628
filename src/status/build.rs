//! From the store's records to the status document: one entry per record, the filter applied,
//! every list newest first, the counts taken over what is listed.

use std::collections::BTreeSet;

use super::Snapshot;
use super::doc::*;
use crate::store::{
    DeliveryState, Event, EventKind, FindingOutcome, JobRecord, JobState, OutboxItem, ReportRecord,
    ReportState, SeriesRecord, StudyRecord,
};

/// How many of the newest events the document carries (all are counted).
pub const EVENTS_SHOWN: usize = 20;

/// Where the document comes from and what surrounds it.
#[derive(Debug, Clone, Default)]
pub struct Context {
    pub source: String,
    pub data_dir: String,
    pub disk_free_bytes: Option<u64>,
    pub now: u64,
}

/// The document of `s`, restricted to `filter`'s study.
pub fn document(s: &Snapshot, filter: &Filter, ctx: Context) -> Document {
    let sel = Selection::of(s, filter);
    let jobs = jobs(s, &sel);
    let keys: BTreeSet<&str> = jobs.iter().map(|j| j.key.as_str()).collect();
    let mut deliveries: Vec<DeliveryEntry> = (s.outbox.iter())
        .filter(|(_, d)| filter.is_empty() || keys.contains(d.job.as_str()))
        .map(|(id, d)| delivery(*id, d))
        .collect();
    deliveries.sort_by_key(|d| std::cmp::Reverse(d.id));
    let events: Vec<&(u64, Event)> = (s.events.iter())
        .filter(|(_, e)| sel.event(&e.kind))
        .collect();
    let mut d = Document {
        schema: SCHEMA,
        generated_unix: ctx.now,
        source: ctx.source,
        data_dir: ctx.data_dir,
        disk_free_bytes: ctx.disk_free_bytes,
        filter: filter.clone(),
        studies: studies(s, &sel),
        series: series(s, &sel),
        reports: reports(s, &sel),
        events: events
            .iter()
            .rev()
            .take(EVENTS_SHOWN)
            .map(|e| event(e))
            .collect(),
        ..Document::default()
    };
    d.jobs = jobs;
    d.deliveries = deliveries;
    d.counts = Counts {
        studies: d.studies.len() as u64,
        series: StateCounts::of(d.series.iter().map(|e| e.state.as_str())),
        reports: StateCounts::of(d.reports.iter().map(|e| e.state.as_str())),
        jobs: StateCounts::of(d.jobs.iter().map(|e| e.state.as_str())),
        deliveries: StateCounts::of(d.deliveries.iter().map(|e| e.state.as_str())),
        events: events.len() as u64,
    };
    d
}

fn studies(s: &Snapshot, sel: &Selection) -> Vec<StudyEntry> {
    let mut v: Vec<StudyEntry> = (s.studies.iter())
        .filter(|(uid, _)| sel.study(uid))
        .map(|(uid, r)| study(uid, r, &s.series))
        .collect();
    v.sort_by(|a, b| (b.received_unix, &b.uid).cmp(&(a.received_unix, &a.uid)));
    v
}

fn series(s: &Snapshot, sel: &Selection) -> Vec<SeriesEntry> {
    let mut v: Vec<SeriesEntry> = (s.series.iter())
        .filter(|(_, r)| sel.study(&r.study))
        .map(|(uid, r)| series_entry(uid, r))
        .collect();
    v.sort_by(|a, b| (b.last_received_unix, &b.uid).cmp(&(a.last_received_unix, &a.uid)));
    v
}

fn reports(s: &Snapshot, sel: &Selection) -> Vec<ReportEntry> {
    let mut v: Vec<ReportEntry> = (s.reports.iter())
        .filter(|(id, _)| sel.report(*id))
        .map(|(id, r)| report(*id, r))
        .collect();
    v.sort_by_key(|r| std::cmp::Reverse(r.id));
    v
}

/// Newest first; a reprocessed version before the one it replaces even within one second.
fn jobs(s: &Snapshot, sel: &Selection) -> Vec<JobEntry> {
    let mut v: Vec<JobEntry> = (s.jobs.iter())
        .filter(|(_, j)| sel.study(&j.study) || sel.report(j.report))
        .map(|(key, j)| job(key, j))
        .collect();
    v.sort_by_key(|j| std::cmp::Reverse((j.created_unix, j.report, j.version)));
    v
}

/// The studies and reports a filter keeps (everything without one).
struct Selection {
    all: bool,
    studies: BTreeSet<String>,
    reports: BTreeSet<u64>,
}

impl Selection {
    fn of(s: &Snapshot, f: &Filter) -> Self {
        let mut studies: BTreeSet<String> = f.study.iter().cloned().collect();
        if let Some(acc) = &f.accession {
            let same = |a: &Option<String>| a.as_deref() == Some(acc.as_str());
            studies.extend(
                (s.studies.iter())
                    .filter(|(_, r)| same(&r.accession))
                    .map(|(u, _)| u.clone()),
            );
        }
        let reports = (s.reports.iter())
            .filter(|(_, r)| {
                let to_study =
                    (r.matched.as_ref()).is_some_and(|m| studies.contains(m.study.as_str()));
                let by_acc = f.accession.is_some() && r.accession == f.accession;
                to_study || by_acc
            })
            .map(|(id, _)| *id)
            .collect();
        Self {
            all: f.is_empty(),
            studies,
            reports,
        }
    }

    fn study(&self, uid: &str) -> bool {
        self.all || self.studies.contains(uid)
    }

    fn report(&self, id: u64) -> bool {
        self.all || self.reports.contains(&id)
    }

    fn event(&self, kind: &EventKind) -> bool {
        match kind {
            EventKind::SeriesComplete { study, .. } => self.study(study),
            EventKind::ReportStored { report, .. } => self.report(*report),
            EventKind::ReportMatched { report, study, .. } => {
                self.report(*report) || self.study(study)
            }
            EventKind::StudyRemoved { study, .. } => self.study(study),
        }
    }
}

fn study(uid: &str, r: &StudyRecord, series: &[(String, SeriesRecord)]) -> StudyEntry {
    StudyEntry {
        uid: uid.to_owned(),
        accession: r.accession.clone(),
        study_date: r.study_date.clone(),
        received_unix: r.first_unix,
        series: series
            .iter()
            .filter(|(_, s)| s.study.as_str() == uid)
            .count() as u64,
    }
}

fn series_entry(uid: &str, r: &SeriesRecord) -> SeriesEntry {
    SeriesEntry {
        uid: uid.to_owned(),
        study: r.study.to_string(),
        modality: r.modality.clone(),
        instances: r.instances,
        expected: r.expected,
        state: if r.complete.is_some() {
            "complete"
        } else {
            "receiving"
        }
        .to_owned(),
        last_received_unix: r.last_unix,
        completed_unix: r.complete.as_ref().map(|c| c.unix),
        completion: r.complete.as_ref().map(|c| c.reason.clone()),
    }
}

fn report(id: u64, r: &ReportRecord) -> ReportEntry {
    let (state, by) = match &r.state {
        ReportState::Active => ("active", None),
        ReportState::Superseded { by } => ("superseded", Some(*by)),
        ReportState::Cancelled => ("cancelled", None),
    };
    ReportEntry {
        id,
        control_id: r.control_id.clone(),
        accession: r.accession.clone(),
        status: r.status.code().to_owned(),
        state: state.to_owned(),
        superseded_by: by,
        received_unix: r.received_unix,
        matched_study: r.matched.as_ref().map(|m| m.study.to_string()),
        match_rule: r.matched.as_ref().map(|m| m.rule.clone()),
        matched_unix: r.matched.as_ref().map(|m| m.unix),
    }
}

fn job(key: &str, j: &JobRecord) -> JobEntry {
    let (state, reason) = match &j.state {
        JobState::Queued => ("queued", None),
        JobState::Running => ("running", None),
        JobState::Done => ("done", None),
        JobState::Failed { reason } => ("failed", Some(reason.clone())),
        JobState::Skipped { reason } => ("skipped", Some(reason.clone())),
    };
    JobEntry {
        key: key.to_owned(),
        study: j.study.to_string(),
        report: j.report,
        version: j.version,
        pet_series: j.pet_series.to_string(),
        state: state.to_owned(),
        reason,
        attempts: j.attempts,
        created_unix: j.created_unix,
        finished_unix: j.finished_unix,
        seg: j.seg.as_ref().map(|u| u.to_string()),
        sr: j.sr.as_ref().map(|u| u.to_string()),
        findings: j.findings.iter().map(finding).collect(),
        notes: j.notes.clone(),
    }
}

fn finding(f: &FindingOutcome) -> FindingEntry {
    FindingEntry {
        sentence: f.sentence.clone(),
        suv_max: f.suv_max,
        slice: f.slice,
        method: f.method.clone(),
        segment: f.segment,
        detail: f.detail.clone(),
        label_suv_max: f.label_suv_max,
        mtv_ml: f.mtv_ml,
        agreement_dice: f.agreement.map(|a| a.dice),
        same_lesion: f.agreement.map(|a| a.same_component),
        restatement_of: f.restatement_of,
    }
}

fn delivery(id: u64, d: &OutboxItem) -> DeliveryEntry {
    let mut e = DeliveryEntry {
        id,
        kind: d.kind.as_str().to_owned(),
        sop_instance: d.sop_instance.to_string(),
        destination: d.destination.clone(),
        job: d.job.clone(),
        attempts: d.attempts,
        queued_unix: d.created_unix,
        ..DeliveryEntry::default()
    };
    match &d.state {
        DeliveryState::Pending {
            next_try_unix,
            last_error,
        } => {
            e.state = "pending".to_owned();
            e.next_try_unix = Some(*next_try_unix);
            e.last_error = last_error.clone();
        }
        DeliveryState::Sent { unix } => {
            e.state = "sent".to_owned();
            e.delivered_unix = Some(*unix);
        }
        DeliveryState::Failed { reason } => {
            e.state = "failed".to_owned();
            e.reason = Some(reason.clone());
        }
    }
    e
}

fn event((id, e): &(u64, Event)) -> EventEntry {
    EventEntry {
        id: *id,
        unix: e.unix,
        event: serde_json::to_value(&e.kind).unwrap_or_default(),
    }
}
