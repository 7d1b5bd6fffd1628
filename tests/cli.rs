//! The command line's promises (CONTRACT §1): exit codes, one-line errors naming the key,
//! graceful SIGTERM.

mod common;

use std::path::Path;
use std::process::Command;

use common::files_below;

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

/// Issue 19: check-config prints the effective configuration as TOML, which is itself a config
/// that prints the same; paths are resolved against the file's folder, not the working
/// directory.
#[test]
fn check_config_prints_toml_that_reads_back_the_same() {
    let dir = tempfile::tempdir().expect("tempdir");
    let conf = concat!(env!("CARGO_MANIFEST_DIR"), "/conf/petground.toml");
    let first = Command::new(env!("CARGO_BIN_EXE_petground"))
        .args(["check-config", "--config", conf])
        .current_dir(dir.path())
        .output()
        .expect("run check-config");
    assert_eq!(
        first.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let text = String::from_utf8_lossy(&first.stdout).into_owned();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"))
        .canonicalize()
        .expect("repo");
    for path in ["var", "models", "vendor/onnxruntime/libonnxruntime.so"] {
        let want = format!("\"{}\"", repo.join(path).display());
        assert!(text.contains(&want), "{want} missing:\n{text}");
    }
    let printed = dir.path().join("printed.toml");
    std::fs::write(&printed, &text).expect("write");
    let second = petground(&["check-config", "--config", printed.to_str().expect("utf-8")]);
    assert_eq!(second.status.code(), Some(0));
    let body = |out: &[u8]| {
        String::from_utf8_lossy(out)
            .lines()
            .skip(1)
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(body(&second.stdout), body(&first.stdout));
}

/// Issue 19: the full key and its own line; a host-name destination is accepted; an unusable
/// data_dir is one line naming `node.data_dir`.
#[test]
fn config_errors_name_the_full_key_and_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let check = |extra: &str| {
        let path = common::write_config(dir.path(), extra);
        let text = std::fs::read_to_string(&path).expect("read");
        let out = petground(&["check-config", "--config", path.to_str().expect("utf-8")]);
        (out, text, path)
    };
    let (out, text, path) = check("[series]\nstable_seconds = \"10\"\n");
    assert_eq!(out.status.code(), Some(2));
    let line = text[..text.find("stable_seconds").expect("key")]
        .matches('\n')
        .count()
        + 1;
    let err = String::from_utf8_lossy(&out.stderr);
    let want = format!(
        "{}:{line}: config key `series.stable_seconds`",
        path.display()
    );
    assert!(err.contains(&want), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");

    let (out, ..) = check("max_pdu_byte = 1\n"); // below write_config's [dicom]
    assert!(String::from_utf8_lossy(&out.stderr).contains("`dicom.max_pdu_byte`"));
    let (out, ..) = check(
        "[[destinations]]\nname = \"pacs\"\nae_title = \"PACS\"\naddress = \"pacs.hospital.local:104\"\n",
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("\"pacs.hospital.local:104\""));

    let blocker = dir.path().join("blocker");
    std::fs::write(&blocker, b"").expect("write");
    let config = dir.path().join("bad-data-dir.toml");
    let text = std::fs::read_to_string(common::write_config(dir.path(), "")).expect("read");
    let var = dir.path().join("var").display().to_string();
    std::fs::write(
        &config,
        text.replace(&var, &format!("{}/var", blocker.display())),
    )
    .expect("w");
    let out = petground(&["serve", "--config", config.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("config key `node.data_dir`"), "{err}");
    assert_eq!(err.matches("os error").count(), 1, "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

/// Runs petground with stdout a pipe whose reader is already closed (every write fails with
/// EPIPE) and stdin at end of file.
fn with_closed_stdio(args: &[&str]) -> std::process::Output {
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    let (stdin, stdin_writer) = std::io::pipe().expect("pipe");
    drop(stdin_writer);
    let child = Command::new(env!("CARGO_BIN_EXE_petground"))
        .args(args)
        .stdout(writer)
        .stdin(stdin)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run petground");
    child.wait_with_output().expect("wait")
}

/// Issue 19: `petground check-config | head -1` panicked (exit 101). Every command with a
/// closed stdout ends quietly: exit 0 where it only had output left to write.
#[test]
fn no_command_panics_on_a_closed_stdout() {
    let dir = tempfile::tempdir().expect("tempdir");
    let conf = common::write_config(dir.path(), "");
    let conf = conf.to_str().expect("utf-8");
    let report = dir.path().join("r.txt");
    std::fs::write(
        &report,
        "FINDINGS:\nRight hilar lymph node, SUVmax 7.2, image 145.\n",
    )
    .expect("write");
    let report = report.to_str().expect("utf-8");
    let study = dir.path().join("study");
    let mut o = petground_phantom::Options::new(7);
    o.small = true;
    o.lesions = Some(1);
    petground_phantom::generate(&o, &study).expect("phantom");
    let pet = files_below(&study.join("pet"))[0].display().to_string();
    let (study, out) = (study.display().to_string(), dir.path().join("out"));
    let shipped = concat!(env!("CARGO_MANIFEST_DIR"), "/conf/petground.toml");
    let runs: [(&[&str], Option<i32>); 9] = [
        (&["check-config", "--config", shipped], Some(0)),
        (&["check-config", "--config", "/nonexistent.toml"], Some(2)),
        (&["findings", report], Some(0)),
        (&["findings", "-"], None),
        (&["suv", &pet], Some(0)),
        (&["status", "--config", conf], Some(0)),
        (
            &[
                "ground",
                "--study",
                &study,
                "--report",
                report,
                "--out",
                out.to_str().expect("utf-8"),
            ],
            Some(0),
        ),
        (&["--help"], Some(0)),
        (&["serve", "--config", "/nonexistent.toml"], Some(2)),
    ];
    for (args, want) in runs {
        let got = with_closed_stdio(args);
        let err = String::from_utf8_lossy(&got.stderr);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert_ne!(got.status.code(), Some(101), "{args:?}: {err}");
        if want.is_some() {
            assert_eq!(got.status.code(), want, "{args:?}: {err}");
        }
        if want == Some(0) {
            assert!(!err.contains("petground:"), "{args:?} is quiet: {err}");
        }
    }
}
