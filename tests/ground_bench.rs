//! Benchmark of the node's grounding path on CPU (run by bench/ground in release mode; ignored
//! in the normal test run because debug timings mean nothing): text encoder time per sentence,
//! model time for whole-body-size model-grid inputs, post-processing back to a whole-body PET
//! grid, one finding end to end, and the process's peak resident memory (VmHWM) — for the
//! shipped models/grounding.onnx, then for the stand-in (trivial arithmetic: its figure is the
//! session and tensor overhead, not a U-Net).

mod ground_support;

use std::time::Instant;

use ground_support::{fixture, models_dir_with, runtime, settings};
use ndarray::{Array3, Array5};
use petground::ground::grounder::{Grounder, GroundingMode};
use petground::ground::manifest::Manifest;
use petground::ground::postprocess::to_pet_mask;
use petground::volume::Geometry;
use petground::volume::resample::isotropic_geometry;

fn peak_rss_mib() -> f64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

#[test]
#[ignore = "benchmark: run bench/ground (release build)"]
fn bench_grounding_path() {
    // The shipped model first (the figure issue 10's target is about), then the stand-in
    // (session and tensor overhead only). Peak memory is the process's, after both.
    let shipped = ground_support::repo().join("models");
    if shipped.join("grounding.onnx").is_file() {
        bench_one("shipped model", &shipped);
    }
    let d = models_dir_with(&fixture("grounding_standin.onnx"));
    bench_one("stand-in model", d.path());
    println!("peak resident memory: {:.0} MiB", peak_rss_mib());
}

fn bench_one(name: &str, dir: &std::path::Path) {
    println!("== {name} ({})", dir.join("grounding.onnx").display());
    let s = settings(dir);
    let m = Manifest::load(&dir.join("manifest.json")).expect("manifest");
    let t = Instant::now();
    let mut g = Grounder::load(&runtime(), &s, &m, GroundingMode::Model).expect("load");
    println!("load (hash checks + 2 sessions): {:.0} ms", ms(t));

    let sentences = [
        "Right hilar lymph node, SUVmax , image .",
        "Intensely FDG-avid left supraclavicular lymph node (SUVmax ) on image .",
        "Focal uptake in the right lobe of the liver, segment VII.",
        "Lytic lesion of the left iliac bone with increased uptake.",
    ];
    g.embed(sentences[0]).expect("warm-up");
    let n = 40;
    let t = Instant::now();
    for i in 0..n {
        g.embed(sentences[i % sentences.len()]).expect("embed");
    }
    println!(
        "text encoder: {:.1} ms per sentence (mean of {n})",
        ms(t) / n as f64
    );

    // Whole-body PET, 4 mm voxels: 180 × 150 × 150 (720 × 600 × 600 mm).
    let pet = Geometry {
        dims: [180, 150, 150],
        origin: [-300.0, -300.0, -700.0],
        spacing: [4.0, 4.0, 4.0],
        row_dir: [1.0, 0.0, 0.0],
        col_dir: [0.0, 1.0, 0.0],
        slice_dir: [0.0, 0.0, 1.0],
    };
    let iso = isotropic_geometry(&pet, 8.0).expect("iso");
    let pad = |n: usize| n.div_ceil(16) * 16;
    for dims in [
        [112, 48, 64],
        [pad(iso.dims[0]), pad(iso.dims[1]), pad(iso.dims[2])],
    ] {
        let [z, y, x] = dims;
        let mut image = Array5::<f32>::from_elem((1, 2, z, y, x), 0.1);
        // One hot 3×3×3 lesion so post-processing has a component to keep.
        for dz in 0..3 {
            for dy in 0..3 {
                for dx in 0..3 {
                    image[[0, 0, 40 + dz, 20 + dy, 30 + dx]] = 0.9;
                }
            }
        }
        let emb = g.embed(sentences[0]).expect("embed");
        let reps = 5;
        let mut prob = Array3::<f32>::zeros((z, y, x));
        let t = Instant::now();
        for _ in 0..reps {
            let model = g.model_mut().expect("model loaded");
            prob = model
                .predict(image.view(), emb.embeddings.view(), emb.mask.view())
                .expect("predict");
        }
        println!(
            "model [1,2,{z},{y},{x}]: {:.1} ms (mean of {reps})",
            ms(t) / reps as f64
        );
        if dims[0] >= iso.dims[0] && dims[1] >= iso.dims[1] && dims[2] >= iso.dims[2] {
            let t = Instant::now();
            let mask = to_pet_mask(prob.view(), &iso, &pet).expect("post");
            println!(
                "post-processing to PET grid {:?}: {:.1} ms ({} voxels)",
                pet.dims,
                ms(t),
                mask.map_or(0, |m| m.iter().filter(|&&b| b).count())
            );
            let t = Instant::now();
            g.ground(sentences[1], image.view(), &iso, &pet)
                .expect("ground");
            println!(
                "one finding end to end (encode + model + post): {:.1} ms",
                ms(t)
            );
        }
    }
}
