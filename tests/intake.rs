//! Reports and studies meeting in the store, through the real network paths: `mllp_send` for
//! HL7, dcmtk `storescu` for DICOM, in either order; durability of an acknowledged report.

mod common;

use common::dicomgen::SeriesSpec;
use common::{Node, mllp_send, oru, storescu};

fn report_line(status: &str, id: u64) -> String {
    status
        .lines()
        .find(|l| l.contains(&format!("report {id} ")))
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn report_before_images_matches_when_the_study_arrives() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = Node::start(dir.path(), "");
    let msg = oru(
        "CTRL-1",
        "ACC-TEST",
        None,
        "F",
        &["FINDINGS:", "Right hilar node, SUVmax 7.2, image 45."],
    );
    let ack = mllp_send(&node, &msg);
    assert!(ack.contains("MSA|AA|CTRL-1"), "{ack:?}");
    let status = node.status();
    assert!(
        report_line(&status, 1).contains("waiting-for-study"),
        "{status}"
    );

    let files = SeriesSpec::pet(4, 16).write(&dir.path().join("send"));
    assert!(storescu(&node, &[], &files).0);
    let status = node.status();
    assert!(
        report_line(&status, 1).contains("rule=accession"),
        "{status}"
    );
    assert!(status.contains("report-matched"), "{status}");
}

#[test]
fn report_after_images_matches_by_study_uid_and_resend_is_stored_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = Node::start(dir.path(), "");
    let pet = SeriesSpec::pet(2, 16);
    assert!(storescu(&node, &[], &pet.write(&dir.path().join("send"))).0);
    // A different accession, but the report names the study UID: rule 1 wins.
    let msg = oru(
        "CTRL-2",
        "OTHER-ACC",
        Some(&pet.study),
        "F",
        &["Liver lesion SUVmax 5.1 image 1."],
    );
    assert!(mllp_send(&node, &msg).contains("MSA|AA|CTRL-2"));
    assert!(
        mllp_send(&node, &msg).contains("MSA|AA|CTRL-2"),
        "a resend is acknowledged again"
    );
    let status = node.status();
    assert!(status.contains("reports: 1"), "stored once: {status}");
    assert!(
        report_line(&status, 1).contains(&format!("matched study={} rule=study-uid", pet.study)),
        "{status}"
    );
}

#[test]
fn corrected_report_supersedes_and_cancel_stops() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = Node::start(dir.path(), "");
    assert!(
        mllp_send(
            &node,
            &oru("C1", "ACC-9", None, "F", &["Node SUVmax 4.0 image 3."])
        )
        .contains("|AA|")
    );
    assert!(
        mllp_send(
            &node,
            &oru("C2", "ACC-9", None, "C", &["Node SUVmax 4.4 image 3."])
        )
        .contains("|AA|")
    );
    let status = node.status();
    assert!(
        report_line(&status, 1).contains("superseded-by-2"),
        "{status}"
    );
    assert!(
        report_line(&status, 2).contains("status=C active"),
        "{status}"
    );
    assert!(mllp_send(&node, &oru("C3", "ACC-9", None, "X", &["Cancelled."])).contains("|AA|"));
    let status = node.status();
    assert!(report_line(&status, 2).contains("cancelled"), "{status}");
}

#[test]
fn bad_messages_get_ae_or_ar_and_nothing_is_stored() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = Node::start(dir.path(), "");
    let adt = "MSH|^~\\&|RIS|HOSP|PETGROUND|NM|20261128||ADT^A01|ADT-1|P|2.5.1\rPID|1||X\r";
    assert!(mllp_send(&node, adt).contains("MSA|AR|ADT-1"));
    let no_obr = "MSH|^~\\&|RIS|HOSP|PETGROUND|NM|20261128||ORU^R01|BAD-1|P|2.5.1\rPID|1||X\r";
    assert!(mllp_send(&node, no_obr).contains("MSA|AE|BAD-1"));
    assert!(node.status().contains("reports: 0"));
}

#[test]
fn acknowledged_report_survives_kill_9() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut node = Node::start(dir.path(), "");
    let ack = mllp_send(
        &node,
        &oru("K-1", "ACC-K", None, "F", &["Node SUVmax 3.3 image 7."]),
    );
    assert!(ack.contains("MSA|AA|K-1"));
    node.kill9();
    let node = Node::start_with(dir.path(), node.config.clone());
    let status = node.status();
    assert!(
        report_line(&status, 1).contains("control_id=K-1"),
        "{status}"
    );
}
