//! Durable file writes: a file is written (or was received) under a temporary name, fsynced,
//! renamed into place, and the folder fsynced, so that a crash at any point leaves either nothing
//! at the destination or the complete file. Every file the node acknowledges or delivers goes
//! through here: instances (from `incoming/`) and the SEG/SR files of the outbox.

use std::fs::File;
use std::path::Path;

use super::StoreError;

/// Writes `bytes` to `dest` durably: `dest` with extension `tmp` first (in the same folder, so
/// the rename is atomic), fsync, rename, fsync the folder. Creates missing folders (fsyncing the
/// folders that gained an entry). An earlier temporary file of the same name is overwritten.
pub fn write_durably(dest: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let tmp = dest.with_extension("tmp");
    create_parent(dest)?;
    std::fs::write(&tmp, bytes).map_err(StoreError::io("write", &tmp))?;
    rename_durably(&tmp, dest)
}

/// Moves a fully written file `tmp` to `dest` durably: fsync `tmp`, create the destination
/// folder if needed, rename, and fsync every folder whose entries changed. `tmp` must be on the
/// same file system as `dest`.
pub fn rename_durably(tmp: &Path, dest: &Path) -> Result<(), StoreError> {
    File::open(tmp)
        .and_then(|f| f.sync_all())
        .map_err(StoreError::io("fsync", tmp))?;
    let dir = create_parent(dest)?;
    std::fs::rename(tmp, dest).map_err(StoreError::io("rename into", dest))?;
    sync_dir(dir)
}

/// Creates the folder of `path` and any missing folders above it, each made durable in its
/// parent. Returns the folder.
fn create_parent(path: &Path) -> Result<&Path, StoreError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut missing = Vec::new();
    let mut d = Some(dir);
    while let Some(p) = d.filter(|p| !p.as_os_str().is_empty() && !p.exists()) {
        missing.push(p);
        d = p.parent();
    }
    if missing.is_empty() {
        return Ok(dir);
    }
    std::fs::create_dir_all(dir).map_err(StoreError::io("create folder", dir))?;
    // Deepest first: each new folder's entry lives in its parent.
    for new in missing {
        if let Some(parent) = new.parent().filter(|p| !p.as_os_str().is_empty()) {
            sync_dir(parent)?;
        }
    }
    Ok(dir)
}

/// fsync a folder so that a rename or a new entry in it survives a crash.
pub fn sync_dir(path: &Path) -> Result<(), StoreError> {
    File::open(path)
        .and_then(|d| d.sync_all())
        .map_err(StoreError::io("fsync folder", path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_into_new_folders_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let dest = dir.path().join("outbox/deep/1.2.3.dcm");
        write_durably(&dest, b"first").expect("write");
        write_durably(&dest, b"second").expect("overwrite");
        assert_eq!(std::fs::read(&dest).expect("read"), b"second");
        let names: Vec<_> = std::fs::read_dir(dest.parent().expect("folder"))
            .expect("list")
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names, ["1.2.3.dcm"]);
    }

    #[test]
    fn a_missing_temporary_file_is_an_fsync_error() {
        let dir = tempfile::tempdir().expect("temp dir");
        let e = rename_durably(&dir.path().join("gone.tmp"), &dir.path().join("x.dcm"))
            .expect_err("nothing to rename");
        assert!(e.to_string().starts_with("fsync "), "{e}");
    }
}
