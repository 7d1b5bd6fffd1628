//! Issue 20: the outbox delivers a job's SR after its SEG. One entry per (file, destination); an
//! entry waits while an earlier entry of its job to the same destination is pending — due now or
//! backing off after a failure — and goes once that one is sent or has failed for good. Other
//! destinations and other jobs never wait for it.

use petground::store::{DeliveryState, JobRecord, JobState, OutboxItem, OutboxKind, Store};

fn uid(s: &str) -> petground::ids::Uid {
    petground::ids::Uid::parse(s).expect("a UID")
}

fn item(job: &str, kind: OutboxKind, dest: &str) -> OutboxItem {
    OutboxItem {
        path: format!("outbox/{job}-{}.dcm", kind.as_str()),
        kind,
        sop_instance: uid(&format!("2.25.{}", job.len() * 10 + kind as usize)),
        destination: dest.to_owned(),
        job: job.to_owned(),
        state: DeliveryState::Pending {
            next_try_unix: 0,
            last_error: None,
        },
        attempts: 0,
        created_unix: 0,
    }
}

fn finish(store: &Store, key: &str, deliveries: &[OutboxItem]) {
    let job = JobRecord {
        study: uid("2.25.1"),
        report: 1,
        pet_series: uid("2.25.2"),
        state: JobState::Done,
        attempts: 1,
        created_unix: 0,
        finished_unix: Some(0),
        findings: Vec::new(),
        seg: Some(uid("2.25.10")),
        sr: Some(uid("2.25.11")),
        version: 1,
        notes: Vec::new(),
    };
    store.finish_job(key, &job, deliveries).expect("finish job");
}

fn due(store: &Store, now: u64) -> Vec<(String, OutboxKind, String)> {
    store
        .due_deliveries(now)
        .expect("due")
        .into_iter()
        .map(|(_, i)| (i.job, i.kind, i.destination))
        .collect()
}

#[test]
fn an_sr_waits_for_its_seg_per_destination() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("open store");
    use OutboxKind::{Seg, Sr};
    finish(
        &store,
        "a",
        &[
            item("a", Seg, "pacs"),
            item("a", Sr, "pacs"),
            item("a", Seg, "viewer"),
            item("a", Sr, "viewer"),
        ],
    );
    finish(
        &store,
        "b",
        &[item("b", Seg, "pacs"), item("b", Sr, "pacs")],
    );
    let s = |j: &str, k, d: &str| (j.to_owned(), k, d.to_owned());
    assert_eq!(
        due(&store, 100),
        vec![
            s("a", Seg, "pacs"),
            s("a", Seg, "viewer"),
            s("b", Seg, "pacs")
        ],
        "only the SEGs at first"
    );

    let entries = store.all_outbox().expect("outbox");
    let id_of = |j: &str, k, d: &str| {
        entries
            .iter()
            .find(|(_, i)| i.job == j && i.kind == k && i.destination == d)
            .map(|(id, i)| (*id, i.clone()))
            .expect("entry")
    };
    // a's SEG to pacs fails transiently and backs off: its SR keeps waiting, even when due.
    let (id, mut seg) = id_of("a", Seg, "pacs");
    seg.state = DeliveryState::Pending {
        next_try_unix: 500,
        last_error: Some("connection refused".into()),
    };
    store.put_delivery(id, &seg).expect("record");
    // a's SEG to the viewer is sent: its SR goes.
    let (vid, mut vseg) = id_of("a", Seg, "viewer");
    vseg.state = DeliveryState::Sent { unix: 101 };
    store.put_delivery(vid, &vseg).expect("record");
    assert_eq!(
        due(&store, 200),
        vec![s("a", Sr, "viewer"), s("b", Seg, "pacs")]
    );
    // At the retry time the SEG is due again, still ahead of its SR.
    assert_eq!(
        due(&store, 500),
        vec![
            s("a", Seg, "pacs"),
            s("a", Sr, "viewer"),
            s("b", Seg, "pacs")
        ]
    );
    // Failed for good: the SR is not held back forever.
    seg.state = DeliveryState::Failed {
        reason: "refused".into(),
    };
    store.put_delivery(id, &seg).expect("record");
    assert_eq!(
        due(&store, 500),
        vec![
            s("a", Sr, "pacs"),
            s("a", Sr, "viewer"),
            s("b", Seg, "pacs")
        ]
    );
}

#[test]
fn entries_written_before_the_sr_existed_read_as_segs() {
    // An outbox entry as an older node stored it: no "kind" field.
    let old = r#"{"path":"outbox/1.dcm","sop_instance":"2.25.1","destination":"pacs","job":"j",
        "state":{"state":"sent","unix":1},"attempts":1,"created_unix":1}"#;
    let item: OutboxItem = serde_json::from_str(old).expect("old entry");
    assert_eq!(item.kind, OutboxKind::Seg);
    let job = r#"{"study":"1.2.3","report":1,"pet_series":"1.2.4","state":{"state":"done"},"attempts":1,
        "created_unix":0,"finished_unix":0,"findings":[],"seg":"2.25.1"}"#;
    let job: JobRecord = serde_json::from_str(job).expect("old job");
    assert_eq!(job.sr, None);
}
