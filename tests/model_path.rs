//! The model grounding path wired through the product, with the tiny stand-in model (its graph:
//! foreground where PET SUV > 5, see models/reference/make_standin_model.py): `petground ground`
//! in every `[grounding] mode`, the SEG naming the model as its algorithm, agreement recorded in
//! "both" mode, and a bad model refused at node start-up with exit code 2. The trained model's
//! accuracy is measured by tools/train, not here.

mod common;
mod ground_support;

use std::path::Path;
use std::process::Command;

use common::files_below;
use petground_phantom::Options;

fn config(dir: &Path, models: &Path, mode: &str) -> std::path::PathBuf {
    let extra = format!(
        "[model]\nonnxruntime = \"{}\"\ndevice = \"cpu\"\nthreads = 1\ndir = \"{}\"\n[grounding]\nmode = \"{mode}\"\n",
        ground_support::ensure_library().display(),
        models.display()
    );
    common::write_config(dir, &extra)
}

fn ground(study: &Path, report: &Path, out: &Path, cfg: &Path) -> (i32, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_petground"))
        .args(["ground", "--study"])
        .arg(study)
        .arg("--report")
        .arg(report)
        .arg("--out")
        .arg(out)
        .arg("--config")
        .arg(cfg)
        .output()
        .expect("run petground ground");
    let text =
        String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr);
    (o.status.code().unwrap_or(-1), text)
}

fn algorithms(seg_dir: &Path) -> Vec<String> {
    let seg = files_below(seg_dir)
        .into_iter()
        .find(|p| {
            let name = p.to_string_lossy();
            name.ends_with(".dcm") && !name.ends_with(".sr.dcm")
        })
        .expect("a SEG");
    let obj = dicom_object::open_file(&seg).expect("open SEG");
    obj.element_by_name("SegmentSequence")
        .expect("segments")
        .items()
        .expect("items")
        .iter()
        .map(|s| {
            s.element_by_name("SegmentAlgorithmName")
                .expect("name")
                .to_str()
                .expect("str")
                .trim()
                .to_owned()
        })
        .collect()
}

#[test]
fn every_grounding_mode_runs_through_petground_ground() {
    let dir = tempfile::tempdir().expect("tempdir");
    let study = dir.path().join("study");
    let mut o = Options::new(31);
    o.small = true;
    o.lesions = Some(3);
    petground_phantom::generate(&o, &study).expect("phantom");
    let models =
        ground_support::models_dir_with(&ground_support::fixture("grounding_standin.onnx"));
    // A sentence without numbers can only be grounded by the model.
    let report = dir.path().join("report.txt");
    let mut text = std::fs::read_to_string(study.join("report.txt")).expect("report");
    text = text.replace(
        "IMPRESSION:",
        "IMPRESSION:\nHypermetabolic focus in the pelvis on image 50.\n",
    );
    std::fs::write(&report, text).expect("write report");

    let out = dir.path().join("model");
    let (code, text) = ground(
        &study,
        &report,
        &out,
        &config(dir.path(), models.path(), "model"),
    );
    assert_eq!(code, 0, "{text}");
    let names = algorithms(&out);
    assert!(
        !names.is_empty() && names.iter().all(|n| n.contains("ConTEXTual Net 3D")),
        "{names:?}"
    );

    let out = dir.path().join("both");
    let (code, text) = ground(
        &study,
        &report,
        &out,
        &config(dir.path(), models.path(), "both"),
    );
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("weak label vs model: Dice"),
        "agreement printed: {text}"
    );
    let names = algorithms(&out);
    assert!(
        names.iter().any(|n| n.contains("weak-label")),
        "weak labels win where they succeed: {names:?}"
    );

    let out = dir.path().join("first");
    let (code, text) = ground(
        &study,
        &report,
        &out,
        &config(dir.path(), models.path(), "weak-label-first"),
    );
    assert_eq!(code, 0, "{text}");
    let names = algorithms(&out);
    assert!(names.iter().any(|n| n.contains("weak-label")), "{names:?}");
    assert!(
        names.iter().any(|n| n.contains("ConTEXTual Net 3D")),
        "the sentence without numbers falls back to the model: {names:?}\n{text}"
    );
}

#[test]
fn a_model_whose_hash_differs_from_the_manifest_stops_the_node_with_exit_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let models =
        ground_support::models_dir_with(&ground_support::fixture("grounding_standin.onnx"));
    // Replace the model after the manifest was written.
    std::fs::copy(
        ground_support::fixture("grounding_wrong_name.onnx"),
        models.path().join("grounding.onnx"),
    )
    .expect("copy");
    let cfg = config(dir.path(), models.path(), "model");
    let o = Command::new(env!("CARGO_BIN_EXE_petground"))
        .args(["serve", "--config"])
        .arg(&cfg)
        .output()
        .expect("run serve");
    assert_eq!(
        o.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("grounding.onnx"), "{err}");
}

#[test]
fn the_shipped_model_passes_its_manifest_and_grounds_a_phantom_study() {
    let dir = tempfile::tempdir().expect("tempdir");
    let study = dir.path().join("study");
    let mut o = Options::new(41);
    o.small = true;
    o.lesions = Some(2);
    petground_phantom::generate(&o, &study).expect("phantom");
    let models = ground_support::repo().join("models");
    let out = dir.path().join("out");
    let (code, text) = ground(
        &study,
        &study.join("report.txt"),
        &out,
        &config(dir.path(), &models, "model"),
    );
    assert_eq!(code, 0, "{text}");
    let names = algorithms(&out);
    let sha =
        petground::ground::manifest::sha256_file(&models.join("grounding.onnx")).expect("hash");
    assert!(
        names.iter().all(|n| n.contains(&sha[..12])),
        "the SEG names the shipped model {}: {names:?}",
        &sha[..12]
    );
}
