//! Integration tests of the phantom generator: determinism, SUV round trip through the written
//! DICOM files (read back with dicom-object, not with the generator's own code), report numbers
//! against truth, laterality in patient coordinates, small-mode size, and `send` against a tiny
//! in-test MLLP peer.

use dicom_dictionary_std::tags;
use dicom_object::{DefaultDicomObject, open_file};
use petground_phantom::{Options, Tracer, Truth, Vendor, generate};
use std::path::{Path, PathBuf};

fn small(seed: u64) -> Options {
    Options {
        small: true,
        lesions: Some(6),
        ..Options::new(seed)
    }
}

fn gen_into(opts: &Options) -> (tempfile::TempDir, Truth) {
    let dir = tempfile::tempdir().expect("temp dir");
    let truth = generate(opts, dir.path()).expect("generate");
    (dir, truth)
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read dir") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                stack.push(p)
            } else {
                out.push(p)
            }
        }
    }
    out.sort();
    out
}

#[test]
fn same_seed_gives_identical_bytes_and_other_seed_differs() {
    let (a, _) = gen_into(&small(11));
    let (b, _) = gen_into(&small(11));
    let (c, _) = gen_into(&small(12));
    let (fa, fb) = (files(a.path()), files(b.path()));
    assert_eq!(fa.len(), fb.len());
    for (x, y) in fa.iter().zip(&fb) {
        assert_eq!(x.strip_prefix(a.path()).ok(), y.strip_prefix(b.path()).ok());
        assert!(
            std::fs::read(x).ok() == std::fs::read(y).ok(),
            "{} differs",
            x.display()
        );
    }
    let ta = std::fs::read(a.path().join("truth.json")).expect("truth a");
    let tc = std::fs::read(c.path().join("truth.json")).expect("truth c");
    assert_ne!(ta, tc);
}

fn text(o: &DefaultDicomObject, tag: dicom_core::Tag) -> String {
    o.element(tag)
        .expect("element")
        .to_str()
        .expect("string")
        .trim()
        .to_owned()
}

fn float(o: &impl DicomLike, tag: dicom_core::Tag) -> f64 {
    o.text_of(tag).parse().expect("number")
}

trait DicomLike {
    fn text_of(&self, tag: dicom_core::Tag) -> String;
}

impl DicomLike for dicom_object::InMemDicomObject {
    fn text_of(&self, tag: dicom_core::Tag) -> String {
        self.element(tag)
            .expect("element")
            .to_str()
            .expect("string")
            .trim()
            .to_owned()
    }
}

impl DicomLike for DefaultDicomObject {
    fn text_of(&self, tag: dicom_core::Tag) -> String {
        text(self, tag)
    }
}

fn secs(t: &str) -> f64 {
    let n = |a: usize| t[a..a + 2].parse::<f64>().expect("time digits");
    n(0) * 3600.0 + n(2) * 60.0 + n(4)
}

