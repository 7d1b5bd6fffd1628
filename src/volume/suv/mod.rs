//! SUV (body weight, and lean body mass when sex and height exist) from PET headers, following
//! the QIBA vendor-neutral pseudo-code: Units BQML with DecayCorrection START or ADMIN, Philips
//! CNTS with its private SUV (7053,1000) or activity (7053,1009) scale factor, GML as already SUV,
//! CorrectedImage must hold ATTN and DECY. Every refusal names the attribute. Pixel decoding and
//! geometry live in `assemble`; the choice of clock times lives in `times`.

mod times;

use std::path::{Path, PathBuf};

use dicom_core::Tag;
use dicom_dictionary_std::tags;
use dicom_object::{DefaultDicomObject, InMemDicomObject};

use super::assemble::{AssembledSeries, assemble_with_headers, read_headers};
use super::attrs::{DateTime, items, number, text};
use super::error::VolumeError;
pub use times::{CLOCK_SKEW_S, Decay, DecayRule, TimeSource};
use times::{acquisition_datetime, decay_times};

/// Philips private SUV scale factor (CNTS → SUVbw).
const PHILIPS_SUV_FACTOR: Tag = Tag(0x7053, 0x1000);
/// Philips private activity concentration scale factor (CNTS → Bq/mL).
const PHILIPS_ACTIVITY_FACTOR: Tag = Tag(0x7053, 0x1009);

/// Which QIBA branch produced the scale factor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SuvRule {
    /// Units BQML, DecayCorrection START: dose decayed from injection to scan start.
    BqmlStart,
    /// Units BQML, DecayCorrection ADMIN: images already decayed to injection time.
    BqmlAdmin,
    /// Units CNTS with Philips (7053,1000): the vendor's own SUV factor.
    PhilipsSuvFactor,
    /// Units CNTS with Philips (7053,1009) to Bq/mL, then the BQML rule for its DecayCorrection.
    PhilipsActivityFactor { admin: bool },
    /// Units GML: voxels already hold SUVbw.
    Gml,
}

impl std::fmt::Display for SuvRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SuvRule::BqmlStart => "BQML/START",
            SuvRule::BqmlAdmin => "BQML/ADMIN",
            SuvRule::PhilipsSuvFactor => "CNTS/Philips (7053,1000)",
            SuvRule::PhilipsActivityFactor { admin: false } => "CNTS/Philips (7053,1009) + START",
            SuvRule::PhilipsActivityFactor { admin: true } => "CNTS/Philips (7053,1009) + ADMIN",
            SuvRule::Gml => "GML (already SUV)",
        })
    }
}

/// Lean-body-mass SUV (Janmahasatian et al., Clin Pharmacokinet 2005).
#[derive(Debug, Clone, PartialEq)]
pub struct Lbm {
    pub lbm_kg: f64,
    /// Multiply the rescaled voxel value by this to get SUVlbm.
    pub scale_factor: f64,
}

/// Everything `petground suv` prints for one instance.
#[derive(Debug, Clone, PartialEq)]
pub struct SuvReport {
    pub path: Option<PathBuf>,
    pub sop_instance_uid: String,
    pub units: String,
    pub rule: SuvRule,
    /// Multiply the rescaled voxel value (RescaleSlope/Intercept applied) by this to get SUVbw.
    pub scale_factor: f64,
    pub injected_dose_bq: Option<f64>,
    /// Injected dose decayed to scan start (equal to the injected dose for ADMIN).
    pub decayed_dose_bq: Option<f64>,
    pub half_life_s: Option<f64>,
    pub decay: Option<Decay>,
    pub weight_kg: Option<f64>,
    /// Philips (7053,1009) counts → Bq/mL factor, when that rule applied.
    pub activity_scale: Option<f64>,
    pub lbm: Option<Lbm>,
}

