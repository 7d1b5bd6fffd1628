//! Benchmark half of bench/label/run (ignored in the normal suite; run it in release):
//! builds a 300 × 200 × 200 whole-body PET phantom with 10 lesions, writes it as raw f32
//! (`volume.f32`, C order `[z, y, x]`, little-endian) with `findings.json`, times
//! `weak_label` per finding (median of 5 runs) and stores our labels there for
//! bench/label/reference.py to compare against the numpy/scipy implementation.

use std::path::PathBuf;
use std::time::Instant;

use petground::label::{LabelOutcome, LabelParams, weak_label};
use petground_phantom::fixtures::suv_phantom::{self, Blob, Numbering, PhantomSpec};

const DIMS: [usize; 3] = [300, 200, 200];
const SPACING: [f64; 3] = [4.0, 4.0, 3.0];

fn lesions() -> Vec<Blob> {
    let z = |f: f64| -f * DIMS[0] as f64 * SPACING[2];
    vec![
        Blob::sphere([50.0, -60.0, z(0.12)], 6.0, 6.0),
        Blob::sphere([60.0, 40.0, z(0.27)], 10.0, 12.0),
        Blob::sphere([-80.0, 20.0, z(0.33)], 7.5, 5.0),
        Blob::sphere([100.0, -40.0, z(0.50)], 5.0, 8.0),
        Blob::sphere([-110.0, 30.0, z(0.62)], 7.5, 5.0),
        Blob::sphere([120.0, 0.0, z(0.40)], 15.0, 6.0),
        Blob::sphere([-110.0, 0.0, z(0.72)], 8.0, 7.0),
        Blob::sphere([-20.0, 60.0, z(0.56)], 5.0, 9.0),
        Blob::sphere([30.0, -50.0, z(0.45)], 9.0, 10.0),
        Blob::sphere([-85.0, 0.0, z(0.88)], 10.0, 4.0),
    ]
}

fn kind(out: &LabelOutcome) -> &'static str {
    match out {
        LabelOutcome::Labelled { .. } => "labelled",
        LabelOutcome::Ambiguous { .. } => "ambiguous",
        LabelOutcome::NotFound { .. } => "not_found",
        LabelOutcome::QcFailed { .. } => "qc_failed",
        LabelOutcome::Skipped { .. } => "skipped",
    }
}

#[test]
#[ignore = "benchmark: run bench/label/run (release build, ~1 GB of scratch)"]
fn label_bench() {
    let dir = std::env::var_os("PETGROUND_LABEL_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("label_bench"));
    std::fs::create_dir_all(&dir).expect("create the benchmark directory");
    let t = Instant::now();
    let p = suv_phantom::build(&PhantomSpec {
        dims: DIMS,
        spacing: SPACING,
        seed: 6,
        noise: 0.45,
        fwhm_mm: 7.0,
        anatomy: true,
        lesions: lesions(),
        numbering: Numbering::FromHead,
    });
    println!(
        "phantom {:?} built in {:.1} s",
        DIMS,
        t.elapsed().as_secs_f64()
    );
    let bytes: Vec<u8> = p.volume.data.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(dir.join("volume.f32"), bytes).expect("write volume.f32");

    let params = LabelParams::default();
    let grid = petground::label::components::Grid::new(DIMS);
    let mut findings = Vec::new();
    let mut total_ms = 0.0;
    for l in &p.lesions {
        let mut times = Vec::new();
        let mut out = None;
        for _ in 0..5 {
            let t = Instant::now();
            let o = weak_label(
                &p.volume,
                &p.slices,
                l.reported_suv,
                Some(l.image_number),
                "",
                &params,
            );
            times.push(t.elapsed().as_secs_f64() * 1e3);
            out = Some(o);
        }
        times.sort_by(f64::total_cmp);
        let ms = times[2];
        total_ms += ms;
        let out = out.expect("five runs");
        let voxels: Vec<usize> = match &out {
            LabelOutcome::Labelled { mask, .. } => {
                mask.voxels.iter().map(|&v| grid.flat(v)).collect()
            }
            _ => Vec::new(),
        };
        let dice = suv_phantom::dice(
            match &out {
                LabelOutcome::Labelled { mask, .. } => &mask.voxels,
                _ => &[],
            },
            &l.voxels,
        );
        println!(
            "S {:>5} image {:>3}: {ms:7.2} ms, Dice vs truth {dice:.2}: {out}",
            l.reported_suv, l.image_number
        );
        findings.push(serde_json::json!({
            "suv": l.reported_suv,
            "image_number": l.image_number,
            // InstanceNumber 1 is the head slice, z = 0 (the reference's index).
            "z": l.image_number - 1,
            "radius_mm": l.blob.radii_mm[0],
            "ours": { "kind": kind(&out), "voxels": voxels, "ms": ms, "dice_truth": dice },
        }));
    }
    println!("ours: {total_ms:.1} ms for {} findings", findings.len());
    // The paths the comparison does not cover: SUV only (whole-volume search) and laterality QC
    // (body midline over the whole volume).
    let l = &p.lesions[1];
    for (n, sentence) in [(None, ""), (Some(l.image_number), "left upper lobe nodule")] {
        let t = Instant::now();
        let out = weak_label(&p.volume, &p.slices, l.reported_suv, n, sentence, &params);
        let ms = t.elapsed().as_secs_f64() * 1e3;
        println!("image {n:?}, sentence {sentence:?}: {ms:.2} ms: {out}");
    }
    let meta = serde_json::json!({
        "dims": DIMS,
        "spacing_xyz": SPACING,
        "voxel_ml": p.volume.geometry.voxel_ml(),
        "findings": findings,
        "ours_total_ms": total_ms,
    });
    std::fs::write(dir.join("findings.json"), meta.to_string()).expect("write findings.json");
    println!("wrote {}", dir.display());
}
