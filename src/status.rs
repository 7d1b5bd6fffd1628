//! `petground status`: what the node knows — studies, series, reports, jobs, deliveries and
//! the newest events — as one document ([`doc::Document`], the `--json` output and the control
//! socket's answer) and as text made from it ([`text`]). The store answers the queries
//! ([`Snapshot::read`]); [`build`] turns its records into the document, newest first.

pub mod build;
pub mod doc;
pub mod text;

pub use build::{Context, EVENTS_SHOWN};
pub use doc::{Document, Filter, SCHEMA};

use crate::store::{
    Event, JobRecord, OutboxItem, ReportRecord, SeriesRecord, Store, StoreError, StudyRecord,
    unix_now,
};

/// Everything the status document shows, as the store returns it.
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
        let mut s = Self::read_without_events(store)?;
        s.events = store.events_after(0)?;
        Ok(s)
    }

    /// Everything but the event log, which only grows (the web page and `/metrics` show none).
    pub fn read_without_events(store: &Store) -> Result<Self, StoreError> {
        Ok(Self {
            studies: store.all_studies()?,
            series: store.all_series()?,
            reports: store.all_reports()?,
            jobs: store.all_jobs()?,
            outbox: store.all_outbox()?,
            events: Vec::new(),
        })
    }
}

/// Where a document was read: through the running node, or from the index directly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Node,
    Store,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Node => "node",
            Source::Store => "store",
        }
    }
}

/// The status document of `store`, restricted to `filter`, with the free disk of its data dir.
pub fn document(store: &Store, filter: &Filter, source: Source) -> Result<Document, StoreError> {
    let snapshot = Snapshot::read(store)?;
    let ctx = Context {
        source: source.as_str().to_owned(),
        data_dir: store.data_dir().display().to_string(),
        disk_free_bytes: fs4::available_space(store.data_dir()).ok(),
        now: unix_now(),
    };
    Ok(build::document(&snapshot, filter, ctx))
}

/// The document of a data dir that has no index yet.
pub fn empty(data_dir: &std::path::Path, filter: &Filter) -> Document {
    let ctx = Context {
        source: Source::Store.as_str().to_owned(),
        data_dir: data_dir.display().to_string(),
        disk_free_bytes: fs4::available_space(data_dir).ok(),
        now: unix_now(),
    };
    build::document(&Snapshot::default(), filter, ctx)
}

/// Every item as text (what a client that sends no request on the control socket gets).
pub fn status_text(store: &Store) -> Result<String, StoreError> {
    Ok(text::full(&document(
        store,
        &Filter::default(),
        Source::Node,
    )?))
}

