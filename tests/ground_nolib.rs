//! ONNX Runtime that cannot be loaded: a missing library file and a file that is not a shared
//! library must each give one clear error from `runtime::init` (which start-up turns into exit
//! code 2), never a panic. Its own test binary (= process): ONNX Runtime loads at most once per
//! process, so these must run where no library was ever loaded successfully.

use std::path::PathBuf;

use petground::ground::runtime::{self, Device, EXIT_CODE, ModelSettings, RuntimeError};

fn settings(lib: PathBuf) -> ModelSettings {
    ModelSettings {
        onnxruntime: lib,
        device: Device::Cpu,
        threads: 1,
        dir: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models"),
    }
}

#[test]
fn missing_and_broken_libraries_are_clear_errors() {
    // SAFETY of the test: ORT_DYLIB_PATH would override the path under test.
    assert!(
        std::env::var_os(runtime::LIBRARY_ENV).is_none_or(|v| v.is_empty()),
        "unset ORT_DYLIB_PATH to run this test"
    );
    let d = tempfile::tempdir().expect("tempdir");
    let missing = d.path().join("libonnxruntime.so");
    let e = runtime::init(&settings(missing.clone())).expect_err("missing library");
    assert!(
        matches!(e, RuntimeError::LibraryMissing(ref p) if *p == missing),
        "{e}"
    );
    let msg = e.to_string();
    assert!(
        msg.contains("scripts/fetch-onnxruntime") && msg.contains("ORT_DYLIB_PATH"),
        "{msg}"
    );

    let junk = d.path().join("libjunk.so");
    std::fs::write(&junk, b"not an ELF file").expect("write");
    let e = runtime::init(&settings(junk.clone())).expect_err("not a library");
    assert!(matches!(e, RuntimeError::Library { .. }), "{e}");
    assert!(e.to_string().contains(&*junk.to_string_lossy()), "{e}");
    assert_eq!(EXIT_CODE, 2);
}
