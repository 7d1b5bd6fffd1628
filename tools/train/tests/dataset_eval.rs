//! Dataset building and evaluation on a tiny phantom archive (2 small studies), without PyTorch:
//! the node's code must turn the archive into model-grid pairs, the scoring side must give
//! F1 = 1 for a "model" whose probability map is the label itself and 0 for an empty one, and
//! `evaluate` must run end to end through the node's Rust inference with the stand-in model
//! (tests/fixtures/grounding_standin.onnx), writing report.md and its PNG plots.

// The node's ground_* test set-up (ONNX Runtime fetched once; a test fails, never skips,
// without it), shared rather than copied.
#[path = "../../../tests/ground_support/mod.rs"]
mod ground_support;

use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

use ndarray::{Array3, Ix3, Ix4};
use petground::ground::preprocess::{PAD_MULTIPLE, padded_dims};
use petground::volume::Geometry;
use petground_train::evaluate::Landing;
use petground_train::metric::{Counts, score};
use petground_train::post::hottest_component;
use petground_train::{dataset, evaluate, figures, infer, npy};

struct Built {
    dir: tempfile::TempDir,
    funnel: dataset::Funnel,
    pairs: Vec<dataset::Pair>,
}

/// The archive and dataset, built once for both tests (debug builds take a while).
fn built() -> &'static Built {
    static BUILT: OnceLock<Built> = OnceLock::new();
    BUILT.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let archive = dir.path().join("archive");
        petground_phantom::archive(&archive, 2, 4242, true).expect("phantom archive");
        let out = dir.path().join("data");
        let funnel = dataset::build(&archive, &out, &dataset::Options::default()).expect("dataset");
        let pairs = dataset::read_manifest(&out).expect("manifest");
        Built { dir, funnel, pairs }
    })
}

#[test]
fn tiny_archive_gives_model_grid_pairs_and_a_consistent_funnel() {
    let b = built();
    let (funnel, pairs) = (&b.funnel, &b.pairs);
    let data = b.dir.path().join("data");
    assert_eq!(funnel.studies, 2);
    assert_eq!(funnel.studies_failed, 0);
    // Each phantom report has 3–8 lesion sentences, all with an SUVmax.
    assert!(funnel.sentences >= 6, "{}", funnel.render());
    assert!(funnel.with_suv <= funnel.sentences);
    assert!(funnel.matched <= funnel.with_suv && funnel.qc_pass <= funnel.matched);
    assert_eq!(funnel.kept, pairs.len());
    let dropped: usize = funnel.drops.values().sum();
    assert_eq!(
        funnel.kept + dropped,
        funnel.sentences,
        "every sentence is kept or has a reason"
    );
    // The phantom's lesions are built to be found: most sentences survive.
    assert!(
        pairs.len() * 10 >= funnel.sentences * 8,
        "{}",
        funnel.render()
    );
    assert!(std::fs::read_to_string(data.join("funnel.json")).is_ok());

    for p in pairs {
        assert!(["train", "val", "test"].contains(&p.split.as_str()));
        assert_ne!(
            p.site, "unknown",
            "truth.json gives the site of {}",
            p.sentence
        );
        assert!(
            ["fdg", "psma", "dotatate"].contains(&p.tracer.as_str()),
            "{}",
            p.tracer
        );
        // The model text has neither the SUV value nor the image number.
        let suv = format!("{:.1}", p.reported_suv_max);
        assert!(
            p.sentence.contains(&suv) && !p.text.contains(&suv),
            "{} / {}",
            p.sentence,
            p.text
        );
        assert!(
            (p.label_suv_max - p.reported_suv_max).abs() <= 0.2 + 1e-6,
            "QC held"
        );
        let model: Geometry = p.model_grid.clone();
        assert_eq!(model.spacing, [8.0; 3]);
        let [pz, py, px] = padded_dims(&model);
        assert_eq!(
            [pz % PAD_MULTIPLE, py % PAD_MULTIPLE, px % PAD_MULTIPLE],
            [0, 0, 0]
        );
        let image = npy::read::<f32>(&data.join(&p.image)).expect("image");
        assert_eq!(image.shape(), &[2, pz, py, px]);
        assert!(image.iter().all(|v| (0.0..=1.0).contains(v)));
        let label = npy::read::<u8>(&data.join(&p.label)).expect("label");
        assert_eq!(label.shape(), &[pz, py, px]);
        assert!(label.iter().any(|&v| v == 1));
        let label_pet = npy::read::<u8>(&data.join(&p.label_pet)).expect("label");
        assert_eq!(label_pet.shape(), &p.pet_grid.dims);
        let suv = npy::read::<f32>(&data.join(&p.suv)).expect("suv");
        let max = label_pet
            .iter()
            .zip(suv.iter())
            .filter(|(l, _)| **l > 0)
            .map(|(_, s)| f64::from(*s))
            .fold(f64::MIN, f64::max);
        assert!(
            (max - p.label_suv_max).abs() < 1e-4,
            "the stored SUV is the labelled one"
        );
        // The PET channel is hot where the label is (SUV ≥ 2.5 → ≥ 0.25 somewhere in it).
        let hot = label
            .iter()
            .zip(image.iter())
            .filter(|(l, _)| **l > 0)
            .map(|(_, v)| *v)
            .fold(0.0f32, f32::max);
        assert!(hot >= 0.2, "PET channel {hot} under the label of {}", p.id);
    }
    // One patient per study here, never in two splits.
    for p in pairs {
        assert!(
            pairs
                .iter()
                .filter(|q| q.patient_id == p.patient_id)
                .all(|q| q.split == p.split)
        );
    }
}

