//! Issue 19: corrected and cancelled reports, end to end with real peers. A report, then its
//! correction (OBR-25 `C`), give two SEG series (and two SR series) that a PACS tells apart by
//! SeriesNumber and SeriesDescription; a cancel (`X`) then withdraws every delivered SEG and SR
//! with one IOCM rejection note (KOS, title 113037) that passes dicom3tools' `dciodvfy` and names
//! exactly those objects; a node restarted after that sends no second note, and a note queued
//! just before a SIGKILL is delivered once after the restart.

mod common;

use common::study::{dciodvfy_errors, phantom, send_images};

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::Node;
use common::peers::{Storescp, free_port};
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;

fn config(port: u16) -> String {
    format!(
        "[[destinations]]\nname = \"pacs\"\nae_title = \"PACS\"\naddress = \"127.0.0.1:{port}\"\n\
         [routing]\nsend_seg_to = [\"pacs\"]\n[series]\nstable_seconds = 2\n\
         [delivery]\nretry_initial_seconds = 1\nretry_max_seconds = 2\nmax_attempts = 30\n"
    )
}

fn send(node: &Node, control_id: &str, accession: &str, status: &str, lines: &[&str]) {
    let msg = common::oru(control_id, accession, None, status, lines);
    let ack = common::mllp_send(node, &msg);
    assert!(ack.contains(&format!("MSA|AA|{control_id}")), "{ack:?}");
}

fn open(path: &Path) -> InMemDicomObject {
    dicom_object::open_file(path)
        .expect("open received file")
        .into_inner()
}

fn string(obj: &InMemDicomObject, tag: dicom_core::Tag) -> String {
    obj.element(tag)
        .ok()
        .and_then(|e| e.to_str().ok())
        .map(|s| s.trim_end_matches(['\0', ' ']).to_owned())
        .unwrap_or_default()
}

/// The received files of one modality, oldest first.
fn of_modality(files: &[PathBuf], modality: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = files
        .iter()
        .filter(|f| string(&open(f), tags::MODALITY) == modality)
        .cloned()
        .collect();
    out.sort_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok());
    out
}

/// (SeriesNumber, SeriesDescription) of each file.
fn series(files: &[PathBuf]) -> Vec<(String, String)> {
    files
        .iter()
        .map(|f| {
            let o = open(f);
            (
                string(&o, tags::SERIES_NUMBER),
                string(&o, tags::SERIES_DESCRIPTION),
            )
        })
        .collect()
}

fn items(obj: &InMemDicomObject, tag: dicom_core::Tag) -> Vec<InMemDicomObject> {
    obj.element(tag)
        .ok()
        .and_then(|e| e.items())
        .map(<[_]>::to_vec)
        .unwrap_or_default()
}

/// (SOP Class UID, SOP Instance UID).
type SopRef = (String, String);

/// (SOP Class UID, SOP Instance UID) of every object a note's content references, and of every
/// object in its evidence sequence.
fn note_references(kos: &InMemDicomObject) -> (BTreeSet<SopRef>, BTreeSet<SopRef>) {
    let reference = |it: &InMemDicomObject| {
        (
            string(it, tags::REFERENCED_SOP_CLASS_UID),
            string(it, tags::REFERENCED_SOP_INSTANCE_UID),
        )
    };
    let content = items(kos, tags::CONTENT_SEQUENCE)
        .iter()
        .flat_map(|c| items(c, tags::REFERENCED_SOP_SEQUENCE))
        .map(|r| reference(&r))
        .collect();
    let evidence = items(kos, tags::CURRENT_REQUESTED_PROCEDURE_EVIDENCE_SEQUENCE)
        .iter()
        .flat_map(|s| items(s, tags::REFERENCED_SERIES_SEQUENCE))
        .flat_map(|s| items(&s, tags::REFERENCED_SOP_SEQUENCE))
        .map(|r| reference(&r))
        .collect();
    (content, evidence)
}

