//! The `petground-phantom` binary as a user runs it: generate, archive, and a failing send.

use petground_phantom::Truth;
use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_petground-phantom"))
}

#[test]
fn generate_writes_every_output() {
    let dir = tempfile::tempdir().expect("temp");
    let out = dir.path().join("s");
    let st = bin()
        .args([
            "generate",
            "--small",
            "--seed",
            "5",
            "--tracer",
            "psma",
            "--lesions",
            "3",
            "--out",
        ])
        .arg(&out)
        .status()
        .expect("run");
    assert!(st.success());
    for f in [
        "report.txt",
        "report.hl7",
        "truth.json",
        "truth_labels.u8",
        "pet/PT0001.dcm",
        "ct/CT0001.dcm",
    ] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    let t = Truth::load(&out.join("truth.json")).expect("truth");
    assert_eq!(t.tracer, "psma");
    assert!(!t.lesions.is_empty() && t.lesions.len() <= 3);
    assert!(
        (t.half_life_s - 6586.2).abs() < 1e-9,
        "PSMA (DCFPyL) is F-18"
    );
}

#[test]
fn archive_settings_vary_vendor_and_suv_range() {
    let dir = tempfile::tempdir().expect("temp");
    let st = bin()
        .args(["archive", "--small", "--count", "3", "--seed", "21"])
        .args([
            "--vendor",
            "ge,philips",
            "--hard",
            "--min-suv",
            "6",
            "--max-suv",
            "9",
        ])
        .arg("--out")
        .arg(dir.path())
        .status()
        .expect("run");
    assert!(st.success());
    let t: Vec<Truth> = (0..3)
        .map(|i| Truth::load(&dir.path().join(format!("study-{i:04}/truth.json"))).expect("truth"))
        .collect();
    let vendors: Vec<&str> = t.iter().map(|t| t.vendor.as_str()).collect();
    assert_eq!(vendors, ["ge", "philips", "ge"]);
    for l in t.iter().flat_map(|t| &t.lesions) {
        assert!(
            (6.0..=9.0).contains(&l.peak_suv),
            "target SUV {}",
            l.peak_suv
        );
    }
    let bad = bin()
        .args([
            "archive",
            "--small",
            "--count",
            "1",
            "--min-suv",
            "9",
            "--max-suv",
            "6",
        ])
        .arg("--out")
        .arg(dir.path().join("bad"))
        .output()
        .expect("run");
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--min-suv"));
}

#[test]
fn archive_writes_distinct_studies() {
    let dir = tempfile::tempdir().expect("temp");
    let st = bin()
        .args(["archive", "--small", "--count", "2", "--seed", "9", "--out"])
        .arg(dir.path())
        .status()
        .expect("run");
    assert!(st.success());
    let a = Truth::load(&dir.path().join("study-0000/truth.json")).expect("a");
    let b = Truth::load(&dir.path().join("study-0001/truth.json")).expect("b");
    assert_ne!(a.study_instance_uid, b.study_instance_uid);
    assert_ne!(a.patient_id, b.patient_id);
    assert_eq!((a.seed, b.seed), (9, 10));
}

#[test]
fn send_to_nothing_exits_non_zero() {
    let dir = tempfile::tempdir().expect("temp");
    let st = bin()
        .args(["generate", "--small", "--lesions", "1", "--out"])
        .arg(dir.path())
        .status()
        .expect("run");
    assert!(st.success());
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let out = bin()
        .args(["send", "--dicom", &format!("127.0.0.1:{port}")])
        .arg(dir.path())
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("associating"));
}
