//! SUV on real PET slices vendored in tests/fixtures/pet (see its ATTRIBUTION.md): the QIBA
//! digital reference object must give its published SUVbw, and every vendor sample must give a
//! plausible SUV or an error that names the attribute at fault.

use std::path::PathBuf;

use petground::volume::suv::{DecayRule, SuvRule, TimeSource, assemble_pet_suv, suv_report};

fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/pet")
        .join(rel)
}

/// SUVbw of the voxels of one real slice, with their maximum and median.
fn suv_stats(rel: &str) -> (Vec<f32>, f32, f32) {
    let (series, _) = assemble_pet_suv(&[fixture(rel)]).expect("SUV computable");
    let mut v: Vec<f32> = series.volume.data.iter().copied().collect();
    let max = v.iter().copied().fold(f32::MIN, f32::max);
    let mut sorted = v.clone();
    sorted.sort_by(f32::total_cmp);
    let median = sorted[sorted.len() / 2];
    v.shrink_to_fit();
    (v, max, median)
}

#[test]
fn qiba_dro_reproduces_published_suvbw() {
    // QIBA PET/CT DRO (Univ. of Washington, 2013): background 1.00, spheres 4.00, hot test
    // voxel 4.11, cold test voxel -0.11 (SUVbw), 59.94 kg, 370 MBq, injection 13:01, scan 14:01.
    let report = suv_report(&fixture("qiba/dro_female_slice_040.dcm")).expect("DRO has SUV");
    assert_eq!(report.rule, SuvRule::BqmlStart);
    let decay = report.decay.as_ref().expect("START decays the dose");
    assert_eq!(decay.seconds, 3600.0);
    assert_eq!(decay.scan_source, TimeSource::SeriesDateTime);
    let (v, max, _) = suv_stats("qiba/dro_female_slice_040.dcm");
    assert!((max - 4.11).abs() < 0.01, "hot voxel {max}");
    let min = v.iter().copied().fold(f32::MAX, f32::min);
    assert!((min + 0.11).abs() < 0.01, "cold voxel {min}");
    let near = |x: f32| v.iter().filter(|s| (**s - x).abs() < 0.01).count();
    // Counts from the same slice read with pydicom: 11573 background and 522 sphere voxels.
    assert!(near(1.00) > 11_000, "background voxels {}", near(1.00));
    assert!(near(4.00) > 500, "sphere voxels {}", near(4.00));
    assert!(report.lbm.is_some(), "DRO has sex F and height 1.665 m");
    println!("{report}");
}

#[test]
fn vendor_samples_give_plausible_suv() {
    // Corrected whole-body FDG slices: max SUV somewhere in 0.5..60, median (mostly air) below 1.
    let cases = [
        (
            "ge/anti_pd_1_lung_PD-1-Lung-00030_020.dcm",
            SuvRule::BqmlStart,
        ),
        ("ge/tcga_lusc_TCGA-60-2726_027.dcm", SuvRule::Gml),
        (
            "philips/cc_tumor_heterogeneity_CCTH-B01_024.dcm",
            SuvRule::BqmlStart,
        ),
        (
            "philips/nsclc_radiogenomics_R01-089_026.dcm",
            SuvRule::PhilipsSuvFactor,
        ),
        (
            "siemens/cc_tumor_heterogeneity_CCTH-B08_001.dcm",
            SuvRule::BqmlStart,
        ),
        ("siemens/tcga_luad_TCGA-17-Z051_019.dcm", SuvRule::BqmlStart),
    ];
    for (rel, rule) in cases {
        let report = suv_report(&fixture(rel)).expect(rel);
        println!("{report}");
        assert_eq!(report.rule, rule, "{rel}");
        let (_, max, median) = suv_stats(rel);
        assert!((0.5..60.0).contains(&max), "{rel}: SUVmax {max}");
        assert!(median < 1.0, "{rel}: median {median}");
    }
}

#[test]
fn siemens_series_time_after_acquisition_uses_acquisition_time() {
    // tcga_luad_TCGA-17-Z051: SeriesTime 11:25:05 is later than AcquisitionTime 11:07:18.
    let r = suv_report(&fixture("siemens/tcga_luad_TCGA-17-Z051_019.dcm")).expect("SUV");
    let d = r.decay.expect("START");
    assert_eq!(d.scan_source, TimeSource::AcquisitionDateTime);
    // 10:18:58 injection to 11:07:18.038 acquisition.
    assert!((d.seconds - 2900.038).abs() < 1e-3, "{}", d.seconds);
}

