//! The quantitative DICOM SR that goes with a SEG (CONTRACT §6): a Comprehensive 3D SR holding a
//! TID 1500 Measurement Report, with one TID 1411 volumetric group per segment (Referenced
//! Segment, tracking, the finding sentence, its site, SUVbw max/mean/peak, Metabolic Volume, TLG,
//! long axis) and one TID 1501 group per finding that could not be grounded (its sentence and the
//! reason), so the report is complete. `kos` builds the IHE IOCM rejection note (a Key Object
//! Selection Document) that withdraws SEGs and SRs of a cancelled report. Pure code like `seg`,
//! whose element constructors, Patient/Study copy, UIDs and writers it shares; the numbers come
//! from `label::measure`.
//!
//! ```text
//! MeasurementReportBuilder::new(source, &seg, series_number)
//!   .add_group(LesionGroup { segment_number, sentence, method, measurements })
//!   .add_ungrounded(UngroundedFinding { index, sentence, reason })
//!   .build() → seg::write_seg(&sr, path) | seg::seg_to_bytes(&sr)
//! ```

mod builder;
pub mod codes;
mod content;
pub mod kos;
mod modules;
mod plan;
pub mod site;
mod tree;

pub use builder::{LesionGroup, MeasurementReportBuilder, UngroundedFinding};
pub use kos::{RejectedObject, RejectionNoteBuilder};
pub use site::{FindingSite, finding_site};
pub use tree::{DEVICE_OBSERVER_UID, method_parameters};

/// A built SR: the same object type as a SEG (data set plus Explicit VR LE file meta group).
pub type SrObject = crate::seg::SegObject;

#[derive(Debug, thiserror::Error)]
pub enum SrError {
    #[error("build SR: no measurement group (an SR goes with a SEG, which has segments)")]
    NoGroups,
    #[error("build SR: invalid {what}: {reason}")]
    InvalidInput { what: &'static str, reason: String },
    #[error("build SR: segment {segment_number}: {reason}")]
    Group { segment_number: u16, reason: String },
    #[error("build SR: {0}")]
    Seg(#[from] crate::seg::SegError),
    #[error("build SR: file meta group")]
    Meta(#[source] Box<dicom_object::WithMetaError>),
}
