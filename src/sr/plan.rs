//! What an SR is assembled from: its inputs (lesion groups, ungrounded findings, the SEG as read
//! back), the builder's contents and the plan `build()` makes (fresh UIDs, content time). Plain
//! data shared by the builder and the writers (`modules.rs`, `tree.rs`), so neither imports the
//! other's code.

use crate::label::Measurements;
use crate::seg::{Code, SegObject, SourceSeries};

/// The measurements of one grounded finding: its segment in the SEG and the numbers from
/// `label::measure` on the native PET grid.
#[derive(Debug, Clone, PartialEq)]
pub struct LesionGroup {
    pub segment_number: u16,
    /// The finding sentence (the SEG's SegmentDescription).
    pub sentence: String,
    /// Which method produced the mask (the SEG's SegmentAlgorithmName).
    pub method: String,
    pub measurements: Measurements,
}

/// A finding of the report that has no segment, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UngroundedFinding {
    /// 1-based position of the finding in the report (names its tracking identifier).
    pub index: usize,
    pub sentence: String,
    pub reason: String,
}

/// What the SR needs to know about one segment of the SEG.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct SegSegment {
    pub number: u16,
    pub label: String,
    pub tracking_id: Option<String>,
    pub tracking_uid: Option<String>,
    pub property_type: Option<Code>,
    pub category: Option<Code>,
}

/// The SEG as the SR references it.
#[derive(Debug, Clone)]
pub(super) struct SegRef {
    pub sop_class_uid: String,
    pub sop_instance_uid: String,
    pub series_instance_uid: String,
    pub study_instance_uid: String,
    pub segments: Vec<SegSegment>,
}

/// Everything an SR is made of, as the builder collected it.
#[derive(Debug, Clone)]
pub(super) struct Contents<'a> {
    pub(super) source: SourceSeries<'a>,
    pub(super) seg: &'a SegObject,
    pub(super) series_number: i32,
    pub(super) series_description: String,
    pub(super) groups: Vec<LesionGroup>,
    pub(super) ungrounded: Vec<UngroundedFinding>,
    pub(super) device_serial_number: String,
    pub(super) content_date_time: Option<(String, String)>,
}

/// Everything `build()` decided before assembly.
pub(super) struct Plan<'p, 'a> {
    pub b: &'p Contents<'a>,
    pub seg: SegRef,
    pub sop_instance_uid: String,
    pub series_instance_uid: String,
    pub content_date: String,
    pub content_time: String,
}
