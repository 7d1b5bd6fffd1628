//! What a SEG is assembled from: the builder's checked contents, and the plan `build()` makes
//! from them (frames, fresh UIDs, content time). Plain data shared by the builder and the
//! module writers (`modules.rs`, `groups.rs`), so neither imports the other's code.

use ndarray::ArrayView3;

use super::segment::SegmentDescription;
use crate::volume::geometry::{Geometry, SliceRef};
use dicom_object::InMemDicomObject;

/// The PET series a SEG is derived from: its header (Patient/Study attributes are copied from it),
/// its grid and the instance behind each z-slice.
#[derive(Debug, Clone, Copy)]
pub struct SourceSeries<'a> {
    /// Any one instance of the series (or an assembled header); pixel data is not needed.
    pub header: &'a InMemDicomObject,
    pub geometry: &'a Geometry,
    /// One entry per z-slice of `geometry`, in the same order.
    pub slices: &'a [SliceRef],
    pub series_instance_uid: &'a str,
    pub frame_of_reference_uid: &'a str,
}

/// Everything a SEG is made of, as the builder collected and checked it.
#[derive(Debug, Clone)]
pub(super) struct Contents<'a> {
    pub(super) source: SourceSeries<'a>,
    pub(super) series_number: i32,
    pub(super) series_description: String,
    pub(super) segments: Vec<(SegmentDescription, ArrayView3<'a, bool>)>,
    pub(super) instance_number: i32,
    pub(super) content_label: String,
    pub(super) content_description: String,
    pub(super) content_creator_name: String,
    pub(super) manufacturer_model_name: String,
    pub(super) device_serial_number: String,
    pub(super) content_date_time: Option<(String, String)>,
}

/// One frame of the SEG: segment `segment` on PET slice `z`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Frame {
    pub segment: u16,
    pub z: usize,
}

/// Everything `build()` decided before assembly: frames, fresh UIDs, content time.
pub(super) struct Plan<'p, 'a> {
    pub b: &'p Contents<'a>,
    pub frames: Vec<Frame>,
    pub sop_instance_uid: String,
    pub series_instance_uid: String,
    pub dimension_organization_uid: String,
    pub content_date: String,
    pub content_time: String,
}
