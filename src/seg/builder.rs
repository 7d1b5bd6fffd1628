//! The SEG builder (highdicom's `Segmentation` constructor as a Rust builder, STYLE habit 11):
//! what is required comes as constructor arguments, everything else has a checked setter, and
//! `build()` validates the whole combination before any element is written. The attributes
//! themselves are assembled in `modules.rs`; writing to disk or bytes lives in `mod.rs`.

use dicom_object::{FileDicomObject, InMemDicomObject};
use ndarray::{ArrayView3, Axis};

use super::SegError;
use super::elements::{is_da, is_tm, now_date_time};
use super::modules;
use super::plan::{Contents, Frame, Plan, SourceSeries};
use super::segment::{SegmentDescription, check_lo};
use super::uid::new_uid;
use crate::ids::is_uid;

fn invalid(what: &'static str, reason: String) -> SegError {
    SegError::InvalidInput { what, reason }
}

/// Builds one BINARY Segmentation Storage instance from per-segment masks on the PET grid.
#[derive(Debug, Clone)]
pub struct SegmentationBuilder<'a> {
    c: Contents<'a>,
}

impl<'a> SegmentationBuilder<'a> {
    pub fn new(source: SourceSeries<'a>, series_number: i32, series_description: &str) -> Self {
        SegmentationBuilder {
            c: Contents {
                source,
                series_number,
                series_description: series_description.to_owned(),
                segments: Vec::new(),
                instance_number: 1,
                content_label: "PETGROUND".to_owned(),
                content_description: "Report findings grounded in PET".to_owned(),
                content_creator_name: String::new(),
                manufacturer_model_name: "petground".to_owned(),
                device_serial_number: "1".to_owned(),
                content_date_time: None,
            },
        }
    }

    /// Adds a segment; its mask is indexed `[z, y, x]` on the source grid.
    pub fn add_segment(
        mut self,
        description: SegmentDescription,
        mask: ArrayView3<'a, bool>,
    ) -> Self {
        self.c.segments.push((description, mask));
        self
    }

    pub fn instance_number(mut self, n: i32) -> Self {
        self.c.instance_number = n;
        self
    }

    /// Content Label (CS: upper-case letters, digits, space, underscore; ≤ 16 characters).
    pub fn content_label(mut self, label: &str) -> Self {
        self.c.content_label = label.to_owned();
        self
    }

    pub fn content_description(mut self, description: &str) -> Self {
        self.c.content_description = description.to_owned();
        self
    }

    /// Content Creator's Name (PN), e.g. `PETGROUND^NODE`; empty (Type 2) by default.
    pub fn content_creator_name(mut self, name: &str) -> Self {
        self.c.content_creator_name = name.to_owned();
        self
    }

    pub fn manufacturer_model_name(mut self, name: &str) -> Self {
        self.c.manufacturer_model_name = name.to_owned();
        self
    }

    pub fn device_serial_number(mut self, serial: &str) -> Self {
        self.c.device_serial_number = serial.to_owned();
        self
    }

    /// Content Date (`YYYYMMDD`) and Time (`HHMMSS`); the current UTC time by default.
    pub fn content_date_time(mut self, date: &str, time: &str) -> Self {
        self.c.content_date_time = Some((date.to_owned(), time.to_owned()));
        self
    }

    /// Checks every input and their combination, then assembles the SEG with fresh UIDs.
    pub fn build(self) -> Result<FileDicomObject<InMemDicomObject>, SegError> {
        self.validate()?;
        let frames = self.frames()?;
        let (content_date, content_time) = match &self.c.content_date_time {
            Some((d, t)) => (d.clone(), t.clone()),
            None => now_date_time(),
        };
        let plan = Plan {
            b: &self.c,
            frames,
            sop_instance_uid: new_uid(),
            series_instance_uid: new_uid(),
            dimension_organization_uid: new_uid(),
            content_date,
            content_time,
        };
        modules::assemble(&plan)
    }

    fn validate(&self) -> Result<(), SegError> {
        if self.c.segments.is_empty() {
            return Err(SegError::NoSegments);
        }
        self.validate_source()?;
        self.validate_content()?;
        self.validate_segments()
    }

