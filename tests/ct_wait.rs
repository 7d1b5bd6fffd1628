//! Issue 16: a job that runs the model waits for the study's CT (the model's second channel)
//! instead of starting on whatever part of it has arrived. With no CT at all it waits
//! `[grounding] ct_wait_seconds` after the PET series completed, then grounds on the PET alone
//! and its job record says so; with a complete CT it runs at once and says nothing. Real node,
//! the shipped model, dcmtk `storescu`, `mllp_send`.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::study::phantom;
use common::{Node, files_below, storescu};

fn config() -> String {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    format!(
        "[series]\nstable_seconds = 1\n[grounding]\nmode = \"model\"\nct_wait_seconds = 4\n\
         [model]\ndir = \"{}\"\nonnxruntime = \"{}\"\n",
        repo.join("models").display(),
        repo.join("vendor/onnxruntime/libonnxruntime.so").display()
    )
}

fn send(node: &Node, study: &Path, with_ct: bool) {
    let mut files = files_below(&study.join("pet"));
    if with_ct {
        files.extend(files_below(&study.join("ct")));
    }
    let (ok, out) = storescu(node, &[], &files);
    assert!(ok, "storescu failed: {out}");
    let report = std::fs::read_to_string(study.join("report.hl7")).expect("report.hl7");
    assert!(common::mllp_send(node, &report).contains("MSA|AA|"));
}

/// Polls `status --all` until the study's job is done; returns that job's lines.
fn done_job(node: &Node, study_uid: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let status = node.status();
        let job: Vec<&str> = status
            .lines()
            .skip_while(|l| !l.starts_with(&format!("  job {study_uid}/")))
            .take_while(|l| l.starts_with(&format!("  job {study_uid}/")) || l.starts_with("    "))
            .collect();
        if job.first().is_some_and(|l| l.contains(" done ")) {
            return job.join("\n");
        }
        assert!(Instant::now() < deadline, "no done job:\n{status}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_model_job_waits_for_the_ct_and_says_when_it_ran_on_the_pet_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = Node::start(dir.path(), &config());
    let pet_only = phantom(&dir.path().join("pet-only"), 4242, 3);
    let sent = Instant::now();
    send(&node, &dir.path().join("pet-only"), false);
    let job = done_job(&node, &pet_only.study_instance_uid);
    assert!(
        sent.elapsed() >= Duration::from_secs(4),
        "the job waited ct_wait_seconds for a CT: {:?}",
        sent.elapsed()
    );
    assert!(
        job.contains("note: no complete CT series 4 s after the PET series completed"),
        "{job}"
    );

    let with_ct = phantom(&dir.path().join("with-ct"), 4243, 3);
    send(&node, &dir.path().join("with-ct"), true);
    let job = done_job(&node, &with_ct.study_instance_uid);
    assert!(
        !job.contains("note:"),
        "a complete CT: nothing to note\n{job}"
    );
}
