//! Issue 7 acceptance for the SEG builder: SEGs of synthetic PET studies (128², 144², 169², 200²
//! matrices, several segments) pass dicom3tools' `dciodvfy` with zero errors and read back with
//! highdicom `segread`; every segment's frames, mapped back onto the PET grid by
//! ImagePositionPatient (and, separately, by their source instance), equal the written masks.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use ndarray::Array3;
use petground::seg::{Laterality, SegObject, SegmentDescription, SegmentationBuilder, write_seg};
use petground_phantom::fixtures::seg_source::SyntheticStudy;

const DCIODVFY: &str = "/usr/bin/dciodvfy";

fn python() -> PathBuf {
    let py = std::env::var_os("PETGROUND_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python"));
    assert!(
        py.exists(),
        "no Python with highdicom at {} (set PETGROUND_PYTHON, e.g. to /work/main/.venv/bin/python)",
        py.display()
    );
    py
}

/// Three findings: a lesion ball, a left lymph node ball overlapping it, and scattered voxels
/// that touch the first and last pixel of frames so that non-byte-aligned packing is exercised.
fn masks(study: &SyntheticStudy) -> Vec<(SegmentDescription, Array3<bool>)> {
    let [nz, ny, nx] = study.geometry.dims;
    let c = [nz as f64 / 2.0, ny as f64 / 2.0, nx as f64 / 2.0];
    let lesion = study.ball(c, 4.5);
    let node = study.ball([c[0] + 2.0, c[1] + 3.0, c[2] - 2.0], 3.0);
    let mut scatter = Array3::from_elem((nz, ny, nx), false);
    for z in [1, 4, nz - 2] {
        scatter[[z, 0, 0]] = true;
        scatter[[z, ny - 1, nx - 1]] = true;
        scatter[[z, ny / 3, nx - 1]] = true;
        scatter[[z, ny - 1, 7]] = true;
    }
    let alg = "petground weak-label ITM";
    vec![
        (
            SegmentDescription::automatic(
                1,
                "Finding 1",
                "Hypermetabolic mass in the right upper lobe, SUVmax 12.3.",
                alg,
            )
            .with_tracking("F1", None),
            lesion,
        ),
        (
            SegmentDescription::automatic(
                2,
                "Finding 2",
                "FDG-avid left supraclavicular lymph node (SUVmax 6.1 → 4.2).",
                alg,
            )
            .with_laterality(Laterality::Left)
            .with_tracking("F2", None),
            node,
        ),
        (
            SegmentDescription::automatic(3, "Finding 3", "Scattered foci of uptake.", alg),
            scatter,
        ),
    ]
}

fn build(study: &SyntheticStudy, segs: &[(SegmentDescription, Array3<bool>)]) -> SegObject {
    let mut b = SegmentationBuilder::new(study.source(), 901, "petground findings")
        .content_creator_name("PETGROUND^NODE")
        .device_serial_number("PG-TEST");
    for (d, m) in segs {
        b = b.add_segment(d.clone(), m.view());
    }
    b.build().expect("valid synthetic inputs build a SEG")
}