/// SUVbw of every voxel of one PET file, computed only from the file's own attributes
/// (QIBA vendor-neutral: BQML, DecayCorrection START, dose decayed to SeriesTime).
fn suv_slice(path: &Path) -> (Vec<f64>, i32) {
    let o = open_file(path).expect("open PET file");
    assert_eq!(text(&o, tags::MODALITY), "PT");
    assert_eq!(text(&o, tags::DECAY_CORRECTION), "START");
    let corrected = text(&o, tags::CORRECTED_IMAGE);
    assert!(
        corrected.contains("ATTN") && corrected.contains("DECY"),
        "{corrected}"
    );
    let units = text(&o, tags::UNITS);
    let slope = float(&o, tags::RESCALE_SLOPE);
    let raw = o
        .element(tags::PIXEL_DATA)
        .expect("pixels")
        .to_bytes()
        .expect("bytes")
        .to_vec();
    let stored: Vec<f64> = raw
        .chunks_exact(2)
        .map(|c| f64::from(i16::from_le_bytes([c[0], c[1]])))
        .collect();
    let factor = if units == "CNTS" {
        // Philips: SUV = stored × slope × (7053,1000).
        o.element(dicom_core::Tag(0x7053, 0x1000))
            .expect("philips suv factor")
            .to_float64()
            .expect("DS")
    } else {
        assert_eq!(units, "BQML");
        let rp = o
            .element(tags::RADIOPHARMACEUTICAL_INFORMATION_SEQUENCE)
            .expect("rp seq");
        let item = &rp.items().expect("items")[0];
        let dose = float(item, tags::RADIONUCLIDE_TOTAL_DOSE);
        let half = float(item, tags::RADIONUCLIDE_HALF_LIFE);
        let start = item.text_of(tags::RADIOPHARMACEUTICAL_START_DATE_TIME);
        assert_eq!(&start[..8], text(&o, tags::SERIES_DATE));
        let dt = secs(&text(&o, tags::SERIES_TIME)) - secs(&start[8..]);
        assert!((2400.0..6000.0).contains(&dt), "uptake time {dt}");
        let weight_g = float(&o, tags::PATIENT_WEIGHT) * 1000.0;
        weight_g / (dose * 2f64.powf(-dt / half))
    };
    let inst: i32 = text(&o, tags::INSTANCE_NUMBER)
        .parse()
        .expect("instance number");
    (stored.iter().map(|s| s * slope * factor).collect(), inst)
}

fn check_suv_round_trip(opts: &Options) {
    let (dir, truth) = gen_into(opts);
    assert!(!truth.lesions.is_empty());
    let labels = std::fs::read(dir.path().join(&truth.labels_file)).expect("labels");
    let [nz, ny, nx] = truth.pet_grid.dims;
    assert_eq!(labels.len(), nz * ny * nx);
    for l in &truth.lesions {
        // The slice holding the max, found by InstanceNumber through the files themselves.
        let path = dir
            .path()
            .join("pet")
            .join(format!("PT{:04}.dcm", l.instance_number));
        let (suv, inst) = suv_slice(&path);
        assert_eq!(inst as usize, l.instance_number);
        let z = l.instance_number - 1;
        let plane = &labels[z * ny * nx..(z + 1) * ny * nx];
        let max = suv
            .iter()
            .zip(plane)
            .filter(|(_, lab)| **lab == l.id)
            .map(|(v, _)| *v)
            .fold(f64::MIN, f64::max);
        assert!(
            (max - l.measured_suv_max).abs() < 0.05,
            "lesion {} file {max} truth {}",
            l.id,
            l.measured_suv_max
        );
        assert!((l.reported_suv_max - (l.measured_suv_max * 10.0).round() / 10.0).abs() < 1e-9);
        // No voxel of this lesion on any other slice beats the reported max.
        for (k, zl) in labels.chunks(ny * nx).enumerate() {
            if k != z && zl.contains(&l.id) {
                let (other, _) =
                    suv_slice(&dir.path().join("pet").join(format!("PT{:04}.dcm", k + 1)));
                let m = other
                    .iter()
                    .zip(zl)
                    .filter(|(_, lab)| **lab == l.id)
                    .map(|(v, _)| *v)
                    .fold(f64::MIN, f64::max);
                assert!(
                    m <= max + 1e-9,
                    "lesion {} slice {} has {m} > {max}",
                    l.id,
                    k + 1
                );
            }
        }
    }
}

#[test]
fn suv_round_trip_plain_bqml() {
    check_suv_round_trip(&Options {
        tracer: Some(Tracer::Fdg),
        ..small(21)
    });
}

#[test]
fn suv_round_trip_ge_and_philips_variants() {
    check_suv_round_trip(&Options {
        tracer: Some(Tracer::Dotatate),
        vendor: Vendor::Ge,
        ..small(22)
    });
    check_suv_round_trip(&Options {
        tracer: Some(Tracer::Psma),
        vendor: Vendor::Philips,
        ..small(23)
    });
}

