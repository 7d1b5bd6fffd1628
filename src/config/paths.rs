//! Where the paths of a config point. A relative path in a config file resolves against the
//! folder of that file (CONTRACT §1), so a node started as
//! `petground serve --config /etc/petground.toml` from any working directory finds its data
//! and models. The model folder and ONNX Runtime, when the file does not name them, are looked
//! for in the checkout layout below the working directory (`models/`,
//! `vendor/onnxruntime/libonnxruntime.so`, where `scripts/fetch-onnxruntime` puts it), then
//! beside the installed binary (`scripts/install`: `<prefix>/bin/petground` with
//! `<prefix>/share/petground/models` and `<prefix>/share/petground/onnxruntime/`).
//!
//! Only file-system look-ups happen here; whether the library and models are usable is checked
//! when they are loaded at start-up.

use std::path::{Component, Path, PathBuf};

/// Default `[model] onnxruntime` in a checkout: where `scripts/fetch-onnxruntime` puts it.
pub const DEFAULT_ONNXRUNTIME: &str = "vendor/onnxruntime/libonnxruntime.so";
/// Default `[model] dir` in a checkout.
pub const DEFAULT_MODEL_DIR: &str = "models";
/// ONNX Runtime below an installation prefix (`scripts/install`).
pub const INSTALLED_ONNXRUNTIME: &str = "share/petground/onnxruntime/libonnxruntime.so";
/// The model folder below an installation prefix (`scripts/install`).
pub const INSTALLED_MODEL_DIR: &str = "share/petground/models";
/// The config file below an installation prefix (`scripts/install`).
pub const INSTALLED_CONFIG: &str = "etc/petground.toml";

/// The folder that relative paths in the config file `file` resolve against: the file's own
/// folder, absolute and with symlinks resolved (so that a leading `..` in a value is exact).
pub(super) fn base_of(file: &Path) -> PathBuf {
    let dir = match file.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    dir.canonicalize()
        .or_else(|_| std::path::absolute(dir))
        .unwrap_or_else(|_| dir.to_path_buf())
}

/// `path` as written in a file whose folder is `base` (`None`: TOML text without a file, whose
/// relative paths stay relative to the working directory).
pub(super) fn resolve(base: Option<&Path>, path: PathBuf) -> PathBuf {
    match base {
        Some(base) if path.is_relative() => join(base, &path),
        _ => path,
    }
}

/// `base` joined with `rel`, each leading `..` of `rel` taking one folder off `base` and `.`
/// dropped. `base` is canonical, so this is exact; a `..` after a named folder of `rel` is left
/// for the OS to follow (that folder may be a symlink).
fn join(base: &Path, rel: &Path) -> PathBuf {
    let mut out = base.to_path_buf();
    let mut components = rel.components().peekable();
    while let Some(c) = components.peek() {
        match c {
            Component::CurDir => {}
            // At the root `..` is the root again: popping nothing is right.
            Component::ParentDir => {
                out.pop();
            }
            _ => break,
        }
        components.next();
    }
    out.extend(components);
    out
}

/// The installation prefix: the folder above the one that holds the running binary
/// (`<prefix>/bin/petground`). The kernel's answer has symlinks resolved, so a symlink to an
/// installed binary still finds its own prefix.
pub fn install_prefix() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    Some(exe.parent()?.parent()?.to_path_buf())
}

/// The installed config file (`<prefix>/etc/petground.toml`), when there is one.
pub fn installed_config() -> Option<PathBuf> {
    install_prefix()
        .map(|p| p.join(INSTALLED_CONFIG))
        .filter(|p| p.is_file())
}

/// `[model] onnxruntime` when the file does not set it.
pub fn default_onnxruntime() -> PathBuf {
    probe(DEFAULT_ONNXRUNTIME, INSTALLED_ONNXRUNTIME)
}

/// `[model] dir` when the file does not set it.
pub fn default_model_dir() -> PathBuf {
    probe(DEFAULT_MODEL_DIR, INSTALLED_MODEL_DIR)
}

/// The checkout location below the working directory when it exists, else the installed one
/// when that exists, else the checkout one (a missing library is then reported where
/// `scripts/fetch-onnxruntime` would put it).
fn probe(checkout: &str, installed: &str) -> PathBuf {
    let here = std::path::absolute(checkout).unwrap_or_else(|_| PathBuf::from(checkout));
    if here.exists() {
        return here;
    }
    match install_prefix().map(|p| p.join(installed)) {
        Some(p) if p.exists() => p,
        _ => here,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_resolve_against_the_file_folder() {
        let base = Path::new("/etc/petground");
        let r = |p: &str| resolve(Some(base), PathBuf::from(p));
        assert_eq!(r("var"), Path::new("/etc/petground/var"));
        assert_eq!(r("./var"), Path::new("/etc/petground/var"));
        assert_eq!(r("../models"), Path::new("/etc/models"));
        assert_eq!(r("../../../x"), Path::new("/x"), "`..` stops at the root");
        assert_eq!(r("a/../b"), Path::new("/etc/petground/a/../b"));
        assert_eq!(r("/var/lib/petground"), Path::new("/var/lib/petground"));
        assert_eq!(resolve(None, PathBuf::from("var")), Path::new("var"));
    }

    #[test]
    fn a_file_in_the_working_directory_has_an_absolute_base() {
        let base = base_of(Path::new("petground.toml"));
        assert!(base.is_absolute(), "{}", base.display());
        assert_eq!(
            base,
            std::env::current_dir()
                .expect("cwd")
                .canonicalize()
                .expect("c")
        );
    }
}
