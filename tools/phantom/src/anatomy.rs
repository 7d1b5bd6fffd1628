//! Analytic anatomy in patient LPS millimetres (x: patient left +, y: posterior +, z: head +):
//! a seeded patient (size, shape, organ sizes and positions) built from axis-aligned ellipsoids and
//! elliptic cylinders, and the slice rasteriser both the CT and the PET grid use. Uptake and HU
//! per tissue live in `tracer`; lesion sites in `lesion`.

use crate::rng::Rng;
use serde::Serialize;

/// What a voxel is made of; the painter's last word wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[repr(u8)]
pub enum Tissue {
    Air = 0,
    Fat,
    Soft,
    Lung,
    AirWay,
    Liver,
    Spleen,
    Kidney,
    Bladder,
    Brain,
    Myocardium,
    BloodPool,
    Bone,
    Salivary,
    Pituitary,
}

impl Tissue {
    pub const COUNT: usize = 15;
}

/// An axis-aligned solid whose axial cross-section is an ellipse.
#[derive(Debug, Clone, Copy)]
pub enum Solid {
    Ellipsoid {
        c: [f64; 3],
        r: [f64; 3],
    },
    /// Elliptic cylinder between z0 < z1.
    Cylinder {
        c: [f64; 2],
        r: [f64; 2],
        z: [f64; 2],
    },
}

/// The axial cross-section of a solid at one z: centre and semi-axes in mm.
#[derive(Debug, Clone, Copy)]
pub struct Ellipse {
    pub c: [f64; 2],
    pub r: [f64; 2],
}

impl Solid {
    pub fn section(&self, z: f64) -> Option<Ellipse> {
        match *self {
            Solid::Ellipsoid { c, r } => {
                let t = 1.0 - ((z - c[2]) / r[2]).powi(2);
                (t > 0.0).then(|| {
                    let s = t.sqrt();
                    Ellipse {
                        c: [c[0], c[1]],
                        r: [r[0] * s, r[1] * s],
                    }
                })
            }
            Solid::Cylinder { c, r, z: [z0, z1] } => {
                (z >= z0 && z <= z1).then_some(Ellipse { c, r })
            }
        }
    }

    pub fn contains(&self, p: [f64; 3]) -> bool {
        self.section(p[2]).is_some_and(|e| {
            ((p[0] - e.c[0]) / e.r[0]).powi(2) + ((p[1] - e.c[1]) / e.r[1]).powi(2) <= 1.0
        })
    }
}

/// One seeded patient. Landmarks are z positions (mm) measured on this patient's body.
#[derive(Debug, Clone, Serialize)]
pub struct Patient {
    pub sex: char,
    pub height_m: f64,
    pub weight_kg: f64,
    /// z of the top of the head.
    pub vertex_z: f64,
    /// Centre of the body outline in x and y (table offset in the field of view).
    pub centre: [f64; 2],
    /// Torso semi-axes: lateral (x) and antero-posterior (y), mm.
    pub torso: [f64; 2],
    pub z_shoulder: f64,
    pub z_lung_apex: f64,
    pub z_carina: f64,
    pub z_diaphragm: f64,
    pub z_kidney: f64,
    pub z_iliac_crest: f64,
    pub z_bladder: f64,
    pub z_groin: f64,
    /// z of vertebral body centres T1..L5 (17 levels).
    pub vertebrae_z: Vec<f64>,
    #[serde(skip)]
    pub parts: Vec<(Tissue, Solid)>,
}

impl Patient {
    /// Draws a patient: sizes and positions vary with the seed so a model must learn anatomy.
    pub fn sample(rng: &mut Rng) -> Self {
        let sex = if rng.chance(0.5) { 'F' } else { 'M' };
        let height_m = if sex == 'M' {
            rng.range(1.62, 1.95)
        } else {
            rng.range(1.50, 1.80)
        };
        let bmi = rng.range(18.5, 36.0);
        let weight_kg = (bmi * height_m * height_m * 10.0).round() / 10.0;
        let h = height_m * 1000.0;
        // Lateral size grows with BMI and height; AP a little less.
        let a = (0.085 * h) * (bmi / 24.0).powf(0.55) * rng.range(0.93, 1.07);
        let b = a * rng.range(0.62, 0.74);
        let torso = [a.clamp(120.0, 215.0), b.clamp(80.0, 150.0)];
        let centre = [rng.range(-20.0, 20.0), rng.range(-25.0, 15.0)];
        let vertex_z = rng.range(-40.0, 40.0) + 0.3 * h;
        let at = |f: f64| vertex_z - f * h;
        let mut p = Self {
            sex,
            height_m,
            weight_kg,
            vertex_z,
            centre,
            torso,
            z_shoulder: at(rng.range(0.165, 0.175)),
            z_lung_apex: at(rng.range(0.177, 0.185)),
            z_carina: at(rng.range(0.225, 0.24)),
            z_diaphragm: at(rng.range(0.29, 0.31)),
            z_kidney: at(rng.range(0.37, 0.39)),
            z_iliac_crest: at(rng.range(0.42, 0.44)),
            z_bladder: at(rng.range(0.485, 0.50)),
            z_groin: at(rng.range(0.51, 0.53)),
            vertebrae_z: Vec::new(),
            parts: Vec::new(),
        };
        let (t1, l5) = (at(0.18), at(0.445));
        p.vertebrae_z = (0..17).map(|i| t1 + (l5 - t1) * i as f64 / 16.0).collect();
        p.parts = crate::body::build_parts(&p, rng);
        p
    }

