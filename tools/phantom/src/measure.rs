//! Measurement on the stored PET: the calibration pass that brings each lesion's blurred max to
//! its target, each lesion's SUVmax and its voxel (what the report quotes and the truth records),
//! the label volume, and the reference uptake sentences quote. Rendering lives in `pet`.

use crate::anatomy::{Patient, Tissue};
use crate::lesion::{Kind, Lesion};
use crate::pet::{self, Grid};
use crate::truth::LesionTruth;

/// A noise-free trial pass: the analytic recovery estimate ignores where the lesion falls
/// between voxel centres, which matters most for small lesions on coarse grids; the gain brings
/// each lesion's blurred max back to its target.
pub fn calibrate(base: &[f32], g: &Grid, lesions: &[Lesion], sigma: f64, fwhm: f64) -> Vec<f64> {
    let mut trial = base.to_vec();
    let bgs = pet::add_lesions(&mut trial, g, lesions, sigma, &vec![1.0; lesions.len()]);
    pet::blur(&mut trial, g, fwhm);
    lesions
        .iter()
        .zip(bgs)
        .map(|(l, bg)| {
            let (m, _) = pet::max_in_sphere(
                g,
                l.centre_mm,
                pet::search_radius(g, l.diameter_mm),
                |[k, j, i]| f64::from(trial[g.idx(k, j, i)]),
            );
            if m - bg > 0.1 {
                ((l.peak_suv - bg) / (m - bg)).clamp(0.5, 8.0)
            } else {
                1.0
            }
        })
        .collect()
}

/// Per lesion: the max stored SUV and its voxel. The search region is the sphere grown by one
/// voxel, because blur and noise can put the hottest voxel just outside the nominal edge; the
/// label is the voxels whose centre lies in the sphere, plus the centre voxel and the max voxel,
/// so every label holds its own max.
pub struct Measured {
    pub max: f64,
    pub at: [usize; 3],
    pub voxels: usize,
}

pub fn measure(
    g: &Grid,
    lesions: &[Lesion],
    suv: &dyn Fn([usize; 3]) -> f64,
) -> (Vec<u8>, Vec<Measured>) {
    let mut labels = vec![0u8; g.len()];
    let mut out = Vec::new();
    for l in lesions {
        let c = l.centre_mm;
        let r = l.diameter_mm / 2.0;
        let best = pet::max_in_sphere(g, c, pet::search_radius(g, l.diameter_mm), suv);
        let mut inside = Vec::new();
        pet::for_each_voxel_near(g, c, r, |k, j, i| {
            let d2 = (g.x(i) - c[0]).powi(2) + (g.y(j) - c[1]).powi(2) + (g.z(k) - c[2]).powi(2);
            if d2 <= r * r {
                inside.push([k, j, i]);
            }
        });
        inside.extend(g.nearest(c));
        inside.push(best.1);
        let mut voxels = 0;
        for [k, j, i] in inside {
            let n = g.idx(k, j, i);
            if labels[n] == 0 {
                labels[n] = l.id;
                voxels += 1;
            }
        }
        out.push(Measured {
            max: best.0,
            at: best.1,
            voxels,
        });
    }
    (labels, out)
}

/// Reference uptake a reader would quote: liver SUVmax in a 10 mm sphere in the right lobe, and
/// blood pool SUVmean in the descending aorta below the carina.
pub fn references(p: &Patient, g: &Grid, suv: &dyn Fn([usize; 3]) -> f64) -> (f64, f64) {
    let liver = match p.organ(Tissue::Liver).next() {
        Some(crate::anatomy::Solid::Ellipsoid { c, r }) => [c[0] - 0.3 * r[0], c[1], c[2]],
        _ => [
            p.centre[0] - 0.4 * p.torso[0],
            p.centre[1],
            p.z_diaphragm - 60.0,
        ],
    };
    let aorta = [p.centre[0] + 18.0, p.spine_y() - 25.0, p.z_carina - 20.0];
    let sample = |c: [f64; 3]| {
        let mut vals = Vec::new();
        pet::for_each_voxel_near(g, c, 10.0, |k, j, i| {
            let d2 = (g.x(i) - c[0]).powi(2) + (g.y(j) - c[1]).powi(2) + (g.z(k) - c[2]).powi(2);
            if d2 <= 100.0 {
                vals.push(suv([k, j, i]));
            }
        });
        if vals.is_empty() {
            vals.extend(g.nearest(c).map(suv));
        }
        vals
    };
    let lv = sample(liver);
    let bv = sample(aorta);
    let max = lv.iter().copied().fold(0.0, f64::max);
    let mean = if bv.is_empty() {
        0.0
    } else {
        bv.iter().sum::<f64>() / bv.len() as f64
    };
    (max, mean)
}

pub fn lesion_truth(l: &Lesion, m: &Measured, g: &Grid) -> LesionTruth {
    let [k, j, i] = m.at;
    LesionTruth {
        id: l.id,
        site: l.site.to_owned(),
        site_text: l.site_text.to_owned(),
        side: l.side.map(str::to_owned),
        kind: match l.kind {
            Kind::Node => "node",
            Kind::Lung => "lung",
            Kind::Liver => "liver",
            Kind::Bone => "bone",
        }
        .to_owned(),
        centre_mm: l.centre_mm,
        diameter_mm: l.diameter_mm,
        peak_suv: l.peak_suv,
        measured_suv_max: m.max,
        reported_suv_max: (m.max * 10.0).round() / 10.0,
        max_voxel: m.at,
        max_mm: [g.x(i), g.y(j), g.z(k)],
        instance_number: k + 1,
        voxels: m.voxels,
        sentence: String::new(),
    }
}