/// Polls until the destination holds `n` files, and fails with the node's status if not.
fn wait_files(pacs: &Storescp, node: &Node, n: usize) -> Vec<PathBuf> {
    let got = pacs.wait_for(n, Duration::from_secs(120));
    assert!(
        got.len() >= n,
        "{} of {n} files; status:\n{}",
        got.len(),
        node.status()
    );
    got
}

#[test]
fn correction_gets_its_own_series_and_a_cancel_rejects_every_delivered_object() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pacs = Storescp::start(&dir.path().join("pacs"), "PACS", free_port());
    let mut node = Node::start(dir.path(), &config(pacs.port));
    let study = dir.path().join("study");
    let truth = phantom(&study, 41, 3);
    let acc = truth.accession_number.clone();
    let mut lines: Vec<&str> = vec!["FINDINGS:"];
    lines.extend(truth.lesions.iter().map(|l| l.sentence.as_str()));
    send_images(&node, &study);
    send(&node, "V-1", &acc, "F", &lines);
    wait_files(&pacs, &node, 2);
    // The correction drops the last finding: a new SEG, in its own series.
    send(&node, "V-2", &acc, "C", &lines[..lines.len() - 1]);
    let received = wait_files(&pacs, &node, 4);
    let segs = of_modality(&received, "SEG");
    let srs = of_modality(&received, "SR");
    assert_eq!((segs.len(), srs.len()), (2, 2), "{received:?}");
    let seg_series = series(&segs);
    assert_eq!(
        seg_series,
        [
            ("9901".to_owned(), "petground findings".to_owned()),
            (
                "9903".to_owned(),
                "petground findings (corrected report 2)".to_owned()
            ),
        ]
    );
    assert_eq!(
        series(&srs),
        [
            (
                "9902".to_owned(),
                "petground quantitative results".to_owned()
            ),
            (
                "9904".to_owned(),
                "petground quantitative results (corrected report 2)".to_owned()
            ),
        ]
    );

    send(&node, "V-3", &acc, "X", &["Report cancelled."]);
    let received = wait_files(&pacs, &node, 5);
    let notes = of_modality(&received, "KO");
    assert_eq!(notes.len(), 1, "one rejection note: {received:?}");
    let kos = open(&notes[0]);
    assert_eq!(
        string(&kos, tags::SOP_CLASS_UID),
        "1.2.840.10008.5.1.4.1.1.88.59"
    );
    let title = items(&kos, tags::CONCEPT_NAME_CODE_SEQUENCE);
    assert_eq!(string(&title[0], tags::CODE_VALUE), "113037");
    assert_eq!(string(&title[0], tags::CODING_SCHEME_DESIGNATOR), "DCM");
    let delivered: BTreeSet<SopRef> = segs
        .iter()
        .chain(&srs)
        .map(|f| {
            let o = open(f);
            (
                string(&o, tags::SOP_CLASS_UID),
                string(&o, tags::SOP_INSTANCE_UID),
            )
        })
        .collect();
    let (content, evidence) = note_references(&kos);
    assert_eq!(
        content, delivered,
        "the note names exactly what was delivered"
    );
    assert_eq!(evidence, delivered, "its evidence lists the same objects");
    assert_eq!(
        string(&kos, tags::STUDY_INSTANCE_UID),
        truth.study_instance_uid
    );
    let errors = dciodvfy_errors(&notes[0]);
    assert!(errors.is_empty(), "dciodvfy errors in the note: {errors:?}");
    // The outcome is recorded just after the peer's answer: poll for it.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let note_sent = |s: &str| {
        s.lines()
            .any(|l| l.contains(" kos=") && l.contains(" sent (attempts"))
    };
    let mut status = node.status();
    while !note_sent(&status) && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        status = node.status();
    }
    assert!(
        note_sent(&status),
        "status lists the note as sent: {status}"
    );

    // A restart must not send the note again. As a sync point, a second study's SEG and SR
    // after the restart: the pipeline has run rounds since, and the outbox sends in order.
    node.kill9();
    let node = Node::start_with(dir.path(), node.config.clone());
    let other = dir.path().join("other");
    let t2 = phantom(&other, 42, 3);
    let lines2: Vec<&str> = std::iter::once("FINDINGS:")
        .chain(t2.lesions.iter().map(|l| l.sentence.as_str()))
        .collect();
    send_images(&node, &other);
    send(&node, "W-1", &t2.accession_number, "F", &lines2);
    let received = wait_files(&pacs, &node, 7);
    assert_eq!(received.len(), 7, "{received:?}");
    assert_eq!(of_modality(&received, "KO").len(), 1, "no second note");
    // A second cancel of the same accession finds nothing left to withdraw.
    send(&node, "V-4", &acc, "X", &["Cancelled again."]);
    assert!(
        node.wait_log("nothing delivered to withdraw", Duration::from_secs(30))
            .is_some(),
        "second cancel: {}",
        node.status()
    );
    assert_eq!(of_modality(&pacs.received(), "KO").len(), 1);
}

