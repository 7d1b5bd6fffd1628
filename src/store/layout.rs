//! Where everything lives below `node.data_dir`: the one place that names files and folders
//! there. The store, the SCP (quarantine), the pipeline (outbox) and the CLI (control socket)
//! ask a [`Layout`] instead of joining names themselves.
//!
//! ```text
//! data_dir/index.redb                               redb database (ACID, fsync on commit)
//! data_dir/incoming/                                transfers in progress (cleared at start)
//! data_dir/studies/<study>/<series>/<sop>.dcm       stored instances (`<sop>.v<N>.dcm`: version N)
//! data_dir/outbox/<sop>.dcm                         SEG and SR files to deliver
//! data_dir/quarantine/                              data sets that failed, with the reason
//! data_dir/pictures/<study>/<report>.png            each done job's MIP picture (the web page)
//! data_dir/petground.sock                           the running node's control socket
//! ```
//! Every name below a folder is a validated UID ([`Uid`]) or a name the node made itself.

use std::path::{Path, PathBuf};

use crate::ids::Uid;

/// The data dir, and the names below it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    root: PathBuf,
}

/// File name of the control socket in the data dir.
pub const CONTROL_SOCKET: &str = "petground.sock";

impl Layout {
    pub fn new(data_dir: &Path) -> Self {
        Self {
            root: data_dir.to_owned(),
        }
    }

    /// The data dir itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The redb index.
    pub fn index(&self) -> PathBuf {
        self.root.join("index.redb")
    }

    /// Temporary files of transfers in progress.
    pub fn incoming(&self) -> PathBuf {
        self.root.join("incoming")
    }

    /// A temporary file in [`Layout::incoming`], unique per process and `n`.
    pub fn incoming_file(&self, n: u64) -> PathBuf {
        self.incoming()
            .join(format!("{}-{n}.tmp", std::process::id()))
    }

    /// The folder of all stored instances.
    pub fn studies(&self) -> PathBuf {
        self.root.join("studies")
    }

    /// The folder of one series' instance files.
    pub fn series_dir(&self, study: &Uid, series: &Uid) -> PathBuf {
        self.root.join(Self::series_rel(study, series))
    }

    /// Where an instance lives, relative to the data dir (what the index records).
    pub fn instance_rel(study: &Uid, series: &Uid, sop: &Uid, version: u32) -> PathBuf {
        Self::series_rel(study, series).join(instance_file_name(sop.as_str(), version))
    }

    fn series_rel(study: &Uid, series: &Uid) -> PathBuf {
        PathBuf::from("studies")
            .join(study.as_str())
            .join(series.as_str())
    }

    /// The absolute path of a path relative to the data dir (as the index records them).
    pub fn absolute(&self, rel: impl AsRef<Path>) -> PathBuf {
        self.root.join(rel)
    }

    /// SEG and SR files waiting for (or done with) delivery.
    pub fn outbox(&self) -> PathBuf {
        self.root.join("outbox")
    }

    /// Where the outbox file of `sop` lives, relative to the data dir (what the outbox records).
    pub fn outbox_rel(sop: &str) -> String {
        format!("outbox/{sop}.dcm")
    }

    /// Data sets that could not be stored, kept for inspection.
    pub fn quarantine(&self) -> PathBuf {
        self.root.join("quarantine")
    }

    /// A file in [`Layout::quarantine`].
    pub fn quarantine_file(&self, name: &str) -> PathBuf {
        self.quarantine().join(name)
    }

    /// The MIP pictures of done jobs (shown by the web page; nothing depends on them).
    pub fn pictures(&self) -> PathBuf {
        self.root.join("pictures")
    }

    /// Where the picture of the job `key` ([`super::job_key`]: `<study>/<report>`) lives,
    /// relative to the data dir.
    pub fn picture_rel(key: &str) -> String {
        format!("pictures/{key}.png")
    }

    /// The running node's control socket (`status`, `resend`, `reprocess`).
    pub fn control_socket(&self) -> PathBuf {
        self.root.join(CONTROL_SOCKET)
    }
}

/// `<sop>.dcm` for version 1, `<sop>.v<N>.dcm` for later versions.
fn instance_file_name(sop: &str, version: u32) -> String {
    if version <= 1 {
        format!("{sop}.dcm")
    } else {
        format!("{sop}.v{version}.dcm")
    }
}

/// The inverse of the instance file name: `<sop>.dcm` → (sop, 1); `<sop>.v<N>.dcm` → (sop, N).
pub(super) fn parse_instance_file_name(name: &str) -> Option<(&str, u32)> {
    let stem = name.strip_suffix(".dcm")?;
    if let Some((sop, v)) = stem.rsplit_once(".v")
        && let Ok(n) = v.parse::<u32>()
        && n >= 2
    {
        return Some((sop, n));
    }
    Some((stem, 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uid(s: &str) -> Uid {
        Uid::parse(s).expect("test UID")
    }

    #[test]
    fn instance_paths_round_trip_through_their_file_names() {
        let (st, se, sop) = (uid("1.2.1"), uid("1.2.2"), uid("1.2.3"));
        assert_eq!(
            Layout::instance_rel(&st, &se, &sop, 1),
            Path::new("studies/1.2.1/1.2.2/1.2.3.dcm")
        );
        let v3 = Layout::instance_rel(&st, &se, &sop, 3);
        assert_eq!(v3, Path::new("studies/1.2.1/1.2.2/1.2.3.v3.dcm"));
        let name = v3.file_name().and_then(|n| n.to_str()).expect("name");
        assert_eq!(parse_instance_file_name(name), Some(("1.2.3", 3)));
        assert_eq!(parse_instance_file_name("1.2.3.dcm"), Some(("1.2.3", 1)));
        assert_eq!(parse_instance_file_name("1.2.3.tmp"), None);
    }

    #[test]
    fn names_below_the_data_dir() {
        let l = Layout::new(Path::new("/d"));
        assert_eq!(l.index(), Path::new("/d/index.redb"));
        assert_eq!(l.control_socket(), Path::new("/d/petground.sock"));
        assert_eq!(
            l.absolute(Layout::outbox_rel("1.2")),
            l.outbox().join("1.2.dcm")
        );
        assert_eq!(
            l.absolute(Layout::picture_rel(&crate::store::job_key("1.2", 7))),
            l.pictures().join("1.2/7.png")
        );
        assert_eq!(
            l.series_dir(&uid("1.1"), &uid("1.2")),
            Path::new("/d/studies/1.1/1.2")
        );
    }
}
