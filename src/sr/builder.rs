//! The SR builder (STYLE habit 11): the PET source, the built SEG and the series number are
//! required arguments; one [`LesionGroup`] per segment and one [`UngroundedFinding`] per finding
//! without a segment are added; `build()` checks the combination against the SEG itself (every
//! segment measured exactly once, same study) before anything is written. What the SEG says about
//! each segment (label, tracking, property type and category) is read back from the SEG, so the
//! two objects cannot disagree. The content tree is `tree.rs`, the IOD modules `modules.rs`.

use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;

use super::SrError;
use super::modules;
use super::plan::{Contents, Plan, SegRef, SegSegment};
pub use super::plan::{LesionGroup, UngroundedFinding};
use crate::ids::is_uid;
use crate::seg::elements::{is_da, is_tm, now_date_time};
use crate::seg::{Code, SegObject, SourceSeries, check_lo, new_uid};

/// Builds one Comprehensive 3D SR (TID 1500 Measurement Report) for one SEG.
#[derive(Debug, Clone)]
pub struct MeasurementReportBuilder<'a> {
    c: Contents<'a>,
}

impl<'a> MeasurementReportBuilder<'a> {
    pub fn new(source: SourceSeries<'a>, seg: &'a SegObject, series_number: i32) -> Self {
        MeasurementReportBuilder {
            c: Contents {
                source,
                seg,
                series_number,
                series_description: "petground quantitative results".to_owned(),
                groups: Vec::new(),
                ungrounded: Vec::new(),
                device_serial_number: "1".to_owned(),
                content_date_time: None,
            },
        }
    }

    pub fn add_group(mut self, group: LesionGroup) -> Self {
        self.c.groups.push(group);
        self
    }

    pub fn add_ungrounded(mut self, finding: UngroundedFinding) -> Self {
        self.c.ungrounded.push(finding);
        self
    }

