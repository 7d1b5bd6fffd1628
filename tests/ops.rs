//! Issue 19, running it in a hospital: the operator commands against a real node and real peers.
//! `status --json` (the documented fields, filters, newest first), `echo` against a dcmtk
//! `storescp`, a closed port and an unknown name, `resend` of a delivered SEG, `reprocess` of a
//! study (a new job version and a new SEG while the old job record stays), and the store's side
//! of resend and reprocess. Every wait polls a condition with a deadline.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::peers::{Storescp, free_port};
use common::{Node, files_below, storescu};
use serde_json::Value;

/// `petground ARGS --config CONFIG`: (exit code, stdout, stderr).
fn petground(args: &[&str], config: &Path) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_petground"))
        .args(args)
        .arg("--config")
        .arg(config)
        .output()
        .expect("run petground");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (
        out.status.code().unwrap_or(-1),
        text(&out.stdout),
        text(&out.stderr),
    )
}

/// `petground status --json ARGS`, parsed.
fn status_json(config: &Path, args: &[&str]) -> Value {
    let mut all = vec!["status", "--json"];
    all.extend_from_slice(args);
    let (code, out, err) = petground(&all, config);
    assert_eq!(code, 0, "status --json failed: {err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("status --json is not JSON ({e}): {out}"))
}

/// Polls `f` until it returns `Some`, or panics naming `what` at the deadline.
fn poll<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn list<'a>(doc: &'a Value, key: &str) -> &'a Vec<Value> {
    doc[key]
        .as_array()
        .unwrap_or_else(|| panic!("`{key}` is a list: {doc}"))
}

/// Deliveries of `sop` to `dest` that were sent.
fn sent(doc: &Value, sop: &str, dest: &str) -> usize {
    list(doc, "deliveries")
        .iter()
        .filter(|d| d["sop_instance"] == sop && d["destination"] == dest && d["state"] == "sent")
        .count()
}

fn config_with(pacs: u16, pacs2: u16) -> String {
    format!(
        "[[destinations]]\nname = \"pacs\"\nae_title = \"PACS\"\naddress = \"127.0.0.1:{pacs}\"\n\
         [[destinations]]\nname = \"pacs2\"\nae_title = \"PACS2\"\naddress = \"127.0.0.1:{pacs2}\"\n\
         [routing]\nsend_seg_to = [\"pacs\"]\n[series]\nstable_seconds = 2\n\
         [delivery]\nretry_initial_seconds = 1\nretry_max_seconds = 2\nmax_attempts = 30\n"
    )
}

/// The fields the README documents for every item of the status document.
fn assert_documented_fields(doc: &Value) {
    for key in [
        "schema",
        "generated_unix",
        "source",
        "data_dir",
        "disk_free_bytes",
        "filter",
    ] {
        assert!(doc.get(key).is_some(), "document field {key}: {doc}");
    }
    assert_eq!(doc["schema"], 1);
    assert!(
        doc["disk_free_bytes"].as_u64().is_some_and(|b| b > 0),
        "{doc}"
    );
    let fields: [(&str, &[&str]); 5] = [
        (
            "studies",
            &["uid", "accession", "study_date", "received_unix", "series"],
        ),
        (
            "series",
            &[
                "uid",
                "study",
                "modality",
                "instances",
                "expected",
                "state",
                "last_received_unix",
                "completed_unix",
                "completion",
            ],
        ),
        (
            "reports",
            &[
                "id",
                "control_id",
                "accession",
                "status",
                "state",
                "superseded_by",
                "received_unix",
                "matched_study",
                "match_rule",
                "matched_unix",
            ],
        ),
        (
            "jobs",
            &[
                "key",
                "study",
                "report",
                "version",
                "pet_series",
                "state",
                "reason",
                "attempts",
                "created_unix",
                "finished_unix",
                "seg",
                "sr",
                "findings",
            ],
        ),
        (
            "deliveries",
            &[
                "id",
                "kind",
                "sop_instance",
                "destination",
                "job",
                "state",
                "attempts",
                "queued_unix",
                "delivered_unix",
                "next_try_unix",
                "last_error",
                "reason",
            ],
        ),
    ];
    for (list_key, keys) in fields {
        let items = list(doc, list_key);
        assert!(!items.is_empty(), "{list_key} is empty: {doc}");
        for item in items {
            for k in keys {
                assert!(item.get(k).is_some(), "{list_key} item lacks {k}: {item}");
            }
        }
    }
    let counts = &doc["counts"];
    for k in ["studies", "events"] {
        assert!(counts[k].as_u64().is_some(), "counts.{k}: {counts}");
    }
    for k in ["series", "reports", "jobs", "deliveries"] {
        assert!(
            counts[k]["total"].as_u64().is_some(),
            "counts.{k}: {counts}"
        );
        assert!(counts[k]["by_state"].is_object(), "counts.{k}: {counts}");
    }
}