/// The note is queued while the destination is down, the node is killed (SIGKILL) before it is
/// delivered, and after the restart the destination gets it exactly once.
#[test]
fn a_note_queued_before_a_kill_is_sent_once_after_the_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let pacs = Storescp::start(&dir.path().join("pacs"), "PACS", port);
    let mut node = Node::start(dir.path(), &config(port));
    let study = dir.path().join("study");
    let truth = phantom(&study, 43, 3);
    let acc = truth.accession_number.clone();
    let lines: Vec<&str> = std::iter::once("FINDINGS:")
        .chain(truth.lesions.iter().map(|l| l.sentence.as_str()))
        .collect();
    send_images(&node, &study);
    send(&node, "K-1", &acc, "F", &lines);
    let delivered = wait_files(&pacs, &node, 2);
    // The SEG and SR are recorded sent just after the peer's answer: wait for that, or the
    // note would rightly wait for them.
    let sent = |s: &str| s.matches(" sent (attempts").count();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while sent(&node.status()) < 2 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(pacs);
    send(&node, "K-2", &acc, "X", &["Report cancelled."]);
    assert!(
        node.wait_log("rejection note queued", Duration::from_secs(30))
            .is_some(),
        "{}",
        node.status()
    );
    assert!(
        node.wait_log("will retry", Duration::from_secs(30))
            .is_some(),
        "the note's delivery was tried while the destination was down"
    );
    node.kill9();
    let pacs = Storescp::start(&dir.path().join("pacs2"), "PACS", port);
    let node = Node::start_with(dir.path(), node.config.clone());
    // Sync point: a second study's SEG and SR, queued after any note a restart could make.
    let other = dir.path().join("other");
    let t2 = phantom(&other, 44, 3);
    let lines2: Vec<&str> = std::iter::once("FINDINGS:")
        .chain(t2.lesions.iter().map(|l| l.sentence.as_str()))
        .collect();
    send_images(&node, &other);
    send(&node, "L-1", &t2.accession_number, "F", &lines2);
    let received = wait_files(&pacs, &node, 3);
    assert_eq!(received.len(), 3, "{received:?}");
    let notes = of_modality(&received, "KO");
    assert_eq!(notes.len(), 1, "exactly one note after the restart");
    let (content, _) = note_references(&open(&notes[0]));
    let names: BTreeSet<String> = content.into_iter().map(|(_, sop)| sop).collect();
    let first: BTreeSet<String> = delivered
        .iter()
        .map(|f| string(&open(f), tags::SOP_INSTANCE_UID))
        .collect();
    assert_eq!(names, first, "the note names the first study's SEG and SR");
    assert_eq!(node.status().matches(" kos=").count(), 1, "one note queued");
}
