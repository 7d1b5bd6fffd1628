//! Grounding-model session without a trained model: the stand-in tests/fixtures/
//! grounding_standin.onnx (made by models/reference/make_standin_model.py; prob =
//! sigmoid(20·image[:,0] − 10 + mean(text·mask))) has the model contract's inputs and outputs,
//! so loading, the contract checks, `predict` and post-processing run end to end; damaged and
//! wrong model files must fail at load with a message naming the problem.

mod ground_support;

use ground_support::{fixture, models_dir_with, repo, runtime, settings, write_manifest};
use ndarray::{Array1, Array2, Array3, Array5};
use petground::ground::grounder::{GroundError, Grounder, GroundingMode};
use petground::ground::manifest::{Manifest, ManifestError};
use petground::ground::model::{GroundingModel, ModelError};
use petground::ground::runtime::{Device, RuntimeError};
use petground::ground::text::{EMBED_DIM, TEXT_LEN};
use petground::volume::resample::{isotropic_geometry, to_isotropic};
use petground::volume::{Geometry, Volume};

fn standin() -> (GroundingModel, tempfile::TempDir) {
    let d = models_dir_with(&fixture("grounding_standin.onnx"));
    let m = Manifest::load(&d.path().join("manifest.json")).expect("manifest");
    let model = GroundingModel::load(&runtime(), &d.path().join("grounding.onnx"), &m)
        .expect("stand-in model loads");
    (model, d)
}

fn load_err(model: &std::path::Path, damage: impl FnOnce(&std::path::Path)) -> ModelError {
    let d = models_dir_with(model);
    damage(&d.path().join("grounding.onnx"));
    let m = Manifest::load(&d.path().join("manifest.json")).expect("manifest");
    GroundingModel::load(&runtime(), &d.path().join("grounding.onnx"), &m)
        .expect_err("damaged model must not load")
}

#[test]
fn predict_follows_the_standin_formula() {
    let (mut model, _d) = standin();
    assert_eq!(model.device(), Device::Cpu);
    let image = Array5::from_shape_fn((1, 2, 16, 32, 16), |(_, c, z, y, x)| {
        ((z * 7 + y * 3 + x + c * 5) % 11) as f32 / 10.0
    });
    let text = Array2::from_shape_fn((TEXT_LEN, EMBED_DIM), |(i, j)| {
        ((i + 2 * j) % 7) as f32 / 7.0
    });
    let mask = Array1::from_shape_fn(TEXT_LEN, |i| if i < 10 { 1.0f32 } else { 0.0 });
    let p = model
        .predict(image.view(), text.view(), mask.view())
        .expect("predict");
    assert_eq!(p.dim(), (16, 32, 16));
    let shift: f32 = (0..TEXT_LEN)
        .flat_map(|i| (0..EMBED_DIM).map(move |j| (i, j)))
        .map(|(i, j)| text[[i, j]] * mask[i])
        .sum::<f32>()
        / (TEXT_LEN * EMBED_DIM) as f32;
    assert!(shift.abs() > 1e-3, "the test text must move the logits");
    for ((z, y, x), &v) in p.indexed_iter() {
        let want = 1.0 / (1.0 + (-(20.0 * image[[0, 0, z, y, x]] - 10.0 + shift)).exp());
        assert!((v - want).abs() < 1e-5, "[{z},{y},{x}] {v} vs {want}");
    }
}

#[test]
fn predict_rejects_shapes_outside_the_contract() {
    let (mut model, _d) = standin();
    let text = Array2::<f32>::zeros((TEXT_LEN, EMBED_DIM));
    let mask = Array1::<f32>::ones(TEXT_LEN);
    let not16 = Array5::<f32>::zeros((1, 2, 16, 20, 16));
    let e = model.predict(not16.view(), text.view(), mask.view());
    assert!(
        matches!(e, Err(ModelError::Input(ref m)) if m.contains("multiple of 16")),
        "{e:?}"
    );
    let one_channel = Array5::<f32>::zeros((1, 1, 16, 16, 16));
    let e = model.predict(one_channel.view(), text.view(), mask.view());
    assert!(matches!(e, Err(ModelError::Input(_))), "{e:?}");
    let short = Array2::<f32>::zeros((TEXT_LEN - 1, EMBED_DIM));
    let image = Array5::<f32>::zeros((1, 2, 16, 16, 16));
    let e = model.predict(image.view(), short.view(), mask.view());
    assert!(matches!(e, Err(ModelError::Input(_))), "{e:?}");
}