/// Issue 16: acrin_flt_breast_ACRIN-FLT-Breast_040_018 (Philips) has SeriesTime 14:05:19 and
/// RadiopharmaceuticalStartDateTime 14:06:00 on the same date. Adding 24 h made its decayed
/// dose 0.02 MBq and the SUV ~9000 times too high; it is clock skew: decay 0, SUVbw factor
/// 77 kg / 150.96 MBq = 5.1007e-4 g/Bq.
#[test]
fn philips_injection_after_series_time_is_clock_skew() {
    let rel = "philips/acrin_flt_breast_ACRIN-FLT-Breast_040_018.dcm";
    let r = suv_report(&fixture(rel)).expect("SUV");
    println!("{r}");
    let d = r.decay.as_ref().expect("START");
    assert_eq!(
        d.rule,
        DecayRule::ClockSkew {
            injection_after_s: 41.0
        }
    );
    assert_eq!(d.seconds, 0.0);
    assert_eq!(d.injection_source, TimeSource::StartDateTime);
    let expected = 77_000.0 / r.injected_dose_bq.expect("dose");
    assert!(
        (r.scale_factor - expected).abs() < 1e-12,
        "{}",
        r.scale_factor
    );
    assert!(
        (r.scale_factor - 5.1007e-4).abs() < 1e-7,
        "{}",
        r.scale_factor
    );
    assert!(r.to_string().contains("clock skew"), "{r}");
    let (_, max, median) = suv_stats(rel);
    assert!((0.5..60.0).contains(&max), "SUVmax {max}");
    assert!(median < 1.0, "median {median}");
}

#[test]
fn unusable_vendor_samples_name_the_attribute() {
    let cases = [
        (
            "ge/rider_lung_pet_ct_RIDER-2007250122_018.dcm",
            "CorrectedImage",
        ),
        (
            "ge/acrin_nsclc_fdg_pet_ACRIN-NSCLC-FDG-PET-196_023.dcm",
            "PatientWeight",
        ),
        (
            "philips/naf_prostate_NaF-PROSTATE-01-0009_012.dcm",
            "CorrectedImage",
        ),
        (
            "philips/anti_pd_1_lung_PD-1-Lung-00033_021.dcm",
            "CorrectedImage",
        ),
        (
            "siemens/acrin_flt_breast_ACRIN-FLT-Breast_062_005.dcm",
            "CorrectedImage",
        ),
    ];
    for (rel, attr) in cases {
        let err = suv_report(&fixture(rel)).expect_err(rel).to_string();
        println!("{err}");
        assert!(err.contains(attr), "{rel}: {err}");
    }
}

#[test]
fn single_slice_takes_its_thickness_as_z_step() {
    // The DRO slice has SliceThickness 2 mm (no neighbours to measure a step from).
    let (series, _) = assemble_pet_suv(&[fixture("qiba/dro_female_slice_040.dcm")]).expect("DRO");
    let g = &series.volume.geometry;
    assert_eq!(g.dims, [1, 256, 256]);
    assert_eq!(g.spacing, [1.953125, 1.953125, 2.0]);
}

/// Issue 18's nesting limit walks into defined-length sequences too: every real vendor file
/// (private sequences, several nesting levels) must still be accepted as complete.
#[test]
fn vendor_files_pass_the_completeness_walk() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pet");
    let mut checked = 0;
    for vendor in std::fs::read_dir(&root).expect("fixtures") {
        let vendor = vendor.expect("entry").path();
        if !vendor.is_dir() {
            continue;
        }
        for f in std::fs::read_dir(&vendor).expect("vendor folder") {
            let path = f.expect("entry").path();
            let bytes = std::fs::read(&path).expect("read");
            // Preamble (128) + "DICM" + (0002,0000) UL: the meta group's length follows.
            let group_len = u32::from_le_bytes(bytes[140..144].try_into().expect("4 bytes"));
            let offset = 144 + u64::from(group_len);
            let ts = dicom_object::open_file(&path)
                .expect("open")
                .meta()
                .transfer_syntax()
                .trim_end_matches('\0')
                .to_owned();
            let explicit = ts != "1.2.840.10008.1.2";
            let walked =
                petground::walk::check_complete(std::io::Cursor::new(&bytes), offset, explicit);
            assert_eq!(walked, Ok(()), "{}", path.display());
            checked += 1;
        }
    }
    assert!(checked >= 13, "{checked} files");
}
