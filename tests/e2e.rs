//! End to end with real peers: phantom studies pushed by dcmtk `storescu`, reports by
//! `mllp_send` (before the images for one study, after for the others), SEGs and their SRs
//! delivered to a dcmtk `storescp` (every SEG followed by its SR), validated by `dciodvfy` and
//! the SEGs scored against the phantom truth with the paper's TP rule (overlap and SUVmax within
//! 0.1). Plus restart, delivery and bad-input cases.

mod common;

use common::study::{dciodvfy_errors, phantom, send_images};

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::peers::{Storescp, free_port};
use common::score::{Score, score};
use common::segread::read_seg;
use common::{Node, files_below, storescu};
use petground_phantom::Truth;

fn destination(port: u16) -> String {
    format!(
        "[[destinations]]\nname = \"pacs\"\nae_title = \"PACS\"\naddress = \"127.0.0.1:{port}\"\n\
         [routing]\nsend_seg_to = [\"pacs\"]\n[series]\nstable_seconds = 2\n\
         [delivery]\nretry_initial_seconds = 1\nretry_max_seconds = 2\nmax_attempts = 30\n"
    )
}

fn send_report(node: &Node, study: &Path) {
    let msg = std::fs::read_to_string(study.join("report.hl7")).expect("report.hl7");
    let ack = common::mllp_send(node, &msg);
    assert!(ack.contains("MSA|AA|"), "report not acknowledged: {ack:?}");
}

fn modality(path: &Path) -> String {
    let obj = dicom_object::open_file(path).expect("open received file");
    obj.element(dicom_dictionary_std::tags::MODALITY)
        .ok()
        .and_then(|e| e.to_str().ok())
        .map(|m| m.trim().to_owned())
        .unwrap_or_default()
}

/// The received files split into SEGs and SRs (nothing else may arrive).
fn segs_and_srs(files: &[PathBuf]) -> (Vec<PathBuf>, Vec<PathBuf>) {
    let (mut segs, mut srs) = (Vec::new(), Vec::new());
    for f in files {
        match modality(f).as_str() {
            "SEG" => segs.push(f.clone()),
            "SR" => srs.push(f.clone()),
            other => panic!("unexpected {other} object {}", f.display()),
        }
    }
    (segs, srs)
}

/// The SOP Instance UIDs an SR names as evidence (the PET images and its SEG).
fn sr_evidence(sr: &Path) -> Vec<String> {
    use dicom_dictionary_std::tags;
    let obj = dicom_object::open_file(sr).expect("open SR");
    let mut uids = Vec::new();
    let items = |o: &dicom_object::InMemDicomObject, tag| {
        o.element(tag)
            .ok()
            .and_then(|e| e.items())
            .map(<[_]>::to_vec)
            .unwrap_or_default()
    };
    for study in items(&obj, tags::CURRENT_REQUESTED_PROCEDURE_EVIDENCE_SEQUENCE) {
        for series in items(&study, tags::REFERENCED_SERIES_SEQUENCE) {
            for sop in items(&series, tags::REFERENCED_SOP_SEQUENCE) {
                if let Ok(u) = sop.element(tags::REFERENCED_SOP_INSTANCE_UID) {
                    uids.push(u.to_str().expect("UID").trim_end_matches('\0').to_owned());
                }
            }
        }
    }
    uids
}

fn sop_uid(path: &Path) -> String {
    dicom_object::open_file(path)
        .expect("open")
        .meta()
        .media_storage_sop_instance_uid()
        .trim_end_matches('\0')
        .to_owned()
}

/// Every SEG has exactly one SR naming it, valid, received no earlier than the SEG.
fn check_srs(segs: &[PathBuf], srs: &[PathBuf]) {
    assert_eq!(segs.len(), srs.len(), "one SR per SEG");
    for seg in segs {
        let uid = sop_uid(seg);
        let mine: Vec<&PathBuf> = srs
            .iter()
            .filter(|s| sr_evidence(s).contains(&uid))
            .collect();
        assert_eq!(mine.len(), 1, "SEG {uid} has {} SRs", mine.len());
        let errors = dciodvfy_errors(mine[0]);
        assert!(
            errors.is_empty(),
            "dciodvfy errors in {}: {errors:?}",
            mine[0].display()
        );
        let modified = |p: &Path| {
            std::fs::metadata(p)
                .and_then(|m| m.modified())
                .expect("mtime")
        };
        assert!(
            modified(mine[0]) >= modified(seg),
            "the SR arrived before its SEG"
        );
    }
}

