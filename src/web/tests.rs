//! Unit tests of the page and the metrics on a hand-made snapshot: what is shown (and escaped),
//! what is never shown (patient IDs), and the exposition text's numbers.

use std::collections::{BTreeMap, BTreeSet};

use super::metrics::{self, Process};
use super::pages::{self, View, esc, utc};
use crate::ids::Uid;
use crate::status::Snapshot;
use crate::store::{
    Completion, DeliveryState, FindingOutcome, JobRecord, JobState, OutboxItem, OutboxKind,
    ReportRecord, ReportState, ReportStatus, SeriesRecord, StudyRecord,
};

fn uid(s: &str) -> Uid {
    Uid::parse(s).expect("uid")
}

fn finding(sentence: &str, segment: Option<u16>) -> FindingOutcome {
    FindingOutcome {
        sentence: sentence.into(),
        suv_max: Some(7.2),
        slice: Some(45),
        method: segment.map(|_| "weak-label".into()),
        segment,
        detail: if segment.is_some() {
            "matched"
        } else {
            "no candidate above threshold"
        }
        .into(),
        label_suv_max: segment.map(|_| 7.25),
        mtv_ml: segment.map(|_| 3.5),
        agreement: None,
        restatement_of: None,
    }
}

fn job(state: JobState, created: u64, finished: Option<u64>) -> JobRecord {
    let mut j = JobRecord::queued(uid("1.1"), 1, uid("1.2"), created);
    j.state = state;
    j.finished_unix = finished;
    j
}

fn delivery(kind: OutboxKind, state: DeliveryState) -> OutboxItem {
    OutboxItem {
        path: "outbox/1.9.dcm".into(),
        kind,
        sop_instance: uid("1.9"),
        destination: "pacs".into(),
        job: "1.1/1".into(),
        state,
        attempts: 1,
        created_unix: 10,
    }
}

fn snapshot() -> Snapshot {
    let mut done = job(JobState::Done, 100, Some(103));
    done.findings = vec![
        finding(
            "Right hilar <b>node</b> & \"more\", SUVmax 7.2, image 45.",
            Some(1),
        ),
        finding("Faint liver focus, SUVmax 7.2, image 45.", None),
    ];
    done.seg = Some(uid("1.9"));
    let failed = job(
        JobState::Failed {
            reason: "a PET slice is missing".into(),
        },
        200,
        Some(260),
    );
    let series = |complete: bool| SeriesRecord {
        study: uid("1.1"),
        modality: "PT".into(),
        instances: 40,
        expected: Some(40),
        last_unix: 50,
        complete: complete.then(|| Completion {
            unix: 60,
            reason: "all-slices".into(),
        }),
    };
    Snapshot {
        studies: vec![(
            "1.1".into(),
            StudyRecord {
                accession: Some("ACC<1>".into()),
                patient_id: Some("SECRET-PID".into()),
                study_date: Some("20261128".into()),
                first_unix: 951_782_400,
            },
        )],
        series: vec![("1.2".into(), series(true)), ("1.3".into(), series(false))],
        reports: vec![(
            1,
            ReportRecord {
                control_id: "C1".into(),
                accession: Some("ACC<1>".into()),
                study_uid_hint: None,
                patient_id: Some("SECRET-PID".into()),
                date: None,
                status: ReportStatus::Final,
                text: "FINDINGS: ...".into(),
                received_unix: 5,
                matched: None,
                state: ReportState::Active,
            },
        )],
        jobs: vec![("1.1/1".into(), done), ("1.1/2".into(), failed)],
        outbox: vec![
            (
                1,
                delivery(OutboxKind::Seg, DeliveryState::Sent { unix: 110 }),
            ),
            (
                2,
                delivery(
                    OutboxKind::Sr,
                    DeliveryState::Pending {
                        next_try_unix: 0,
                        last_error: None,
                    },
                ),
            ),
        ],
        events: Vec::new(),
    }
}

#[test]
fn escaping_covers_text_and_quoted_attributes() {
    assert_eq!(
        esc("<a href=\"x\">'&'</a>"),
        "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
    );
    assert_eq!(esc("1.2.840"), "1.2.840");
}

/// Expected values from GNU date: `date -u -d @951782400 '+%F %T'` and so on.
#[test]
fn unix_times_are_shown_as_utc() {
    assert_eq!(utc(0), "1970-01-01 00:00:00");
    assert_eq!(utc(951_782_400), "2000-02-29 00:00:00");
    assert_eq!(utc(1_798_761_599), "2026-12-31 23:59:59");
    assert_eq!(utc(4_102_444_800), "2100-01-01 00:00:00");
}

