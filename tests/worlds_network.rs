//! Benchmark (ignored; `bench/worlds` runs it): every study of a generated archive — any
//! generator whose study folders hold `pet/`, `ct/`, `report.hl7`, `truth.json` and the truth
//! labels, such as `tools/worlds` or `petground-phantom archive` — is pushed through the
//! network to a real node (dcmtk `storescu` for the images, MLLP for the report), and the SEGs
//! that arrive at a dcmtk `storescp` destination are scored against the truth with the paper's
//! rule (tests/common/score.rs). Prints TP/FP/FN, precision, recall and F1, per generator and
//! in all, and every missed sentence.
//!
//! `PETGROUND_WORLD_ARCHIVE` (required): the archive folder. `PETGROUND_WORLD_MODE`: the
//! `[grounding] mode` (default: the node's default). `PETGROUND_WORLD_EXTRA`: more config
//! TOML appended to the node's.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::peers::{Storescp, free_port};
use common::score::{Score, score};
use common::study::send_images;
use common::{Node, mllp_send};
use petground_phantom::Truth;

fn modality(path: &Path) -> Option<String> {
    let obj = dicom_object::open_file(path).ok()?;
    Some(
        obj.element_by_name("Modality")
            .ok()?
            .to_str()
            .ok()?
            .trim()
            .to_owned(),
    )
}

fn study_uid(path: &Path) -> Option<String> {
    let obj = dicom_object::open_file(path).ok()?;
    Some(
        obj.element_by_name("StudyInstanceUID")
            .ok()?
            .to_str()
            .ok()?
            .trim_end_matches('\0')
            .trim()
            .to_owned(),
    )
}

/// The generator named in truth.json (`"generator"`), "phantom" without one.
fn generator_of(study: &Path) -> String {
    std::fs::read_to_string(study.join("truth.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| v.get("generator")?.as_str().map(str::to_owned))
        .unwrap_or_else(|| "phantom".to_owned())
}

/// Jobs the node has finished (done, failed or skipped), from `status --all`.
fn finished_jobs(status: &str) -> usize {
    status
        .lines()
        .filter(|l| l.starts_with("  job "))
        .filter(|l| l.contains(" done ") || l.contains(" failed") || l.contains(" skipped"))
        .count()
}

#[test]
#[ignore = "benchmark: bench/worlds runs it on a generated archive"]
fn generated_studies_through_the_network() {
    let archive = PathBuf::from(
        std::env::var("PETGROUND_WORLD_ARCHIVE").expect("set PETGROUND_WORLD_ARCHIVE"),
    );
    let mut studies: Vec<PathBuf> = std::fs::read_dir(&archive)
        .expect("read the archive folder")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("truth.json").is_file())
        .collect();
    studies.sort();
    assert!(
        !studies.is_empty(),
        "no study with truth.json in {archive:?}"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let pacs = Storescp::start(&dir.path().join("pacs"), "PACS", free_port());
    let mode = std::env::var("PETGROUND_WORLD_MODE")
        .ok()
        .filter(|m| !m.is_empty())
        .map(|m| format!("[grounding]\nmode = \"{m}\"\n"))
        .unwrap_or_default();
    let extra = std::env::var("PETGROUND_WORLD_EXTRA").unwrap_or_default();
    let config = format!(
        "[[destinations]]\nname = \"pacs\"\nae_title = \"PACS\"\naddress = \"127.0.0.1:{}\"\n\
         [routing]\nsend_seg_to = [\"pacs\"]\n[series]\nstable_seconds = 2\n{mode}{extra}",
        pacs.port
    );
    let node = Node::start(dir.path(), &config);
    let t0 = Instant::now();
    for s in &studies {
        send_images(&node, s);
        let msg = std::fs::read_to_string(s.join("report.hl7")).expect("report.hl7");
        let ack = mllp_send(&node, &msg);
        assert!(ack.contains("MSA|AA|"), "report not acknowledged: {ack:?}");
    }
    // Every study gets one job; wait until all are finished (a study with nothing grounded
    // sends no SEG), then for the deliveries to land.
    let deadline = Instant::now() + Duration::from_secs(120 + 30 * studies.len() as u64);
    let mut status = node.status();
    while finished_jobs(&status) < studies.len() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(500));
        status = node.status();
    }
    let finished = finished_jobs(&status);
    let segs_expected = status
        .lines()
        .filter(|l| l.starts_with("  job ") && l.contains(" done ") && !l.contains(" seg=-"))
        .count();
    let received = pacs.wait_for(segs_expected, Duration::from_secs(60));
    let elapsed = t0.elapsed();
    let by_uid: BTreeMap<String, PathBuf> = received
        .iter()
        .filter(|p| modality(p).as_deref() == Some("SEG"))
        .filter_map(|p| Some((study_uid(p)?, p.clone())))
        .collect();
    let mut per_generator: BTreeMap<String, Score> = BTreeMap::new();
    let mut total = Score::default();
    for s in &studies {
        let truth = Truth::load(&s.join("truth.json")).expect("truth.json");
        let mut one = Score::default();
        match by_uid.get(&truth.study_instance_uid) {
            Some(seg) => score(seg, s, &truth, &mut one),
            None => {
                one.fn_ = truth.lesions.len();
                for l in &truth.lesions {
                    eprintln!("missed (no SEG for the study): {}", l.sentence);
                }
            }
        }
        per_generator.entry(generator_of(s)).or_default().add(&one);
        total.add(&one);
    }
    println!(
        "{} studies, {finished} jobs finished, {} SEGs, {:.1} s",
        studies.len(),
        by_uid.len(),
        elapsed.as_secs_f64()
    );
    for (g, s) in per_generator.iter().chain([(&"all".to_owned(), &total)]) {
        let (p, r, f1) = s.prf();
        println!(
            "{g:<10} TP {:>4} FP {:>4} FN {:>4}  precision {p:.3} recall {r:.3} F1 {f1:.3}",
            s.tp, s.fp, s.fn_
        );
    }
    assert_eq!(finished, studies.len(), "not every job finished:\n{status}");
}
