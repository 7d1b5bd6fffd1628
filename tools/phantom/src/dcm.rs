//! DICOM encoding of the phantom: one PET or CT slice per file, Explicit VR Little Endian, with
//! the SUV attributes QIBA's vendor-neutral rule needs and optional GE / Philips private variants.
//! What goes into the pixels is decided in `pet` and `ct`; study identity comes from `study`.

use crate::tracer::Tracer;
use anyhow::{Context, Result};
use dicom_core::value::DataSetSequence;
use dicom_core::{DataElement, PrimitiveValue, Tag, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_object::{FileMetaTableBuilder, InMemDicomObject};
use serde::Serialize;
use std::path::Path;

/// How the PET series encodes its values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Vendor {
    /// Units BQML, standard attributes only.
    Plain,
    /// BQML plus GE's private scan date-time (0009,100D) under creator GEMS_PETD_01.
    Ge,
    /// Units CNTS with Philips' SUV scale factor (7053,1000) and Bq/mL factor (7053,1009).
    Philips,
}

/// Everything shared by all files of one study.
#[derive(Debug, Clone, Serialize)]
pub struct Header {
    pub patient_name: String,
    pub patient_id: String,
    pub birth_date: String,
    pub sex: char,
    pub weight_kg: f64,
    pub height_m: f64,
    pub accession: String,
    pub study_uid: String,
    pub pet_series_uid: String,
    pub ct_series_uid: String,
    pub frame_of_reference_uid: String,
    pub study_date: String,
    /// Injection time HHMMSS (same date as the study).
    pub injection_time: String,
    /// Series / acquisition start time HHMMSS.
    pub series_time: String,
    pub tracer: Tracer,
    pub dose_bq: f64,
    pub vendor: Vendor,
}

impl Header {
    /// Seconds between injection and series start, exactly as a reader derives them.
    pub fn delta_t_s(&self) -> f64 {
        seconds(&self.series_time) - seconds(&self.injection_time)
    }

    /// Bq/mL per SUV unit: decayed dose / weight in grams (SUVbw denominator).
    pub fn bqml_per_suv(&self) -> f64 {
        let decayed = self.dose_bq * 2f64.powf(-self.delta_t_s() / self.tracer.half_life_s());
        decayed / (self.weight_kg * 1000.0)
    }
}

fn seconds(hhmmss: &str) -> f64 {
    let n = |r: std::ops::Range<usize>| {
        hhmmss
            .get(r)
            .and_then(|s| s.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    n(0..2) * 3600.0 + n(2..4) * 60.0 + n(4..6)
}

/// Per-slice values the PET writer needs.
pub struct PetSlice<'a> {
    pub index: usize,
    pub count: usize,
    pub position: [f64; 3],
    pub pixel: [f64; 2],
    pub thickness: f64,
    pub rows: usize,
    pub cols: usize,
    pub sop_uid: &'a str,
    pub values: &'a [i16],
    pub slope_text: &'a str,
    /// Philips only: Bq/mL per stored count after slope (7053,1009).
    pub counts_factor: Option<f64>,
}

/// Per-slice values the CT writer needs.
pub struct CtSlice<'a> {
    pub index: usize,
    pub position: [f64; 3],
    pub pixel: [f64; 2],
    pub thickness: f64,
    pub rows: usize,
    pub cols: usize,
    pub sop_uid: &'a str,
    /// HU + 1024, so RescaleIntercept is −1024.
    pub values: &'a [u16],
}

fn put(o: &mut InMemDicomObject, tag: Tag, vr: VR, v: impl Into<PrimitiveValue>) {
    o.put(DataElement::new(tag, vr, v.into()));
}

fn ds(v: f64) -> String {
    let s = format!("{v:.6}");
    let s = s.trim_end_matches('0').trim_end_matches('.').to_owned();
    if s.len() <= 16 { s } else { format!("{v:.8e}") }
}

fn multi(vals: &[f64]) -> String {
    vals.iter().map(|v| ds(*v)).collect::<Vec<_>>().join("\\")
}

