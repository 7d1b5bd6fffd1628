//! Benchmark (ignored by default; run `bench/volume.sh`): assemble a 300-slice 200×200 PET and
//! a 300-slice 512×512 CT generated on the fly into a temp dir, resample the CT onto the PET
//! grid, and print wall time and peak resident memory against the raw f32 volume bytes.
//! Targets (issue 5): < 1 s and < 3× raw volume bytes, release build.

use std::path::PathBuf;
use std::time::Instant;

use petground::volume::assemble_files;
use petground::volume::geometry::Geometry;
use petground::volume::resample::ct_on_pet_grid;
use petground_phantom::fixtures::series::{SeriesIds, regular_slices, write_slice};

fn ids(modality: &str, series: &str) -> SeriesIds {
    SeriesIds {
        study: "1.2.826.0.1.3680043.8.498.50".into(),
        series: series.into(),
        frame_of_reference: "1.2.826.0.1.3680043.8.498.51".into(),
        modality: modality.into(),
    }
}

fn axial(dims: [usize; 3], spacing: [f64; 3]) -> Geometry {
    let half = |n: usize, s: f64| -(n as f64 - 1.0) * s / 2.0;
    Geometry {
        dims,
        origin: [half(dims[2], spacing[0]), half(dims[1], spacing[1]), -600.0],
        spacing,
        row_dir: [1.0, 0.0, 0.0],
        col_dir: [0.0, 1.0, 0.0],
        slice_dir: [0.0, 0.0, 1.0],
    }
}

fn write(dir: &std::path::Path, ids: &SeriesIds, g: &Geometry, intercept: f64) -> Vec<PathBuf> {
    let slices = regular_slices(
        g,
        &ids.series,
        |p| (p[0] + p[1]).abs() * 0.5,
        |z| (1.0 + z as f64 * 1e-3, intercept),
    );
    slices
        .iter()
        .map(|s| {
            let p = dir.join(format!("{}.dcm", s.sop_instance_uid));
            write_slice(&p, ids, s).expect("write bench slice");
            p
        })
        .collect()
}

/// (VmRSS, VmHWM) of this process in bytes.
fn memory() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").expect("procfs");
    let kb = |key: &str| {
        status
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .expect("status field")
            * 1024
    };
    (kb("VmRSS:"), kb("VmHWM:"))
}

#[test]
#[ignore = "benchmark: run bench/volume.sh (release build)"]
fn bench_assemble_and_resample() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pet_g = axial([300, 200, 200], [4.0, 4.0, 3.27]);
    let ct_g = axial([300, 512, 512], [0.9765625, 0.9765625, 3.27]);
    let t = Instant::now();
    let pet_paths = write(dir.path(), &ids("PT", "1.2.3.500"), &pet_g, 0.0);
    let ct_paths = write(dir.path(), &ids("CT", "1.2.3.501"), &ct_g, -1024.0);
    println!(
        "generated {} + {} files in {:.2?}",
        pet_paths.len(),
        ct_paths.len(),
        t.elapsed()
    );

    // Reset the high-water mark so the peak covers only the measured work.
    std::fs::write("/proc/self/clear_refs", "5").expect("reset VmHWM");
    let (base, _) = memory();
    let t = Instant::now();
    let pet = assemble_files(&pet_paths).expect("PET");
    let t_pet = t.elapsed();
    let ct = assemble_files(&ct_paths).expect("CT");
    let t_ct = t.elapsed() - t_pet;
    let on_pet = ct_on_pet_grid(&ct, &pet).expect("CT on PET grid");
    let total = t.elapsed();
    let (_, peak) = memory();
    let raw = 4 * (pet.volume.data.len() + ct.volume.data.len()) as u64;
    let used = peak.saturating_sub(base);
    println!(
        "PET 300x200x200 {t_pet:.2?}, CT 300x512x512 {t_ct:.2?}, resample {:.2?}, total {total:.2?}",
        total - t_pet - t_ct
    );
    println!(
        "peak RSS above baseline {:.0} MiB; raw f32 volumes (PET + CT) {:.0} MiB; ratio {:.2} (+ CT-on-PET output {:.0} MiB)",
        used as f64 / 1048576.0,
        raw as f64 / 1048576.0,
        used as f64 / raw as f64,
        (on_pet.data.len() * 4) as f64 / 1048576.0
    );
    assert_eq!(on_pet.geometry.dims, [300, 200, 200]);
}