#[test]
fn evaluation_scores_perfect_and_empty_predictions() {
    let b = built();
    let pairs = &b.pairs;
    let data = b.dir.path().join("data");
    let tmp = tempfile::tempdir().expect("tempdir");
    let eval = tmp.path().join("eval");
    std::fs::create_dir_all(eval.join("preds")).expect("mkdir");
    // "Model": the training label itself as probability, cropped to the model grid; the
    // empty-text map is all zeros (so vision only finds nothing).
    for p in pairs {
        let label = npy::read::<u8>(&data.join(&p.label))
            .expect("label")
            .into_dimensionality::<Ix3>()
            .expect("3d");
        let [z, y, x] = p.model_grid.dims;
        let prob = Array3::from_shape_fn((z, y, x), |(a, b, c)| f32::from(label[[a, b, c]]));
        npy::write(&eval.join("preds").join(format!("{}.npy", p.id)), &prob).expect("write");
        let empty = Array3::<f32>::zeros((z, y, x));
        npy::write(
            &eval.join("preds").join(format!("{}-empty.npy", p.study)),
            &empty,
        )
        .expect("write");
    }
    let ids: Vec<&str> = pairs.iter().map(|p| p.id.as_str()).collect();
    std::fs::write(
        eval.join("inference.json"),
        serde_json::json!({ "pairs": ids }).to_string(),
    )
    .expect("write");
    let ev = evaluate::evaluate(&data, &eval).expect("evaluate");
    let [model, vision, _hottest] = &ev.overall;
    assert_eq!(model.sentences, pairs.len());
    // The label goes to the model grid and back: the round trip keeps the lesion's max voxel
    // for nearly every sentence (small lesions on 16 mm slices may lose it).
    assert!(model.f1() >= 0.8, "F1 {} ({model:?})", model.f1());
    assert!(model.mean_dice() > 0.5, "Dice {}", model.mean_dice());
    assert_eq!((vision.tp, vision.fp), (0, 0));
    assert_eq!(vision.fn_, pairs.len());
    assert_eq!(vision.f1(), 0.0);
    let md = evaluate::render(&ev, "tiny");
    assert!(md.contains("| model (text) |") && md.contains("tracer="));

    // A confusion: pair `a` predicted as its study neighbour `b`'s lesion is a miss that lands
    // on `b`'s site, and the report says so.
    let (a, b2) = pairs
        .iter()
        .find_map(|a| {
            pairs
                .iter()
                .find(|b| b.study == a.study && b.id != a.id)
                .map(|b| (a, b))
        })
        .expect("a study with two pairs");
    let label_b = npy::read::<u8>(&data.join(&b2.label))
        .expect("label")
        .into_dimensionality::<Ix3>()
        .expect("3d");
    npy::write(
        &eval.join("preds").join(format!("{}.npy", a.id)),
        &label_b.mapv(f32::from),
    )
    .expect("write");
    let confused = evaluate::evaluate(&data, &eval).expect("evaluate");
    let key = (a.site.clone(), Landing::Lesion(b2.site.clone()));
    assert_eq!(
        confused.misses.get(&key),
        Some(&(ev.misses.get(&key).copied().unwrap_or(0) + 1)),
        "{:?}",
        confused.misses
    );
    assert!(confused.overall[0].tp <= ev.overall[0].tp);
    let row = format!("| {} -> {} |", a.site, b2.site);
    assert!(evaluate::render(&confused, "tiny").contains(&row));
}

/// Width and height from a PNG file's header.
fn png_size(path: &Path) -> (u32, u32) {
    let f = std::fs::File::open(path).expect("png exists");
    let reader = png::Decoder::new(std::io::BufReader::new(f))
        .read_info()
        .expect("valid png");
    let info = reader.info();
    (info.width, info.height)
}

