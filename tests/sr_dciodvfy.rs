//! Issue 20 acceptance for the quantitative SR: a synthetic PET series (real BQML PET files, written
//! by the phantom's DICOM writer, on a 4 × 4 × 2.5 mm grid where the 1 mL sphere holds many
//! voxels) and a report with three groundable findings and one that is not, through the job core
//! (`ground_study`): the SR passes dicom3tools' `dciodvfy` with zero errors, dcmtk's `dsrdump`
//! prints it, and `tests/sr_check.py` reads it with highdicom `srread`, finds one volumetric
//! group per SEG segment (Referenced Segment = that SEG and number) plus the ungrounded finding,
//! and recomputes SUVmax/mean/peak, MTV, TLG and the long axis from the PET files and the SEG
//! with its own numpy code: every value within 1e-3 of the SR, and the SR equal to the node's own
//! measurements.

mod common;

use common::study::dciodvfy_errors;

use std::path::{Path, PathBuf};

use common::{python, tool};
use petground::ground::grounder::GroundingMode;
use petground::label::LabelParams;
use petground::pipeline::ground::Methods;
use petground::pipeline::segmentation::{Grounded, Outputs, ground_study};
use petground::pipeline::study::prepare;
use petground::report::Finding;
use petground::report::findings_from_text;
use petground_phantom::dcm::{Header, PetSlice, Vendor, pet_object, write_file};
use petground_phantom::pet::quantize_slice;

const NX: usize = 64;
const NZ: usize = 40;
const PIXEL: f64 = 4.0;
const DZ: f64 = 2.5;

/// A lesion of the synthetic study: centre (voxel index `[z, y, x]`), radius (mm), peak SUV.
struct Blob {
    centre: [f64; 3],
    radius_mm: f64,
    suv: f64,
}

/// Patient left is +x (LPS): x index 16 is the patient's right, 48 the left.
const BLOBS: [Blob; 3] = [
    Blob {
        centre: [12.0, 28.0, 16.2],
        radius_mm: 9.0,
        suv: 9.0,
    },
    Blob {
        centre: [20.0, 40.0, 48.0],
        radius_mm: 6.0,
        suv: 5.5,
    },
    Blob {
        centre: [30.0, 44.0, 32.0],
        radius_mm: 11.0,
        suv: 7.0,
    },
];

fn suv_at(z: usize, y: usize, x: usize) -> f64 {
    // Background 1.0 with a gentle deterministic texture; each blob a smooth dome that reaches
    // its SUV at the centre (so the hottest 1 mL sphere is a real search, not the max voxel).
    let mut v = 1.0 + 0.15 * (((z * 7 + y * 3 + x * 5) % 9) as f64 / 8.0);
    for b in &BLOBS {
        let d = [
            (z as f64 - b.centre[0]) * DZ,
            (y as f64 - b.centre[1]) * PIXEL,
            (x as f64 - b.centre[2]) * PIXEL,
        ];
        let r = (d.iter().map(|a| a * a).sum::<f64>()).sqrt() / b.radius_mm;
        if r < 1.0 {
            v = v.max(1.0 + (b.suv - 1.0) * (1.0 - r * r));
        }
    }
    v
}

/// Writes the PET series (BQML, DECY START) and returns its files in slice order.
fn write_study(dir: &Path) -> Vec<PathBuf> {
    let h = Header {
        patient_name: "Sr^Phantom".into(),
        patient_id: "PG-SR-1".into(),
        birth_date: "19700101".into(),
        sex: 'F',
        weight_kg: 72.0,
        height_m: 1.68,
        accession: "SR0001".into(),
        study_uid: petground::seg::new_uid(),
        pet_series_uid: petground::seg::new_uid(),
        ct_series_uid: petground::seg::new_uid(),
        frame_of_reference_uid: petground::seg::new_uid(),
        study_date: "20261204".into(),
        injection_time: "091500".into(),
        series_time: "102000".into(),
        tracer: petground_phantom::Tracer::Fdg,
        dose_bq: 350e6,
        vendor: Vendor::Plain,
    };
    let per_suv = h.bqml_per_suv();
    let pet = dir.join("pet");
    std::fs::create_dir_all(&pet).expect("pet dir");
    let origin = -(NX as f64 - 1.0) / 2.0 * PIXEL;
    (0..NZ)
        .map(|z| {
            let values = (0..NX * NX).map(move |i| suv_at(z, i / NX, i % NX) * per_suv);
            let stored = quantize_slice(values);
            let uid = petground::seg::new_uid();
            let slice = PetSlice {
                index: z,
                count: NZ,
                position: [origin, origin, -400.0 - z as f64 * DZ],
                pixel: [PIXEL, PIXEL],
                thickness: DZ,
                rows: NX,
                cols: NX,
                sop_uid: &uid,
                values: &stored.values,
                slope_text: &stored.slope_text,
                counts_factor: None,
            };
            let path = pet.join(format!("PT{:04}.dcm", z + 1));
            write_file(
                pet_object(&h, &slice),
                dicom_dictionary_std::uids::POSITRON_EMISSION_TOMOGRAPHY_IMAGE_STORAGE,
                &uid,
                &path,
            )
            .expect("write PET slice");
            path
        })
        .collect()
}

