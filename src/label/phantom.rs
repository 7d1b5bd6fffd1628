//! Synthetic whole-body PET SUV phantoms for the weak-label tests and benchmark: a body with
//! brain, lungs, blood pool, liver and bladder, lesions as uniform spheres, white noise scaled to
//! the local uptake, then a Gaussian PSF over everything (so lesions are blurred spheres on a
//! noisy, correlated background). Deterministic: a seeded SplitMix64, no `rand`. Also reports each
//! lesion's finding as a radiologist would write it (SUVmax to one decimal, InstanceNumber).

use ndarray::Array3;

use crate::volume::{Geometry, SliceRef, Volume};

/// SplitMix64: tiny, fixed-seed, good enough for phantom noise.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = self.uniform().max(f64::MIN_POSITIVE);
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }
}

/// A uniform ellipsoid (a sphere when the radii are equal) of SUV `suv`, in patient mm.
#[derive(Debug, Clone, PartialEq)]
pub struct Blob {
    pub centre_mm: [f64; 3],
    pub radii_mm: [f64; 3],
    pub suv: f64,
}

impl Blob {
    pub fn sphere(centre_mm: [f64; 3], radius_mm: f64, suv: f64) -> Self {
        Blob {
            centre_mm,
            radii_mm: [radius_mm; 3],
            suv,
        }
    }

    fn contains(&self, p: [f64; 3]) -> bool {
        (0..3)
            .map(|a| ((p[a] - self.centre_mm[a]) / self.radii_mm[a]).powi(2))
            .sum::<f64>()
            <= 1.0
    }
}

/// How InstanceNumbers run along z.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Numbering {
    /// 1 at the head (z = 0).
    FromHead,
    /// 1 at the feet.
    FromFeet,
    /// `first + z`.
    Offset(i32),
}

/// What to build.
#[derive(Debug, Clone)]
pub struct PhantomSpec {
    /// `[nz, ny, nx]`.
    pub dims: [usize; 3],
    /// Voxel size `[x, y, z]` mm.
    pub spacing: [f64; 3],
    pub seed: u64,
    /// Relative sd of the white noise before blurring (≈ 4–5× the final relative noise).
    pub noise: f64,
    /// FWHM of the Gaussian PSF (mm).
    pub fwhm_mm: f64,
    /// Body, organs, brain and bladder (true) or a plain tissue block (false).
    pub anatomy: bool,
    pub lesions: Vec<Blob>,
    pub numbering: Numbering,
}

/// A lesion's ground truth and the finding a radiologist would write for it.
#[derive(Debug, Clone, PartialEq)]
pub struct LesionTruth {
    pub blob: Blob,
    /// Voxels whose centres lie inside the sphere, raster order.
    pub voxels: Vec<[usize; 3]>,
    /// Hottest voxel within one voxel of the sphere, and its value.
    pub max_voxel: [usize; 3],
    pub max: f32,
    /// SUVmax rounded to one decimal and the InstanceNumber of the max voxel's slice.
    pub reported_suv: f64,
    pub image_number: u32,
}

