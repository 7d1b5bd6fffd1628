//! The command line's promises (CONTRACT §1): exit codes, one-line errors naming the key,
//! graceful SIGTERM.

mod common;

use std::process::Command;

fn petground(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_petground"))
        .args(args)
        .output()
        .expect("run petground")
}

#[test]
fn check_config_accepts_the_shipped_default() {
    let conf = concat!(env!("CARGO_MANIFEST_DIR"), "/conf/petground.toml");
    let out = petground(&["check-config", "--config", conf]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("PETGROUND"));
}

#[test]
fn bad_config_exits_2_naming_the_key_in_one_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = common::write_config(dir.path(), "max_associations = 0\n");
    let out = petground(&[
        "check-config",
        "--config",
        path.to_str().expect("utf-8 path"),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("dicom.max_associations"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(!err.contains("panicked"), "{err}");

    let out = petground(&["serve", "--config", "/nonexistent/petground.toml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/petground.toml"));

    let out = petground(&["no-such-command"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn sigterm_drains_and_exits_0() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut node = common::Node::start(dir.path(), "");
    assert!(common::echo(&node, "ECHOSCU", "PETGROUND").0);
    let status = node.terminate();
    assert_eq!(status.code(), Some(0));
}

#[test]
fn second_node_on_the_same_data_dir_fails_with_exit_1() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = common::Node::start(dir.path(), "");
    let out = petground(&["serve", "--config", node.config.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("in use by another petground"));
}

#[test]
fn findings_reads_text_and_hl7_and_prints_contract_json() {
    let dir = tempfile::tempdir().expect("tempdir");
    let txt = dir.path().join("r.txt");
    std::fs::write(
        &txt,
        "FINDINGS:\nRight hilar lymph node, SUVmax 7.2, image 145.\n",
    )
    .expect("write");
    let out = petground(&["findings", "--json", txt.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        r#"{"sentence":"Right hilar lymph node, SUVmax 7.2, image 145.","suv_max":7.2,"slice":145,"text":"Right hilar lymph node, SUVmax , image ."}"#
    );
    let hl7 = dir.path().join("r.hl7");
    let msg = common::oru(
        "X1",
        "A1",
        None,
        "F",
        &["Right hilar lymph node, SUVmax 7.2, image 145."],
    );
    std::fs::write(&hl7, format!("\x0b{msg}\x1c\r")).expect("write");
    let out2 = petground(&["findings", hl7.to_str().expect("utf-8")]);
    assert_eq!(out2.status.code(), Some(0));
    assert_eq!(
        out2.stdout, out.stdout,
        "HL7 and text give the same findings"
    );
    let out = petground(&["findings", "/nonexistent/report.txt"]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn suv_prints_the_factor_or_names_the_missing_attribute() {
    let fx = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/pet");
    let dro = format!("{fx}/qiba/dro_female_slice_040.dcm");
    let out = petground(&["suv", &dro]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("SUVbw factor") && text.contains("BQML/START"),
        "{text}"
    );
    let no_attn = format!("{fx}/siemens/acrin_flt_breast_ACRIN-FLT-Breast_062_005.dcm");
    let out = petground(&["suv", &dro, &no_attn]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("CorrectedImage (0028,0051) lacks ATTN"));
}