/// Runs dciodvfy; returns (errors, warnings) lines.
fn dciodvfy(path: &Path) -> (Vec<String>, Vec<String>) {
    let out = Command::new(DCIODVFY)
        .arg(path)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {DCIODVFY} (dicom3tools): {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // dciodvfy prefixes findings with "Error - " / "Warning - ", or puts them after the element
    // ("(0x0062,0x0020) UT Tracking ID - Warning - ...").
    let lines = |kind: &str| {
        let (prefix, infix) = (format!("{kind} - "), format!(" - {kind} - "));
        text.lines()
            .filter(|l| l.starts_with(&prefix) || l.contains(&infix))
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    if let Some(dir) = std::env::var_os("PETGROUND_KEEP_SEG") {
        let keep = Path::new(&dir).join(path.file_name().expect("file name"));
        std::fs::copy(path, keep).expect("keep SEG for inspection");
    }
    let errors = lines("Error");
    if !errors.is_empty() {
        eprintln!("dciodvfy output for {}:\n{text}", path.display());
    }
    (errors, lines("Warning"))
}

fn readback(path: &Path, study: &SyntheticStudy, dir: &Path) -> serde_json::Value {
    let g = &study.geometry;
    let grid = serde_json::json!({
        "dims": g.dims, "origin": g.origin, "spacing": g.spacing,
        "row_dir": g.row_dir, "col_dir": g.col_dir, "slice_dir": g.slice_dir,
        "slice_uids": study.slices.iter().map(|s| s.sop_instance_uid.clone()).collect::<Vec<_>>(),
    });
    let grid_path = dir.join("grid.json");
    std::fs::write(&grid_path, grid.to_string()).expect("write grid.json");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/seg_check.py");
    let out = Command::new(python())
        .arg(script)
        .arg(path)
        .arg(&grid_path)
        .output()
        .expect("run tests/seg_check.py");
    assert!(
        out.status.success(),
        "seg_check.py failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("seg_check.py prints JSON")
}

fn voxels(mask: &Array3<bool>) -> BTreeSet<[usize; 3]> {
    mask.indexed_iter()
        .filter(|(_, v)| **v)
        .map(|((z, y, x), _)| [z, y, x])
        .collect()
}

fn read_voxels(v: &serde_json::Value) -> BTreeSet<[usize; 3]> {
    v.as_array()
        .expect("voxel list")
        .iter()
        .map(|p| {
            let p = p.as_array().expect("[z, y, x]");
            std::array::from_fn(|i| p[i].as_u64().expect("index") as usize)
        })
        .collect()
}

fn check_matrix(matrix: usize, pixel_mm: f64) {
    check_study(SyntheticStudy::pet(20, matrix, pixel_mm, 3.27));
}

fn check_study(study: SyntheticStudy) {
    let matrix = study.geometry.dims[2];
    let dir = tempfile::tempdir().expect("tempdir");
    let segs = masks(&study);
    let obj = build(&study, &segs);
    let path = dir.path().join(format!("seg_{matrix}.dcm"));
    write_seg(&obj, &path).expect("write SEG");

    let (errors, warnings) = dciodvfy(&path);
    if !warnings.is_empty() {
        eprintln!(
            "{matrix}²: dciodvfy warnings (allowed):\n  {}",
            warnings.join("\n  ")
        );
    }
    assert!(
        errors.is_empty(),
        "{matrix}²: dciodvfy errors:\n{}",
        errors.join("\n")
    );

    let back = readback(&path, &study, dir.path());
    assert_eq!(back["sop_class_uid"], "1.2.840.10008.5.1.4.1.1.66.4");
    assert_eq!(
        back["frame_of_reference_uid"],
        study.frame_of_reference_uid.as_str()
    );
    let expected_frames: usize = segs
        .iter()
        .map(|(_, m)| m.outer_iter().filter(|p| p.iter().any(|&v| v)).count())
        .sum();
    assert_eq!(
        back["number_of_frames"], expected_frames,
        "empty frames are omitted"
    );
    for (d, mask) in &segs {
        let s = &back["segments"][d.segment_number.to_string()];
        assert_eq!(s["label"], d.segment_label.as_str());
        assert_eq!(
            s["description"],
            d.description.as_deref().expect("has sentence")
        );
        assert_eq!(s["algorithm_type"], "AUTOMATIC");
        let want = voxels(mask);
        assert_eq!(
            read_voxels(&s["by_position"]),
            want,
            "{matrix}² segment {}: by position",
            d.segment_number
        );
        assert_eq!(
            read_voxels(&s["by_source"]),
            want,
            "{matrix}² segment {}: by source",
            d.segment_number
        );
    }
    assert_eq!(back["segments"]["2"]["property_type"], "59441001");
    assert_eq!(back["segments"]["1"]["property_type"], "52988006");
}

#[test]
fn seg_128() {
    check_matrix(128, 5.46875);
}

#[test]
fn seg_144() {
    check_matrix(144, 4.0);
}

#[test]
fn seg_169() {
    check_matrix(169, 4.07283);
}

#[test]
fn seg_200() {
    check_matrix(200, 4.0728);
}

#[test]
fn seg_oblique_feet_first() {
    // 20° rotation about the patient z axis and slices stepping toward the feet: positions must
    // still map back onto the right slice and pixel.
    let mut study = SyntheticStudy::pet(16, 169, 4.07283, 2.0);
    let (s, c) = (20f64.to_radians().sin(), 20f64.to_radians().cos());
    study.geometry.row_dir = [c, s, 0.0];
    study.geometry.col_dir = [-s, c, 0.0];
    study.geometry.slice_dir = [0.0, 0.0, -1.0];
    check_study(study);
}

/// Build + encode time of a whole-body-sized SEG; run with
/// `cargo test --release --test seg_dciodvfy -- --ignored --nocapture`.
#[test]
#[ignore = "timing, not a check"]
fn seg_build_timing() {
    let study = SyntheticStudy::pet(400, 200, 4.0728, 2.0);
    let masks: Vec<_> = (0..8)
        .map(|i| {
            study.ball(
                [40.0 + 40.0 * i as f64, 100.0, 60.0 + 10.0 * i as f64],
                12.0,
            )
        })
        .collect();
    let start = std::time::Instant::now();
    let mut b = SegmentationBuilder::new(study.source(), 901, "petground findings");
    for (i, m) in masks.iter().enumerate() {
        let n = u16::try_from(i + 1).expect("few segments");
        let d = SegmentDescription::automatic(n, &format!("Finding {n}"), "Avid node.", "ITM");
        b = b.add_segment(d, m.view());
    }
    let obj = b.build().expect("build");
    let built = start.elapsed();
    let bytes = petground::seg::seg_to_bytes(&obj).expect("encode");
    eprintln!(
        "200x200x400, 8 segments: build {built:?}, build+encode {:?}, {} bytes",
        start.elapsed(),
        bytes.len()
    );
}