    /// The PET side: UIDs, a grid a SEG can describe, one instance per slice.
    fn validate_source(&self) -> Result<(), SegError> {
        let src = &self.c.source;
        let g = src.geometry;
        for (what, uid) in [
            ("SeriesInstanceUID", src.series_instance_uid),
            ("FrameOfReferenceUID", src.frame_of_reference_uid),
        ] {
            if !is_uid(uid) {
                return Err(invalid(what, format!("not a UID: {uid:?}")));
            }
        }
        let [nz, ny, nx] = g.dims;
        if nz == 0 || ny == 0 || nx == 0 || ny > usize::from(u16::MAX) || nx > usize::from(u16::MAX)
        {
            return Err(invalid(
                "Geometry",
                format!("grid {:?} outside 1..=65535 per row/column", g.dims),
            ));
        }
        if g.spacing.iter().any(|s| !(s.is_finite() && *s > 0.0)) {
            return Err(invalid(
                "Geometry",
                format!("spacing {:?} not positive", g.spacing),
            ));
        }
        if src.slices.len() != nz {
            return Err(invalid(
                "SliceRef",
                format!("{} slices for {nz} z-planes", src.slices.len()),
            ));
        }
        for s in src.slices {
            if !is_uid(&s.sop_instance_uid) || !is_uid(&s.sop_class_uid) {
                return Err(invalid(
                    "SliceRef",
                    format!("not a UID: {:?}", s.sop_instance_uid),
                ));
            }
        }
        Ok(())
    }

    /// The SEG's own strings, against their value representations.
    fn validate_content(&self) -> Result<(), SegError> {
        check_lo(&self.c.series_description).map_err(|r| invalid("SeriesDescription", r))?;
        check_lo(&self.c.content_description).map_err(|r| invalid("ContentDescription", r))?;
        check_lo(&self.c.manufacturer_model_name)
            .map_err(|r| invalid("ManufacturerModelName", r))?;
        check_lo(&self.c.device_serial_number).map_err(|r| invalid("DeviceSerialNumber", r))?;
        let cs_ok = |c: char| c.is_ascii_uppercase() || c.is_ascii_digit() || c == ' ' || c == '_';
        if self.c.content_label.is_empty()
            || self.c.content_label.len() > 16
            || !self.c.content_label.chars().all(cs_ok)
        {
            return Err(invalid(
                "ContentLabel",
                format!("{:?} is not a CS value", self.c.content_label),
            ));
        }
        if self.c.content_creator_name.contains('\\')
            || self.c.content_creator_name.chars().count() > 64
        {
            return Err(invalid(
                "ContentCreatorName",
                "backslash or > 64 characters".into(),
            ));
        }
        if let Some((d, t)) = &self.c.content_date_time
            && !(is_da(d) && is_tm(t))
        {
            return Err(invalid("ContentDate/Time", format!("{d:?} {t:?}")));
        }
        if self.c.instance_number < 0 {
            return Err(invalid(
                "InstanceNumber",
                self.c.instance_number.to_string(),
            ));
        }
        Ok(())
    }

    /// Each segment alone, then numbering 1..n and mask shapes against the grid.
    fn validate_segments(&self) -> Result<(), SegError> {
        let g = self.c.source.geometry;
        for (i, (desc, mask)) in self.c.segments.iter().enumerate() {
            let expected = i + 1;
            if usize::from(desc.segment_number) != expected {
                return Err(SegError::SegmentNumbering {
                    expected,
                    found: desc.segment_number,
                });
            }
            desc.validate()?;
            if mask.shape() != g.dims {
                return Err(SegError::MaskShape {
                    segment_number: desc.segment_number,
                    mask: mask.shape().to_vec(),
                    grid: g.dims,
                });
            }
        }
        Ok(())
    }

    /// One frame per (segment, z-slice) where the segment has voxels, segment-major.
    fn frames(&self) -> Result<Vec<Frame>, SegError> {
        let mut frames = Vec::new();
        for (desc, mask) in &self.c.segments {
            let before = frames.len();
            for (z, plane) in mask.axis_iter(Axis(0)).enumerate() {
                if plane.iter().any(|&v| v) {
                    frames.push(Frame {
                        segment: desc.segment_number,
                        z,
                    });
                }
            }
            if frames.len() == before {
                // An ungrounded finding gets no segment (CONTRACT §5); an empty mask is a bug.
                return Err(SegError::EmptySegment {
                    segment_number: desc.segment_number,
                });
            }
        }
        let [_, ny, nx] = self.c.source.geometry.dims;
        let bytes = super::bits::packed_len(frames.len() * ny * nx);
        if u32::try_from(bytes).is_err() {
            return Err(SegError::InvalidInput {
                what: "PixelData",
                reason: format!("{bytes} bytes exceed the 32-bit value length"),
            });
        }
        Ok(frames)
    }
}