    /// z of a vertebral body by name, e.g. "T10" or "L3".
    pub fn vertebra_z(&self, name: &str) -> Option<f64> {
        let (kind, n) = name.split_at(1);
        let n: usize = n.parse().ok()?;
        let idx = match kind {
            "T" if (1..=12).contains(&n) => n - 1,
            "L" if (1..=5).contains(&n) => 11 + n,
            _ => return None,
        };
        self.vertebrae_z.get(idx).copied()
    }

    /// y of the vertebral body centres (posterior of the torso centre).
    pub fn spine_y(&self) -> f64 {
        self.centre[1] + 0.45 * self.torso[1]
    }

    pub fn head_centre(&self) -> [f64; 3] {
        [
            self.centre[0],
            self.centre[1] - 0.2 * self.torso[1],
            self.vertex_z - 0.065 * self.height_m * 1000.0,
        ]
    }

    /// The solid of a named organ (first match), used by lesion placement.
    pub fn organ(&self, tissue: Tissue) -> impl Iterator<Item = &Solid> {
        self.parts
            .iter()
            .filter(move |(t, _)| *t == tissue)
            .map(|(_, s)| s)
    }

    /// Tissue at one point (slow path for single points; slices use [`rasterize`]).
    pub fn tissue_at(&self, p: [f64; 3]) -> Tissue {
        self.parts
            .iter()
            .rev()
            .find(|(_, s)| s.contains(p))
            .map_or(Tissue::Air, |(t, _)| *t)
    }
}

/// Paints one axial slice at `z` on a grid of `nx × ny` voxels whose first voxel centre is at
/// `origin` with `spacing` (x, y); returns tissues row-major `[y][x]`. Each solid paints the
/// x-interval its ellipse covers on each row, so cost is rows × solids + painted voxels.
pub fn rasterize(
    parts: &[(Tissue, Solid)],
    z: f64,
    origin: [f64; 2],
    spacing: [f64; 2],
    n: [usize; 2],
) -> Vec<Tissue> {
    let [nx, ny] = n;
    let mut out = vec![Tissue::Air; nx * ny];
    for (tissue, solid) in parts {
        let Some(e) = solid.section(z) else { continue };
        for j in 0..ny {
            let y = origin[1] + j as f64 * spacing[1];
            let s = 1.0 - ((y - e.c[1]) / e.r[1]).powi(2);
            if s <= 0.0 {
                continue;
            }
            let half = e.r[0] * s.sqrt();
            let i0 = ((e.c[0] - half - origin[0]) / spacing[0]).ceil().max(0.0);
            let i1 = ((e.c[0] + half - origin[0]) / spacing[0])
                .floor()
                .min(nx as f64 - 1.0);
            if i1 < i0 {
                continue;
            }
            out[j * nx + i0 as usize..=j * nx + i1 as usize].fill(*tissue);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn liver_is_right_spleen_left() {
        for seed in 0..20 {
            let p = Patient::sample(&mut Rng::new(seed));
            let liver = p.organ(Tissue::Liver).next().expect("liver");
            let spleen = p.organ(Tissue::Spleen).next().expect("spleen");
            let (Solid::Ellipsoid { c: lc, .. }, Solid::Ellipsoid { c: sc, .. }) = (liver, spleen)
            else {
                panic!("organs are ellipsoids");
            };
            assert!(lc[0] < p.centre[0] && sc[0] > p.centre[0], "seed {seed}");
        }
    }

    #[test]
    fn rasterize_matches_point_test() {
        let p = Patient::sample(&mut Rng::new(5));
        let z = p.z_kidney;
        let t = rasterize(&p.parts, z, [-250.0, -250.0], [5.0, 5.0], [101, 101]);
        for j in (0..101).step_by(7) {
            for i in (0..101).step_by(5) {
                let q = [-250.0 + 5.0 * i as f64, -250.0 + 5.0 * j as f64, z];
                assert_eq!(t[j * 101 + i], p.tissue_at(q), "at {q:?}");
            }
        }
    }
}
