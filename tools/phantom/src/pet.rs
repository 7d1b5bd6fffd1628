//! The PET volume: physiological uptake painted from the anatomy, lesions with partial-volume
//! sampling, Gaussian PSF blur, noise, per-slice 16-bit quantisation, and the measurement of each
//! lesion's SUVmax on the *stored* values (what any reader will see). DICOM encoding is in `dcm`.

use crate::anatomy::{Patient, rasterize};
use crate::lesion::Lesion;
use crate::rng::Rng;

/// A regular axial grid; slice 0 is the most superior (InstanceNumber 1), z decreases with k.
#[derive(Debug, Clone, Copy)]
pub struct Grid {
    pub nx: usize,
    pub ny: usize,
    pub nz: usize,
    /// Pixel spacing (x, y) in mm.
    pub pixel: [f64; 2],
    /// Slice spacing in mm.
    pub dz: f64,
    /// Patient position of the centre of voxel (k=0, j=0, i=0).
    pub origin: [f64; 3],
}

impl Grid {
    pub fn z(&self, k: usize) -> f64 {
        self.origin[2] - k as f64 * self.dz
    }
    pub fn x(&self, i: usize) -> f64 {
        self.origin[0] + i as f64 * self.pixel[0]
    }
    pub fn y(&self, j: usize) -> f64 {
        self.origin[1] + j as f64 * self.pixel[1]
    }
    pub fn len(&self) -> usize {
        self.nx * self.ny * self.nz
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    pub fn idx(&self, k: usize, j: usize, i: usize) -> usize {
        (k * self.ny + j) * self.nx + i
    }
    /// The voxel nearest a patient position, if inside the grid.
    pub fn nearest(&self, p: [f64; 3]) -> Option<[usize; 3]> {
        let k = ((self.origin[2] - p[2]) / self.dz).round();
        let j = ((p[1] - self.origin[1]) / self.pixel[1]).round();
        let i = ((p[0] - self.origin[0]) / self.pixel[0]).round();
        let ok = |v: f64, n: usize| v >= 0.0 && v < n as f64;
        (ok(k, self.nz) && ok(j, self.ny) && ok(i, self.nx))
            .then_some([k as usize, j as usize, i as usize])
    }
}

/// Physiological SUV on the grid (voxel-centre sampling; the blur hides the staircase).
pub fn uptake_volume(p: &Patient, uptake: &[f32], g: &Grid) -> Vec<f32> {
    let mut v = Vec::with_capacity(g.len());
    for k in 0..g.nz {
        let t = rasterize(
            &p.parts,
            g.z(k),
            [g.origin[0], g.origin[1]],
            g.pixel,
            [g.nx, g.ny],
        );
        v.extend(t.iter().map(|t| uptake[*t as usize]));
    }
    v
}

/// Centre value of a uniform sphere of radius `r` blurred by an isotropic Gaussian of `sigma`
/// (the recovery coefficient), used to pick the activity that shows the target SUV after blur.
pub fn sphere_recovery(r: f64, sigma: f64) -> f64 {
    let u = r / sigma;
    erf(u / std::f64::consts::SQRT_2)
        - (2.0 / std::f64::consts::PI).sqrt() * u * (-u * u / 2.0).exp()
}

/// Abramowitz–Stegun 7.1.26 (|error| < 1.5e-7), enough for a recovery estimate.
fn erf(x: f64) -> f64 {
    let t = 1.0 / (1.0 + 0.327_591_1 * x.abs());
    let y = 1.0
        - (((((1.061_405_429 * t - 1.453_152_027) * t) + 1.421_413_741) * t - 0.284_496_736) * t
            + 0.254_829_592)
            * t
            * (-x * x).exp();
    if x >= 0.0 { y } else { -y }
}

/// Replaces tissue by lesion activity in proportion to each voxel's fraction inside the sphere
/// (4×4×4 sub-samples). Activity is raised by the recovery coefficient so the blurred peak lands
/// near the lesion's target SUV; `gains` (one per lesion) scale the excess over background, for
/// the second, calibrated pass. Returns the background SUV each lesion replaced.
pub fn add_lesions(
    v: &mut [f32],
    g: &Grid,
    lesions: &[Lesion],
    sigma_mm: f64,
    gains: &[f64],
) -> Vec<f64> {
    let mut bgs = Vec::with_capacity(lesions.len());
    for (l, gain) in lesions.iter().zip(gains) {
        let r = l.diameter_mm / 2.0;
        // Effective blur includes the voxel's own extent (box of width s has variance s²/12).
        let s2 = sigma_mm.powi(2) + (g.pixel[0].powi(2) + g.pixel[1].powi(2) + g.dz.powi(2)) / 36.0;
        let rc = sphere_recovery(r, s2.sqrt()).max(0.05);
        let c = l.centre_mm;
        let bg = g
            .nearest(c)
            .map_or(0.0, |[k, j, i]| f64::from(v[g.idx(k, j, i)]));
        bgs.push(bg);
        let act = (bg + gain * (l.peak_suv - bg).max(0.5) / rc) as f32;
        for_each_voxel_near(g, c, r + g.pixel[0].max(g.dz), |k, j, i| {
            let f = sphere_fraction(g, [k, j, i], c, r);
            if f > 0.0 {
                let n = g.idx(k, j, i);
                v[n] = v[n] * (1.0 - f) + act * f;
            }
        });
    }
    bgs
}

/// Max value within `radius` mm of `c`: the measurement both passes and the truth use.
pub fn max_in_sphere(
    g: &Grid,
    c: [f64; 3],
    radius: f64,
    value: impl Fn([usize; 3]) -> f64,
) -> (f64, [usize; 3]) {
    let mut best = (f64::MIN, [0usize; 3]);
    for_each_voxel_near(g, c, radius, |k, j, i| {
        let d2 = (g.x(i) - c[0]).powi(2) + (g.y(j) - c[1]).powi(2) + (g.z(k) - c[2]).powi(2);
        if d2 <= radius * radius {
            let v = value([k, j, i]);
            if v > best.0 {
                best = (v, [k, j, i]);
            }
        }
    });
    best
}

/// The search radius for a lesion's max: the sphere grown by one voxel, because blur and noise
/// can put the hottest voxel just outside the nominal edge.
pub fn search_radius(g: &Grid, diameter_mm: f64) -> f64 {
    diameter_mm / 2.0 + g.pixel[0].max(g.dz)
}

/// Calls `f(k, j, i)` for every grid voxel within the axis-aligned box of half-size `half` mm.
pub fn for_each_voxel_near(
    g: &Grid,
    c: [f64; 3],
    half: f64,
    mut f: impl FnMut(usize, usize, usize),
) {
    let range = |lo: f64, hi: f64, n: usize| {
        let (a, b) = (lo.floor().max(0.0), hi.ceil().min(n as f64 - 1.0));
        (a <= b).then_some((a as usize, b as usize))
    };
    let ks = range(
        (g.origin[2] - c[2] - half) / g.dz,
        (g.origin[2] - c[2] + half) / g.dz,
        g.nz,
    );
    let js = range(
        (c[1] - half - g.origin[1]) / g.pixel[1],
        (c[1] + half - g.origin[1]) / g.pixel[1],
        g.ny,
    );
    let is = range(
        (c[0] - half - g.origin[0]) / g.pixel[0],
        (c[0] + half - g.origin[0]) / g.pixel[0],
        g.nx,
    );
    let (Some((k0, k1)), Some((j0, j1)), Some((i0, i1))) = (ks, js, is) else {
        return;
    };
    for k in k0..=k1 {
        for j in j0..=j1 {
            for i in i0..=i1 {
                f(k, j, i);
            }
        }
    }
}

fn sphere_fraction(g: &Grid, [k, j, i]: [usize; 3], c: [f64; 3], r: f64) -> f32 {
    let mut inside = 0;
    for a in 0..4 {
        for b in 0..4 {
            for d in 0..4 {
                let off = |s: usize| (s as f64 + 0.5) / 4.0 - 0.5;
                let x = g.x(i) + off(d) * g.pixel[0] - c[0];
                let y = g.y(j) + off(b) * g.pixel[1] - c[1];
                let z = g.z(k) - off(a) * g.dz - c[2];
                if x * x + y * y + z * z <= r * r {
                    inside += 1;
                }
            }
        }
    }
    inside as f32 / 64.0
}

/// Separable Gaussian blur with a truncated (±3σ), renormalised kernel per axis.
pub fn blur(v: &mut [f32], g: &Grid, fwhm_mm: f64) {
    let sigma = fwhm_mm / (8.0 * 2f64.ln()).sqrt();
    let (nx, ny, nz) = (g.nx, g.ny, g.nz);
    // Rows (x): contiguous lines; columns (y): stride nx within each slice; z: stride nx·ny.
    blur_axis(
        v,
        nx,
        1,
        (0..ny * nz).map(|l| l * nx),
        &kernel(sigma / g.pixel[0]),
    );
    let starts_y = (0..nz).flat_map(|k| (0..nx).map(move |i| k * nx * ny + i));
    blur_axis(v, ny, nx, starts_y, &kernel(sigma / g.pixel[1]));
    blur_axis(v, nz, nx * ny, 0..nx * ny, &kernel(sigma / g.dz));
}

fn kernel(sigma_vox: f64) -> Vec<f32> {
    let r = (3.0 * sigma_vox).ceil().max(1.0) as i64;
    let w: Vec<f64> = (-r..=r)
        .map(|d| (-(d * d) as f64 / (2.0 * sigma_vox * sigma_vox)).exp())
        .collect();
    let s: f64 = w.iter().sum();
    w.iter().map(|x| (x / s) as f32).collect()
}

/// Blurs the lines of `len` samples spaced `stride` apart that begin at each of `starts`.
fn blur_axis(
    v: &mut [f32],
    len: usize,
    stride: usize,
    starts: impl Iterator<Item = usize>,
    k: &[f32],
) {
    let r = k.len() / 2;
    let mut line = vec![0f32; len];
    for start in starts {
        for (n, s) in line.iter_mut().enumerate() {
            *s = v[start + n * stride];
        }
        for n in 0..len {
            // Taps that fall off the grid are dropped and the rest renormalised.
            let lo = r.saturating_sub(n);
            let hi = k.len().min(len + r - n);
            let (mut acc, mut wsum) = (0f32, 0f32);
            for t in lo..hi {
                acc += k[t] * line[n + t - r];
                wsum += k[t];
            }
            v[start + n * stride] = acc / wsum;
        }
    }
}

/// Count-like noise: σ = cov·sqrt(SUV) plus a small floor, clamped at zero.
pub fn add_noise(v: &mut [f32], cov: f64, rng: &mut Rng) {
    for x in v.iter_mut() {
        let s = cov * f64::from(x.max(0.0)).sqrt() + 0.01;
        *x = (f64::from(*x) + s * rng.normal()).max(0.0) as f32;
    }
}

/// One stored PET slice: signed 16-bit values and the slope that maps them to Bq/mL.
pub struct StoredSlice {
    pub values: Vec<i16>,
    /// RescaleSlope exactly as written in the file (a DS of ≤ 16 characters).
    pub slope_text: String,
    pub slope: f64,
}

/// Quantises one slice of Bq/mL (or counts) so that its maximum uses the 16-bit range.
pub fn quantize_slice(values: impl Iterator<Item = f64> + Clone) -> StoredSlice {
    let max = values.clone().fold(0.0f64, f64::max);
    let raw = if max > 0.0 {
        max / 32767.0 * (1.0 + 1e-7)
    } else {
        1.0
    };
    let slope_text = format!("{raw:.8e}");
    let slope: f64 = slope_text.parse().unwrap_or(raw);
    let values = values
        .map(|x| (x / slope).round().clamp(0.0, 32767.0) as i16)
        .collect();
    StoredSlice {
        values,
        slope_text,
        slope,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovery_limits() {
        // Large spheres recover fully; a sphere of radius σ recovers ~0.2 (erf(0.707) − 0.484).
        assert!((sphere_recovery(100.0, 3.0) - 1.0).abs() < 1e-6);
        assert!((sphere_recovery(3.0, 3.0) - 0.1987).abs() < 1e-3);
    }

    #[test]
    fn blur_preserves_mass_inside() {
        let g = Grid {
            nx: 21,
            ny: 21,
            nz: 21,
            pixel: [4.0, 4.0],
            dz: 3.0,
            origin: [0.0, 0.0, 0.0],
        };
        let mut v = vec![0f32; g.len()];
        v[g.idx(10, 10, 10)] = 1000.0;
        blur(&mut v, &g, 7.0);
        let sum: f32 = v.iter().sum();
        assert!((sum - 1000.0).abs() < 1.0, "{sum}");
        let sym = v[g.idx(10, 10, 9)] - v[g.idx(10, 10, 11)];
        assert!(sym.abs() < 1e-3);
        assert!(v[g.idx(10, 9, 10)] > 0.0 && v[g.idx(9, 10, 10)] > 0.0);
    }

    #[test]
    fn quantize_uses_range_and_round_trips() {
        let xs = [0.0, 1234.5, 98765.4321, 5.0];
        let s = quantize_slice(xs.iter().copied());
        assert_eq!(s.values.iter().copied().max(), Some(32767));
        assert!(s.slope_text.len() <= 16);
        for (x, q) in xs.iter().zip(&s.values) {
            assert!((f64::from(*q) * s.slope - x).abs() <= s.slope);
        }
    }
}
