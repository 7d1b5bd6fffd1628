//! GPU check (run by bench/ground-gpu-check on a CUDA machine, ignored otherwise): the CUDA
//! execution provider loads (`device = "cuda"` semantics: failure is an error), the text
//! encoder and the grounding model give the CPU's outputs within tolerance, and the time per
//! finding on each device. Uses models/grounding.onnx when present, else the stand-in.

mod ground_support;

use std::time::Instant;

use ground_support::{fixture, models_dir_with, repo, runtime};
use ndarray::Array5;
use petground::ground::manifest::Manifest;
use petground::ground::model::GroundingModel;
use petground::ground::runtime::Device;
use petground::ground::text::TextEncoder;

fn max_abs_diff<'a>(a: impl Iterator<Item = &'a f32>, b: impl Iterator<Item = &'a f32>) -> f32 {
    a.zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

#[test]
#[ignore = "needs a CUDA GPU: run bench/ground-gpu-check"]
fn cuda_matches_cpu_and_is_timed() {
    let rt = runtime();
    let trained = repo().join("models/grounding.onnx");
    let model = if trained.exists() {
        trained
    } else {
        fixture("grounding_standin.onnx")
    };
    let d = models_dir_with(&model);
    let m = Manifest::load(&d.path().join("manifest.json")).expect("manifest");
    let text = "Right hilar lymph node, SUVmax , image .";
    let mut enc_cpu = TextEncoder::load_on(&rt, d.path(), &m, Device::Cpu).expect("cpu encoder");
    let mut enc_gpu =
        TextEncoder::load_on(&rt, d.path(), &m, Device::Cuda).expect("CUDA encoder session");
    let e_cpu = enc_cpu.encode(text).expect("encode cpu");
    let e_gpu = enc_gpu.encode(text).expect("encode gpu");
    let de = max_abs_diff(e_cpu.embeddings.iter(), e_gpu.embeddings.iter());
    println!("text encoder max |cuda - cpu| = {de:.2e}");
    assert!(de < 1e-3);

    let path = d.path().join("grounding.onnx");
    let mut cpu = GroundingModel::load_on(&rt, &path, &m, Device::Cpu).expect("cpu model");
    let mut gpu = GroundingModel::load_on(&rt, &path, &m, Device::Cuda).expect("CUDA model");
    assert_eq!(gpu.device(), Device::Cuda);
    let image = Array5::from_shape_fn((1, 2, 112, 48, 64), |(_, c, z, y, x)| {
        ((z * 7 + y * 3 + x + c * 5) % 11) as f32 / 10.0
    });
    let (t, mk) = (e_cpu.embeddings.view(), e_cpu.mask.view());
    let p_cpu = cpu.predict(image.view(), t, mk).expect("predict cpu");
    let p_gpu = gpu.predict(image.view(), t, mk).expect("predict gpu");
    let dp = max_abs_diff(p_cpu.iter(), p_gpu.iter());
    println!("grounding model max |cuda - cpu| = {dp:.2e}");
    assert!(dp < 1e-3);
    for (name, model, enc) in [
        ("cpu", &mut cpu, &mut enc_cpu),
        ("cuda", &mut gpu, &mut enc_gpu),
    ] {
        let reps = 5;
        let start = Instant::now();
        for _ in 0..reps {
            let e = enc.encode(text).expect("encode");
            model
                .predict(image.view(), e.embeddings.view(), e.mask.view())
                .expect("predict");
        }
        let ms = start.elapsed().as_secs_f64() * 1e3 / reps as f64;
        println!("{name}: {ms:.1} ms per finding (encoder + model [1,2,112,48,64])");
    }
}