/// The generated volume, its slice references and the lesion truths.
#[derive(Debug, Clone)]
pub struct Phantom {
    pub volume: Volume,
    pub slices: Vec<SliceRef>,
    pub lesions: Vec<LesionTruth>,
    /// Organ blobs drawn (brain, lungs, blood pool, liver, bladder) when `anatomy` is set.
    pub organs: Vec<(&'static str, Blob)>,
}

/// Geometry of the phantom: axial, head first, x/y centred on the body, patient z = 0 at the
/// top slice and decreasing toward the feet.
pub fn phantom_geometry(dims: [usize; 3], spacing: [f64; 3]) -> Geometry {
    let [_, ny, nx] = dims;
    Geometry {
        dims,
        origin: [
            -(nx as f64 - 1.0) / 2.0 * spacing[0],
            -(ny as f64 - 1.0) / 2.0 * spacing[1],
            0.0,
        ],
        spacing,
        row_dir: [1.0, 0.0, 0.0],
        col_dir: [0.0, 1.0, 0.0],
        slice_dir: [0.0, 0.0, -1.0],
    }
}

/// The organs of a body spanning the volume's z extent `len_mm` (head at patient z = 0).
pub fn organs(len_mm: f64) -> Vec<(&'static str, Blob)> {
    let z = |f: f64| -f * len_mm;
    vec![
        (
            "lung_r",
            Blob {
                centre_mm: [-70.0, 0.0, z(0.30)],
                radii_mm: [50.0, 60.0, 0.09 * len_mm],
                suv: 0.4,
            },
        ),
        (
            "lung_l",
            Blob {
                centre_mm: [70.0, 0.0, z(0.30)],
                radii_mm: [50.0, 60.0, 0.09 * len_mm],
                suv: 0.4,
            },
        ),
        (
            "blood_pool",
            Blob {
                centre_mm: [0.0, -10.0, z(0.30)],
                radii_mm: [22.0, 28.0, 0.08 * len_mm],
                suv: 1.8,
            },
        ),
        (
            "liver",
            Blob {
                centre_mm: [-60.0, 0.0, z(0.45)],
                radii_mm: [75.0, 60.0, 0.06 * len_mm],
                suv: 2.3,
            },
        ),
        (
            "brain",
            Blob {
                centre_mm: [0.0, 0.0, z(0.07)],
                radii_mm: [65.0, 80.0, 0.055 * len_mm],
                suv: 9.0,
            },
        ),
        (
            "bladder",
            Blob {
                centre_mm: [0.0, 10.0, z(0.72)],
                radii_mm: [35.0, 30.0, 0.035 * len_mm],
                suv: 25.0,
            },
        ),
    ]
}

/// Builds the phantom.
pub fn build(spec: &PhantomSpec) -> Phantom {
    let geometry = phantom_geometry(spec.dims, spec.spacing);
    let [nz, ny, nx] = spec.dims;
    let len_mm = nz as f64 * spec.spacing[2];
    let organs = if spec.anatomy {
        organs(len_mm)
    } else {
        Vec::new()
    };
    let mut rng = Rng::new(spec.seed);
    let mut data = Array3::<f32>::zeros((nz, ny, nx));
    for ((z, y, x), v) in data.indexed_iter_mut() {
        let p = geometry.index_to_mm([z as f64, y as f64, x as f64]);
        let mut suv = if !spec.anatomy || in_body(p, len_mm) {
            0.9
        } else {
            0.02
        };
        for (_, o) in &organs {
            if o.contains(p) {
                suv = o.suv;
            }
        }
        for l in &spec.lesions {
            if l.contains(p) {
                suv = l.suv;
            }
        }
        *v = (suv * (1.0 + spec.noise * rng.normal())).max(0.0) as f32;
    }
    let sigma_mm = spec.fwhm_mm / (8.0 * 2f64.ln()).sqrt();
    let sigma = [
        sigma_mm / spec.spacing[2],
        sigma_mm / spec.spacing[1],
        sigma_mm / spec.spacing[0],
    ];
    let data = gaussian_blur(data, sigma);
    let volume = Volume { data, geometry };
    let slices = (0..nz).map(|z| slice_ref(z, nz, spec.numbering)).collect();
    let lesions = spec
        .lesions
        .iter()
        .map(|b| truth(&volume, b, spec.numbering))
        .collect();
    Phantom {
        volume,
        slices,
        lesions,
        organs,
    }
}

/// Head (z > −12 %: a 75 mm cylinder), torso (elliptic 170 × 110 mm) to 80 %, then two legs.
fn in_body(p: [f64; 3], len_mm: f64) -> bool {
    let f = -p[2] / len_mm;
    let ell = |cx: f64, a: f64, b: f64| ((p[0] - cx) / a).powi(2) + (p[1] / b).powi(2) <= 1.0;
    if f < 0.14 {
        ell(0.0, 75.0, 95.0)
    } else if f < 0.8 {
        ell(0.0, 170.0, 110.0)
    } else {
        ell(-85.0, 65.0, 65.0) || ell(85.0, 65.0, 65.0)
    }
}

fn slice_ref(z: usize, nz: usize, numbering: Numbering) -> SliceRef {
    let number = match numbering {
        Numbering::FromHead => z as i32 + 1,
        Numbering::FromFeet => (nz - z) as i32,
        Numbering::Offset(first) => first + z as i32,
    };
    SliceRef {
        sop_class_uid: "1.2.840.10008.5.1.4.1.1.128".to_string(),
        sop_instance_uid: format!("2.25.4242.{}", z + 1),
        instance_number: Some(number),
        frame: None,
    }
}

fn truth(volume: &Volume, blob: &Blob, numbering: Numbering) -> LesionTruth {
    let g = &volume.geometry;
    let grown = Blob {
        radii_mm: std::array::from_fn(|a| blob.radii_mm[a] + g.spacing[0].max(g.spacing[2])),
        ..blob.clone()
    };
    let mut voxels = Vec::new();
    let (mut max, mut max_voxel) = (f32::MIN, [0; 3]);
    for ((z, y, x), &v) in volume.data.indexed_iter() {
        let p = g.index_to_mm([z as f64, y as f64, x as f64]);
        if blob.contains(p) {
            voxels.push([z, y, x]);
        }
        if grown.contains(p) && v > max {
            max = v;
            max_voxel = [z, y, x];
        }
    }
    let image_number = slice_ref(max_voxel[0], g.dims[0], numbering)
        .instance_number
        .map_or(0, |n| n.max(0) as u32);
    LesionTruth {
        blob: blob.clone(),
        voxels,
        max_voxel,
        max,
        reported_suv: (f64::from(max) * 10.0).round() / 10.0,
        image_number,
    }
}

/// Separable Gaussian blur with per-axis sigma (voxels) `[z, y, x]`, edges clamped.
pub fn gaussian_blur(data: Array3<f32>, sigma: [f64; 3]) -> Array3<f32> {
    let mut out = data;
    for (axis, &s) in sigma.iter().enumerate() {
        if s <= 0.0 {
            continue;
        }
        let r = (3.0 * s).ceil() as isize;
        let mut k: Vec<f32> = (-r..=r)
            .map(|i| (-(i * i) as f64 / (2.0 * s * s)).exp() as f32)
            .collect();
        let total: f32 = k.iter().sum();
        k.iter_mut().for_each(|w| *w /= total);
        let src = out.clone();
        for (lane_in, mut lane_out) in src
            .lanes(ndarray::Axis(axis))
            .into_iter()
            .zip(out.lanes_mut(ndarray::Axis(axis)))
        {
            let line: Vec<f32> = lane_in.iter().copied().collect();
            let n = line.len() as isize;
            for i in 0..n {
                let mut acc = 0.0f32;
                for (j, w) in k.iter().enumerate() {
                    let src_i = (i + j as isize - r).clamp(0, n - 1);
                    acc += w * line[src_i as usize];
                }
                lane_out[i as usize] = acc;
            }
        }
    }
    out
}

/// Dice coefficient of two voxel lists.
pub fn dice(a: &[[usize; 3]], b: &[[usize; 3]]) -> f64 {
    let set: std::collections::HashSet<&[usize; 3]> = a.iter().collect();
    let common = b.iter().filter(|p| set.contains(p)).count();
    2.0 * common as f64 / (a.len() + b.len()).max(1) as f64
}