/// Newest first: ids fall and times never rise down each list.
fn assert_newest_first(doc: &Value) {
    let ids = |key: &str| -> Vec<u64> {
        list(doc, key)
            .iter()
            .map(|i| i["id"].as_u64().expect("id"))
            .collect()
    };
    for key in ["reports", "deliveries", "events"] {
        let v = ids(key);
        assert!(
            v.windows(2).all(|w| w[0] > w[1]),
            "{key} newest first: {v:?}"
        );
    }
    for (key, time) in [("studies", "received_unix"), ("jobs", "created_unix")] {
        let t: Vec<u64> = list(doc, key)
            .iter()
            .map(|i| i[time].as_u64().expect("time"))
            .collect();
        assert!(
            t.windows(2).all(|w| w[0] >= w[1]),
            "{key} newest first: {t:?}"
        );
    }
}

#[test]
fn status_resend_and_reprocess_on_a_running_node() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pacs = Storescp::start(&dir.path().join("pacs"), "PACS", free_port());
    let pacs2 = Storescp::start(&dir.path().join("pacs2"), "PACS2", free_port());
    let mut node = Node::start(dir.path(), &config_with(pacs.port, pacs2.port));
    let study = dir.path().join("study");
    let mut o = petground_phantom::Options::new(5);
    o.small = true;
    o.lesions = Some(2);
    let truth = petground_phantom::generate(&o, &study).expect("phantom");
    let mut files = files_below(&study.join("pet"));
    files.extend(files_below(&study.join("ct")));
    let (ok, out) = storescu(&node, &[], &files);
    assert!(ok, "storescu: {out}");
    let report = std::fs::read_to_string(study.join("report.hl7")).expect("report");
    assert!(common::mllp_send(&node, &report).contains("MSA|AA|"));
    // A second report for a study that never comes: it waits, and is the newest report.
    let orphan = common::oru("ORPHAN-1", "ACC-ORPHAN", None, "F", &["No uptake."]);
    assert!(common::mllp_send(&node, &orphan).contains("MSA|AA|"));
    let config = node.config.clone();
    let doc = poll("SEG and SR delivered", Duration::from_secs(120), || {
        let d = status_json(&config, &[]);
        let delivered = list(&d, "deliveries")
            .iter()
            .filter(|x| x["state"] == "sent")
            .count();
        (delivered == 2).then_some(d)
    });
    assert_documented_fields(&doc);
    assert_newest_first(&doc);
    assert_eq!(doc["source"], "node");
    let reports: Vec<&Value> = list(&doc, "reports").iter().collect();
    assert_eq!(reports[0]["control_id"], "ORPHAN-1", "newest report first");
    assert_eq!(doc["counts"]["reports"]["total"], 2);
    let job = &list(&doc, "jobs")[0];
    assert_eq!(
        (job["state"].as_str(), job["version"].as_u64()),
        (Some("done"), Some(1))
    );
    let seg = job["seg"].as_str().expect("the job made a SEG").to_owned();

    filters(&config, &truth.study_instance_uid, &truth.accession_number);
    resend(&config, &seg, &pacs2);
    reprocess(&config, &truth.accession_number, &seg, &pacs);

    control_socket_versions(&node.data_dir().join("petground.sock"));
    let (code, _, err) = petground(&["resend", "9.9.9"], &config);
    assert_eq!(code, 1, "unknown SEG: {err}");
    assert!(err.contains("no SEG with SOP Instance UID 9.9.9"), "{err}");
    assert_eq!(node.terminate().code(), Some(0));
    let (code, _, err) = petground(&["resend", &seg], &config);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("not running"), "{err}");
    let (code, _, err) = petground(
        &["reprocess", "--study", &truth.study_instance_uid],
        &config,
    );
    assert!(code == 1 && err.contains("not running"), "{code} {err}");
    let offline = status_json(&config, &[]);
    assert_eq!(offline["source"], "store");
    assert_eq!(
        list(&offline, "jobs").len(),
        2,
        "both job versions are on record"
    );
}