#[test]
fn evaluate_runs_the_standin_model_through_the_rust_inference() {
    let b = built();
    let pairs = &b.pairs;
    let data = b.dir.path().join("data");
    let tmp = tempfile::tempdir().expect("tempdir");
    let eval = tmp.path().join("eval");
    let standin = ground_support::repo().join("tests/fixtures/grounding_standin.onnx");
    let opts = infer::Options {
        split: "all".to_owned(),
        onnxruntime: ground_support::ensure_library(),
        threads: 1,
        ..infer::Options::default()
    };
    let info = infer::run(&data, &standin, &eval, &opts).expect("inference");
    let ids: Vec<&str> = pairs.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(
        info.pairs, ids,
        "every pair of the split, in manifest order"
    );
    let studies = pairs
        .iter()
        .map(|p| p.study.as_str())
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    let one_sided = pairs
        .iter()
        .filter(|p| infer::swap_sides(&p.text).is_some())
        .count();
    assert!(one_sided > 0, "the tiny archive has one-sided sentences");
    assert_eq!(
        info.forwards,
        pairs.len() + studies + one_sided,
        "one empty-text run per study, one side-swapped run per one-sided sentence"
    );
    for p in pairs.iter() {
        let swapped = eval.join("preds").join(format!("{}-swapped.npy", p.id));
        assert_eq!(
            swapped.is_file(),
            infer::swap_sides(&p.text).is_some(),
            "{}",
            p.id
        );
    }
    assert!(info.forward_s_mean.is_some_and(|s| s > 0.0));
    assert_eq!(info.model_sha256.len(), 64);
    assert!(eval.join(infer::CANDIDATE_MANIFEST).is_file());

    // The stand-in is prob = sigmoid(20·PET − 10 + mean(text·mask)): foreground where the PET
    // channel is above ≈ 0.5, on the unpadded model grid.
    for p in pairs {
        let prob = npy::read::<f32>(&eval.join("preds").join(format!("{}.npy", p.id)))
            .expect("prob")
            .into_dimensionality::<Ix3>()
            .expect("3d");
        assert_eq!(prob.dim(), p.model_grid.dims.into());
        let image = npy::read::<f32>(&data.join(&p.image))
            .expect("image")
            .into_dimensionality::<Ix4>()
            .expect("4d");
        for ((z, y, x), &v) in prob.indexed_iter() {
            let pet = image[[0, z, y, x]];
            if pet > 0.6 {
                assert!(v > 0.5, "{}: PET {pet} gave {v}", p.id);
            } else if pet < 0.4 {
                assert!(v < 0.5, "{}: PET {pet} gave {v}", p.id);
            }
        }
    }

    let csv = ground_support::repo().join("tools/train/runs/run2-loss.csv");
    let md = evaluate::report(&data, &eval, Some(&csv), "tiny").expect("report");
    assert_eq!(
        std::fs::read_to_string(eval.join("report.md")).expect("report.md"),
        md
    );
    let ev = evaluate::evaluate(&data, &eval).expect("evaluate");
    let [model, vision, hottest] = &ev.overall;
    assert_eq!(model.sentences, pairs.len());
    // Phantom lesions reported with SUVmax ≥ 5 lie above the stand-in's threshold: it grounds
    // some sentence on its true lesion.
    assert!(model.tp > 0 && model.f1() > 0.0, "{model:?}");
    assert!(vision.tp > 0, "{vision:?}");
    // The hottest-component baseline does not depend on inference: recomputed here directly.
    let mut expect = Counts::default();
    for p in pairs {
        let suv = npy::read::<f32>(&data.join(&p.suv))
            .expect("suv")
            .into_dimensionality::<Ix3>()
            .expect("3d");
        let truth = npy::read::<u8>(&data.join(&p.label_pet))
            .expect("label")
            .into_dimensionality::<Ix3>()
            .expect("3d")
            .mapv(|v| v > 0);
        let hot = hottest_component(suv.view()).expect("hottest");
        expect.add(&score(truth.view(), hot.view(), suv.view()).expect("score"));
    }
    assert_eq!(*hottest, expect);

    assert!(md.contains("Inference: the node's Rust path"), "{md}");
    assert!(
        md.contains(&format!("Laterality: of {one_sided} one-sided sentences")),
        "{md}"
    );
    assert!(md.contains("](curves.png)") && md.contains("](f1_by_group.png)"));
    assert_eq!(png_size(&eval.join("curves.png")), (640, 320));
    let groups = ev.groups.len() as u32;
    assert_eq!(
        png_size(&eval.join("f1_by_group.png")),
        (20 + 24 * groups, 200)
    );
    let shown = pairs.len().min(figures::EXAMPLES);
    for p in &pairs[..shown] {
        let name = format!("overlay-{}.png", p.id);
        assert!(md.contains(&format!("]({name})")), "{name} linked");
        let [z, _, x] = p.model_grid.dims;
        let s = figures::OVERLAY_SCALE;
        assert_eq!(
            png_size(&eval.join(&name)),
            ((x * s) as u32, (z * s) as u32)
        );
    }
    if let Some(p) = pairs.get(shown) {
        assert!(!eval.join(format!("overlay-{}.png", p.id)).exists());
    }

    // The command line re-scores the same maps without inference (no Python anywhere).
    std::fs::remove_file(eval.join("report.md")).expect("rm report");
    let out = Command::new(env!("CARGO_BIN_EXE_petground-train"))
        .args(["evaluate", "--skip-inference", "--split", "all", "--data"])
        .arg(&data)
        .arg("--model")
        .arg(&standin)
        .arg("--out")
        .arg(&eval)
        .output()
        .expect("run petground-train");
    assert!(out.status.success(), "{out:?}");
    let again = std::fs::read_to_string(eval.join("report.md")).expect("report.md");
    let row = md.lines().find(|l| l.starts_with("| model (text) |"));
    assert_eq!(
        again.lines().find(|l| l.starts_with("| model (text) |")),
        row
    );
}