/// The text of a snapshot: every item (see [`text::full`]).
pub fn render(s: &Snapshot, ctx: Context) -> String {
    text::full(&build::document(s, &Filter::default(), ctx))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{
        Completion, DeliveryState, EventKind, FindingOutcome, JobState, OutboxKind, ReportMatch,
        ReportState, ReportStatus,
    };

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
                version: 1,
                notes: Vec::new(),
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

    fn ctx() -> Context {
        Context {
            source: "node".into(),
            data_dir: "/d".into(),
            disk_free_bytes: Some(3 << 29),
            now: 1_795_867_200,
        }
    }

    /// The fixture plus a newer study (accession B) with its own series and job.
    fn two_studies() -> Snapshot {
        let mut s = snapshot();
        let newer = StudyRecord {
            accession: Some("B".into()),
            first_unix: 9,
            ..StudyRecord::default()
        };
        s.studies.push(("1.5".into(), newer));
        let mut series = s.series[0].1.clone();
        series.study = uid("1.5");
        s.series.push(("1.6".into(), series));
        let (_, mut j) = job();
        j.study = uid("1.5");
        j.report = 7;
        j.created_unix = 20;
        s.jobs.push(("1.5/7".into(), j));
        s
    }

    /// The expected text is the format the integration tests and operators read
    /// (`tests/intake.rs` looks for `report 1 `, `waiting-for-study`, …): the old lines, with
    /// their times at the end.
    #[test]
    fn one_line_per_item_in_a_fixed_order() {
        let text = render(&snapshot(), ctx());
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[..13],
            [
                "petground status at 2026-11-28T12:00:00Z: node running; data_dir /d, free disk 1.5 GiB",
                "studies: 1",
                "  study 1.1 accession=ACC date=- series=1 received=-",
                "series: 1",
                "  series 1.2 study=1.1 modality=PT instances=3/3 complete (all-slices) received=1970-01-01T00:00:05Z completed=1970-01-01T00:00:06Z",
                "reports: 1",
                "  report 1 control_id=C1 accession=ACC status=F superseded-by-2 matched study=1.1 rule=accession received=1970-01-01T00:00:04Z",
                "jobs: 1",
                "  job 1.1/1 series=1.2 failed (why) findings=1 grounded=1 seg=- sr=- created=1970-01-01T00:00:07Z completed=-",
                "    finding: segment 1 by weak: ok | \"Node.\"",
                "deliveries: 1",
                "  delivery 3 seg=1.9 to=PACS pending (attempts 2, last error: refused) queued=1970-01-01T00:00:08Z",
                "events: 21",
            ]
        );
        assert_eq!(lines.len(), 13 + EVENTS_SHOWN, "the newest 20 events");
        assert_eq!(
            lines[13],
            r#"  #21 1970-01-01T00:00:21Z {"report":21,"rule":"accession","study":"1.1","type":"report-matched"}"#,
            "newest first"
        );
    }

    #[test]
    fn newest_first_and_filters_keep_one_study() {
        let s = two_studies();
        let all = build::document(&s, &Filter::default(), ctx());
        let studies: Vec<&str> = all.studies.iter().map(|e| e.uid.as_str()).collect();
        assert_eq!(studies, ["1.5", "1.1"]);
        let jobs: Vec<&str> = all.jobs.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(jobs, ["1.5/7", "1.1/1"]);
        assert_eq!(all.counts.jobs.get("failed"), 2);

        let by_acc = Filter {
            accession: Some("ACC".into()),
            ..Filter::default()
        };
        let one = build::document(&s, &by_acc, ctx());
        assert_eq!(one.studies.len(), 1);
        assert_eq!(one.studies[0].uid, "1.1");
        assert_eq!(one.series.len(), 1);
        assert_eq!(one.reports.len(), 1);
        assert_eq!(one.jobs.len(), 1);
        assert_eq!(one.deliveries.len(), 1, "the delivery of job 1.1/1");
        let by_study = Filter {
            study: Some("1.5".into()),
            ..Filter::default()
        };
        let other = build::document(&s, &by_study, ctx());
        assert_eq!(other.jobs[0].key, "1.5/7");
        assert!(other.reports.is_empty() && other.deliveries.is_empty());
        assert_eq!(
            other.counts.events, 0,
            "the events name study 1.1 and report ids"
        );
    }

    #[test]
    fn the_summary_counts_by_state_and_lists_the_newest() {
        let text = text::summary(&build::document(&two_studies(), &Filter::default(), ctx()));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[1], "studies: 2");
        assert_eq!(lines[2], "series: 2 (0 receiving, 2 complete)");
        assert_eq!(
            lines[3],
            "reports: 1 (0 active, 1 superseded, 0 cancelled); 0 waiting for their study"
        );
        assert_eq!(
            lines[4],
            "jobs: 2 (0 queued, 0 running, 0 done, 2 failed, 0 skipped)"
        );
        assert_eq!(lines[5], "deliveries: 1 (1 pending, 0 sent, 0 failed)");
        assert_eq!(lines[6], "events: 21");
        assert_eq!(lines[7], "newest studies (2 of 2):");
        assert!(lines[8].starts_with("  study 1.5 "), "{text}");
        assert!(
            !text.contains("finding:"),
            "no findings in the summary: {text}"
        );
    }

    #[test]
    fn the_document_round_trips_and_old_records_read_as_version_1() {
        let d = build::document(&two_studies(), &Filter::default(), ctx());
        let json = serde_json::to_string(&d).expect("serialise");
        let back: Document = serde_json::from_str(&json).expect("parse");
        assert_eq!(back, d);
        let fewer: Document = serde_json::from_str(r#"{"schema":1,"later":true}"#).expect("parse");
        assert!(fewer.jobs.is_empty());
        let mut old = serde_json::to_value(&job().1).expect("job json");
        old.as_object_mut().expect("object").remove("version");
        let job: JobRecord = serde_json::from_value(old).expect("old job record");
        assert_eq!(job.version, 1);
    }
}