/// The report: each blob described by its SUVmax as the node reads it and its image number,
/// plus a finding with no lesion behind it.
fn report(files: &[PathBuf]) -> String {
    let (series, _) = petground::volume::suv::assemble_pet_suv(files).expect("assemble PET");
    let sites = [
        "Right upper lobe pulmonary nodule",
        "Left axillary lymph node",
        "T10 vertebral body lesion",
    ];
    let mut text = String::from("FINDINGS:\n");
    let origin = -(NX as f64 - 1.0) / 2.0 * PIXEL;
    for (b, site) in BLOBS.iter().zip(sites) {
        // The blob's centre voxel in the node's own index order (it sorts slices by position).
        let [z, y, x] = b.centre.map(f64::round);
        let mm = [origin + x * PIXEL, origin + y * PIXEL, -400.0 - z * DZ];
        let c = series
            .volume
            .geometry
            .mm_to_index(mm)
            .map(|i| i.round() as usize);
        let max = series.volume.data[c];
        let image = series.slices[c[0]]
            .instance_number
            .expect("instance number");
        text.push_str(&format!("{site}, SUVmax {max:.1}, image {image}.\n"));
    }
    text.push_str("Left external iliac lymph node, SUVmax 4.4, image 5.\n");
    text
}

fn ground(files: &[PathBuf], text: &str) -> (Grounded, Vec<Finding>) {
    let findings = findings_from_text(text);
    assert_eq!(findings.len(), 4, "{findings:?}");
    let params = LabelParams::default();
    let methods = Methods {
        label: &params,
        model: None,
        mode: GroundingMode::WeakLabel,
    };
    let outputs = Outputs {
        series_number: 9901,
        sr: true,
    };
    let study = prepare(files, &[]).expect("PET series");
    let grounded = ground_study(study, &findings, &methods, &outputs).expect("job core");
    (grounded, findings)
}

