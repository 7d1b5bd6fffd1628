//! `/metrics` in the Prometheus text format (0.0.4). Two kinds of numbers, named in each HELP:
//!
//! - **From the store, at scrape time** (they survive restarts): instances received, reports
//!   received, jobs by outcome, deliveries by state, the queue depths, series and studies, and
//!   the job-seconds histogram (creation to end of every finished job, whole seconds, as the
//!   store records them). A `_total` of these only falls when a record changes state (a
//!   delivery queued again goes from sent back to pending).
//! - **Process lifetime** (reset at start; use `rate()`): HTTP answers by status, and the start
//!   time itself, which tells a scraper when those were reset.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::status::Snapshot;
use crate::store::{DeliveryState, JobState, OutboxKind, Store, StoreError};

/// Upper bounds (seconds) of the job-seconds histogram: a small phantom job takes seconds, a
/// whole-body study with the model a few minutes; queueing behind other jobs adds to it.
pub const JOB_SECONDS_BUCKETS: [u64; 10] = [1, 2, 5, 10, 30, 60, 120, 300, 600, 1800];

/// The process-lifetime part.
pub struct Process {
    pub started_unix: u64,
    pub answered: BTreeMap<u16, u64>,
}

pub fn read(store: &Store) -> Result<Snapshot, StoreError> {
    Snapshot::read_without_events(store)
}

/// The exposition text.
pub fn render(s: &Snapshot, p: &Process) -> String {
    let mut out = String::with_capacity(4096);
    let instances: u64 = s.series.iter().map(|(_, r)| u64::from(r.instances)).sum();
    metric(
        &mut out,
        "petground_instances_received_total",
        "counter",
        "DICOM instances stored (store: every stored version, across restarts).",
        &[("", instances)],
    );
    metric(
        &mut out,
        "petground_reports_received_total",
        "counter",
        "HL7 reports stored, every version (store, across restarts).",
        &[("", s.reports.len() as u64)],
    );
    metric(
        &mut out,
        "petground_studies",
        "gauge",
        "Studies known (store).",
        &[("", s.studies.len() as u64)],
    );
    let complete = s
        .series
        .iter()
        .filter(|(_, r)| r.complete.is_some())
        .count() as u64;
    metric(
        &mut out,
        "petground_series",
        "gauge",
        "Series known, by state (store).",
        &[
            ("state=\"receiving\"", s.series.len() as u64 - complete),
            ("state=\"complete\"", complete),
        ],
    );
    jobs(&mut out, s);
    deliveries(&mut out, s);
    job_seconds(&mut out, s);
    process(&mut out, p);
    out
}

/// One metric family: HELP, TYPE and a sample per label set (`""`: no labels).
fn metric(out: &mut String, name: &str, kind: &str, help: &str, samples: &[(&str, u64)]) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    for (labels, v) in samples {
        if labels.is_empty() {
            let _ = writeln!(out, "{name} {v}");
        } else {
            let _ = writeln!(out, "{name}{{{labels}}} {v}");
        }
    }
}

fn jobs(out: &mut String, s: &Snapshot) {
    let count =
        |f: &dyn Fn(&JobState) -> bool| s.jobs.iter().filter(|(_, j)| f(&j.state)).count() as u64;
    metric(
        out,
        "petground_jobs_total",
        "counter",
        "Jobs ended, by outcome (store, across restarts).",
        &[
            ("outcome=\"done\"", count(&|j| matches!(j, JobState::Done))),
            (
                "outcome=\"failed\"",
                count(&|j| matches!(j, JobState::Failed { .. })),
            ),
            (
                "outcome=\"skipped\"",
                count(&|j| matches!(j, JobState::Skipped { .. })),
            ),
        ],
    );
    metric(
        out,
        "petground_jobs_pending",
        "gauge",
        "Job queue depth: jobs queued or running (store).",
        &[
            (
                "state=\"queued\"",
                count(&|j| matches!(j, JobState::Queued)),
            ),
            (
                "state=\"running\"",
                count(&|j| matches!(j, JobState::Running)),
            ),
        ],
    );
}