/// The current-exam SUV in a sentence: the first number after an "SUV" mention that is not a
/// "previously" value.
fn sentence_numbers(s: &str) -> (f64, usize) {
    let clean = match s.find("previously") {
        Some(p) => {
            let end = s[p..]
                .find(|c: char| c.is_ascii_digit())
                .map_or(s.len(), |d| {
                    p + d
                        + s[p + d..]
                            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                            .unwrap_or(s.len() - p - d)
                });
            format!("{}{}", &s[..p], &s[end..])
        }
        None => s.to_owned(),
    };
    let lower = clean.to_lowercase();
    let suv_at = lower.find("suv").expect("an SUV mention");
    let num = |from: usize| -> String {
        let t = &clean[from..];
        let a = t.find(|c: char| c.is_ascii_digit()).expect("digits");
        t[a..]
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '.')
            .collect::<String>()
            .trim_end_matches('.')
            .to_owned()
    };
    let suv: f64 = num(suv_at).parse().expect("suv number");
    let img_at = ["image ", "slice ", "im "]
        .iter()
        .filter_map(|k| lower.find(k))
        .min()
        .expect("an image mention");
    let img: usize = num(img_at).parse().expect("image number");
    (suv, img)
}

#[test]
fn report_numbers_match_truth_and_hl7_carries_ids() {
    for seed in [31, 32, 33] {
        let (dir, truth) = gen_into(&Options {
            lesions: Some(8),
            ..small(seed)
        });
        let report = std::fs::read_to_string(dir.path().join("report.txt")).expect("report");
        assert!(report.contains("FINDINGS:") && report.contains("IMPRESSION:"));
        for l in &truth.lesions {
            assert!(
                report.contains(&l.sentence),
                "sentence missing: {}",
                l.sentence
            );
            let (suv, img) = sentence_numbers(&l.sentence);
            assert!(
                (suv - l.reported_suv_max).abs() < 1e-9,
                "{}: {suv} vs {}",
                l.sentence,
                l.reported_suv_max
            );
            assert_eq!(img, l.instance_number, "{}", l.sentence);
        }
        let hl7 = std::fs::read_to_string(dir.path().join("report.hl7")).expect("hl7");
        let segs: Vec<&str> = hl7.split('\r').filter(|s| !s.is_empty()).collect();
        assert!(
            segs[0].starts_with("MSH|^~\\&|")
                && segs[0].contains("ORU^R01")
                && segs[0].ends_with("2.5.1")
        );
        let field =
            |seg: &str, n: usize| seg.split('|').nth(n).map(str::to_owned).unwrap_or_default();
        let pid = segs.iter().find(|s| s.starts_with("PID|")).expect("PID");
        assert_eq!(
            field(pid, 3).split('^').next(),
            Some(truth.patient_id.as_str())
        );
        let obr = segs.iter().find(|s| s.starts_with("OBR|")).expect("OBR");
        assert_eq!(field(obr, 3), truth.accession_number);
        assert_eq!(field(obr, 18), truth.accession_number);
        assert_eq!(field(obr, 25), "F");
        let study = segs
            .iter()
            .find(|s| field(s, 3) == "113014^DICOM Study^DCM")
            .expect("study OBX");
        assert_eq!(field(study, 5), truth.study_instance_uid);
        let tx_lines = segs.iter().filter(|s| field(s, 2) == "TX").count();
        assert_eq!(
            tx_lines,
            report.lines().filter(|l| !l.trim().is_empty()).count()
        );
    }
}

