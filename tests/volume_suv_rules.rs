//! The QIBA SUV decision tree on synthetic headers, one branch per test, with expected factors
//! computed by hand from the formula SUVbw = weight(g) / (dose · 2^(−Δt / T½)).

use dicom_core::header::Header;
use dicom_core::value::DataSetSequence;
use dicom_core::{DataElement, PrimitiveValue, Tag, VR};
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;
use petground::volume::suv::{DecayRule, SuvRule, TimeSource, suv_from_header};

fn el(tag: Tag, vr: VR, v: &str) -> DataElement<InMemDicomObject> {
    DataElement::new(tag, vr, PrimitiveValue::from(v))
}

/// A corrected BQML/START FDG header: 70 kg, 400 MBq at 09:00, series at 10:00.
fn header() -> InMemDicomObject {
    let rp = InMemDicomObject::from_element_iter([
        el(tags::RADIOPHARMACEUTICAL_START_TIME, VR::TM, "090000"),
        el(tags::RADIONUCLIDE_TOTAL_DOSE, VR::DS, "400000000"),
        el(tags::RADIONUCLIDE_HALF_LIFE, VR::DS, "6586.2"),
    ]);
    InMemDicomObject::from_element_iter([
        el(tags::SOP_INSTANCE_UID, VR::UI, "1.2.3.4"),
        el(tags::UNITS, VR::CS, "BQML"),
        el(tags::DECAY_CORRECTION, VR::CS, "START"),
        el(tags::CORRECTED_IMAGE, VR::CS, "NORM\\ATTN\\SCAT\\DECY"),
        el(tags::SERIES_DATE, VR::DA, "20240102"),
        el(tags::SERIES_TIME, VR::TM, "100000"),
        el(tags::ACQUISITION_DATE, VR::DA, "20240102"),
        el(tags::ACQUISITION_TIME, VR::TM, "100000"),
        el(tags::PATIENT_WEIGHT, VR::DS, "70"),
        DataElement::new(
            tags::RADIOPHARMACEUTICAL_INFORMATION_SEQUENCE,
            VR::SQ,
            DataSetSequence::from(vec![rp]),
        ),
    ])
}

fn factor(dt_s: f64) -> f64 {
    70_000.0 / (400e6 * (-dt_s / 6586.2f64).exp2())
}

fn set_rp(obj: &mut InMemDicomObject, e: DataElement<InMemDicomObject>) {
    let mut rp = obj
        .get(tags::RADIOPHARMACEUTICAL_INFORMATION_SEQUENCE)
        .and_then(|s| s.items())
        .and_then(|i| i.first().cloned())
        .expect("header has the sequence");
    rp.put(e);
    obj.put(DataElement::new(
        tags::RADIOPHARMACEUTICAL_INFORMATION_SEQUENCE,
        VR::SQ,
        DataSetSequence::from(vec![rp]),
    ));
}

#[test]
fn bqml_start_decays_dose_to_series_time() {
    let r = suv_from_header(&header(), None).expect("complete header");
    assert_eq!(r.rule, SuvRule::BqmlStart);
    assert!((r.scale_factor / factor(3600.0) - 1.0).abs() < 1e-9);
    assert!(r.to_string().contains("BQML/START"));
}

#[test]
fn admin_uses_the_undecayed_dose() {
    let mut h = header();
    h.put(el(tags::DECAY_CORRECTION, VR::CS, "ADMIN"));
    let r = suv_from_header(&h, None).expect("ADMIN");
    assert_eq!(r.rule, SuvRule::BqmlAdmin);
    assert!((r.scale_factor / factor(0.0) - 1.0).abs() < 1e-9);
}

#[test]
fn injection_before_midnight_adds_a_day() {
    let mut h = header();
    set_rp(
        &mut h,
        el(tags::RADIOPHARMACEUTICAL_START_TIME, VR::TM, "233000"),
    );
    h.put(el(tags::SERIES_TIME, VR::TM, "003000"));
    h.put(el(tags::ACQUISITION_TIME, VR::TM, "003000"));
    let r = suv_from_header(&h, None).expect("midnight crossing");
    let d = r.decay.expect("START");
    assert_eq!(d.seconds, 3600.0);
    assert_eq!(d.injection_source, TimeSource::StartTimeOnSeriesDate);
}

