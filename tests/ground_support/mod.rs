//! Shared set-up of the ground_* integration tests: the ONNX Runtime library (fetched by
//! scripts/fetch-onnxruntime when missing; a test FAILS, never skips, when it cannot be had),
//! the repository's models directory and a models directory with the stand-in grounding model.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use petground::ground::manifest::{MANIFEST_FILE, sha256_file};
use petground::ground::runtime::{self, Device, ModelSettings, Runtime};

/// The repository root: the package's own folder, or (when tools/train's tests include this
/// module) the nearest folder above it that holds scripts/fetch-onnxruntime.
pub fn repo() -> PathBuf {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    here.ancestors()
        .find(|d| d.join("scripts/fetch-onnxruntime").is_file())
        .map(Path::to_path_buf)
        .unwrap_or(here)
}

pub fn library() -> PathBuf {
    repo().join(runtime::DEFAULT_LIBRARY)
}

/// The library, fetched once with scripts/fetch-onnxruntime (idempotent) when absent.
pub fn ensure_library() -> PathBuf {
    // Tests of one binary run in parallel: only one of them may run the fetch script.
    static FETCH: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = FETCH.lock().unwrap_or_else(|p| p.into_inner());
    let lib = library();
    if !lib.is_file() {
        let status = Command::new(repo().join("scripts/fetch-onnxruntime"))
            .current_dir(repo())
            .status();
        assert!(
            matches!(status, Ok(s) if s.success()) && lib.is_file(),
            "ONNX Runtime library {} is missing and scripts/fetch-onnxruntime could not fetch it \
             ({status:?}); run scripts/fetch-onnxruntime (needs pip and PyPI) before the tests",
            lib.display()
        );
    }
    lib
}

pub fn settings(dir: &Path) -> ModelSettings {
    ModelSettings {
        onnxruntime: ensure_library(),
        device: Device::Cpu,
        // bench/ground passes its thread count here; tests use one thread (2 shared cores).
        threads: std::env::var("PETGROUND_BENCH_THREADS")
            .ok()
            .and_then(|t| t.parse().ok())
            .unwrap_or(1),
        dir: dir.to_path_buf(),
    }
}

/// The process's runtime (CPU, the fetched library).
pub fn runtime() -> Arc<Runtime> {
    runtime::init(&settings(&repo().join("models"))).expect("ONNX Runtime loads")
}

pub fn fixture(name: &str) -> PathBuf {
    repo().join("tests/fixtures").join(name)
}

/// A models directory holding the real tokenizer and encoder (symlinked) and `model` as
/// grounding.onnx, with a manifest listing all three.
pub fn models_dir_with(model: &Path) -> tempfile::TempDir {
    let d = tempfile::tempdir().expect("tempdir");
    for f in ["tokenizer.json", "text_encoder.onnx"] {
        std::os::unix::fs::symlink(repo().join("models").join(f), d.path().join(f))
            .expect("symlink model file");
    }
    std::fs::copy(model, d.path().join("grounding.onnx")).expect("copy model");
    write_manifest(d.path());
    d
}

/// Writes manifest.json for every file in `dir` with its current hash and size.
pub fn write_manifest(dir: &Path) {
    let mut files = serde_json::Map::new();
    for e in std::fs::read_dir(dir).expect("read dir") {
        let p = e.expect("dir entry").path();
        let name = p.file_name().expect("name").to_string_lossy().into_owned();
        if name == MANIFEST_FILE {
            continue;
        }
        let bytes = std::fs::metadata(&p).expect("metadata").len();
        let sha = sha256_file(&p).expect("hash");
        files.insert(name, serde_json::json!({ "sha256": sha, "bytes": bytes }));
    }
    let m = serde_json::json!({ "files": files });
    std::fs::write(dir.join(MANIFEST_FILE), m.to_string()).expect("write manifest");
}
