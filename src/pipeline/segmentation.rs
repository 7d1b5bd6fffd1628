//! From per-finding results to what a job sends: findings that ground to one lesion share a
//! segment ([`super::restate`]), the SEG has one segment per lesion, and (when asked) the
//! quantitative TID 1500 SR goes with it (CONTRACT §6). [`ground_study`] is the whole job core: prepared study + report
//! findings → [`Grounded`]. Pure: the caller decides where the SEG and SR go.

use crate::report::Finding;
use crate::seg::{SegObject, SegmentDescription, SegmentationBuilder, SourceSeries};
use crate::sr::{LesionGroup, MeasurementReportBuilder, SrObject, UngroundedFinding};

use super::ground::{FindingResult, Grounding, Methods, ground_finding};
use super::study::{Study, StudyError};
use super::versions::{SeriesNames, series_names};

/// What a job writes besides the outcomes.
#[derive(Debug, Clone, Copy)]
pub struct Outputs {
    /// SeriesNumber of the SEG; the SR's is the next one (a first report version's: a later
    /// version's series come from [`super::versions`] through [`ground_study_named`]).
    pub series_number: i32,
    /// Whether to build the quantitative SR (`[results] sr`).
    pub sr: bool,
}

/// One finding's result and its place in the SEG.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub result: FindingResult,
    /// The segment number of the finding's lesion, when grounded.
    pub segment: Option<u16>,
    /// When another finding's sentence describes this finding's lesion (an IMPRESSION
    /// restating FINDINGS, CONTRACT §5): that finding's number (1-based, report order).
    pub restatement_of: Option<usize>,
}

impl Outcome {
    pub fn grounding(&self) -> Option<&Grounding> {
        self.result.grounding()
    }

    /// Whether this finding's sentence describes its segment (grounded and not a restatement).
    pub fn describes_segment(&self) -> bool {
        self.segment.is_some() && self.restatement_of.is_none()
    }
}

/// What a job produced.
pub struct Grounded {
    /// One outcome per finding, in report order.
    pub findings: Vec<Outcome>,
    /// `None` when no finding was grounded (CONTRACT §5: then no SEG is sent).
    pub seg: Option<SegObject>,
    /// The TID 1500 SR of the SEG, when `Outputs::sr` and there is a SEG (CONTRACT §6).
    pub sr: Option<SrObject>,
    /// The PET SUV volume the masks lie on.
    pub suv: crate::volume::Volume,
    /// Why the study's CT was not used by the model, when it was given and could not be.
    pub ct_unused: Option<String>,
}

impl Grounded {
    /// The segments in segment order: the finding that describes each (its index) and its
    /// grounding (mask, method, measurements).
    pub fn segments(&self) -> impl Iterator<Item = (usize, &Grounding)> {
        segments(&self.findings)
    }
}

fn segments(outcomes: &[Outcome]) -> impl Iterator<Item = (usize, &Grounding)> {
    let mut described: Vec<(u16, usize, &Grounding)> = outcomes
        .iter()
        .enumerate()
        .filter(|(_, o)| o.describes_segment())
        .filter_map(|(i, o)| Some((o.segment?, i, o.grounding()?)))
        .collect();
    described.sort_by_key(|(n, _, _)| *n);
    described.into_iter().map(|(_, i, g)| (i, g))
}

/// The job core: grounds every finding (weak label and/or model, per `methods.mode`), groups
/// them into lesions, builds the SEG with one segment per lesion and, when `outputs.sr`, the SR,
/// in the series of a first report version ([`super::versions`]).
pub fn ground_study(
    study: Study,
    findings: &[Finding],
    methods: &Methods,
    outputs: &Outputs,
) -> Result<Grounded, StudyError> {
    let names = series_names(outputs.series_number, 1, false, 1);
    ground_study_named(study, findings, methods, outputs.sr, &names)
}

/// [`ground_study`] with the SEG and SR in the given series (a later report version's).
pub fn ground_study_named(
    study: Study,
    findings: &[Finding],
    methods: &Methods,
    sr: bool,
    names: &SeriesNames,
) -> Result<Grounded, StudyError> {
    let results: Vec<FindingResult> = findings
        .iter()
        .map(|f| ground_finding(&study, f, methods))
        .collect();
    let outcomes = place(findings, results);
    let (seg, sr) = if segments(&outcomes).next().is_none() {
        (None, None)
    } else {
        let (seg, sr) = seg_and_sr(&study, findings, &outcomes, sr, names)?;
        (Some(seg), sr)
    };
    let ct_unused = study.ct_unused().map(str::to_owned);
    Ok(Grounded {
        findings: outcomes,
        seg,
        sr,
        ct_unused,
        suv: study.series.volume,
    })
}

/// The SEG of the grounded findings and, when `sr`, its SR.
fn seg_and_sr(
    study: &Study,
    findings: &[Finding],
    outcomes: &[Outcome],
    sr: bool,
    names: &SeriesNames,
) -> Result<(SegObject, Option<SrObject>), StudyError> {
    let header = study.pet_header()?;
    let id = &study.series.identity;
    let source = SourceSeries {
        header: &header,
        geometry: &study.series.volume.geometry,
        slices: &study.series.slices,
        series_instance_uid: &id.series_instance_uid,
        frame_of_reference_uid: &id.frame_of_reference_uid,
    };
    let seg = build_seg(source, findings, outcomes, names)?;
    let sr = if sr {
        let builder = report_builder(source, &seg, findings, outcomes, names.sr_number)
            .series_description(&names.sr_description);
        Some(builder.build()?)
    } else {
        None
    };
    Ok((seg, sr))
}