/// Issue 16: an injection time a little after the scan start is clock skew (decay 0), not the
/// evening before; more than the 10-minute tolerance after, with no injection date, is.
#[test]
fn injection_just_after_scan_start_is_clock_skew() {
    let mut h = header();
    // StartTime 10:09:59, series 10:00:00, no StartDateTime: 599 s after, within 600 s.
    set_rp(
        &mut h,
        el(tags::RADIOPHARMACEUTICAL_START_TIME, VR::TM, "100959"),
    );
    let r = suv_from_header(&h, None).expect("skew");
    let d = r.decay.expect("START");
    assert_eq!(d.seconds, 0.0);
    assert_eq!(
        d.rule,
        DecayRule::ClockSkew {
            injection_after_s: 599.0
        }
    );
    assert!((r.scale_factor - factor(0.0)).abs() < 1e-12);
    // 10:10:01 is 601 s after: beyond the tolerance, so the evening before (23 h 50 min).
    set_rp(
        &mut h,
        el(tags::RADIOPHARMACEUTICAL_START_TIME, VR::TM, "101001"),
    );
    let d = suv_from_header(&h, None)
        .expect("day before")
        .decay
        .expect("START");
    assert_eq!(
        (d.seconds, d.rule),
        (86_400.0 - 601.0, DecayRule::PreviousDay)
    );
    // With a StartDateTime on the series date, 5 min after: skew again, by the DateTime.
    set_rp(
        &mut h,
        el(
            tags::RADIOPHARMACEUTICAL_START_DATE_TIME,
            VR::DT,
            "20240102100500",
        ),
    );
    let d = suv_from_header(&h, None)
        .expect("DT skew")
        .decay
        .expect("START");
    assert_eq!(
        (d.seconds, d.injection_source, d.rule),
        (
            0.0,
            TimeSource::StartDateTime,
            DecayRule::ClockSkew {
                injection_after_s: 300.0
            }
        )
    );
    // A StartDateTime a full hour after the scan on the same date fits no rule: an error that
    // names the attribute, never a silently wrong SUV.
    set_rp(
        &mut h,
        el(
            tags::RADIOPHARMACEUTICAL_START_DATE_TIME,
            VR::DT,
            "20240102110000",
        ),
    );
    let err = suv_from_header(&h, None).expect_err("injection an hour after the scan");
    assert!(
        err.to_string()
            .contains("RadiopharmaceuticalStartDateTime (0018,1078)")
            && err.to_string().contains("3600 s after"),
        "{err}"
    );
}

#[test]
fn start_datetime_is_preferred_and_date_shifts_fall_back_to_time_of_day() {
    let mut h = header();
    set_rp(
        &mut h,
        el(
            tags::RADIOPHARMACEUTICAL_START_DATE_TIME,
            VR::DT,
            "20240102093000",
        ),
    );
    let d = suv_from_header(&h, None).expect("DT").decay.expect("START");
    assert_eq!(
        (d.seconds, d.injection_source),
        (1800.0, TimeSource::StartDateTime)
    );
    // A de-identification shift of the date (years off) keeps only the time of day.
    set_rp(
        &mut h,
        el(
            tags::RADIOPHARMACEUTICAL_START_DATE_TIME,
            VR::DT,
            "20110114093000",
        ),
    );
    let d = suv_from_header(&h, None).expect("DT").decay.expect("START");
    assert_eq!(
        (d.seconds, d.injection_source),
        (1800.0, TimeSource::StartTimeOnSeriesDate)
    );
}