#[test]
fn studies_and_reports_in_any_order_give_correct_segs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pacs = Storescp::start(&dir.path().join("pacs"), "PACS", free_port());
    let node = Node::start(dir.path(), &destination(pacs.port));
    let studies: Vec<(PathBuf, Truth)> = (0..3)
        .map(|i| {
            let d = dir.path().join(format!("study{i}"));
            let t = phantom(&d, 100 + i, 8);
            (d, t)
        })
        .collect();
    // Study 0: report before the images; studies 1 and 2: images first.
    send_report(&node, &studies[0].0);
    for (d, _) in &studies {
        send_images(&node, d);
    }
    for (d, _) in &studies[1..] {
        send_report(&node, d);
    }
    let received = pacs.wait_for(6, Duration::from_secs(90));
    let (segs, srs) = segs_and_srs(&received);
    assert_eq!(
        segs.len(),
        3,
        "one SEG per study; status:\n{}",
        node.status()
    );
    check_srs(&segs, &srs);
    let mut total = Score::default();
    for seg in &segs {
        let errors = dciodvfy_errors(seg);
        assert!(
            errors.is_empty(),
            "dciodvfy errors in {}: {errors:?}",
            seg.display()
        );
        let obj = dicom_object::open_file(seg).expect("open SEG");
        let study_uid = obj
            .element_by_name("StudyInstanceUID")
            .expect("study")
            .to_str()
            .expect("str");
        let (d, t) = studies
            .iter()
            .find(|(_, t)| t.study_instance_uid == study_uid.trim_end_matches('\0'))
            .expect("SEG belongs to one of the studies");
        score(seg, d, t, &mut total);
    }
    let findings = total.tp + total.fn_;
    let p = total.tp as f64 / (total.tp + total.fp).max(1) as f64;
    let r = total.tp as f64 / findings.max(1) as f64;
    let f1 = if p + r > 0.0 {
        2.0 * p * r / (p + r)
    } else {
        0.0
    };
    println!(
        "weak-label path over {findings} findings: TP {} FP {} FN {}; precision {p:.3} recall {r:.3} F1 {f1:.3}",
        total.tp, total.fp, total.fn_
    );
    assert!(
        findings >= 20,
        "at least 20 findings scored, got {findings}"
    );
    assert!(f1 >= 0.95, "F1 {f1:.3} below 0.95");
    // The outcome is recorded just after the peer's answer: poll for it.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let mut status = node.status();
    while status.matches(" sent (attempts 1)").count() < 6 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        status = node.status();
    }
    assert_eq!(
        status.matches(" sent (attempts 1)").count(),
        6,
        "SEG and SR: {status}"
    );
    assert_eq!(status.matches("  delivery ").count(), 6, "{status}");
    let jobs_with_sr = status
        .lines()
        .filter(|l| l.starts_with("  job ") && l.contains(" sr=2.25."))
        .count();
    assert_eq!(jobs_with_sr, 3, "each job names its SR: {status}");
}

#[test]
fn kill_9_before_delivery_then_exactly_one_seg_after_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    // The destination is down while the node works: the SEG waits in the outbox.
    let mut node = Node::start(dir.path(), &destination(port));
    let study = dir.path().join("study");
    phantom(&study, 7, 4);
    send_images(&node, &study);
    send_report(&node, &study);
    assert!(
        node.wait_log("job done", Duration::from_secs(60)).is_some(),
        "job did not finish"
    );
    assert!(
        node.wait_log("will retry", Duration::from_secs(10))
            .is_some(),
        "delivery was not attempted"
    );
    node.kill9();
    let pacs = Storescp::start(&dir.path().join("pacs"), "PACS", port);
    let node = Node::start_with(dir.path(), node.config.clone());
    let got = pacs.wait_for(2, Duration::from_secs(30));
    assert_eq!(got.len(), 2, "{}", node.status());
    std::thread::sleep(Duration::from_secs(3));
    let (segs, srs) = segs_and_srs(&pacs.received());
    assert_eq!(segs.len(), 1, "exactly one SEG after restart");
    check_srs(&segs, &srs);
    let status = node.status();
    assert!(
        status.contains("jobs: 1"),
        "the job is not run twice: {status}"
    );
    assert!(status.contains(" sent (attempts "), "{status}");
}

