//! Issue 19, "install anywhere": `scripts/install PREFIX` into a temporary prefix, then the
//! installed node started from `/` on the installed config with `[grounding] mode = "model"`:
//! it finds ONNX Runtime and the models below PREFIX/share/petground, takes a phantom study and
//! its report, and delivers a SEG whose segments the model grounded to a dcmtk storescp named
//! by host name (`localhost:PORT`, resolved when the SEG is sent).
//!
//! Cost: the script installs the binary `cargo test` already built (PETGROUND_INSTALL_BINARY)
//! rather than running its own `cargo build --release`, which would take minutes on CI's two
//! cores; everything else the script does runs as it would for a user.

mod common;
mod ground_support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::peers::{Storescp, free_port};
use common::{Node, files_below, storescu};

const BIN: &str = env!("CARGO_BIN_EXE_petground");

fn install(prefix: &Path) {
    let out = Command::new(ground_support::repo().join("scripts/install"))
        .arg(prefix)
        .env("PETGROUND_INSTALL_BINARY", BIN)
        .env_remove("PETGROUND_DATA_DIR")
        .current_dir("/")
        .output()
        .expect("run scripts/install");
    assert!(
        out.status.success(),
        "scripts/install failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `text` with `from` replaced, which must be there.
fn set(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "the installed config has no `{from}`");
    text.replacen(from, to, 1)
}

/// The installed config made fit for a test: loopback port 0, the test's PACS, the model.
fn test_config(installed: &str, pacs_port: u16) -> String {
    let mut t = set(installed, "\"0.0.0.0:11112\"", "\"127.0.0.1:0\"");
    t = set(&t, "\"0.0.0.0:2575\"", "\"127.0.0.1:0\"");
    t = set(
        &t,
        "address = \"127.0.0.1:104\"",
        &format!("address = \"localhost:{pacs_port}\""),
    );
    t = set(&t, "stable_seconds = 10", "stable_seconds = 2");
    t = set(&t, "min_free_disk_mb = 1024", "min_free_disk_mb = 1");
    t = set(&t, "mode = \"weak-label\"", "mode = \"model\"");
    t = set(&t, "device = \"auto\"", "device = \"cpu\"");
    set(&t, "threads = 0", "threads = 2")
}

fn check_layout(prefix: &Path) {
    let share = prefix.join("share/petground");
    for f in [
        "bin/petground",
        "etc/petground.toml",
        "lib/systemd/system/petground.service",
        "share/petground/models/manifest.json",
        "share/petground/models/grounding.onnx",
        "share/petground/onnxruntime/libonnxruntime.so",
    ] {
        assert!(prefix.join(f).exists(), "{f} is not installed");
    }
    let config = std::fs::read_to_string(prefix.join("etc/petground.toml")).expect("config");
    let repo = ground_support::repo().to_string_lossy().into_owned();
    assert!(
        !config.contains(&repo),
        "the config points into the checkout:\n{config}"
    );
    let data_dir = prefix.join("var/lib/petground");
    assert!(config.contains(&format!("data_dir = \"{}\"", data_dir.display())));
    assert!(config.contains(&format!("dir = \"{}\"", share.join("models").display())));
    let unit =
        std::fs::read_to_string(prefix.join("lib/systemd/system/petground.service")).expect("unit");
    let exec = format!(
        "ExecStart={0}/bin/petground serve --config {0}/etc/petground.toml",
        prefix.display()
    );
    for line in [exec.as_str(), "User=petground", "StateDirectory=petground"] {
        assert!(
            unit.lines().any(|l| l == line),
            "no `{line}` in the unit:\n{unit}"
        );
    }
    assert!(
        !unit.contains('@'),
        "a placeholder is left in the unit:\n{unit}"
    );
}

/// `check-config` of the installed binary, from `/`: the effective paths lie below PREFIX.
fn check_config(prefix: &Path, config: &Path) {
    let out = Command::new(prefix.join("bin/petground"))
        .args(["check-config", "--config"])
        .arg(config)
        .current_dir("/")
        .env_remove("ORT_DYLIB_PATH")
        .output()
        .expect("run check-config");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lib = prefix.join("share/petground/onnxruntime/libonnxruntime.so");
    assert!(
        text.contains(&format!("onnxruntime = \"{}\"", lib.display())),
        "{text}"
    );
}

/// SegmentAlgorithmName of every segment of a SEG.
fn algorithms(seg: &Path) -> Vec<String> {
    let obj = dicom_object::open_file(seg).expect("open SEG");
    let items = obj.element_by_name("SegmentSequence").expect("segments");
    let names = items.items().expect("items").iter().map(|s| {
        let name = s.element_by_name("SegmentAlgorithmName").expect("name");
        name.to_str().expect("text").trim().to_owned()
    });
    names.collect()
}

fn is_seg(path: &PathBuf) -> bool {
    let obj = dicom_object::open_file(path).expect("open received file");
    obj.meta()
        .media_storage_sop_class_uid()
        .trim_end_matches('\0')
        == dicom_dictionary_std::uids::SEGMENTATION_STORAGE
}

#[test]
fn an_installed_node_runs_from_root_and_grounds_by_the_model() {
    ground_support::ensure_library();
    let dir = tempfile::tempdir().expect("tempdir");
    let prefix = dir.path().join("pg");
    install(&prefix);
    check_layout(&prefix);
    let config = prefix.join("etc/petground.toml");
    check_config(&prefix, &config);

    let pacs = Storescp::start(&dir.path().join("pacs"), "PACS", free_port());
    let installed = std::fs::read_to_string(&config).expect("config");
    std::fs::write(&config, test_config(&installed, pacs.port)).expect("write config");
    let mut program = Command::new(prefix.join("bin/petground"));
    program.current_dir("/").env_remove("ORT_DYLIB_PATH");
    let mut node = Node::start_program(program, &prefix, config);

    // The phantom case of tests/ground_numberless.rs, which the shipped model grounds.
    let study = dir.path().join("study");
    let mut o = petground_phantom::Options::new(4242);
    o.small = true;
    o.lesions = Some(3);
    petground_phantom::generate(&o, &study).expect("phantom");
    let mut files = files_below(&study.join("pet"));
    files.extend(files_below(&study.join("ct")));
    let (ok, out) = storescu(&node, &[], &files);
    assert!(ok, "storescu failed: {out}");
    let report = std::fs::read_to_string(study.join("report.hl7")).expect("report.hl7");
    let ack = common::mllp_send(&node, &report);
    assert!(ack.contains("MSA|AA|"), "{ack:?}");

    let got = pacs.wait_for(2, Duration::from_secs(180));
    let segs: Vec<&PathBuf> = got.iter().filter(|p| is_seg(p)).collect();
    assert_eq!(segs.len(), 1, "{got:?}; status:\n{}", node.status());
    let names = algorithms(segs[0]);
    assert!(
        !names.is_empty() && names.iter().all(|n| n.contains("ConTEXTual Net 3D")),
        "every segment is the model's: {names:?}"
    );
    assert!(
        prefix.join("var/lib/petground/index.redb").exists(),
        "data_dir below PREFIX"
    );
    assert_eq!(node.terminate().code(), Some(0));
}