#[test]
fn ge_private_scan_time_when_series_time_is_late() {
    let mut h = header();
    h.put(el(tags::SERIES_TIME, VR::TM, "120000")); // re-created series
    h.put(el(tags::ACQUISITION_TIME, VR::TM, "101500"));
    h.put(el(Tag(0x0009, 0x0010), VR::LO, "GEMS_PETD_01"));
    h.put(el(Tag(0x0009, 0x100D), VR::DT, "20240101100500.00")); // date shifted by a day
    let d = suv_from_header(&h, None).expect("GE").decay.expect("START");
    assert_eq!(
        (d.seconds, d.scan_source),
        (3900.0, TimeSource::GePrivateScanTime)
    );
    // Without the GE tag, the acquisition time (or the series' earliest one) is used.
    let mut h2 = header();
    h2.put(el(tags::SERIES_TIME, VR::TM, "120000"));
    h2.put(el(tags::ACQUISITION_TIME, VR::TM, "101500"));
    let d = suv_from_header(&h2, None)
        .expect("acq")
        .decay
        .expect("START");
    assert_eq!(
        (d.seconds, d.scan_source),
        (4500.0, TimeSource::AcquisitionDateTime)
    );
}

#[test]
fn philips_cnts_factors() {
    let mut h = header();
    h.put(el(tags::UNITS, VR::CS, "CNTS"));
    h.put(el(Tag(0x7053, 0x1009), VR::DS, "2.5"));
    let r = suv_from_header(&h, None).expect("7053,1009");
    assert_eq!(r.rule, SuvRule::PhilipsActivityFactor { admin: false });
    assert!((r.scale_factor / (2.5 * factor(3600.0)) - 1.0).abs() < 1e-9);
    h.put(el(Tag(0x7053, 0x1000), VR::DS, "0.000596"));
    let r = suv_from_header(&h, None).expect("7053,1000");
    assert_eq!(
        (r.rule, r.scale_factor),
        (SuvRule::PhilipsSuvFactor, 0.000596)
    );
}

#[test]
fn gml_is_already_suv() {
    let mut h = header();
    h.put(el(tags::UNITS, VR::CS, "GML"));
    let r = suv_from_header(&h, None).expect("GML");
    assert_eq!((r.rule, r.scale_factor), (SuvRule::Gml, 1.0));
}

/// A change that breaks one attribute of the header.
type Edit = Box<dyn Fn(&mut InMemDicomObject)>;

#[test]
fn missing_or_implausible_values_name_the_attribute() {
    let cases: Vec<(Edit, &str)> = vec![
        (
            Box::new(|h| {
                h.remove_element(tags::PATIENT_WEIGHT);
            }),
            "PatientWeight",
        ),
        (
            Box::new(|h| {
                h.put(el(tags::PATIENT_WEIGHT, VR::DS, "0"))
                    .map_or((), |_| ())
            }),
            "PatientWeight",
        ),
        (
            Box::new(|h| set_rp(h, el(tags::RADIONUCLIDE_TOTAL_DOSE, VR::DS, "0"))),
            "RadionuclideTotalDose",
        ),
        (
            Box::new(|h| set_rp(h, el(tags::RADIONUCLIDE_TOTAL_DOSE, VR::DS, "10.5"))),
            "RadionuclideTotalDose",
        ),
        (
            Box::new(|h| set_rp(h, el(tags::RADIONUCLIDE_HALF_LIFE, VR::DS, ""))),
            "RadionuclideHalfLife",
        ),
        (
            Box::new(|h| set_rp(h, el(tags::RADIOPHARMACEUTICAL_START_TIME, VR::TM, ""))),
            "RadiopharmaceuticalStartTime",
        ),
        (
            Box::new(|h| {
                h.remove_element(tags::RADIOPHARMACEUTICAL_INFORMATION_SEQUENCE);
            }),
            "RadiopharmaceuticalInformationSequence",
        ),
        (
            Box::new(|h| {
                h.put(el(tags::DECAY_CORRECTION, VR::CS, "NONE"))
                    .map_or((), |_| ())
            }),
            "DecayCorrection",
        ),
        (
            Box::new(|h| h.put(el(tags::UNITS, VR::CS, "PROPCPS")).map_or((), |_| ())),
            "Units",
        ),
        (
            Box::new(|h| h.put(el(tags::UNITS, VR::CS, "CNTS")).map_or((), |_| ())),
            "7053,1000",
        ),
        (
            Box::new(|h| {
                h.put(el(tags::CORRECTED_IMAGE, VR::CS, "NORM\\DECY"))
                    .map_or((), |_| ())
            }),
            "CorrectedImage",
        ),
        (
            Box::new(|h| {
                h.remove_element(tags::SERIES_TIME);
            }),
            "SeriesDate/SeriesTime",
        ),
    ];
    for (edit, attr) in cases {
        let mut h = header();
        edit(&mut h);
        let err = suv_from_header(&h, None).expect_err(attr).to_string();
        assert!(err.contains(attr), "expected {attr}: {err}");
    }
}