#[test]
fn unreachable_destination_is_failed_after_the_retry_limit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = destination(free_port()).replace("max_attempts = 30", "max_attempts = 2");
    let node = Node::start(dir.path(), &cfg);
    let study = dir.path().join("study");
    phantom(&study, 8, 3);
    send_images(&node, &study);
    send_report(&node, &study);
    let status = common::wait_status(
        &node,
        "failed: gave up after 2 attempts",
        Duration::from_secs(60),
    );
    assert!(
        status.contains("failed: gave up after 2 attempts"),
        "{status}"
    );
}

#[test]
fn bad_inputs_end_in_clear_recorded_states() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pacs = Storescp::start(&dir.path().join("pacs"), "PACS", free_port());
    let node = Node::start(dir.path(), &destination(pacs.port));
    // A study with no report: stored, no job.
    let lonely = dir.path().join("lonely");
    phantom(&lonely, 21, 3);
    send_images(&node, &lonely);
    // A report with no study: waits.
    let orphan = dir.path().join("orphan");
    phantom(&orphan, 22, 3);
    send_report(&node, &orphan);
    // A CT-only study with its report: matched, but no PET series, so no job.
    let ct_only = dir.path().join("ctonly");
    phantom(&ct_only, 23, 3);
    assert!(storescu(&node, &[], &files_below(&ct_only.join("ct"))).0);
    send_report(&node, &ct_only);
    // A PET series with a missing slice: the job fails with a reason naming the gap.
    let gap = dir.path().join("gap");
    phantom(&gap, 24, 3);
    let mut pet = files_below(&gap.join("pet"));
    pet.remove(pet.len() / 2);
    assert!(storescu(&node, &[], &pet).0);
    send_report(&node, &gap);
    // A report without findings: the job is done, with no SEG.
    let quiet = dir.path().join("quiet");
    let t = phantom(&quiet, 25, 3);
    send_images(&node, &quiet);
    let msg = common::oru(
        "Q-1",
        &t.accession_number,
        None,
        "F",
        &["FINDINGS:", "No abnormal uptake."],
    );
    assert!(common::mllp_send(&node, &msg).contains("MSA|AA|Q-1"));

    // The gap series completes after stable_seconds, then its job fails.
    common::wait_status(&node, "failed (PET series:", Duration::from_secs(60));
    let status = common::wait_status(&node, "done findings=0", Duration::from_secs(30));
    println!("{status}");
    assert!(
        status.contains("waiting-for-study"),
        "orphan report waits: {status}"
    );
    assert!(
        status.contains("failed (PET series:"),
        "gap job failed with its reason: {status}"
    );
    assert!(
        status.contains("done findings=0 grounded=0 seg=-"),
        "quiet report: {status}"
    );
    assert_eq!(
        status.matches("  job ").count(),
        2,
        "only gap and quiet have jobs: {status}"
    );
    assert!(pacs.received().is_empty(), "no SEG with wrong content");
    assert!(
        common::echo(&node, "ECHOSCU", "PETGROUND").0,
        "node keeps serving"
    );
}