#[test]
fn wrong_hash_truncated_and_wrong_contract_fail_at_load() {
    let standin = fixture("grounding_standin.onnx");
    // Same size, one byte changed: the hash check names both hashes.
    let e = load_err(&standin, |p| {
        let mut b = std::fs::read(p).expect("read");
        let last = b.len() - 1;
        b[last] ^= 0x01;
        std::fs::write(p, b).expect("write");
    });
    assert!(
        matches!(e, ModelError::Manifest(ManifestError::Hash { .. })),
        "{e}"
    );
    assert!(e.to_string().contains("the manifest says"), "{e}");
    // Truncated after the manifest was written.
    let e = load_err(&standin, |p| {
        let b = std::fs::read(p).expect("read");
        std::fs::write(p, &b[..b.len() / 2]).expect("write");
    });
    assert!(e.to_string().contains("truncated"), "{e}");
    // A truncated file that the manifest does list (as if the manifest were regenerated from
    // a broken copy): ONNX Runtime's parse error comes back as a session error, not a crash.
    let e = load_err(&standin, |p| {
        let b = std::fs::read(p).expect("read");
        std::fs::write(p, &b[..b.len() / 2]).expect("write");
        write_manifest(p.parent().expect("dir"));
    });
    assert!(
        matches!(e, ModelError::Runtime(RuntimeError::Session { .. })),
        "{e}"
    );
    // Wrong input name, wrong rank: the contract check names the input and what it expected.
    let e = load_err(&fixture("grounding_wrong_name.onnx"), |_| {});
    assert!(e.to_string().contains("no input named 'image'"), "{e}");
    let e = load_err(&fixture("grounding_wrong_rank.onnx"), |_| {});
    assert!(e.to_string().contains("rank 4"), "{e}");
}

#[test]
fn missing_model_disables_or_fails_by_mode() {
    let d = models_dir_with(&fixture("grounding_standin.onnx"));
    std::fs::remove_file(d.path().join("grounding.onnx")).expect("remove");
    let s = settings(d.path());
    let m = Manifest::load(&d.path().join("manifest.json")).expect("manifest");
    let g = Grounder::load(&runtime(), &s, &m, GroundingMode::WeakLabelFirst).expect("loads");
    assert!(!g.has_model());
    let e = Grounder::load(&runtime(), &s, &m, GroundingMode::Model).expect_err("needs model");
    assert!(matches!(e, GroundError::ModelRequired(..)), "{e}");
    assert!(e.to_string().contains("grounding.onnx is missing"), "{e}");
    assert_eq!(e.exit_code(), 2);
}

#[test]
fn device_policy_cuda_fails_loudly_and_auto_falls_back() {
    let rt = runtime();
    let path = fixture("grounding_standin.onnx");
    let auto = rt.session_on(&path, "stand-in", Device::Auto);
    let cuda = rt.session_on(&path, "stand-in", Device::Cuda);
    if cfg!(feature = "cuda") {
        // "auto" always gets a session; "cuda" runs on CUDA or says why it cannot (the CPU-only
        // library has no CUDA provider). bench/ground-gpu-check compares the two on a GPU.
        assert!(auto.is_ok(), "{auto:?}");
        eprintln!(
            "device = \"cuda\": {:?}",
            cuda.as_ref().err().map(ToString::to_string)
        );
        assert!(
            matches!(
                cuda,
                Ok((_, Device::Cuda))
                    | Err(RuntimeError::Cuda { .. } | RuntimeError::Session { .. })
            ),
            "{cuda:?}"
        );
    } else {
        assert!(matches!(auto, Ok((_, Device::Cpu))), "{auto:?}");
        let e = cuda.expect_err("no CUDA in this build");
        assert!(matches!(e, RuntimeError::CudaNotBuilt), "{e}");
        assert!(e.to_string().contains("--features cuda"), "{e}");
    }
}