/// A 3-slice synthetic PET series (1000 Bq/mL everywhere) carrying `header()`'s SUV attributes,
/// with per-slice acquisition times as a multi-bed scan writes them.
fn pet_series(acq_times: [&str; 3]) -> Vec<dicom_object::DefaultDicomObject> {
    use petground::volume::geometry::Geometry;
    use petground_phantom::fixtures::series::{SeriesIds, regular_slices, slice_object};
    let g = Geometry {
        dims: [3, 4, 4],
        origin: [0.0; 3],
        spacing: [4.0, 4.0, 3.0],
        row_dir: [1.0, 0.0, 0.0],
        col_dir: [0.0, 1.0, 0.0],
        slice_dir: [0.0, 0.0, 1.0],
    };
    let ids = SeriesIds {
        study: "1.2.3.40".into(),
        series: "1.2.3.41".into(),
        frame_of_reference: "1.2.3.42".into(),
        modality: "PT".into(),
    };
    let slices = regular_slices(&g, "1.2.3.43", |_| 1000.0, |_| (0.5, 0.0));
    slices
        .iter()
        .zip(acq_times)
        .map(|(s, t)| {
            let mut obj = slice_object(&ids, s);
            for e in header() {
                if e.tag() != tags::SOP_INSTANCE_UID {
                    obj.put(e);
                }
            }
            obj.put(el(tags::ACQUISITION_TIME, VR::TM, t));
            obj
        })
        .collect()
}

#[test]
fn series_suv_uses_earliest_acquisition_when_series_time_is_late() {
    use petground::volume::suv::series_suv;
    let mut objs = pet_series(["101000", "100000", "102000"]);
    for o in &mut objs {
        o.put(el(tags::SERIES_TIME, VR::TM, "113000"));
    }
    let r = series_suv(&objs).expect("consistent series");
    let d = r.decay.expect("START");
    assert_eq!(
        (d.seconds, d.scan_source),
        (3600.0, TimeSource::AcquisitionDateTime)
    );
    assert!((r.scale_factor / factor(3600.0) - 1.0).abs() < 1e-9);
}

#[test]
fn series_suv_refuses_disagreeing_instances() {
    use petground::volume::suv::series_suv;
    let mut objs = pet_series(["100000"; 3]);
    objs[2].put(el(tags::PATIENT_WEIGHT, VR::DS, "80"));
    let err = series_suv(&objs).expect_err("weights differ").to_string();
    assert!(
        err.contains("SUV scale factor") && err.contains("1.2.3.43.3"),
        "{err}"
    );
}

#[test]
fn assembled_pet_is_converted_to_suv() {
    use petground::volume::suv::assemble_pet_suv;
    let dir = tempfile::tempdir().expect("tempdir");
    let paths: Vec<_> = pet_series(["100000"; 3])
        .into_iter()
        .enumerate()
        .map(|(i, o)| {
            let p = dir.path().join(format!("{i}.dcm"));
            o.write_to_file(&p).expect("write");
            p
        })
        .collect();
    let (series, report) = assemble_pet_suv(&paths).expect("SUV series");
    let want = (1000.0 * factor(3600.0)) as f32;
    assert!(
        series
            .volume
            .data
            .iter()
            .all(|v| (v - want).abs() < 1e-4 * want)
    );
    assert_eq!(report.rule, SuvRule::BqmlStart);
}