fn deliveries(out: &mut String, s: &Snapshot) {
    let count = |kind: OutboxKind, f: &dyn Fn(&DeliveryState) -> bool| {
        (s.outbox.iter())
            .filter(|(_, d)| d.kind == kind && f(&d.state))
            .count() as u64
    };
    let sent = |d: &DeliveryState| matches!(d, DeliveryState::Sent { .. });
    let failed = |d: &DeliveryState| matches!(d, DeliveryState::Failed { .. });
    let pending = |d: &DeliveryState| matches!(d, DeliveryState::Pending { .. });
    metric(
        out,
        "petground_deliveries_total",
        "counter",
        "Deliveries (one per file and destination) ended, by state and kind (store).",
        &[
            ("kind=\"seg\",state=\"sent\"", count(OutboxKind::Seg, &sent)),
            (
                "kind=\"seg\",state=\"failed\"",
                count(OutboxKind::Seg, &failed),
            ),
            ("kind=\"sr\",state=\"sent\"", count(OutboxKind::Sr, &sent)),
            (
                "kind=\"sr\",state=\"failed\"",
                count(OutboxKind::Sr, &failed),
            ),
        ],
    );
    metric(
        out,
        "petground_deliveries_pending",
        "gauge",
        "Delivery queue depth: deliveries not yet sent or failed for good (store).",
        &[
            ("kind=\"seg\"", count(OutboxKind::Seg, &pending)),
            ("kind=\"sr\"", count(OutboxKind::Sr, &pending)),
        ],
    );
}

/// The histogram of (finished − created) over the finished jobs, by outcome.
fn job_seconds(out: &mut String, s: &Snapshot) {
    let name = "petground_job_seconds";
    let _ = writeln!(
        out,
        "# HELP {name} Seconds from a job's creation (report matched, PET complete) to its end, \
         queueing included, whole seconds (store, across restarts).\n# TYPE {name} histogram"
    );
    for outcome in ["done", "failed"] {
        let secs: Vec<u64> = (s.jobs.iter())
            .filter(|(_, j)| {
                matches!(
                    (&j.state, outcome),
                    (JobState::Done, "done") | (JobState::Failed { .. }, "failed")
                )
            })
            .filter_map(|(_, j)| Some(j.finished_unix?.saturating_sub(j.created_unix)))
            .collect();
        for le in JOB_SECONDS_BUCKETS {
            let n = secs.iter().filter(|&&v| v <= le).count();
            let _ = writeln!(
                out,
                "{name}_bucket{{outcome=\"{outcome}\",le=\"{le}\"}} {n}"
            );
        }
        let n = secs.len();
        let _ = writeln!(
            out,
            "{name}_bucket{{outcome=\"{outcome}\",le=\"+Inf\"}} {n}"
        );
        let _ = writeln!(
            out,
            "{name}_sum{{outcome=\"{outcome}\"}} {}",
            secs.iter().sum::<u64>()
        );
        let _ = writeln!(out, "{name}_count{{outcome=\"{outcome}\"}} {n}");
    }
}

fn process(out: &mut String, p: &Process) {
    metric(
        out,
        "petground_start_time_seconds",
        "gauge",
        "When this process started (Unix seconds): the process-lifetime counters reset then.",
        &[("", p.started_unix)],
    );
    let labels: Vec<(String, u64)> = (p.answered.iter())
        .map(|(code, n)| (format!("code=\"{code}\""), *n))
        .collect();
    let samples: Vec<(&str, u64)> = labels.iter().map(|(l, n)| (l.as_str(), *n)).collect();
    metric(
        out,
        "petground_http_responses_total",
        "counter",
        "HTTP answers of this page, by status (process lifetime).",
        &samples,
    );
}