/// A client that sends nothing gets the status text (the protocol before version 1); a request
/// of another version gets an `unsupported` error.
fn control_socket_versions(sock: &Path) {
    use std::io::{Read, Write};
    use std::os::unix::net::UnixStream;
    let mut c = UnixStream::connect(sock).expect("connect");
    c.shutdown(std::net::Shutdown::Write).expect("shutdown");
    let mut text = String::new();
    c.read_to_string(&mut text).expect("read");
    assert!(text.contains("\njobs: 2\n"), "legacy text: {text}");
    let mut c = UnixStream::connect(sock).expect("connect");
    c.write_all(b"{\"v\":2,\"op\":\"status\"}\n")
        .expect("write");
    let mut answer = String::new();
    c.read_to_string(&mut answer).expect("read");
    let v: Value = serde_json::from_str(&answer).expect("JSON answer");
    assert_eq!(
        (v["reply"].as_str(), v["kind"].as_str()),
        (Some("error"), Some("unsupported"))
    );
}

/// `--study` and `--accession` keep one study's items; the text lists them in full.
fn filters(config: &Path, study: &str, accession: &str) {
    let one = status_json(config, &["--study", study]);
    assert_eq!(one["filter"]["study"], study);
    assert_eq!(list(&one, "studies").len(), 1);
    assert_eq!(
        list(&one, "reports").len(),
        1,
        "the orphan report is left out"
    );
    assert_eq!(list(&one, "jobs").len(), 1);
    let orphan = status_json(config, &["--accession", "ACC-ORPHAN"]);
    assert!(list(&orphan, "studies").is_empty() && list(&orphan, "jobs").is_empty());
    assert_eq!(list(&orphan, "reports")[0]["control_id"], "ORPHAN-1");
    let (code, text, _) = petground(&["status", "--accession", accession], config);
    assert_eq!(code, 0);
    assert!(text.contains(&format!("  study {study} ")), "{text}");
    assert!(text.contains("    finding: "), "full lists: {text}");
    let (code, text, _) = petground(&["status"], config);
    assert_eq!(code, 0);
    println!("{text}");
    assert!(
        text.contains("jobs: 1 (0 queued, 0 running, 1 done"),
        "{text}"
    );
    assert!(text.contains("newest deliveries (2 of 2):"), "{text}");
    assert!(
        !text.contains("    finding: "),
        "the summary has no finding lines: {text}"
    );
}

/// A delivered SEG queued again goes out again, with its SR: to its destination by default,
/// and to another with `--to`.
fn resend(config: &Path, seg: &str, pacs2: &Storescp) {
    let (code, out, err) = petground(&["resend", seg], config);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(&format!("SEG {seg} queued again")), "{out}");
    poll("the SEG delivered again", Duration::from_secs(30), || {
        (sent(&status_json(config, &[]), seg, "pacs") == 2).then_some(())
    });
    let (code, _, err) = petground(&["resend", seg, "--to", "pacs2"], config);
    assert_eq!(code, 0, "{err}");
    let got = pacs2.wait_for(2, Duration::from_secs(30));
    assert_eq!(got.len(), 2, "SEG and SR at pacs2: {got:?}");
    assert!(
        got.iter().any(|f| f.to_string_lossy().contains(seg)),
        "pacs2 holds the SEG {seg}: {got:?}"
    );
    let (code, _, err) = petground(&["resend", seg, "--to", "nowhere"], config);
    assert_eq!(code, 2, "an unknown destination is bad usage: {err}");
}