impl std::fmt::Display for SuvReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.path {
            Some(p) => write!(f, "{}: ", p.display())?,
            None => write!(f, "{}: ", self.sop_instance_uid)?,
        }
        write!(f, "SUVbw factor {:.6e} [{}]", self.scale_factor, self.rule)?;
        if let Some(d) = self.injected_dose_bq {
            write!(f, "; injected {:.2} MBq", d / 1e6)?;
        }
        if let Some(d) = &self.decay {
            write!(
                f,
                "; injection {} ({:?}); scan {} ({:?}); decay {:.0} s ({})",
                d.injection, d.injection_source, d.scan, d.scan_source, d.seconds, d.rule
            )?;
        }
        if let Some(h) = self.half_life_s {
            write!(f, "; half-life {h:.1} s")?;
        }
        if let Some(d) = self.decayed_dose_bq {
            write!(f, "; decay-corrected dose {:.2} MBq", d / 1e6)?;
        }
        if let Some(w) = self.weight_kg {
            write!(f, "; weight {w:.2} kg")?;
        }
        if let Some(a) = self.activity_scale {
            write!(f, "; activity scale {a:.6}")?;
        }
        if let Some(l) = &self.lbm {
            write!(
                f,
                "; SUVlbm factor {:.6e} (Janmahasatian, LBM {:.1} kg)",
                l.scale_factor, l.lbm_kg
            )?;
        }
        Ok(())
    }
}

/// The CLI's `petground suv FILE.dcm`: reads the header of one file and explains its SUV.
pub fn suv_report(path: &Path) -> Result<SuvReport, VolumeError> {
    let headers = read_headers(&[path])?;
    let header = headers.first().ok_or(VolumeError::EmptySeries)?;
    let mut report = suv_from_header(header, None)?;
    report.path = Some(path.to_path_buf());
    Ok(report)
}

/// The SUV of a whole series: scan time from the earliest acquisition when the series time is
/// unreliable, and one factor that every instance must agree on.
pub fn series_suv(headers: &[DefaultDicomObject]) -> Result<SuvReport, VolumeError> {
    let earliest = headers
        .iter()
        .filter_map(|h| acquisition_datetime(h))
        .min_by(|a, b| a.epoch_seconds().total_cmp(&b.epoch_seconds()));
    let mut first: Option<SuvReport> = None;
    for h in headers {
        let r = suv_from_header(h, earliest)?;
        match &first {
            None => first = Some(r),
            Some(f) if (f.scale_factor - r.scale_factor).abs() > 1e-4 * f.scale_factor => {
                return Err(VolumeError::Inconsistent {
                    attr: "SUV scale factor",
                    first: f.sop_instance_uid.clone(),
                    other: r.sop_instance_uid,
                    first_value: format!("{:e}", f.scale_factor),
                    other_value: format!("{:e}", r.scale_factor),
                });
            }
            Some(_) => {}
        }
    }
    first.ok_or(VolumeError::EmptySeries)
}

/// Assembles a PET series and converts it to SUVbw in place.
pub fn assemble_pet_suv<P: AsRef<Path>>(
    paths: &[P],
) -> Result<(AssembledSeries, SuvReport), VolumeError> {
    let headers = read_headers(paths)?;
    let report = series_suv(&headers)?;
    if let Some(d) = report
        .decay
        .as_ref()
        .filter(|d| d.rule != DecayRule::Interval)
    {
        // Once per series: the rule that decided the decay is not the plain interval.
        tracing::warn!(
            injection = %d.injection,
            scan = %d.scan,
            decay_s = d.seconds,
            rule = %d.rule,
            "SUV decay: injection time is not before the scan start"
        );
    }
    let mut series = assemble_with_headers(paths, &headers)?;
    let k = report.scale_factor as f32;
    series.volume.data.mapv_inplace(|v| v * k);
    Ok((series, report))
}