/// A synthetic PET (4 mm voxels) with two hot spheres; the model grid and image tensor built
/// as the contract says (PET channel clip(SUV,0,10)/10, 8 mm, zero-padded to multiples of 16).
#[test]
fn stand_in_grounds_the_hottest_lesion_on_the_pet_grid() {
    let d = models_dir_with(&fixture("grounding_standin.onnx"));
    let s = settings(d.path());
    let m = Manifest::load(&d.path().join("manifest.json")).expect("manifest");
    let mut g = Grounder::load(&runtime(), &s, &m, GroundingMode::Model).expect("loads");
    let pet = Geometry {
        dims: [50, 40, 44],
        origin: [-88.0, -80.0, -100.0],
        spacing: [4.0, 4.0, 4.0],
        row_dir: [1.0, 0.0, 0.0],
        col_dir: [0.0, 1.0, 0.0],
        slice_dir: [0.0, 0.0, 1.0],
    };
    // Same size, different uptake: the stand-in's probability follows SUV, so the component
    // with the highest mean probability is sphere A.
    let centre_a = [20.0, 20.0, 12.0]; // SUV 9, radius 20 mm
    let centre_b = [30.0, 15.0, 30.0]; // SUV 6, radius 20 mm
    let inside = |c: [f64; 3], r: f64, (z, y, x): (usize, usize, usize)| {
        let d2 = (z as f64 - c[0]).powi(2) + (y as f64 - c[1]).powi(2) + (x as f64 - c[2]).powi(2);
        d2 * 16.0 <= r * r
    };
    let suv = Array3::from_shape_fn((50, 40, 44), |p| {
        if inside(centre_a, 20.0, p) {
            9.0
        } else if inside(centre_b, 20.0, p) {
            6.0
        } else {
            1.0
        }
    });
    let vol = Volume {
        data: suv,
        geometry: pet.clone(),
    };
    let iso = isotropic_geometry(&pet, 8.0).expect("iso");
    let on_iso = to_isotropic(&vol, 8.0, 0.0).expect("to iso");
    let pad = |n: usize| n.div_ceil(16) * 16;
    let [nz, ny, nx] = iso.dims;
    let mut image = Array5::<f32>::zeros((1, 2, pad(nz), pad(ny), pad(nx)));
    for ((z, y, x), &v) in on_iso.data.indexed_iter() {
        image[[0, 0, z, y, x]] = v.clamp(0.0, 10.0) / 10.0;
    }
    let mask = g
        .ground(
            "Left lower lobe nodule, SUVmax , image .",
            image.view(),
            &iso,
            &pet,
        )
        .expect("ground")
        .expect("a lesion is found");
    assert_eq!(mask.dim(), (50, 40, 44));
    let truth = Array3::from_shape_fn((50, 40, 44), |p| inside(centre_a, 20.0, p));
    let inter = mask.iter().zip(&truth).filter(|(a, b)| **a && **b).count() as f64;
    let dice = 2.0 * inter
        / (mask.iter().filter(|&&b| b).count() + truth.iter().filter(|&&b| b).count()) as f64;
    let other = Array3::from_shape_fn((50, 40, 44), |p| inside(centre_b, 20.0, p));
    assert!(dice > 0.6, "Dice with the hottest sphere {dice:.3}");
    assert!(
        !mask.iter().zip(&other).any(|(a, b)| *a && *b),
        "picked the cooler sphere"
    );
}

#[test]
fn repository_models_verify_against_the_manifest() {
    let dir = repo().join("models");
    let m = Manifest::load(&dir.join("manifest.json")).expect("models/manifest.json");
    for f in ["tokenizer.json", "text_encoder.onnx"] {
        m.verify(&dir.join(f))
            .unwrap_or_else(|e| panic!("{f}: {e}"));
    }
}

#[test]
fn grounder_can_move_to_a_blocking_worker() {
    // The pipeline keeps one Grounder behind a Mutex and runs it on tokio's blocking pool.
    fn send<T: Send>() {}
    fn sync<T: Send + Sync>() {}
    send::<Grounder>();
    sync::<std::sync::Arc<petground::ground::runtime::Runtime>>();
    sync::<std::sync::Mutex<Grounder>>();
}