    /// Series Description (LO); "petground quantitative results" by default.
    pub fn series_description(mut self, description: &str) -> Self {
        self.c.series_description = description.to_owned();
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

    /// Checks the inputs against each other and the SEG, then assembles the SR with fresh UIDs.
    pub fn build(self) -> Result<SegObject, SrError> {
        let seg = read_seg(self.c.seg)?;
        self.validate(&seg)?;
        let (date, time) = match &self.c.content_date_time {
            Some((d, t)) => (d.clone(), t.clone()),
            None => now_date_time(),
        };
        let plan = Plan {
            b: &self.c,
            seg,
            sop_instance_uid: new_uid(),
            series_instance_uid: new_uid(),
            content_date: date,
            content_time: time,
        };
        modules::assemble(&plan)
    }

    fn validate(&self, seg: &SegRef) -> Result<(), SrError> {
        if self.c.groups.is_empty() {
            return Err(SrError::NoGroups);
        }
        let invalid = |what: &'static str, reason: String| SrError::InvalidInput { what, reason };
        let study = self
            .c
            .source
            .header
            .get(tags::STUDY_INSTANCE_UID)
            .and_then(|e| e.value().to_str().ok())
            .map(|s| s.trim_end_matches(['\0', ' ']).to_owned())
            .unwrap_or_default();
        if study != seg.study_instance_uid {
            return Err(invalid(
                "StudyInstanceUID",
                format!(
                    "PET study {study:?} but SEG study {:?}",
                    seg.study_instance_uid
                ),
            ));
        }
        if !is_uid(self.c.source.series_instance_uid)
            || !is_uid(self.c.source.frame_of_reference_uid)
        {
            return Err(invalid(
                "SourceSeries",
                "PET series or frame of reference UID".into(),
            ));
        }
        check_lo(&self.c.device_serial_number).map_err(|r| invalid("DeviceSerialNumber", r))?;
        check_lo(&self.c.series_description).map_err(|r| invalid("SeriesDescription", r))?;
        if let Some((d, t)) = &self.c.content_date_time
            && !(is_da(d) && is_tm(t))
        {
            return Err(invalid("ContentDate/Time", format!("{d:?} {t:?}")));
        }
        self.validate_groups(seg)?;
        for u in &self.c.ungrounded {
            if u.sentence.trim().is_empty() || u.reason.trim().is_empty() || u.index == 0 {
                return Err(invalid(
                    "UngroundedFinding",
                    format!("finding {}: empty sentence or reason", u.index),
                ));
            }
        }
        Ok(())
    }

    /// One group per segment of the SEG, each with finite measurements.
    fn validate_groups(&self, seg: &SegRef) -> Result<(), SrError> {
        let bad = |segment_number: u16, reason: String| SrError::Group {
            segment_number,
            reason,
        };
        for (i, g) in self.c.groups.iter().enumerate() {
            if !seg.segments.iter().any(|s| s.number == g.segment_number) {
                return Err(bad(g.segment_number, "the SEG has no such segment".into()));
            }
            if self.c.groups[..i]
                .iter()
                .any(|o| o.segment_number == g.segment_number)
            {
                return Err(bad(g.segment_number, "measured twice".into()));
            }
            let m = &g.measurements;
            let values = [
                m.suv_max,
                m.suv_mean,
                m.suv_peak,
                m.mtv_ml,
                m.tlg,
                m.largest_axial_diameter_mm,
            ];
            if values.iter().any(|v| !v.is_finite()) || m.voxels == 0 {
                return Err(bad(
                    g.segment_number,
                    format!("measurements not finite: {m:?}"),
                ));
            }
            if g.method.trim().is_empty() || g.sentence.trim().is_empty() {
                return Err(bad(g.segment_number, "empty sentence or method".into()));
            }
        }
        if let Some(s) = seg
            .segments
            .iter()
            .find(|s| !self.c.groups.iter().any(|g| g.segment_number == s.number))
        {
            return Err(bad(
                s.number,
                "segment of the SEG without measurements".into(),
            ));
        }
        Ok(())
    }
}

fn string(obj: &InMemDicomObject, tag: dicom_core::Tag) -> Option<String> {
    obj.get(tag)
        .and_then(|e| e.value().to_str().ok())
        .map(|s| s.trim_end_matches(['\0', ' ']).to_owned())
        .filter(|s| !s.is_empty())
}

fn first_code(obj: &InMemDicomObject, tag: dicom_core::Tag) -> Option<Code> {
    let it = obj.get(tag)?.items()?.first()?;
    Some(Code::new(
        &string(it, tags::CODE_VALUE)?,
        &string(it, tags::CODING_SCHEME_DESIGNATOR)?,
        &string(it, tags::CODE_MEANING)?,
    ))
}

/// What the SR references of a built SEG; an error names what a SEG must have and this lacks.
pub(super) fn read_seg(seg: &SegObject) -> Result<SegRef, SrError> {
    let missing = |what: &'static str| SrError::InvalidInput {
        what,
        reason: "missing from the SEG".into(),
    };
    let get = |tag, what| string(seg, tag).ok_or_else(|| missing(what));
    let segments = seg
        .get(tags::SEGMENT_SEQUENCE)
        .and_then(|e| e.items())
        .ok_or_else(|| missing("SegmentSequence"))?
        .iter()
        .map(|it| {
            let number = it
                .get(tags::SEGMENT_NUMBER)
                .and_then(|e| e.value().to_int::<u16>().ok())
                .ok_or_else(|| missing("SegmentNumber"))?;
            Ok(SegSegment {
                number,
                label: string(it, tags::SEGMENT_LABEL)
                    .unwrap_or_else(|| format!("Segment {number}")),
                tracking_id: string(it, tags::TRACKING_ID),
                tracking_uid: string(it, tags::TRACKING_UID),
                property_type: first_code(it, tags::SEGMENTED_PROPERTY_TYPE_CODE_SEQUENCE),
                category: first_code(it, tags::SEGMENTED_PROPERTY_CATEGORY_CODE_SEQUENCE),
            })
        })
        .collect::<Result<Vec<_>, SrError>>()?;
    Ok(SegRef {
        sop_class_uid: get(tags::SOP_CLASS_UID, "SOPClassUID")?,
        sop_instance_uid: get(tags::SOP_INSTANCE_UID, "SOPInstanceUID")?,
        series_instance_uid: get(tags::SERIES_INSTANCE_UID, "SeriesInstanceUID")?,
        study_instance_uid: get(tags::STUDY_INSTANCE_UID, "StudyInstanceUID")?,
        segments,
    })
}
