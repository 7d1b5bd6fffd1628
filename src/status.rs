//! The text behind `petground status`: studies, series and their completeness, reports, jobs,
//! deliveries and the newest events. Plain text, one line per item; no patient names or IDs.
//! The store answers the queries ([`Snapshot::read`]); this module only formats.

use std::fmt::Write;

use crate::store::{
    DeliveryState, Event, FindingOutcome, JobRecord, JobState, OutboxItem, ReportRecord,
    ReportState, SeriesRecord, Store, StoreError, StudyRecord,
};

/// How many of the newest events the text lists (all are counted).
const EVENTS_SHOWN: usize = 20;

/// Everything the status text shows, as the store returns it.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub studies: Vec<(String, StudyRecord)>,
    pub series: Vec<(String, SeriesRecord)>,
    pub reports: Vec<(u64, ReportRecord)>,
    pub jobs: Vec<(String, JobRecord)>,
    pub outbox: Vec<(u64, OutboxItem)>,
    pub events: Vec<(u64, Event)>,
}

impl Snapshot {
    pub fn read(store: &Store) -> Result<Self, StoreError> {
        Ok(Self {
            studies: store.all_studies()?,
            series: store.all_series()?,
            reports: store.all_reports()?,
            jobs: store.all_jobs()?,
            outbox: store.all_outbox()?,
            events: store.events_after(0)?,
        })
    }
}

/// A human-readable summary of everything the node knows.
pub fn status_text(store: &Store) -> Result<String, StoreError> {
    Ok(render(&Snapshot::read(store)?))
}

/// The status text of a snapshot.
pub fn render(s: &Snapshot) -> String {
    let mut out = String::new();
    studies(&mut out, &s.studies, &s.series);
    series(&mut out, &s.series);
    reports(&mut out, &s.reports);
    jobs(&mut out, &s.jobs);
    deliveries(&mut out, &s.outbox);
    events(&mut out, &s.events);
    out
}

fn studies(out: &mut String, studies: &[(String, StudyRecord)], series: &[(String, SeriesRecord)]) {
    let _ = writeln!(out, "studies: {}", studies.len());
    for (uid, study) in studies {
        let n = series
            .iter()
            .filter(|(_, s)| s.study.as_str() == uid.as_str())
            .count();
        let _ = writeln!(
            out,
            "  study {uid} accession={} date={} series={n}",
            study.accession.as_deref().unwrap_or("-"),
            study.study_date.as_deref().unwrap_or("-"),
        );
    }
}

fn series(out: &mut String, series: &[(String, SeriesRecord)]) {
    let _ = writeln!(out, "series: {}", series.len());
    for (uid, s) in series {
        let state = match &s.complete {
            Some(c) => format!("complete ({})", c.reason),
            None => "receiving".to_owned(),
        };
        let expected = s.expected.map(|n| format!("/{n}")).unwrap_or_default();
        let modality = if s.modality.is_empty() {
            "-"
        } else {
            &s.modality
        };
        let _ = writeln!(
            out,
            "  series {uid} study={} modality={modality} instances={}{expected} {state}",
            s.study, s.instances,
        );
    }
}

fn reports(out: &mut String, reports: &[(u64, ReportRecord)]) {
    let _ = writeln!(out, "reports: {}", reports.len());
    for (id, r) in reports {
        let state = match &r.state {
            ReportState::Active => "active".to_owned(),
            ReportState::Superseded { by } => format!("superseded-by-{by}"),
            ReportState::Cancelled => "cancelled".to_owned(),
        };
        let matched = match &r.matched {
            Some(m) => format!("matched study={} rule={}", m.study, m.rule),
            None => "waiting-for-study".to_owned(),
        };
        let _ = writeln!(
            out,
            "  report {id} control_id={} accession={} status={} {state} {matched}",
            r.control_id,
            r.accession.as_deref().unwrap_or("-"),
            r.status.code(),
        );
    }
}

fn jobs(out: &mut String, jobs: &[(String, JobRecord)]) {
    let _ = writeln!(out, "jobs: {}", jobs.len());
    for (key, j) in jobs {
        let (state, why) = match &j.state {
            JobState::Queued => ("queued", String::new()),
            JobState::Running => ("running", String::new()),
            JobState::Done => ("done", String::new()),
            JobState::Failed { reason } => ("failed", format!(" ({reason})")),
            JobState::Skipped { reason } => ("skipped", format!(" ({reason})")),
        };
        let grounded = j.findings.iter().filter(|f| f.method.is_some()).count();
        let _ = writeln!(
            out,
            "  job {key} series={} {state}{why} findings={} grounded={grounded} seg={} sr={}",
            j.pet_series,
            j.findings.len(),
            j.seg.as_deref().unwrap_or("-"),
            j.sr.as_deref().unwrap_or("-"),
        );
        for f in &j.findings {
            finding(out, f);
        }
    }
}

fn finding(out: &mut String, f: &FindingOutcome) {
    let what = match (&f.method, f.segment, f.restatement_of) {
        (Some(m), Some(n), Some(by)) => format!("restates finding {by} (segment {n}) by {m}"),
        (Some(m), Some(n), None) => format!("segment {n} by {m}"),
        _ => "not grounded".to_owned(),
    };
    let agree = f.agreement.map(|a| format!(" [{a}]")).unwrap_or_default();
    let _ = writeln!(
        out,
        "    finding: {what}: {}{agree} | {:?}",
        f.detail, f.sentence
    );
}