#[test]
fn the_page_shows_studies_jobs_findings_and_pictures_escaped() {
    let pictures = BTreeSet::from(["1.1/1".to_owned()]);
    let html = pages::render(
        &View {
            snapshot: snapshot(),
            pictures,
        },
        951_782_400,
    );
    assert!(
        html.contains("<tr class=\"study\" data-study=\"1.1\">"),
        "{html}"
    );
    assert!(
        html.contains("ACC&lt;1&gt;") && !html.contains("ACC<1>"),
        "{html}"
    );
    assert!(
        html.contains("data-job=\"1.1/1\" data-state=\"done\""),
        "{html}"
    );
    assert!(
        html.contains("data-job=\"1.1/2\" data-state=\"failed\""),
        "{html}"
    );
    assert!(html.contains("a PET slice is missing"), "{html}");
    assert!(
        html.contains("Right hilar &lt;b&gt;node&lt;/b&gt; &amp; &quot;more&quot;"),
        "{html}"
    );
    assert_eq!(
        html.matches("<tr class=\"finding grounded\">").count(),
        1,
        "{html}"
    );
    assert_eq!(
        html.matches("<tr class=\"finding not-grounded\">").count(),
        1,
        "{html}"
    );
    assert!(html.contains("no candidate above threshold"), "{html}");
    assert!(html.contains("<td>7.25</td><td>3.50</td>"), "{html}");
    assert!(
        html.contains("seg to pacs: sent, sr to pacs: pending (attempts 1)"),
        "{html}"
    );
    assert_eq!(
        html.matches("<img class=\"mip\" src=\"/pictures/1.1/1.png\"")
            .count(),
        1
    );
    assert!(
        !html.contains("/pictures/1.1/2.png"),
        "a failed job has no picture"
    );
    assert!(!html.contains("SECRET-PID"), "no patient IDs on the page");
    assert!(!html.contains("<script"), "no scripts");
}

fn sample<'a>(text: &'a str, name: &str) -> &'a str {
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(' ')))
        .unwrap_or_else(|| panic!("no sample {name} in\n{text}"))
}

#[test]
fn metrics_count_what_the_store_holds() {
    let process = Process {
        started_unix: 42,
        answered: BTreeMap::from([(200, 3), (404, 1)]),
    };
    let text = metrics::render(&snapshot(), &process);
    assert_eq!(sample(&text, "petground_instances_received_total"), "80");
    assert_eq!(sample(&text, "petground_reports_received_total"), "1");
    assert_eq!(sample(&text, "petground_series{state=\"receiving\"}"), "1");
    assert_eq!(sample(&text, "petground_jobs_total{outcome=\"done\"}"), "1");
    assert_eq!(
        sample(&text, "petground_jobs_total{outcome=\"failed\"}"),
        "1"
    );
    assert_eq!(
        sample(&text, "petground_jobs_total{outcome=\"skipped\"}"),
        "0"
    );
    assert_eq!(
        sample(&text, "petground_jobs_pending{state=\"queued\"}"),
        "0"
    );
    assert_eq!(
        sample(
            &text,
            "petground_deliveries_total{kind=\"seg\",state=\"sent\"}"
        ),
        "1"
    );
    assert_eq!(
        sample(&text, "petground_deliveries_pending{kind=\"sr\"}"),
        "1"
    );
    // The done job took 3 s, the failed one 60 s.
    let done = "petground_job_seconds_bucket{outcome=\"done\",le=";
    assert_eq!(sample(&text, &format!("{done}\"2\"}}")), "0");
    assert_eq!(sample(&text, &format!("{done}\"5\"}}")), "1");
    assert_eq!(sample(&text, &format!("{done}\"+Inf\"}}")), "1");
    assert_eq!(
        sample(&text, "petground_job_seconds_sum{outcome=\"failed\"}"),
        "60"
    );
    assert_eq!(
        sample(
            &text,
            "petground_job_seconds_bucket{outcome=\"failed\",le=\"30\"}"
        ),
        "0"
    );
    assert_eq!(sample(&text, "petground_start_time_seconds"), "42");
    assert_eq!(
        sample(&text, "petground_http_responses_total{code=\"404\"}"),
        "1"
    );
    // Every family has its HELP and TYPE; every sample line is `name{labels} value`.
    for l in text.lines().filter(|l| !l.starts_with('#')) {
        let (name, value) = l.rsplit_once(' ').expect("name value");
        assert!(value.parse::<f64>().is_ok(), "{l}");
        let family = name.split('{').next().unwrap_or_default();
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| family.strip_suffix(s))
            .unwrap_or(family);
        assert!(text.contains(&format!("# TYPE {family} ")), "{l}");
    }
}