#[test]
fn sr_beside_the_seg_passes_dciodvfy_and_matches_a_numpy_reference() {
    let dir = tempfile::tempdir().expect("tempdir");
    let files = write_study(dir.path());
    let text = report(&files);
    let (grounded, findings) = ground(&files, &text);
    let grounded_n = grounded
        .findings
        .iter()
        .filter(|f| f.segment.is_some())
        .count();
    assert_eq!(grounded_n, 3, "{:#?}", grounded.findings);
    let seg = grounded.seg.as_ref().expect("a SEG");
    let sr = grounded.sr.as_ref().expect("an SR beside the SEG");
    let seg_path = dir.path().join("seg.dcm");
    let sr_path = dir.path().join("seg.sr.dcm");
    petground::seg::write_seg(seg, &seg_path).expect("write SEG");
    petground::seg::write_seg(sr, &sr_path).expect("write SR");
    if let Some(keep) = std::env::var_os("PETGROUND_KEEP_SR") {
        for p in [&seg_path, &sr_path] {
            std::fs::copy(p, Path::new(&keep).join(p.file_name().expect("name"))).expect("keep");
        }
    }

    assert!(
        dciodvfy_errors(&sr_path).is_empty(),
        "dciodvfy errors in the SR"
    );
    assert!(
        dciodvfy_errors(&seg_path).is_empty(),
        "dciodvfy errors in the SEG"
    );

    let dump = tool("dsrdump").arg(&sr_path).output().expect("run dsrdump");
    let dumped = String::from_utf8_lossy(&dump.stdout);
    assert!(
        dump.status.success(),
        "dsrdump failed: {}",
        String::from_utf8_lossy(&dump.stderr)
    );
    assert!(dumped.contains("Imaging Measurement Report"), "{dumped}");
    assert!(dumped.contains("Total Lesion Glycolysis"), "{dumped}");

    let out = std::process::Command::new(python())
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sr_check.py"))
        .args([&sr_path, &seg_path, &dir.path().join("pet")])
        .output()
        .expect("run tests/sr_check.py");
    assert!(
        out.status.success(),
        "sr_check.py failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let back: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    check(&back, &grounded, &findings, seg);
}

fn check(
    back: &serde_json::Value,
    grounded: &Grounded,
    findings: &[Finding],
    seg: &petground::seg::SegObject,
) {
    assert_eq!(back["sop_class_uid"], "1.2.840.10008.5.1.4.1.1.88.34");
    assert_eq!(back["modality"], "SR");
    let groups = back["groups"].as_array().expect("groups");
    assert_eq!(groups.len(), 3, "one volumetric group per segment: {back}");
    for g in groups {
        let n = g["segment"].as_u64().expect("segment number") as usize;
        let (d, segment) = grounded.segments().nth(n - 1).expect("segment n");
        let ours = &segment.measurements;
        assert_eq!(grounded.findings[d].segment, Some(n as u16));
        let f = &findings[d];
        assert_eq!(g["finding"][0], f.sentence.as_str());
        assert_eq!(g["segment_description"], f.sentence.as_str());
        assert_eq!(g["tracking_id"], g["segment_label"]);
        let v = &g["values"];
        let r = &g["reference"];
        for (name, node) in [
            ("suv_max", ours.suv_max),
            ("suv_mean", ours.suv_mean),
            ("suv_peak", ours.suv_peak),
            ("mtv_ml", ours.mtv_ml),
            ("tlg", ours.tlg),
            ("long_axis_mm", ours.largest_axial_diameter_mm),
        ] {
            let sr = v[name]
                .as_f64()
                .unwrap_or_else(|| panic!("SR lacks {name}: {g}"));
            let reference = r[name].as_f64().expect("reference value");
            println!("segment {n} {name}: SR {sr:.6} node {node:.6} reference {reference:.6}");
            assert!(
                (sr - node).abs() <= 1e-6 * node.abs().max(1.0),
                "{name}: SR {sr} vs node {node}"
            );
            assert!(
                (sr - reference).abs() <= 1e-3,
                "{name}: SR {sr} vs numpy {reference}"
            );
        }
        assert!(ours.peak_sphere_voxels > 20, "a real 1 mL sphere: {ours:?}");
        assert_eq!(g["units"]["suv_max"], "g/ml{SUVbw}");
        assert_eq!(g["units"]["mtv_ml"], "ml");
    }
    let site =
        |n: usize| groups.iter().find(|g| g["segment"] == n).expect("group")["site"][0].clone();
    assert_eq!(site(1), "45653009", "right upper lobe");
    assert_eq!(site(2), "68171009", "axillary node");
    assert_eq!(site(3), "7610001", "T10");
    let ungrounded = back["ungrounded"].as_array().expect("ungrounded");
    assert_eq!(ungrounded.len(), 1, "{back}");
    let u = &ungrounded[0];
    assert_eq!(u["measurements"], 0);
    assert!(
        u["finding"][0]
            .as_str()
            .expect("sentence")
            .contains("external iliac")
    );
    let reason = u["comment"][0].as_str().expect("comment");
    assert!(reason.starts_with("not grounded: "), "{reason}");
    assert_eq!(
        back["study_instance_uid"],
        seg.element(dicom_dictionary_std::tags::STUDY_INSTANCE_UID)
            .expect("study")
            .to_str()
            .expect("str")
            .trim_end_matches('\0')
    );
    let pet_for = seg
        .element(dicom_dictionary_std::tags::FRAME_OF_REFERENCE_UID)
        .expect("FoR")
        .to_str()
        .expect("str")
        .trim_end_matches('\0')
        .to_owned();
    assert_eq!(back["frame_of_reference_uid"], serde_json::json!([pet_for]));
    assert_eq!(
        back["library_images"], back["pet_images"],
        "every PET image in the library"
    );
    println!("max |SR - numpy|: {}", back["max_abs_diff"]);
}

/// `petground ground` writes the SR beside the SEG (`<seg uid>.sr.dcm`), and not with
/// `[results] sr = false`.
#[test]
fn petground_ground_writes_the_sr_beside_the_seg() {
    let dir = tempfile::tempdir().expect("tempdir");
    let study = dir.path().join("study");
    let mut o = petground_phantom::Options::new(31);
    o.small = true;
    o.lesions = Some(3);
    petground_phantom::generate(&o, &study).expect("phantom");
    let run = |out: &Path, config: Option<&Path>| {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_petground"));
        c.args(["ground", "--study"])
            .arg(&study)
            .arg("--report")
            .arg(study.join("report.hl7"))
            .arg("--out")
            .arg(out);
        if let Some(cfg) = config {
            c.arg("--config").arg(cfg);
        }
        let o = c.output().expect("run petground ground");
        let text = String::from_utf8_lossy(&o.stdout).into_owned();
        assert!(
            o.status.success(),
            "{text}{}",
            String::from_utf8_lossy(&o.stderr)
        );
        let mut names: Vec<String> = std::fs::read_dir(out)
            .expect("out dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        (text, names)
    };
    let (text, names) = run(&dir.path().join("with"), None);
    let seg = names
        .iter()
        .find(|n| n.ends_with(".dcm") && !n.ends_with(".sr.dcm"))
        .expect("a SEG");
    let sr = seg.replace(".dcm", ".sr.dcm");
    assert!(names.contains(&sr), "{names:?}");
    assert!(text.contains("SR written: "), "{text}");
    assert!(text.contains("SUVpeak "), "{text}");
    assert!(dciodvfy_errors(&dir.path().join("with").join(&sr)).is_empty());

    let cfg = dir.path().join("no-sr.toml");
    let base = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/conf/petground.toml"))
        .expect("shipped config");
    std::fs::write(&cfg, base.replace("sr = true", "sr = false")).expect("config");
    let (text, names) = run(&dir.path().join("without"), Some(&cfg));
    assert!(!names.iter().any(|n| n.ends_with(".sr.dcm")), "{names:?}");
    assert!(!text.contains("SR written"), "{text}");
}