/// Issue 15: an IMPRESSION that restates two FINDINGS lesions (by SUVmax, without the image
/// number) gives exactly one segment per lesion, each described by its FINDINGS sentence, and
/// `status` records the two restatements.
#[test]
fn restating_impression_gives_one_segment_per_lesion() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pacs = Storescp::start(&dir.path().join("pacs"), "PACS", free_port());
    let node = Node::start(dir.path(), &destination(pacs.port));
    let study = dir.path().join("study");
    let truth = phantom(&study, 31, 5);
    // Restate two lesions whose reported SUVmax no other lesion shares (so the weak label can
    // ground the number-only restatement at all).
    let distinct: Vec<&petground_phantom::LesionTruth> = truth
        .lesions
        .iter()
        .filter(|l| {
            truth
                .lesions
                .iter()
                .all(|o| o.id == l.id || (o.reported_suv_max - l.reported_suv_max).abs() > 0.3)
        })
        .take(2)
        .collect();
    assert_eq!(distinct.len(), 2, "phantom seed 31 has two distinct SUVs");
    let restated = [
        format!(
            "1. Hypermetabolic {} (SUVmax {:.1}), suspicious for malignancy.",
            distinct[0].site_text, distinct[0].reported_suv_max
        ),
        format!(
            "2. The {} with SUVmax {:.1} is also concerning for metastasis.",
            distinct[1].site_text, distinct[1].reported_suv_max
        ),
    ];
    let mut lines: Vec<&str> = vec!["FINDINGS:"];
    lines.extend(truth.lesions.iter().map(|l| l.sentence.as_str()));
    lines.push("IMPRESSION:");
    lines.extend(restated.iter().map(String::as_str));
    let msg = common::oru("R-1", &truth.accession_number, None, "F", &lines);
    send_images(&node, &study);
    assert!(common::mllp_send(&node, &msg).contains("MSA|AA|R-1"));
    let received = pacs.wait_for(2, Duration::from_secs(90));
    let (segs, srs) = segs_and_srs(&received);
    assert_eq!(segs.len(), 1, "one SEG; status:\n{}", node.status());
    check_srs(&segs, &srs);
    // The SR reports each lesion once, under its FINDINGS sentence (CONTRACT §5, §6).
    let sr_bytes = std::fs::read(&srs[0]).expect("read SR");
    let contains = |text: &str| sr_bytes.windows(text.len()).any(|w| w == text.as_bytes());
    for l in &distinct {
        assert!(contains(&l.sentence), "SR names {:?}", l.sentence);
    }
    for r in &restated {
        let sentence = r.trim_start_matches(|c: char| c.is_ascii_digit() || c == '.' || c == ' ');
        assert!(
            !contains(sentence),
            "SR lists the restatement {sentence:?} again"
        );
    }
    let pet_files: Vec<PathBuf> = files_below(&study.join("pet"));
    let (pet, _) = petground::volume::suv::assemble_pet_suv(&pet_files).expect("assemble PET");
    let segments = read_seg(&segs[0], &pet.volume.geometry);
    // No segment duplicates another: no two share a voxel.
    for (i, a) in segments.iter().enumerate() {
        for b in &segments[i + 1..] {
            let shared = a
                .mask
                .iter()
                .zip(&b.mask)
                .filter(|(x, y)| **x && **y)
                .count();
            assert_eq!(
                shared, 0,
                "segments {} and {} overlap ({shared} voxels)",
                a.number, b.number
            );
        }
    }
    let findings_sentences: Vec<&str> = truth.lesions.iter().map(|l| l.sentence.as_str()).collect();
    for s in &segments {
        assert!(
            findings_sentences.contains(&s.description.as_str()),
            "segment {} is described by a FINDINGS sentence, not {:?}",
            s.number,
            s.description
        );
    }
    for l in &distinct {
        assert!(
            segments.iter().any(|s| s.description == l.sentence),
            "the restated lesion keeps its FINDINGS sentence: {}",
            l.sentence
        );
    }
    let mut total = Score::default();
    score(&segs[0], &study, &truth, &mut total);
    println!(
        "restating report: {} segments for {} lesions; TP {} FP {} FN {}",
        segments.len(),
        truth.lesions.len(),
        total.tp,
        total.fp,
        total.fn_
    );
    assert_eq!(total.fp, 0, "precision 1.0: no duplicate or stray segment");
    assert_eq!(segments.len(), total.tp, "every segment is a true lesion");
    let status = node.status();
    assert_eq!(
        status.matches("finding: restates finding ").count(),
        2,
        "both IMPRESSION sentences are recorded as restatements:\n{status}"
    );
}