/// The QIBA decision tree for one instance. `earliest_acquisition` is the series' earliest
/// AcquisitionDate/Time, used when SeriesTime is later than AcquisitionTime and no GE private
/// scan time exists (post-processed Siemens series).
pub fn suv_from_header(
    obj: &InMemDicomObject,
    earliest_acquisition: Option<DateTime>,
) -> Result<SuvReport, VolumeError> {
    let inst = text(obj, tags::SOP_INSTANCE_UID).unwrap_or_else(|| "?".to_owned());
    let units = text(obj, tags::UNITS)
        .ok_or_else(|| VolumeError::suv("Units (0054,1001)", &inst, "is missing"))?;
    check_corrected(obj, &inst)?;
    let weight = weight_kg(obj, &inst);
    let mut report = SuvReport {
        path: None,
        sop_instance_uid: inst.clone(),
        units: units.clone(),
        rule: SuvRule::Gml,
        scale_factor: 1.0,
        injected_dose_bq: None,
        decayed_dose_bq: None,
        half_life_s: None,
        decay: None,
        weight_kg: weight.as_ref().ok().copied(),
        activity_scale: None,
        lbm: None,
    };
    match units.to_ascii_uppercase().as_str() {
        "GML" => {}
        "BQML" => bqml(obj, &inst, weight?, earliest_acquisition, &mut report)?,
        "CNTS" => cnts(obj, &inst, weight, earliest_acquisition, &mut report)?,
        other => {
            return Err(VolumeError::suv(
                "Units (0054,1001)",
                &inst,
                format!("is {other}; only BQML, CNTS (Philips) and GML give SUV"),
            ));
        }
    }
    report.lbm = lbm(obj, report.weight_kg, report.scale_factor);
    Ok(report)
}

fn check_corrected(obj: &InMemDicomObject, inst: &str) -> Result<(), VolumeError> {
    let corrected = text(obj, tags::CORRECTED_IMAGE)
        .unwrap_or_default()
        .to_ascii_uppercase();
    let flags: Vec<&str> = corrected.split('\\').map(str::trim).collect();
    for need in ["ATTN", "DECY"] {
        if !flags.contains(&need) {
            return Err(VolumeError::suv(
                "CorrectedImage (0028,0051)",
                inst,
                format!("lacks {need} (has {corrected:?}): not a quantitative image"),
            ));
        }
    }
    Ok(())
}

fn weight_kg(obj: &InMemDicomObject, inst: &str) -> Result<f64, VolumeError> {
    const ATTR: &str = "PatientWeight (0010,1030)";
    let w = number(obj, tags::PATIENT_WEIGHT, ATTR, inst)
        .map_err(|_| VolumeError::suv(ATTR, inst, "is not a number"))?
        .ok_or_else(|| VolumeError::suv(ATTR, inst, "is missing"))?;
    if w <= 0.0 {
        return Err(VolumeError::suv(
            ATTR,
            inst,
            format!("is {w}: must be positive"),
        ));
    }
    if !(1.0..=500.0).contains(&w) {
        return Err(VolumeError::suv(
            ATTR,
            inst,
            format!("is {w} kg: implausible"),
        ));
    }
    Ok(w)
}

fn cnts(
    obj: &InMemDicomObject,
    inst: &str,
    weight: Result<f64, VolumeError>,
    earliest: Option<DateTime>,
    report: &mut SuvReport,
) -> Result<(), VolumeError> {
    let positive = |tag, attr| -> Option<f64> {
        number(obj, tag, attr, inst)
            .ok()
            .flatten()
            .filter(|v| *v > 0.0)
    };
    if let Some(k) = positive(PHILIPS_SUV_FACTOR, "Philips SUV scale factor (7053,1000)") {
        report.rule = SuvRule::PhilipsSuvFactor;
        report.scale_factor = k;
        return Ok(());
    }
    let Some(a) = positive(
        PHILIPS_ACTIVITY_FACTOR,
        "Philips activity scale (7053,1009)",
    ) else {
        return Err(VolumeError::suv(
            "Philips SUV scale factor (7053,1000)",
            inst,
            "is missing or zero, and so is (7053,1009): Units CNTS cannot be converted",
        ));
    };
    bqml(obj, inst, weight?, earliest, report)?;
    report.rule = SuvRule::PhilipsActivityFactor {
        admin: report.rule == SuvRule::BqmlAdmin,
    };
    report.activity_scale = Some(a);
    report.scale_factor *= a;
    Ok(())
}

