//! With `Options::groundable` (the default), every lesion must be found by the paper's weak-label
//! rule (PAPER.md §3 steps 2–3) on the written files: threshold the SUV volume at
//! `0.617 + 0.316·S`, 6-connected components, and exactly one component whose z-range holds the
//! reported slice has `|max − S| <= 0.1` — and it holds the lesion's true max voxel. This is what
//! lets the end-to-end test demand F1 >= 0.95 on phantom studies.

use dicom_dictionary_std::tags;
use dicom_object::open_file;
use petground_phantom::{Options, Truth, generate};
use std::collections::VecDeque;
use std::path::Path;

/// SUV volume `[z][y][x]` from the PET files, using only their own attributes.
fn suv_volume(dir: &Path, t: &Truth) -> Vec<f64> {
    let [nz, ny, nx] = t.pet_grid.dims;
    let mut v = Vec::with_capacity(nz * ny * nx);
    for z in 0..nz {
        let o = open_file(dir.join("pet").join(format!("PT{:04}.dcm", z + 1))).expect("open");
        let f = |tag| {
            o.element(tag)
                .expect("el")
                .to_str()
                .expect("str")
                .trim()
                .parse::<f64>()
                .expect("num")
        };
        let slope = f(tags::RESCALE_SLOPE);
        let weight_g = f(tags::PATIENT_WEIGHT) * 1000.0;
        let px = o
            .element(tags::PIXEL_DATA)
            .expect("px")
            .to_bytes()
            .expect("bytes")
            .to_vec();
        // Dose, half-life and Δt are checked against the files in tests/phantom.rs; reuse truth.
        let decayed = t.injected_dose_bq * 2f64.powf(-t.delta_t_s / t.half_life_s);
        v.extend(
            px.chunks_exact(2)
                .map(|c| f64::from(i16::from_le_bytes([c[0], c[1]])) * slope * weight_g / decayed),
        );
    }
    v
}

struct Component {
    max: f64,
    max_at: usize,
    z: (usize, usize),
}

fn components(v: &[f64], dims: [usize; 3], t0: f64) -> Vec<Component> {
    let [nz, ny, nx] = dims;
    let mut seen = vec![false; v.len()];
    let mut out = Vec::new();
    let mut q = VecDeque::new();
    for start in 0..v.len() {
        if seen[start] || v[start] <= t0 {
            continue;
        }
        seen[start] = true;
        q.push_back(start);
        let mut c = Component {
            max: f64::MIN,
            max_at: start,
            z: (usize::MAX, 0),
        };
        while let Some(n) = q.pop_front() {
            if v[n] > c.max {
                c.max = v[n];
                c.max_at = n;
            }
            let (z, y, x) = (n / (ny * nx), (n / nx) % ny, n % nx);
            c.z = (c.z.0.min(z), c.z.1.max(z));
            let mut push = |m: usize| {
                if !seen[m] && v[m] > t0 {
                    seen[m] = true;
                    q.push_back(m);
                }
            };
            if x > 0 {
                push(n - 1)
            }
            if x + 1 < nx {
                push(n + 1)
            }
            if y > 0 {
                push(n - nx)
            }
            if y + 1 < ny {
                push(n + nx)
            }
            if z > 0 {
                push(n - nx * ny)
            }
            if z + 1 < nz {
                push(n + nx * ny)
            }
        }
        out.push(c);
    }
    out
}

/// Generates one study per seed and applies the paper's rule to every lesion.
fn check(seeds: std::ops::Range<u64>, small: bool) {
    let (mut total, mut found) = (0, 0);
    let mut misses = Vec::new();
    for seed in seeds.clone() {
        let dir = tempfile::tempdir().expect("temp");
        let opts = Options {
            small,
            lesions: Some(8),
            ..Options::new(seed)
        };
        let t = generate(&opts, dir.path()).expect("generate");
        let v = suv_volume(dir.path(), &t);
        let [_, ny, nx] = t.pet_grid.dims;
        for l in &t.lesions {
            total += 1;
            let s = l.reported_suv_max;
            let z = l.instance_number - 1;
            let comps = components(&v, t.pet_grid.dims, 0.617 + 0.316 * s);
            let hits: Vec<&Component> = comps
                .iter()
                .filter(|c| c.z.0 <= z && z <= c.z.1 && (c.max - s).abs() <= 0.1)
                .collect();
            let [mz, my, mx] = l.max_voxel;
            let truth_at = (mz * ny + my) * nx + mx;
            if hits.len() == 1 && hits[0].max_at == truth_at {
                found += 1;
            } else {
                misses.push(format!("seed {seed} {} S={s} hits={}", l.site, hits.len()));
            }
        }
    }
    println!("{found}/{total} lesions found by the threshold rule over seeds {seeds:?}");
    assert!(total >= 5 * seeds.count(), "only {total} lesions drawn");
    assert!(
        misses.is_empty(),
        "{found}/{total} found; missed: {misses:#?}"
    );
}

#[test]
fn every_lesion_is_found_by_the_papers_threshold_rule() {
    check(100..108, true);
}

#[test]
#[ignore = "full-size studies: run with `cargo test --release -p petground-phantom --test groundable -- --ignored`"]
fn every_full_size_lesion_is_found_by_the_papers_threshold_rule() {
    check(200..212, false);
}
