//! The store's error type, and [`Db`]: the one way a redb failure becomes a [`StoreError`], naming
//! the operation that failed (`.db(self, "put report")?`) and marking a full disk.

use std::path::{Path, PathBuf};

use super::Store;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("index database {path}: {op}: {message}")]
    Db {
        path: PathBuf,
        /// What the store was doing, e.g. `put report`.
        op: &'static str,
        message: String,
        /// The database failed for lack of disk space (ENOSPC).
        no_space: bool,
    },
    #[error("index database {path} is in use by another petground process")]
    Locked { path: PathBuf },
    #[error("index record for {key} is unreadable: {message}")]
    Corrupt { key: String, message: String },
}

/// A UID read back from an index key (checked when it was written): a key that is not one is a
/// corrupt index.
pub(crate) fn key_uid(key: &str) -> Result<crate::ids::Uid, StoreError> {
    crate::ids::Uid::parse(key).map_err(|e| StoreError::Corrupt {
        key: key.to_owned(),
        message: e.to_string(),
    })
}

impl StoreError {
    /// Whether the operation failed for lack of disk space (a C-STORE answers A700 then).
    pub fn is_out_of_space(&self) -> bool {
        match self {
            Self::Io { source, .. } => is_enospc(source),
            Self::Db { no_space, .. } => *no_space,
            _ => false,
        }
    }

    pub(crate) fn io<'a>(
        op: &'static str,
        path: &'a Path,
    ) -> impl FnOnce(std::io::Error) -> Self + 'a {
        move |source| Self::Io {
            op,
            path: path.to_owned(),
            source,
        }
    }

    /// An index error of the database at `path`, marked when it is a full disk.
    pub(super) fn db(path: &Path, op: &'static str, e: redb::Error) -> Self {
        Self::Db {
            path: path.to_owned(),
            op,
            no_space: matches!(&e, redb::Error::Io(io) if is_enospc(io)),
            message: e.to_string(),
        }
    }
}

/// Turns any redb error into a [`StoreError::Db`] of this store's index, naming the operation.
pub(super) trait Db<T> {
    fn db(self, store: &Store, op: &'static str) -> Result<T, StoreError>;
}

impl<T, E: Into<redb::Error>> Db<T> for Result<T, E> {
    fn db(self, store: &Store, op: &'static str) -> Result<T, StoreError> {
        self.map_err(|e| StoreError::db(&store.layout().index(), op, e.into()))
    }
}

pub(super) fn is_enospc(e: &std::io::Error) -> bool {
    e.raw_os_error() == Some(28) || e.kind() == std::io::ErrorKind::StorageFull
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_db_error_names_path_and_operation_and_marks_a_full_disk() {
        let full = redb::Error::Io(std::io::Error::from_raw_os_error(28));
        let e = StoreError::db(Path::new("/data/index.redb"), "put report", full);
        assert!(e.is_out_of_space());
        let text = e.to_string();
        assert!(
            text.starts_with("index database /data/index.redb: put report: "),
            "{text}"
        );
        let other = StoreError::db(Path::new("/d"), "commit", redb::Error::DatabaseClosed);
        assert!(!other.is_out_of_space());
    }
}