/// Reprocess makes job version 2 with a new SEG, delivered; version 1 stays on record.
fn reprocess(config: &Path, accession: &str, old_seg: &str, pacs: &Storescp) {
    let (code, out, err) = petground(&["reprocess", "--accession", accession], config);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("/v2 (version 2) queued"), "{out}");
    let doc = poll("job version 2 done", Duration::from_secs(120), || {
        let d = status_json(config, &[]);
        let done = list(&d, "jobs")
            .iter()
            .any(|j| j["version"] == 2 && j["state"] == "done");
        done.then_some(d)
    });
    let jobs = list(&doc, "jobs");
    assert_eq!(jobs.len(), 2, "{doc}");
    assert_eq!(jobs[0]["version"], 2, "the new version first");
    assert!(jobs[0]["key"].as_str().is_some_and(|k| k.ends_with("/v2")));
    assert_eq!(jobs[1]["version"], 1);
    assert_eq!(jobs[1]["seg"], old_seg, "the old record keeps its SEG");
    let new_seg = jobs[0]["seg"].as_str().expect("a new SEG").to_owned();
    assert_ne!(new_seg, old_seg, "a new SOP Instance UID");
    let file = poll("the new SEG at pacs", Duration::from_secs(30), || {
        let files = pacs.received();
        files
            .into_iter()
            .find(|f| f.to_string_lossy().contains(&new_seg))
    });
    // Its own series: a PACS tells the rerun from the first run.
    let seg = dicom_object::open_file(&file).expect("open the new SEG");
    let text = |tag| {
        seg.element(tag)
            .ok()
            .and_then(|e| e.to_str().ok())
            .map(|s| s.trim_end_matches(['\0', ' ']).to_owned())
            .unwrap_or_default()
    };
    assert_eq!(text(dicom_dictionary_std::tags::SERIES_NUMBER), "10001");
    assert_eq!(
        text(dicom_dictionary_std::tags::SERIES_DESCRIPTION),
        "petground findings (reprocessed 2)"
    );
}

#[test]
fn echo_reaches_a_storescp_fails_on_a_closed_port_and_refuses_an_unknown_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pacs = Storescp::start(&dir.path().join("pacs"), "PACS", free_port());
    let config = common::write_config(dir.path(), &config_with(pacs.port, free_port()));
    let (code, out, err) = petground(&["echo", "pacs"], &config);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("C-ECHO pacs (PACS@127.0.0.1:"), "{out}");
    let (code, _, err) = petground(&["echo", "pacs2"], &config);
    assert_eq!(code, 1, "closed port: {err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    let (code, _, err) = petground(&["echo", "nosuch"], &config);
    assert_eq!(code, 2, "unknown name: {err}");
    assert!(err.contains("no destination named `nosuch`"), "{err}");
}

#[test]
fn commands_that_need_the_node_say_so_and_status_reads_the_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = common::write_config(dir.path(), "");
    let (code, out, _) = petground(&["status"], &config);
    assert_eq!(code, 0);
    assert!(out.starts_with("no data yet in "), "{out}");
    let empty = status_json(&config, &[]);
    assert_eq!(empty["schema"], 1);
    let (code, _, err) = petground(&["reprocess", "--study", "1.2.3"], &config);
    assert_eq!(code, 1);
    assert!(err.contains("the node is not running"), "{err}");
    let (code, _, _) = petground(&["reprocess"], &config);
    assert_eq!(code, 2, "a study or an accession is required");
}

mod store_side {
    use petground::ids::Uid;
    use petground::store::{
        DeliveryState, JobRecord, JobState, OutboxItem, OutboxKind, Reprocess, Resend, Store,
    };

    fn uid(s: &str) -> Uid {
        Uid::parse(s).expect("uid")
    }