fn deliveries(out: &mut String, outbox: &[(u64, OutboxItem)]) {
    let _ = writeln!(out, "deliveries: {}", outbox.len());
    for (id, d) in outbox {
        let state = match &d.state {
            DeliveryState::Pending { last_error, .. } => format!(
                "pending (attempts {}{})",
                d.attempts,
                last_error
                    .as_deref()
                    .map(|e| format!(", last error: {e}"))
                    .unwrap_or_default()
            ),
            DeliveryState::Sent { .. } => format!("sent (attempts {})", d.attempts),
            DeliveryState::Failed { reason } => format!("failed: {reason}"),
        };
        let _ = writeln!(
            out,
            "  delivery {id} {}={} to={} {state}",
            d.kind.as_str(),
            d.sop_instance,
            d.destination
        );
    }
}

fn events(out: &mut String, events: &[(u64, Event)]) {
    let _ = writeln!(out, "events: {}", events.len());
    let newest = &events[events.len().saturating_sub(EVENTS_SHOWN)..];
    for (id, ev) in newest {
        let _ = writeln!(
            out,
            "  #{id} {}",
            serde_json::to_string(&ev.kind).unwrap_or_default()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Completion, EventKind, OutboxKind, ReportMatch, ReportStatus};

    fn uid(s: &str) -> crate::ids::Uid {
        crate::ids::Uid::parse(s).expect("uid")
    }

    /// One item of each kind.
    fn snapshot() -> Snapshot {
        Snapshot {
            studies: vec![(
                "1.1".into(),
                StudyRecord {
                    accession: Some("ACC".into()),
                    ..StudyRecord::default()
                },
            )],
            series: vec![(
                "1.2".into(),
                SeriesRecord {
                    study: uid("1.1"),
                    modality: "PT".into(),
                    instances: 3,
                    expected: Some(3),
                    last_unix: 5,
                    complete: Some(Completion {
                        unix: 6,
                        reason: "all-slices".into(),
                    }),
                },
            )],
            reports: vec![(
                1,
                ReportRecord {
                    control_id: "C1".into(),
                    accession: Some("ACC".into()),
                    study_uid_hint: None,
                    patient_id: None,
                    date: None,
                    status: ReportStatus::Final,
                    text: String::new(),
                    received_unix: 4,
                    matched: Some(ReportMatch {
                        study: uid("1.1"),
                        rule: "accession".into(),
                        unix: 6,
                    }),
                    state: ReportState::Superseded { by: 2 },
                },
            )],
            jobs: vec![job()],
            outbox: vec![delivery()],
            events: (1..=21)
                .map(|id| {
                    let kind = EventKind::ReportMatched {
                        report: id,
                        study: uid("1.1"),
                        rule: "accession".into(),
                    };
                    (id, Event { unix: id, kind })
                })
                .collect(),
        }
    }

    fn job() -> (String, JobRecord) {
        (
            "1.1/1".into(),
            JobRecord {
                study: uid("1.1"),
                report: 1,
                pet_series: uid("1.2"),
                state: JobState::Failed {
                    reason: "why".into(),
                },
                attempts: 1,
                created_unix: 7,
                finished_unix: None,
                findings: vec![FindingOutcome {
                    sentence: "Node.".into(),
                    suv_max: None,
                    slice: None,
                    method: Some("weak".into()),
                    segment: Some(1),
                    detail: "ok".into(),
                    label_suv_max: None,
                    mtv_ml: None,
                    agreement: None,
                    restatement_of: None,
                }],
                seg: None,
                sr: None,
            },
        )
    }

    fn delivery() -> (u64, OutboxItem) {
        (
            3,
            OutboxItem {
                path: "outbox/1.9.dcm".into(),
                kind: OutboxKind::Seg,
                sop_instance: uid("1.9"),
                destination: "PACS".into(),
                job: "1.1/1".into(),
                state: DeliveryState::Pending {
                    next_try_unix: 0,
                    last_error: Some("refused".into()),
                },
                attempts: 2,
                created_unix: 8,
            },
        )
    }

    /// The expected text is the format the integration tests and operators read
    /// (`tests/intake.rs` looks for `report 1 `, `waiting-for-study`, …).
    #[test]
    fn one_line_per_item_in_a_fixed_order() {
        let s = snapshot();
        let text = render(&s);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[..12],
            [
                "studies: 1",
                "  study 1.1 accession=ACC date=- series=1",
                "series: 1",
                "  series 1.2 study=1.1 modality=PT instances=3/3 complete (all-slices)",
                "reports: 1",
                "  report 1 control_id=C1 accession=ACC status=F superseded-by-2 matched study=1.1 rule=accession",
                "jobs: 1",
                "  job 1.1/1 series=1.2 failed (why) findings=1 grounded=1 seg=- sr=-",
                "    finding: segment 1 by weak: ok | \"Node.\"",
                "deliveries: 1",
                "  delivery 3 seg=1.9 to=PACS pending (attempts 2, last error: refused)",
                "events: 21",
            ]
        );
        assert_eq!(lines.len(), 12 + EVENTS_SHOWN, "the newest 20 events");
        assert_eq!(
            lines[12],
            r#"  #2 {"type":"report-matched","report":2,"study":"1.1","rule":"accession"}"#
        );
    }
}
