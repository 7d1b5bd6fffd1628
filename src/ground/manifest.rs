//! `models/manifest.json`: the sha256 and size of every model file the node loads (tokenizer,
//! text encoder, grounding model). A file is used only when it matches its entry, so a truncated
//! download, a stale copy or a model from another training run is refused at start-up with a
//! message that says which one, instead of producing quietly wrong masks.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use sha2::{Digest, Sha256};

/// File name of the manifest inside the models directory.
pub const MANIFEST_FILE: &str = "manifest.json";

/// Errors of reading the manifest or checking a file against it.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("model manifest {path}: {message}")]
    Read { path: PathBuf, message: String },
    #[error("model manifest {manifest} has no entry for '{name}' (add its sha256 and bytes)")]
    NoEntry { manifest: PathBuf, name: String },
    #[error("model file {path}: {message}")]
    Io { path: PathBuf, message: String },
    #[error(
        "model file {path} is truncated or was replaced: {bytes} bytes, the manifest says {expected}"
    )]
    Size {
        path: PathBuf,
        bytes: u64,
        expected: u64,
    },
    #[error("model file {path} has sha256 {actual}, the manifest says {expected}")]
    Hash {
        path: PathBuf,
        actual: String,
        expected: String,
    },
}

/// One file's expected identity.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct FileEntry {
    /// Lower-case hex sha256 of the whole file.
    pub sha256: String,
    /// Size in bytes (checked first: a truncated file gets the clearer message).
    pub bytes: u64,
}

#[derive(Debug, Deserialize)]
struct Raw {
    files: BTreeMap<String, FileEntry>,
}

/// The parsed manifest, remembering where it came from for error messages.
#[derive(Debug, Clone)]
pub struct Manifest {
    path: PathBuf,
    files: BTreeMap<String, FileEntry>,
}

impl Manifest {
    /// Reads `path` (usually `models/manifest.json`).
    pub fn load(path: &Path) -> Result<Self, ManifestError> {
        let read_err = |message: String| ManifestError::Read {
            path: path.to_path_buf(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| read_err(e.to_string()))?;
        let raw: Raw = serde_json::from_str(&text).map_err(|e| read_err(e.to_string()))?;
        Ok(Manifest {
            path: path.to_path_buf(),
            files: raw.files,
        })
    }

    /// The entry for a file name (the key is the file name without directory).
    pub fn entry(&self, name: &str) -> Result<&FileEntry, ManifestError> {
        self.files.get(name).ok_or_else(|| ManifestError::NoEntry {
            manifest: self.path.clone(),
            name: name.to_string(),
        })
    }

    /// Checks `path` against the entry named by its file name; returns its sha256.
    pub fn verify(&self, path: &Path) -> Result<String, ManifestError> {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        verify_file(path, self.entry(&name)?)
    }
}

/// Checks size then sha256 of `path` against `expected`; returns the sha256.
pub fn verify_file(path: &Path, expected: &FileEntry) -> Result<String, ManifestError> {
    let io_err = |e: std::io::Error| ManifestError::Io {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let bytes = std::fs::metadata(path).map_err(io_err)?.len();
    if bytes != expected.bytes {
        return Err(ManifestError::Size {
            path: path.to_path_buf(),
            bytes,
            expected: expected.bytes,
        });
    }
    let actual = sha256_file(path).map_err(io_err)?;
    if !actual.eq_ignore_ascii_case(&expected.sha256) {
        return Err(ManifestError::Hash {
            path: path.to_path_buf(),
            actual,
            expected: expected.sha256.clone(),
        });
    }
    Ok(actual)
}

/// Lower-case hex sha256 of a file, streamed (the text encoder is 23 MB).
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut f = File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, body: &[u8]) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, body).expect("write test file");
        p
    }

    #[test]
    fn sha256_of_abc_is_the_fips_vector() {
        let d = tempfile::tempdir().expect("tempdir");
        let p = write(d.path(), "abc", b"abc");
        // FIPS 180-2 appendix B.1.
        assert_eq!(
            sha256_file(&p).expect("hash"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn verify_reports_missing_entry_truncation_and_wrong_hash() {
        let d = tempfile::tempdir().expect("tempdir");
        let good = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        let m = write(
            d.path(),
            "manifest.json",
            format!(r#"{{"files": {{"a.onnx": {{"sha256": "{good}", "bytes": 3}}}}}}"#).as_bytes(),
        );
        let man = Manifest::load(&m).expect("manifest");
        let a = write(d.path(), "a.onnx", b"abc");
        assert_eq!(man.verify(&a).expect("matches"), good);
        let a = write(d.path(), "a.onnx", b"ab");
        assert!(matches!(
            man.verify(&a),
            Err(ManifestError::Size { bytes: 2, .. })
        ));
        let a = write(d.path(), "a.onnx", b"abd");
        assert!(matches!(man.verify(&a), Err(ManifestError::Hash { .. })));
        let b = write(d.path(), "b.onnx", b"abc");
        let e = man.verify(&b).expect_err("no entry");
        assert!(e.to_string().contains("no entry for 'b.onnx'"), "{e}");
    }
}
