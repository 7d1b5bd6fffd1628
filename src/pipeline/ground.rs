//! The job core, shared by the node and `petground ground`: PET series files + report text →
//! one outcome per finding and, when any finding was grounded, one DICOM SEG. Synchronous and
//! free of the store and the network; the caller decides where inputs come from and where the
//! SEG goes.

use std::path::{Path, PathBuf};

use dicom_dictionary_std::tags;
use dicom_object::OpenFileOptions;
use ndarray::Array3;

use crate::label::{LabelOutcome, LabelParams, weak_label};
use crate::report::Finding;
use crate::seg::{SegObject, SegmentDescription, SegmentationBuilder, SourceSeries};
use crate::store::FindingOutcome;
use crate::volume::suv::assemble_pet_suv;

/// SegmentAlgorithmName of segments made by the weak-label path.
pub const WEAK_LABEL_ALGORITHM: &str = "petground weak-label (threshold + ITM)";

#[derive(Debug, thiserror::Error)]
pub enum GroundError {
    #[error("PET series: {0}")]
    Volume(#[from] crate::volume::VolumeError),
    #[error("reading the PET header {path}: {detail}")]
    Header { path: PathBuf, detail: String },
    #[error("building the SEG: {0}")]
    Seg(#[from] crate::seg::SegError),
    #[error("the PET series has no instances")]
    NoInstances,
}

/// What a job produced.
pub struct Grounded {
    pub findings: Vec<FindingOutcome>,
    /// `None` when no finding was grounded (CONTRACT §5: then no SEG is sent).
    pub seg: Option<SegObject>,
    /// The dense masks of the grounded findings, in segment order (for pictures and tests).
    pub masks: Vec<Array3<bool>>,
    /// The PET SUV volume the masks lie on.
    pub suv: crate::volume::Volume,
}

/// A short SegmentLabel (≤ 64 chars) from the finding's text: the phrase before the first comma.
pub fn segment_label(number: usize, f: &Finding) -> String {
    let head = f.text.split([',', '(', ';']).next().unwrap_or("").trim();
    let head: String = head.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut label = format!("F{number} {head}");
    if head.is_empty() {
        label = format!("Finding {number}");
    }
    label
        .chars()
        .take(64)
        .collect::<String>()
        .trim_end()
        .to_owned()
}

/// Runs SUV volume assembly and the weak label for every finding of the report, and builds
/// the SEG. `series_number` is the SEG's SeriesNumber.
pub fn ground_study(
    pet_files: &[PathBuf],
    findings: &[Finding],
    params: &LabelParams,
    series_number: i32,
) -> Result<Grounded, GroundError> {
    let first = pet_files.first().ok_or(GroundError::NoInstances)?;
    let (series, _suv) = assemble_pet_suv(pet_files)?;
    let mut outcomes = Vec::with_capacity(findings.len());
    let mut masks: Vec<Array3<bool>> = Vec::new();
    let mut descriptions = Vec::new();
    for f in findings {
        let mut out = FindingOutcome {
            sentence: f.sentence.clone(),
            suv_max: f.suv_max,
            slice: f.slice,
            method: None,
            segment: None,
            detail: String::new(),
            label_suv_max: None,
            mtv_ml: None,
        };
        let Some(s) = f.suv_max else {
            out.detail = "no SUVmax in the sentence: the weak-label method needs one".to_owned();
            outcomes.push(out);
            continue;
        };
        match weak_label(
            &series.volume,
            &series.slices,
            s,
            f.slice,
            &f.sentence,
            params,
        ) {
            LabelOutcome::Labelled {
                mask,
                slice_rule,
                measurements,
                ..
            } => {
                let n = masks.len() + 1;
                out.method = Some(WEAK_LABEL_ALGORITHM.to_owned());
                out.segment = Some(n as u16);
                out.detail = format!("matched via {slice_rule}");
                out.label_suv_max = Some(measurements.suv_max);
                out.mtv_ml = Some(measurements.mtv_ml);
                descriptions.push(SegmentDescription::automatic(
                    n as u16,
                    &segment_label(n, f),
                    &f.sentence,
                    WEAK_LABEL_ALGORITHM,
                ));
                masks.push(mask.to_dense());
            }
            other => out.detail = other.to_string(),
        }
        outcomes.push(out);
    }
    if masks.is_empty() {
        return Ok(Grounded {
            findings: outcomes,
            seg: None,
            masks,
            suv: series.volume,
        });
    }
    let header = read_header(first)?;
    let id = &series.identity;
    let source = SourceSeries {
        header: &header,
        geometry: &series.volume.geometry,
        slices: &series.slices,
        series_instance_uid: &id.series_instance_uid,
        frame_of_reference_uid: &id.frame_of_reference_uid,
    };
    let mut builder = SegmentationBuilder::new(source, series_number, "petground findings");
    for (d, m) in descriptions.into_iter().zip(&masks) {
        builder = builder.add_segment(d, m.view());
    }
    let seg = builder.build()?;
    Ok(Grounded {
        findings: outcomes,
        seg: Some(seg),
        masks,
        suv: series.volume,
    })
}

fn read_header(path: &Path) -> Result<dicom_object::InMemDicomObject, GroundError> {
    OpenFileOptions::new()
        .read_until(tags::PIXEL_DATA)
        .open_file(path)
        .map(|o| o.into_inner())
        .map_err(|e| GroundError::Header {
            path: path.to_owned(),
            detail: e.to_string(),
        })
}

/// The PET series to ground in a folder of DICOM files (for `petground ground`): the PT series
/// with the most instances. Files that are not DICOM are ignored; returns their count too.
pub fn pet_series_in(dir: &Path) -> Result<(Vec<PathBuf>, usize), GroundError> {
    use std::collections::BTreeMap;
    let mut by_series: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    let mut skipped = 0;
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d).map_err(|e| GroundError::Header {
            path: d.clone(),
            detail: e.to_string(),
        })?;
        for entry in entries.flatten() {
            let p = entry.path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            match crate::store::InstanceHeader::read(&p) {
                Ok(h) if h.modality == "PT" => {
                    by_series.entry(h.series.to_string()).or_default().push(p)
                }
                Ok(_) => {}
                Err(_) => skipped += 1,
            }
        }
    }
    let files = by_series
        .into_values()
        .max_by_key(Vec::len)
        .ok_or(GroundError::NoInstances)?;
    Ok((files, skipped))
}