/// Segment numbers and restatements: one segment per lesion, numbered in the report order of
/// the findings that describe them.
fn place(findings: &[Finding], results: Vec<FindingResult>) -> Vec<Outcome> {
    let masks: Vec<_> = results
        .iter()
        .map(|r| r.grounding().map(|g| &g.mask))
        .collect();
    let lesions = super::restate::lesions(findings, &masks);
    let mut outcomes: Vec<Outcome> = results
        .into_iter()
        .map(|result| Outcome {
            result,
            segment: None,
            restatement_of: None,
        })
        .collect();
    for (k, lesion) in lesions.iter().enumerate() {
        let d = lesion.described_by;
        for &i in &lesion.findings {
            outcomes[i].segment = Some(k as u16 + 1);
            outcomes[i].restatement_of = (i != d).then_some(d + 1);
        }
    }
    outcomes
}

fn build_seg(
    source: SourceSeries,
    findings: &[Finding],
    outcomes: &[Outcome],
    names: &SeriesNames,
) -> Result<SegObject, StudyError> {
    let mut builder = SegmentationBuilder::new(source, names.seg_number, &names.seg_description);
    for (n, (d, g)) in segments(outcomes).enumerate() {
        let n = n + 1;
        let description = SegmentDescription::automatic(
            n as u16,
            &segment_label(n, &findings[d]),
            &findings[d].sentence,
            g.method.algorithm_name(),
        );
        builder = builder.add_segment(description, g.mask.view());
    }
    Ok(builder.build()?)
}

/// The SR of a built SEG (CONTRACT §6): a volumetric group per segment with the measurements of
/// its mask, taking the sentence and method of the finding that describes the segment (not a
/// restatement of it: CONTRACT §5), and a qualitative group for every finding without a
/// segment.
pub fn quantitative_report(
    source: SourceSeries,
    seg: &SegObject,
    findings: &[Finding],
    outcomes: &[Outcome],
    series_number: i32,
) -> Result<SrObject, StudyError> {
    Ok(report_builder(source, seg, findings, outcomes, series_number).build()?)
}

/// The SR builder of [`quantitative_report`], its groups added.
fn report_builder<'a>(
    source: SourceSeries<'a>,
    seg: &'a SegObject,
    findings: &[Finding],
    outcomes: &[Outcome],
    series_number: i32,
) -> MeasurementReportBuilder<'a> {
    let mut builder = MeasurementReportBuilder::new(source, seg, series_number);
    for (i, (f, o)) in findings.iter().zip(outcomes).enumerate() {
        match (&o.result, o.segment) {
            (FindingResult::Grounded(g), Some(n)) => {
                // A restatement's lesion is reported once, under the sentence that describes it.
                if o.restatement_of.is_none() {
                    builder = builder.add_group(LesionGroup {
                        segment_number: n,
                        sentence: f.sentence.clone(),
                        method: g.method.algorithm_name().to_owned(),
                        measurements: g.measurements.clone(),
                    });
                }
            }
            (FindingResult::NotGrounded(why), _) => {
                builder = builder.add_ungrounded(UngroundedFinding {
                    index: i + 1,
                    sentence: f.sentence.clone(),
                    reason: why.to_string(),
                });
            }
            (FindingResult::Grounded(_), None) => {}
        }
    }
    builder
}

/// A short SegmentLabel (≤ 64 chars, CONTRACT §5) from the finding's text: the phrase before
/// the first comma, parenthesis or semicolon, cut at a word boundary when it is longer.
pub fn segment_label(number: usize, f: &Finding) -> String {
    const MAX: usize = 64;
    let head = f.text.split([',', '(', ';']).next().unwrap_or("").trim();
    let head: String = head.split_whitespace().collect::<Vec<_>>().join(" ");
    if head.is_empty() {
        return format!("Finding {number}");
    }
    let label = format!("F{number} {head}");
    if label.chars().count() <= MAX {
        return label;
    }
    let mut out = String::new();
    for word in label.split(' ') {
        let len = out.chars().count() + usize::from(!out.is_empty()) + word.chars().count();
        if len > MAX {
            break;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    if out.chars().count() <= format!("F{number}").len() {
        // One word longer than the whole label: cut it by characters.
        out = label.chars().take(MAX).collect();
    }
    out.trim_end_matches([' ', '-', '/']).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(text: &str) -> Finding {
        Finding {
            sentence: text.to_owned(),
            suv_max: None,
            slice: None,
            text: text.to_owned(),
            section: crate::report::Section::Findings,
        }
    }

    #[test]
    fn segment_labels_are_cut_at_a_word_boundary() {
        // Issue 15: this label used to end "... ~2.3 cm on sl".
        let f = finding(
            "Hypermetabolic lobulated soft tissue mass in the right lower lobe measuring ~2.3 cm \
             on slice , SUVmax ",
        );
        let label = segment_label(3, &f);
        assert!(label.chars().count() <= 64, "{label}");
        assert_eq!(
            label,
            "F3 Hypermetabolic lobulated soft tissue mass in the right lower"
        );
        assert_eq!(
            segment_label(1, &finding("Right hilar node, SUVmax , image .")),
            "F1 Right hilar node"
        );
        assert_eq!(segment_label(2, &finding(", SUVmax .")), "Finding 2");
        let word = "x".repeat(80);
        assert_eq!(segment_label(4, &finding(&word)).chars().count(), 64);
    }
}