    fn item(kind: OutboxKind, sop: &str, state: DeliveryState) -> OutboxItem {
        OutboxItem {
            path: format!("outbox/{sop}.dcm"),
            kind,
            sop_instance: uid(sop),
            destination: "pacs".into(),
            job: "2.25.1/1".into(),
            state,
            attempts: 1,
            created_unix: 1,
        }
    }

    /// A done job whose SEG (entry 1) ended in `seg_state` and whose SR (entry 2) was sent.
    fn done_job(store: &Store, seg_state: DeliveryState) {
        let mut job = JobRecord::queued(uid("2.25.1"), 1, uid("2.25.2"), 1);
        job.state = JobState::Done;
        job.seg = Some(uid("2.25.10"));
        let pending = DeliveryState::Pending {
            next_try_unix: 0,
            last_error: None,
        };
        let items = [
            item(OutboxKind::Seg, "2.25.10", pending.clone()),
            item(OutboxKind::Sr, "2.25.11", pending),
        ];
        store
            .finish_job("2.25.1/1", &job, &items)
            .expect("finish job");
        let sent = DeliveryState::Sent { unix: 2 };
        for (id, (kind, sop, state)) in [
            (1, (OutboxKind::Seg, "2.25.10", seg_state)),
            (2, (OutboxKind::Sr, "2.25.11", sent)),
        ] {
            store
                .put_delivery(id, &item(kind, sop, state))
                .expect("record outcome");
        }
    }

    #[test]
    fn resend_adds_entries_and_refuses_unknown_and_pending_segs() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("store");
        done_job(
            &store,
            DeliveryState::Failed {
                reason: "refused".into(),
            },
        );
        assert_eq!(
            store.resend("2.25.99", None, 5).expect("resend"),
            Resend::UnknownSeg
        );
        assert_eq!(
            store.resend("2.25.10", None, 5).expect("resend"),
            Resend::Queued(vec![3, 4])
        );
        let out = store.all_outbox().expect("outbox");
        assert_eq!(out.len(), 4, "the old entries stay");
        assert!(matches!(out[1].1.state, DeliveryState::Sent { .. }));
        assert_eq!(
            (out[2].1.kind, out[3].1.kind),
            (OutboxKind::Seg, OutboxKind::Sr)
        );
        let due: Vec<u64> = store
            .due_deliveries(5)
            .expect("due")
            .iter()
            .map(|d| d.0)
            .collect();
        assert_eq!(due, [3], "the SR waits for its SEG");
        let again = store.resend("2.25.10", None, 6).expect("resend");
        assert_eq!(
            again,
            Resend::StillPending {
                destination: "pacs".into()
            }
        );
        let other = store.resend("2.25.10", Some("pacs2"), 6).expect("resend");
        assert_eq!(other, Resend::Queued(vec![5, 6]));
    }

    #[test]
    fn reprocess_adds_a_version_and_refuses_while_one_is_queued() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("store");
        assert_eq!(
            store.reprocess("2.25.1", 5).expect("reprocess"),
            Reprocess::NoJob
        );
        done_job(&store, DeliveryState::Sent { unix: 2 });
        let queued = store.reprocess("2.25.1", 5).expect("reprocess");
        let key = "2.25.1/1/v2".to_owned();
        assert_eq!(
            queued,
            Reprocess::Queued {
                key: key.clone(),
                version: 2
            }
        );
        let busy = store.reprocess("2.25.1", 6).expect("reprocess");
        assert_eq!(busy, Reprocess::Busy { key: key.clone() });
        let runnable = store.runnable_jobs().expect("runnable");
        assert_eq!(runnable.len(), 1);
        assert_eq!(
            (runnable[0].0.as_str(), runnable[0].1.version),
            (key.as_str(), 2)
        );
        let jobs = store.all_jobs().expect("jobs");
        assert_eq!(jobs.len(), 2, "the old record stays");
        let old = jobs
            .iter()
            .find(|(k, _)| k == "2.25.1/1")
            .expect("version 1");
        assert_eq!(old.1.seg, Some(uid("2.25.10")));
    }
}