#[test]
fn lesion_sides_are_patient_sides() {
    let mut sided = 0;
    for seed in 40..46 {
        let (dir, truth) = gen_into(&Options {
            lesions: Some(8),
            ..small(seed)
        });
        let labels = std::fs::read(dir.path().join("truth_labels.u8")).expect("labels");
        let g = &truth.pet_grid;
        let [_, ny, nx] = g.dims;
        for l in &truth.lesions {
            // Mean x (mm) of the lesion's labelled voxels, from the label file and grid geometry.
            let xs: Vec<f64> = labels
                .iter()
                .enumerate()
                .filter(|(_, v)| **v == l.id)
                .map(|(n, _)| g.origin[0] + (n % nx) as f64 * g.spacing[0] * g.row_dir[0])
                .collect();
            assert!(!xs.is_empty());
            let _ = ny;
            let x = xs.iter().sum::<f64>() / xs.len() as f64;
            match l.side.as_deref() {
                Some("left") => {
                    sided += 1;
                    assert!(
                        x > truth.body_centre_mm[0] && l.centre_mm[0] > truth.body_centre_mm[0],
                        "{l:?}"
                    );
                    assert!(l.sentence.to_lowercase().contains("left"));
                }
                Some("right") => {
                    sided += 1;
                    assert!(
                        x < truth.body_centre_mm[0] && l.centre_mm[0] < truth.body_centre_mm[0],
                        "{l:?}"
                    );
                    assert!(l.sentence.to_lowercase().contains("right"));
                }
                _ => {}
            }
        }
    }
    assert!(sided >= 10, "too few sided lesions drawn: {sided}");
}

#[test]
fn small_mode_is_small_and_fully_formed() {
    let (dir, truth) = gen_into(&small(51));
    let total: u64 = files(dir.path())
        .iter()
        .map(|p| std::fs::metadata(p).expect("meta").len())
        .sum();
    assert!(total < 5_000_000, "{total} bytes");
    let pet = files(&dir.path().join("pet"));
    let ct = files(&dir.path().join("ct"));
    assert_eq!(pet.len(), truth.pet_grid.dims[0]);
    assert_eq!(ct.len(), truth.ct_grid.dims[0]);
    let first = open_file(&pet[0]).expect("pet 1");
    let last = open_file(&pet[pet.len() - 1]).expect("pet n");
    let z = |o: &DefaultDicomObject| {
        text(o, tags::IMAGE_POSITION_PATIENT)
            .split('\\')
            .nth(2)
            .expect("z")
            .parse::<f64>()
            .expect("f")
    };
    assert_eq!(text(&first, tags::INSTANCE_NUMBER), "1");
    assert!(
        z(&first) > z(&last),
        "InstanceNumber 1 must be the most superior slice"
    );
    let c = open_file(&ct[0]).expect("ct 1");
    assert_eq!(
        text(&c, tags::FRAME_OF_REFERENCE_UID),
        text(&first, tags::FRAME_OF_REFERENCE_UID)
    );
    assert_eq!(text(&c, tags::STUDY_INSTANCE_UID), truth.study_instance_uid);
    assert_eq!(text(&c, tags::RESCALE_INTERCEPT), "-1024");
    assert!((z(&c) - z(&first)).abs() < 1e-6);
    // The CT corner voxel is air: stored 24 → −1000 HU.
    let px = c
        .element(tags::PIXEL_DATA)
        .expect("ct px")
        .to_bytes()
        .expect("bytes")
        .to_vec();
    assert_eq!(u16::from_le_bytes([px[0], px[1]]), 24);
}

#[test]
fn send_report_reads_the_ack() {
    use std::io::{Read, Write};
    let (dir, _) = gen_into(&small(61));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let peer = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().expect("accept");
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        while !buf.ends_with(&[0x1C, 0x0D]) {
            let n = s.read(&mut chunk).expect("read");
            assert!(n > 0);
            buf.extend_from_slice(&chunk[..n]);
        }
        assert_eq!(buf[0], 0x0B);
        s.write_all(
            b"\x0bMSH|^~\\&|PETGROUND|X|PHANTOM|X|20250101||ACK|1|P|2.5.1\rMSA|AA|PH61\r\x1c\x0d",
        )
        .expect("ack");
        String::from_utf8_lossy(&buf[1..buf.len() - 2]).into_owned()
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let ack = rt
        .block_on(petground_phantom::send::send_report(
            &dir.path().join("report.hl7"),
            &addr,
        ))
        .expect("send");
    assert!(ack.contains("MSA|AA|PH61"));
    let got = peer.join().expect("peer");
    assert_eq!(
        got,
        std::fs::read_to_string(dir.path().join("report.hl7")).expect("hl7")
    );
}