/// Patient, study, equipment and frame-of-reference attributes common to PET and CT.
fn common(h: &Header, o: &mut InMemDicomObject, modality: &str) {
    put(o, tags::SPECIFIC_CHARACTER_SET, VR::CS, "ISO_IR 100");
    put(o, tags::PATIENT_NAME, VR::PN, h.patient_name.as_str());
    put(o, tags::PATIENT_ID, VR::LO, h.patient_id.as_str());
    put(o, tags::PATIENT_BIRTH_DATE, VR::DA, h.birth_date.as_str());
    put(o, tags::PATIENT_SEX, VR::CS, h.sex.to_string());
    put(o, tags::PATIENT_WEIGHT, VR::DS, ds(h.weight_kg));
    put(o, tags::PATIENT_SIZE, VR::DS, ds(h.height_m));
    put(o, tags::STUDY_INSTANCE_UID, VR::UI, h.study_uid.as_str());
    put(o, tags::STUDY_DATE, VR::DA, h.study_date.as_str());
    put(o, tags::STUDY_TIME, VR::TM, h.injection_time.as_str());
    put(o, tags::STUDY_ID, VR::SH, "1");
    put(o, tags::ACCESSION_NUMBER, VR::SH, h.accession.as_str());
    put(o, tags::REFERRING_PHYSICIAN_NAME, VR::PN, "");
    put(
        o,
        tags::STUDY_DESCRIPTION,
        VR::LO,
        format!("PET/CT {} whole body (phantom)", h.tracer.short()),
    );
    put(o, tags::MODALITY, VR::CS, modality);
    put(o, tags::SERIES_DATE, VR::DA, h.study_date.as_str());
    put(o, tags::SERIES_TIME, VR::TM, h.series_time.as_str());
    put(o, tags::ACQUISITION_DATE, VR::DA, h.study_date.as_str());
    put(o, tags::ACQUISITION_TIME, VR::TM, h.series_time.as_str());
    put(o, tags::CONTENT_DATE, VR::DA, h.study_date.as_str());
    put(o, tags::CONTENT_TIME, VR::TM, h.series_time.as_str());
    put(
        o,
        tags::MANUFACTURER,
        VR::LO,
        match h.vendor {
            Vendor::Plain => "petground phantom",
            Vendor::Ge => "GE MEDICAL SYSTEMS",
            Vendor::Philips => "Philips Medical Systems",
        },
    );
    // Type 2C in General Series; whole-body images have no laterality.
    o.put(DataElement::new(
        tags::LATERALITY,
        VR::CS,
        PrimitiveValue::Empty,
    ));
    put(
        o,
        tags::FRAME_OF_REFERENCE_UID,
        VR::UI,
        h.frame_of_reference_uid.as_str(),
    );
    put(o, tags::POSITION_REFERENCE_INDICATOR, VR::LO, "");
    put(o, tags::PATIENT_ORIENTATION, VR::CS, "L\\P");
    put(o, tags::BURNED_IN_ANNOTATION, VR::CS, "NO");
}

fn plane(
    o: &mut InMemDicomObject,
    position: [f64; 3],
    pixel: [f64; 2],
    thickness: f64,
    rows: usize,
    cols: usize,
) {
    put(o, tags::IMAGE_POSITION_PATIENT, VR::DS, multi(&position));
    put(
        o,
        tags::IMAGE_ORIENTATION_PATIENT,
        VR::DS,
        "1\\0\\0\\0\\1\\0",
    );
    // PixelSpacing is row spacing (y) then column spacing (x).
    put(o, tags::PIXEL_SPACING, VR::DS, multi(&[pixel[1], pixel[0]]));
    put(o, tags::SLICE_THICKNESS, VR::DS, ds(thickness));
    put(o, tags::SLICE_LOCATION, VR::DS, ds(position[2]));
    put(
        o,
        tags::SAMPLES_PER_PIXEL,
        VR::US,
        PrimitiveValue::from(1u16),
    );
    put(o, tags::PHOTOMETRIC_INTERPRETATION, VR::CS, "MONOCHROME2");
    put(o, tags::ROWS, VR::US, PrimitiveValue::from(rows as u16));
    put(o, tags::COLUMNS, VR::US, PrimitiveValue::from(cols as u16));
    put(o, tags::BITS_ALLOCATED, VR::US, PrimitiveValue::from(16u16));
    put(o, tags::BITS_STORED, VR::US, PrimitiveValue::from(16u16));
    put(o, tags::HIGH_BIT, VR::US, PrimitiveValue::from(15u16));
}

fn code(value: &str, scheme: &str, meaning: &str) -> InMemDicomObject {
    let mut c = InMemDicomObject::new_empty();
    put(&mut c, tags::CODE_VALUE, VR::SH, value);
    put(&mut c, tags::CODING_SCHEME_DESIGNATOR, VR::SH, scheme);
    put(&mut c, tags::CODE_MEANING, VR::LO, meaning);
    c
}

fn seq(o: &mut InMemDicomObject, tag: Tag, items: Vec<InMemDicomObject>) {
    o.put(DataElement::new(tag, VR::SQ, DataSetSequence::from(items)));
}