/// One required, plausible number from the first RadiopharmaceuticalInformationSequence item.
fn radiopharm(
    obj: &InMemDicomObject,
    inst: &str,
    tag: Tag,
    attr: &'static str,
    lo: f64,
    hi: f64,
) -> Result<f64, VolumeError> {
    let item = items(obj, tags::RADIOPHARMACEUTICAL_INFORMATION_SEQUENCE)
        .first()
        .ok_or_else(|| {
            VolumeError::suv(
                "RadiopharmaceuticalInformationSequence (0054,0016)",
                inst,
                "is missing",
            )
        })?;
    let v = number(item, tag, attr, inst)
        .map_err(|_| VolumeError::suv(attr, inst, "is not a number"))?
        .ok_or_else(|| VolumeError::suv(attr, inst, "is missing"))?;
    if v <= 0.0 {
        return Err(VolumeError::suv(
            attr,
            inst,
            format!("is {v}: must be positive"),
        ));
    }
    if !(lo..=hi).contains(&v) {
        return Err(VolumeError::suv(
            attr,
            inst,
            format!("is {v}: implausible (expected {lo:e}..{hi:e})"),
        ));
    }
    Ok(v)
}

fn bqml(
    obj: &InMemDicomObject,
    inst: &str,
    weight: f64,
    earliest: Option<DateTime>,
    report: &mut SuvReport,
) -> Result<(), VolumeError> {
    const DC: &str = "DecayCorrection (0054,1102)";
    let dc = text(obj, tags::DECAY_CORRECTION)
        .ok_or_else(|| VolumeError::suv(DC, inst, "is missing"))?;
    // Doses in Bq: 1 MBq to 50 GBq; half-lives: 1 minute to ~115 days.
    let dose = radiopharm(
        obj,
        inst,
        tags::RADIONUCLIDE_TOTAL_DOSE,
        "RadionuclideTotalDose (0018,1074)",
        1e6,
        5e10,
    )?;
    let half_life = radiopharm(
        obj,
        inst,
        tags::RADIONUCLIDE_HALF_LIFE,
        "RadionuclideHalfLife (0018,1075)",
        60.0,
        1e7,
    )?;
    report.injected_dose_bq = Some(dose);
    report.half_life_s = Some(half_life);
    let decayed = match dc.to_ascii_uppercase().as_str() {
        "ADMIN" => {
            report.rule = SuvRule::BqmlAdmin;
            dose
        }
        "START" => {
            report.rule = SuvRule::BqmlStart;
            let decay = decay_times(obj, inst, earliest)?;
            let d = dose * (-decay.seconds / half_life).exp2();
            report.decay = Some(decay);
            d
        }
        other => {
            return Err(VolumeError::suv(
                DC,
                inst,
                format!("is {other}; SUV needs START or ADMIN"),
            ));
        }
    };
    report.decayed_dose_bq = Some(decayed);
    report.scale_factor = weight * 1000.0 / decayed;
    Ok(())
}

/// Janmahasatian lean body mass; `None` without sex M/F or a plausible height in metres.
fn lbm(obj: &InMemDicomObject, weight: Option<f64>, bw_factor: f64) -> Option<Lbm> {
    let w = weight?;
    let h = number(obj, tags::PATIENT_SIZE, "PatientSize", "")
        .ok()
        .flatten()?;
    if !(0.5..=2.5).contains(&h) {
        return None;
    }
    let bmi = w / (h * h);
    let lbm_kg = match text(obj, tags::PATIENT_SEX)?.as_str() {
        "M" => 9270.0 * w / (6680.0 + 216.0 * bmi),
        "F" => 9270.0 * w / (8780.0 + 244.0 * bmi),
        _ => return None,
    };
    Some(Lbm {
        lbm_kg,
        scale_factor: bw_factor * lbm_kg / w,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn janmahasatian_lbm_matches_hand_computation() {
        // 70 kg, 1.75 m male: BMI 22.857; LBM = 9270*70/(6680+216*22.857) = 648900/11617.1 = 55.86 kg.
        let mut obj = InMemDicomObject::new_empty();
        use dicom_core::{DataElement, VR, dicom_value};
        obj.put(DataElement::new(
            tags::PATIENT_SIZE,
            VR::DS,
            dicom_value!(Str, "1.75"),
        ));
        obj.put(DataElement::new(
            tags::PATIENT_SEX,
            VR::CS,
            dicom_value!(Str, "M"),
        ));
        let l = lbm(&obj, Some(70.0), 1.0).expect("sex and height present");
        assert!((l.lbm_kg - 55.857).abs() < 0.01, "{}", l.lbm_kg);
        assert!((l.scale_factor - 55.857 / 70.0).abs() < 1e-3);
    }
}
