//! DICOM Segmentation (SEG) output: a BINARY Segmentation Storage instance built from the PET
//! series' geometry and one mask per grounded finding (CONTRACT §5), and its encoding as an
//! Explicit VR Little Endian Part 10 file or byte buffer. Delivery (outbox, C-STORE) is not here:
//! it takes the bytes or the object this module produces. The quantitative SR (`crate::sr`) is
//! the same kind of object and shares the element constructors, the Patient/Study copy, the UIDs
//! and the writers below.
//!
//! ```text
//! SegmentDescription::automatic(1, "Finding 1", sentence, "petground weak-label ITM")
//!   → SegmentationBuilder::new(source, series_number, description).add_segment(desc, mask.view())
//!   → build() → write_seg(&obj, path) | seg_to_bytes(&obj)
//! ```

mod bits;
mod builder;
pub mod elements;
mod groups;
mod modules;
mod plan;
mod segment;
mod uid;

use std::path::{Path, PathBuf};

use dicom_object::{FileDicomObject, InMemDicomObject};

pub use bits::{pack_bits, packed_len, unpack_bits};
pub use builder::SegmentationBuilder;
pub(crate) use modules::copy_patient_study;
pub use plan::SourceSeries;
pub(crate) use segment::check_lo;
pub use segment::{
    AlgorithmIdentification, AlgorithmType, Code, Laterality, SegmentDescription,
    SegmentedPropertyType,
};
pub use uid::new_uid;

/// A built SEG (or SR): dataset plus file meta group (Explicit VR Little Endian).
pub type SegObject = FileDicomObject<InMemDicomObject>;

#[derive(Debug, thiserror::Error)]
pub enum SegError {
    #[error("build SEG: no segments (a report without grounded findings produces no SEG)")]
    NoSegments,
    #[error("build SEG: invalid {what}: {reason}")]
    InvalidInput { what: &'static str, reason: String },
    #[error("build SEG: segment {segment_number}: invalid {field}: {reason}")]
    InvalidSegment {
        segment_number: u16,
        field: &'static str,
        reason: String,
    },
    #[error(
        "build SEG: segment numbers must run 1..n in order: expected {expected}, found {found}"
    )]
    SegmentNumbering { expected: usize, found: u16 },
    #[error("build SEG: segment {segment_number}: mask shape {mask:?} differs from grid {grid:?}")]
    MaskShape {
        segment_number: u16,
        mask: Vec<usize>,
        grid: [usize; 3],
    },
    #[error("build SEG: segment {segment_number} has an empty mask")]
    EmptySegment { segment_number: u16 },
    #[error("build SEG: file meta group")]
    Meta(#[source] Box<dicom_object::WithMetaError>),
    #[error("write {sop_instance_uid} to {path}")]
    Write {
        sop_instance_uid: String,
        path: PathBuf,
        #[source]
        source: Box<dicom_object::WriteError>,
    },
    #[error("encode {sop_instance_uid}")]
    Encode {
        sop_instance_uid: String,
        #[source]
        source: Box<dicom_object::WriteError>,
    },
}

/// Writes the SEG (or SR) as a DICOM Part 10 file (preamble, meta group, Explicit VR LE dataset).
pub fn write_seg(obj: &SegObject, path: &Path) -> Result<(), SegError> {
    obj.write_to_file(path).map_err(|e| SegError::Write {
        sop_instance_uid: sop_instance_uid(obj),
        path: path.to_owned(),
        source: Box::new(e),
    })
}

/// The SEG (or SR) as the bytes of a Part 10 file, e.g. for a durable outbox.
pub fn seg_to_bytes(obj: &SegObject) -> Result<Vec<u8>, SegError> {
    let mut out = Vec::new();
    obj.write_all(&mut out).map_err(|e| SegError::Encode {
        sop_instance_uid: sop_instance_uid(obj),
        source: Box::new(e),
    })?;
    Ok(out)
}

/// Only the dataset, Explicit VR Little Endian, without preamble or meta group: the form a
/// C-STORE request carries when that transfer syntax was accepted.
pub fn seg_dataset_bytes(obj: &SegObject) -> Result<Vec<u8>, SegError> {
    let mut out = Vec::new();
    obj.write_dataset(&mut out).map_err(|e| SegError::Encode {
        sop_instance_uid: sop_instance_uid(obj),
        source: Box::new(e),
    })?;
    Ok(out)
}

/// The SOP Instance UID of a built SEG or SR (from its meta group).
pub fn sop_instance_uid(obj: &SegObject) -> String {
    obj.meta()
        .media_storage_sop_instance_uid()
        .trim_end_matches('\0')
        .to_owned()
}