/// The RadiopharmaceuticalInformationSequence item.
fn radiopharmaceutical(h: &Header) -> InMemDicomObject {
    let mut r = InMemDicomObject::new_empty();
    put(&mut r, tags::RADIOPHARMACEUTICAL, VR::LO, h.tracer.name());
    put(
        &mut r,
        tags::RADIOPHARMACEUTICAL_START_TIME,
        VR::TM,
        h.injection_time.as_str(),
    );
    put(
        &mut r,
        tags::RADIOPHARMACEUTICAL_START_DATE_TIME,
        VR::DT,
        format!("{}{}", h.study_date, h.injection_time),
    );
    put(&mut r, tags::RADIONUCLIDE_TOTAL_DOSE, VR::DS, ds(h.dose_bq));
    put(
        &mut r,
        tags::RADIONUCLIDE_HALF_LIFE,
        VR::DS,
        ds(h.tracer.half_life_s()),
    );
    let frac = if h.tracer == Tracer::Dotatate {
        0.8911
    } else {
        0.9673
    };
    put(
        &mut r,
        tags::RADIONUCLIDE_POSITRON_FRACTION,
        VR::DS,
        ds(frac),
    );
    let (cv, cm) = h.tracer.nuclide_code();
    seq(
        &mut r,
        tags::RADIONUCLIDE_CODE_SEQUENCE,
        vec![code(cv, "SRT", cm)],
    );
    r
}

/// Builds one PET slice data set (without file meta).
pub fn pet_object(h: &Header, s: &PetSlice) -> InMemDicomObject {
    let mut o = InMemDicomObject::new_empty();
    common(h, &mut o, "PT");
    put(
        &mut o,
        tags::SOP_CLASS_UID,
        VR::UI,
        uids::POSITRON_EMISSION_TOMOGRAPHY_IMAGE_STORAGE,
    );
    put(&mut o, tags::SOP_INSTANCE_UID, VR::UI, s.sop_uid);
    put(&mut o, tags::IMAGE_TYPE, VR::CS, "ORIGINAL\\PRIMARY");
    put(
        &mut o,
        tags::SERIES_INSTANCE_UID,
        VR::UI,
        h.pet_series_uid.as_str(),
    );
    put(&mut o, tags::SERIES_NUMBER, VR::IS, "4");
    put(&mut o, tags::SERIES_DESCRIPTION, VR::LO, "PET WB AC");
    // InstanceNumber 1 is the most superior slice (the head); numbers increase toward the feet.
    put(
        &mut o,
        tags::INSTANCE_NUMBER,
        VR::IS,
        (s.index + 1).to_string(),
    );
    put(
        &mut o,
        tags::IMAGE_INDEX,
        VR::US,
        PrimitiveValue::from((s.index + 1) as u16),
    );
    plane(&mut o, s.position, s.pixel, s.thickness, s.rows, s.cols);
    put(
        &mut o,
        tags::PIXEL_REPRESENTATION,
        VR::US,
        PrimitiveValue::from(1u16),
    );
    put(&mut o, tags::RESCALE_INTERCEPT, VR::DS, "0");
    put(&mut o, tags::RESCALE_SLOPE, VR::DS, s.slope_text);
    put(&mut o, tags::LOSSY_IMAGE_COMPRESSION, VR::CS, "00");
    put(&mut o, tags::SERIES_TYPE, VR::CS, "WHOLE BODY\\IMAGE");
    let units = if h.vendor == Vendor::Philips {
        "CNTS"
    } else {
        "BQML"
    };
    put(&mut o, tags::UNITS, VR::CS, units);
    put(&mut o, tags::COUNTS_SOURCE, VR::CS, "EMISSION");
    put(
        &mut o,
        tags::NUMBER_OF_SLICES,
        VR::US,
        PrimitiveValue::from(s.count as u16),
    );
    put(
        &mut o,
        tags::CORRECTED_IMAGE,
        VR::CS,
        "ATTN\\DECY\\SCAT\\DTIM\\RAN\\NORM",
    );
    put(&mut o, tags::DECAY_CORRECTION, VR::CS, "START");
    put(&mut o, tags::DECAY_FACTOR, VR::DS, "1");
    put(&mut o, tags::RANDOMS_CORRECTION_METHOD, VR::CS, "DLYD");
    put(&mut o, tags::ATTENUATION_CORRECTION_METHOD, VR::LO, "CT");
    put(&mut o, tags::RECONSTRUCTION_METHOD, VR::LO, "OSEM 3i21s");
    put(&mut o, tags::COLLIMATOR_TYPE, VR::CS, "NONE");
    put(&mut o, tags::FRAME_REFERENCE_TIME, VR::DS, "0");
    put(&mut o, tags::ACTUAL_FRAME_DURATION, VR::IS, "120000");
    seq(
        &mut o,
        tags::RADIOPHARMACEUTICAL_INFORMATION_SEQUENCE,
        vec![radiopharmaceutical(h)],
    );
    seq(
        &mut o,
        tags::PATIENT_ORIENTATION_CODE_SEQUENCE,
        vec![code("102538003", "SCT", "recumbent")],
    );
    seq(
        &mut o,
        tags::PATIENT_GANTRY_RELATIONSHIP_CODE_SEQUENCE,
        vec![code("102540008", "SCT", "headfirst")],
    );
    match h.vendor {
        Vendor::Plain => {}
        Vendor::Ge => {
            put(&mut o, Tag(0x0009, 0x0010), VR::LO, "GEMS_PETD_01");
            put(
                &mut o,
                Tag(0x0009, 0x100D),
                VR::DT,
                format!("{}{}.00", h.study_date, h.series_time),
            );
        }
        Vendor::Philips => {
            let counts = s.counts_factor.unwrap_or(1.0);
            put(
                &mut o,
                Tag(0x7053, 0x0010),
                VR::LO,
                "Philips PET Private Group",
            );
            put(
                &mut o,
                Tag(0x7053, 0x1000),
                VR::DS,
                format!("{:.8e}", counts / h.bqml_per_suv()),
            );
            put(&mut o, Tag(0x7053, 0x1009), VR::DS, format!("{counts:.8e}"));
        }
    }
    let bytes: Vec<u8> = s.values.iter().flat_map(|v| v.to_le_bytes()).collect();
    put(&mut o, tags::PIXEL_DATA, VR::OW, bytes);
    o
}

