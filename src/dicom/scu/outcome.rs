//! What a C-STORE attempt came to, in the terms a retry loop acts on: the class of each DIMSE
//! status, the per-file result, and the association-level error with `is_transient()`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::dicom::dimse::status;

/// What a retry loop should do with one C-STORE status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// 0x0000: stored.
    Success,
    /// 0x0001, 0x0107, 0x0116, 0xBxxx: stored with a warning (coercion, elements discarded, data
    /// set does not match SOP class). Delivered; do not resend.
    Warning,
    /// Refused for a reason a resend will not cure (0x0122 SOP class not supported, 0xA9xx,
    /// 0xCxxx, 0x0110 processing failure, anything unknown).
    PermanentFailure,
    /// Refused for now (0xA7xx out of resources, 0x0213 resource limitation, 0x0210 duplicate
    /// invocation, 0xFE00 cancel): resend later.
    TransientFailure,
}

impl Outcome {
    /// Classifies a C-STORE status (PS3.4 B.2.3, PS3.7 Annex C).
    pub fn of_status(code: u16) -> Self {
        match code {
            status::SUCCESS => Self::Success,
            0x0001 | 0x0107 | 0x0116 | 0xB000..=0xBFFF => Self::Warning,
            0xA700..=0xA7FF | 0x0210 | 0x0213 | 0xFE00 => Self::TransientFailure,
            _ => Self::PermanentFailure,
        }
    }

    /// Whether the peer holds the instance (success or warning).
    pub fn is_delivered(self) -> bool {
        matches!(self, Self::Success | Self::Warning)
    }
}

/// The answer for one file of a [`store_files`] call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreResult {
    pub path: PathBuf,
    pub sop_instance_uid: String,
    /// The peer's C-STORE-RSP status, or, when `sent` is false, the status we assign locally
    /// (0x0122 when no presentation context was accepted for the SOP class, 0x0110 when the data
    /// set could not be encoded in the accepted transfer syntax).
    pub status: u16,
    pub class: Outcome,
    /// The peer's ErrorComment (0000,0902), or why the file was not sent.
    pub comment: Option<String>,
    /// Whether a C-STORE-RQ was sent for this file.
    pub sent: bool,
}

/// Why a [`store_files`] call could not complete. [`ScuError::is_transient`] tells a retry loop
/// whether trying again later may succeed.
#[derive(Debug, thiserror::Error)]
pub enum ScuError {
    #[error("reading {path}: {detail}")]
    ReadFile { path: PathBuf, detail: String },
    #[error("{count} presentation contexts would be needed; one association allows 128")]
    TooManyContexts { count: usize },
    /// The destination's host name did not resolve (at this attempt: DNS may come back).
    #[error("resolving {dest}'s address {address}: {detail}")]
    Resolve {
        dest: String,
        address: String,
        detail: String,
    },
    #[error("connecting to {dest} at {addr}: {source}")]
    Connect {
        dest: String,
        addr: String,
        source: std::io::Error,
    },
    #[error("{dest}: {stage} timed out after {after:?}")]
    Timeout {
        dest: String,
        stage: &'static str,
        after: Duration,
    },
    #[error("{dest} rejected the association ({}): {reason}", if *.permanent { "permanent" } else { "transient" })]
    Rejected {
        dest: String,
        permanent: bool,
        reason: String,
    },
    #[error("{dest} accepted no presentation context for {sop_classes:?}")]
    NoPresentationContext {
        dest: String,
        sop_classes: Vec<String>,
    },
    #[error("{dest} aborted the association")]
    Aborted { dest: String },
    #[error("{dest}: network error during {stage}: {detail}")]
    Network {
        dest: String,
        stage: &'static str,
        detail: String,
    },
    #[error("{dest}: protocol error: {detail}")]
    Protocol { dest: String, detail: String },
    #[error("internal error: {0}")]
    Internal(String),
    /// The association failed after some files were answered; `completed` holds their results
    /// (the peer has those whose outcome is delivered) and the rest were not acknowledged.
    #[error("{source} (after {} file(s) were answered)", completed.len())]
    Interrupted {
        completed: Vec<StoreResult>,
        source: Box<ScuError>,
    },
}

impl ScuError {
    /// Whether a later retry may succeed: network trouble, timeouts, aborts, transient
    /// rejections. Protocol errors count as transient because the retry limit bounds them and a
    /// misbehaving peer is more often restarted than permanently broken.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Resolve { .. }
            | Self::Connect { .. }
            | Self::Timeout { .. }
            | Self::Aborted { .. }
            | Self::Network { .. }
            | Self::Protocol { .. } => true,
            Self::Rejected { permanent, .. } => !permanent,
            Self::Interrupted { source, .. } => source.is_transient(),
            Self::ReadFile { .. }
            | Self::TooManyContexts { .. }
            | Self::NoPresentationContext { .. }
            | Self::Internal(_) => false,
        }
    }

    /// Results of the files answered before the failure (empty for most variants).
    pub fn completed(&self) -> &[StoreResult] {
        match self {
            Self::Interrupted { completed, .. } => completed,
            _ => &[],
        }
    }
}

/// Paths of the files in `results` that the peer holds (success or warning).
pub fn delivered(results: &[StoreResult]) -> Vec<&Path> {
    results
        .iter()
        .filter(|r| r.class.is_delivered())
        .map(|r| r.path.as_path())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_classified_for_a_retry_loop() {
        // Codes from PS3.4 Table B.2-1 (Storage) and PS3.7 Annex C (general statuses).
        let cases = [
            (0x0000, Outcome::Success),
            (0xB000, Outcome::Warning), // coercion of data elements
            (0xB007, Outcome::Warning), // data set does not match SOP class (warning)
            (0xB006, Outcome::Warning), // elements discarded
            (0x0107, Outcome::Warning), // attribute list error
            (0xA700, Outcome::TransientFailure), // out of resources
            (0xA7FF, Outcome::TransientFailure),
            (0x0213, Outcome::TransientFailure), // resource limitation
            (0x0122, Outcome::PermanentFailure), // SOP class not supported
            (0x0110, Outcome::PermanentFailure), // processing failure
            (0x0124, Outcome::PermanentFailure), // not authorized
            (0xA900, Outcome::PermanentFailure), // data set does not match SOP class
            (0xA9FF, Outcome::PermanentFailure),
            (0xC000, Outcome::PermanentFailure), // cannot understand
            (0xCFFF, Outcome::PermanentFailure),
            (0xA800, Outcome::PermanentFailure), // not a storage status: unknown
            (0xFF00, Outcome::PermanentFailure), // pending is not a C-STORE answer
        ];
        for (code, want) in cases {
            assert_eq!(Outcome::of_status(code), want, "status 0x{code:04X}");
        }
        assert!(Outcome::Warning.is_delivered());
        assert!(!Outcome::TransientFailure.is_delivered());
    }

    #[test]
    fn errors_say_whether_to_retry() {
        let d = || "pacs".to_owned();
        assert!(
            ScuError::Rejected {
                dest: d(),
                permanent: false,
                reason: "temporary congestion".into()
            }
            .is_transient()
        );
        assert!(
            !ScuError::Rejected {
                dest: d(),
                permanent: true,
                reason: "called AE title not recognized".into()
            }
            .is_transient()
        );
        let inner = ScuError::Aborted { dest: d() };
        let wrapped = ScuError::Interrupted {
            completed: vec![],
            source: Box::new(inner),
        };
        assert!(wrapped.is_transient());
        assert!(
            !ScuError::NoPresentationContext {
                dest: d(),
                sop_classes: vec![]
            }
            .is_transient()
        );
    }
}