/// Builds one CT slice data set (without file meta).
pub fn ct_object(h: &Header, s: &CtSlice) -> InMemDicomObject {
    let mut o = InMemDicomObject::new_empty();
    common(h, &mut o, "CT");
    put(&mut o, tags::SOP_CLASS_UID, VR::UI, uids::CT_IMAGE_STORAGE);
    put(&mut o, tags::SOP_INSTANCE_UID, VR::UI, s.sop_uid);
    put(&mut o, tags::IMAGE_TYPE, VR::CS, "ORIGINAL\\PRIMARY\\AXIAL");
    put(
        &mut o,
        tags::SERIES_INSTANCE_UID,
        VR::UI,
        h.ct_series_uid.as_str(),
    );
    put(&mut o, tags::SERIES_NUMBER, VR::IS, "2");
    put(&mut o, tags::SERIES_DESCRIPTION, VR::LO, "CT WB for AC");
    put(
        &mut o,
        tags::INSTANCE_NUMBER,
        VR::IS,
        (s.index + 1).to_string(),
    );
    // PET carries PatientOrientationCodeSequence instead, which excludes PatientPosition.
    put(&mut o, tags::PATIENT_POSITION, VR::CS, "HFS");
    put(&mut o, tags::KVP, VR::DS, "120");
    put(&mut o, tags::ACQUISITION_NUMBER, VR::IS, "1");
    plane(&mut o, s.position, s.pixel, s.thickness, s.rows, s.cols);
    put(
        &mut o,
        tags::PIXEL_REPRESENTATION,
        VR::US,
        PrimitiveValue::from(0u16),
    );
    put(&mut o, tags::RESCALE_INTERCEPT, VR::DS, "-1024");
    put(&mut o, tags::RESCALE_SLOPE, VR::DS, "1");
    put(&mut o, tags::RESCALE_TYPE, VR::LO, "HU");
    put(&mut o, tags::WINDOW_CENTER, VR::DS, "40");
    put(&mut o, tags::WINDOW_WIDTH, VR::DS, "400");
    let bytes: Vec<u8> = s.values.iter().flat_map(|v| v.to_le_bytes()).collect();
    put(&mut o, tags::PIXEL_DATA, VR::OW, bytes);
    o
}

/// Writes a data set as a Part 10 file in Explicit VR Little Endian.
pub fn write_file(o: InMemDicomObject, sop_class: &str, sop_uid: &str, path: &Path) -> Result<()> {
    let meta = FileMetaTableBuilder::new()
        .media_storage_sop_class_uid(sop_class)
        .media_storage_sop_instance_uid(sop_uid)
        .transfer_syntax(uids::EXPLICIT_VR_LITTLE_ENDIAN)
        .implementation_class_uid("2.25.290236917186093427152744395316392174611")
        .implementation_version_name("PETGROUND_PH01");
    o.with_meta(meta)
        .context("attaching file meta")?
        .write_to_file(path)
        .with_context(|| format!("writing {}", path.display()))
}
