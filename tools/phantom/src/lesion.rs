//! Lesion sites (nodal stations, lung lobes, liver segments, bones) anchored on the seeded
//! anatomy, and the draw of a study's lesions: size, target SUV, and placement that keeps lesions
//! apart. Laterality is the patient's (left = +x). Rendering into PET/CT lives in `pet` and `ct`.

use crate::anatomy::{Patient, Solid, Tissue};
use crate::rng::Rng;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Node,
    Lung,
    Liver,
    Bone,
}

/// A named place a lesion can sit.
#[derive(Debug, Clone, Copy)]
pub struct Site {
    pub key: &'static str,
    /// How a radiologist names it, e.g. "right hilar lymph node".
    pub text: &'static str,
    pub side: Option<&'static str>,
    pub kind: Kind,
}

const fn site(
    key: &'static str,
    text: &'static str,
    side: Option<&'static str>,
    kind: Kind,
) -> Site {
    Site {
        key,
        text,
        side,
        kind,
    }
}

const R: Option<&str> = Some("right");
const L: Option<&str> = Some("left");

pub const SITES: [Site; 26] = [
    site("right_hilar", "right hilar lymph node", R, Kind::Node),
    site("left_hilar", "left hilar lymph node", L, Kind::Node),
    site("subcarinal", "subcarinal lymph node", None, Kind::Node),
    site(
        "right_paratracheal",
        "right lower paratracheal (station 4R) lymph node",
        R,
        Kind::Node,
    ),
    site("right_axillary", "right axillary lymph node", R, Kind::Node),
    site("left_axillary", "left axillary lymph node", L, Kind::Node),
    site(
        "right_supraclavicular",
        "right supraclavicular lymph node",
        R,
        Kind::Node,
    ),
    site(
        "left_supraclavicular",
        "left supraclavicular lymph node",
        L,
        Kind::Node,
    ),
    site(
        "left_para_aortic",
        "left para-aortic lymph node",
        L,
        Kind::Node,
    ),
    site(
        "right_external_iliac",
        "right external iliac lymph node",
        R,
        Kind::Node,
    ),
    site(
        "left_external_iliac",
        "left external iliac lymph node",
        L,
        Kind::Node,
    ),
    site("rul", "right upper lobe pulmonary nodule", R, Kind::Lung),
    site("rml", "right middle lobe pulmonary nodule", R, Kind::Lung),
    site("rll", "right lower lobe pulmonary nodule", R, Kind::Lung),
    site("lul", "left upper lobe pulmonary nodule", L, Kind::Lung),
    site("lll", "left lower lobe pulmonary nodule", L, Kind::Lung),
    site("liver_s4", "hepatic segment 4 lesion", None, Kind::Liver),
    site("liver_s5", "hepatic segment 5 lesion", None, Kind::Liver),
    site("liver_s6", "hepatic segment 6 lesion", None, Kind::Liver),
    site("liver_s7", "hepatic segment 7 lesion", None, Kind::Liver),
    site("liver_s8", "hepatic segment 8 lesion", None, Kind::Liver),
    site("t10", "T10 vertebral body lesion", None, Kind::Bone),
    site("l3", "L3 vertebral body lesion", None, Kind::Bone),
    site("t6", "T6 vertebral body lesion", None, Kind::Bone),
    site("right_iliac", "right iliac bone lesion", R, Kind::Bone),
    site("left_iliac", "left iliac bone lesion", L, Kind::Bone),
];

/// A drawn lesion before rendering.
#[derive(Debug, Clone, Serialize)]
pub struct Lesion {
    /// 1-based; also the value in the label volume.
    pub id: u8,
    pub site: &'static str,
    pub site_text: &'static str,
    pub side: Option<&'static str>,
    pub kind: Kind,
    pub centre_mm: [f64; 3],
    pub diameter_mm: f64,
    /// The SUV the lesion is meant to show after blur (the target); see `measured_suv_max` for
    /// what the images really hold.
    pub peak_suv: f64,
}

/// Nominal centre of a site on this patient (before jitter).
pub fn anchor(p: &Patient, key: &str) -> Option<[f64; 3]> {
    let [cx, cy] = p.centre;
    let [a, b] = p.torso;
    let liver = p.organ(Tissue::Liver).next().copied();
    let seg = |fx: f64, fy: f64, fz: f64| match liver {
        Some(Solid::Ellipsoid { c, r }) => {
            Some([c[0] + fx * r[0], c[1] + fy * r[1], c[2] + fz * r[2]])
        }
        _ => None,
    };
    let lung_mid = (p.z_lung_apex + p.z_diaphragm) / 2.0;
    Some(match key {
        "right_hilar" => [cx - 0.24 * a, cy + 0.05 * b, p.z_carina - 25.0],
        "left_hilar" => [cx + 0.26 * a, cy + 0.05 * b, p.z_carina - 25.0],
        "subcarinal" => [cx + 3.0, cy + 0.12 * b, p.z_carina - 22.0],
        "right_paratracheal" => [cx - 18.0, cy - 0.1 * b, p.z_carina + 25.0],
        "right_axillary" => [cx - 0.86 * a, cy, p.z_lung_apex - 45.0],
        "left_axillary" => [cx + 0.86 * a, cy, p.z_lung_apex - 45.0],
        "right_supraclavicular" => [cx - 0.35 * a, cy - 0.05 * b, p.z_shoulder - 5.0],
        "left_supraclavicular" => [cx + 0.35 * a, cy - 0.05 * b, p.z_shoulder - 5.0],
        "left_para_aortic" => [cx + 32.0, p.spine_y() - 30.0, p.z_kidney - 85.0],
        "right_external_iliac" => [cx - 0.45 * a, cy + 0.05 * b, p.z_iliac_crest - 50.0],
        "left_external_iliac" => [cx + 0.45 * a, cy + 0.05 * b, p.z_iliac_crest - 50.0],
        "rul" => [
            cx - 0.45 * a,
            cy,
            p.z_lung_apex - 0.3 * (p.z_lung_apex - lung_mid),
        ],
        "rml" => [cx - 0.5 * a, cy - 0.35 * b, lung_mid - 15.0],
        "rll" => [cx - 0.48 * a, cy + 0.35 * b, p.z_diaphragm + 45.0],
        "lul" => [
            cx + 0.45 * a,
            cy,
            p.z_lung_apex - 0.3 * (p.z_lung_apex - lung_mid),
        ],
        "lll" => [cx + 0.5 * a, cy + 0.35 * b, p.z_diaphragm + 45.0],
        "liver_s4" => seg(0.5, -0.3, 0.0)?,
        "liver_s5" => seg(-0.15, -0.4, -0.45)?,
        "liver_s6" => seg(-0.45, 0.35, -0.45)?,
        "liver_s7" => seg(-0.45, 0.4, 0.35)?,
        "liver_s8" => seg(-0.15, -0.3, 0.4)?,
        "t10" => [cx, p.spine_y(), p.vertebra_z("T10")?],
        "l3" => [cx, p.spine_y(), p.vertebra_z("L3")?],
        "t6" => [cx, p.spine_y(), p.vertebra_z("T6")?],
        "right_iliac" => [cx - 0.6 * a, p.spine_y() - 0.15 * b, p.z_iliac_crest - 45.0],
        "left_iliac" => [cx + 0.6 * a, p.spine_y() - 0.15 * b, p.z_iliac_crest - 45.0],
        _ => return None,
    })
}

/// Whether a lesion centre is anatomically plausible for its kind.
fn plausible(p: &Patient, kind: Kind, c: [f64; 3]) -> bool {
    let t = p.tissue_at(c);
    match kind {
        Kind::Node => matches!(t, Tissue::Soft | Tissue::Fat),
        Kind::Lung => t == Tissue::Lung,
        Kind::Liver => t == Tissue::Liver,
        Kind::Bone => matches!(t, Tissue::Bone | Tissue::Soft),
    }
}

/// Highest physiological SUV within `radius` mm of `c` (a 3 mm lattice), used to keep lesions
/// separable from hot neighbours when the caller asks for groundable lesions.
pub fn local_background_max(p: &Patient, uptake: &[f32], c: [f64; 3], radius: f64) -> f64 {
    let n = (radius / 3.0).ceil() as i32;
    let mut best = 0.0f64;
    for k in -n..=n {
        for j in -n..=n {
            for i in -n..=n {
                let d = [i as f64 * 3.0, j as f64 * 3.0, k as f64 * 3.0];
                if d.iter().map(|v| v * v).sum::<f64>() > radius * radius {
                    continue;
                }
                let t = p.tissue_at([c[0] + d[0], c[1] + d[1], c[2] + d[2]]);
                best = best.max(f64::from(uptake[t as usize]));
            }
        }
    }
    best
}

/// What the caller wants from the lesion draw.
#[derive(Debug, Clone, Copy)]
pub struct LesionPlan {
    pub count: usize,
    pub min_suv: f64,
    pub max_suv: f64,
    /// Raise a lesion's SUV so that the paper's threshold `0.617 + 0.316·S` clears its hottest
    /// physiological neighbour by 25 %; sites where that would need SUV > `max_suv` are skipped.
    pub groundable: bool,
    /// How far (mm, beyond the lesion's radius) a hot neighbour still matters: the blur and the
    /// voxel size decide how far activity spills and components connect.
    pub clearance_mm: f64,
    /// Smallest diameter (mm); coarse grids cannot show a 5 mm lesion.
    pub min_diameter_mm: f64,
}

/// Draws up to `plan.count` lesions at distinct, well separated sites.
pub fn draw(p: &Patient, uptake: &[f32], plan: &LesionPlan, rng: &mut Rng) -> Vec<Lesion> {
    let mut order: Vec<usize> = (0..SITES.len()).collect();
    for i in (1..order.len()).rev() {
        order.swap(i, rng.below(i + 1));
    }
    let mut out: Vec<Lesion> = Vec::new();
    let mut organs_used: Vec<Kind> = Vec::new();
    for idx in order {
        if out.len() >= plan.count {
            break;
        }
        let s = SITES[idx];
        // One liver lesion per study: two in one hot organ would share a threshold component.
        if s.kind == Kind::Liver && organs_used.contains(&Kind::Liver) {
            continue;
        }
        let Some(base) = anchor(p, s.key) else {
            continue;
        };
        let max_d = match s.kind {
            Kind::Bone => 25.0,
            Kind::Lung => 30.0,
            _ => 30.0,
        };
        let d = (5f64.ln() + rng.f64() * (max_d / 5f64).ln())
            .exp()
            .max(plan.min_diameter_mm);
        let mut centre = None;
        for _ in 0..20 {
            let j = 8.0;
            let c = [
                base[0] + rng.range(-j, j),
                base[1] + rng.range(-j, j),
                base[2] + rng.range(-j, j),
            ];
            if plausible(p, s.kind, c) {
                centre = Some(c);
                break;
            }
        }
        let Some(c) = centre else { continue };
        let too_close = out.iter().any(|o| {
            let dist = (0..3)
                .map(|i| (o.centre_mm[i] - c[i]).powi(2))
                .sum::<f64>()
                .sqrt();
            dist < (o.diameter_mm + d) / 2.0 + 30.0
        });
        if too_close {
            continue;
        }
        let mut suv = (plan.min_suv.ln() + rng.f64() * (plan.max_suv / plan.min_suv).ln()).exp();
        if plan.groundable {
            let bg = local_background_max(p, uptake, c, d / 2.0 + plan.clearance_mm);
            let need = ((1.25 * bg - 0.617) / 0.316).max(3.0) + 0.3;
            if need > plan.max_suv {
                continue;
            }
            suv = suv.max(need + rng.range(0.0, 2.0)).min(plan.max_suv);
            // Two lesions with the same SUVmax would both match either sentence (the paper drops
            // such sentences as ambiguous): keep targets apart by more than blur and noise move
            // a measured max (1.0, or 8 % for hot lesions).
            let floor = need.max(plan.min_suv);
            match separate(suv, &out, floor, plan.max_suv) {
                Some(v) => suv = v,
                None => continue,
            }
        }
        organs_used.push(s.kind);
        out.push(Lesion {
            id: (out.len() + 1) as u8,
            site: s.key,
            site_text: s.text,
            side: s.side,
            kind: s.kind,
            centre_mm: c,
            diameter_mm: (d * 10.0).round() / 10.0,
            peak_suv: (suv * 100.0).round() / 100.0,
        });
    }
    out
}

/// The nearest value to `suv` within `[lo, hi]` well apart from every earlier lesion's target.
fn separate(suv: f64, earlier: &[Lesion], lo: f64, hi: f64) -> Option<f64> {
    let ok = |v: f64| {
        earlier
            .iter()
            .all(|l| (l.peak_suv - v).abs() >= (0.08 * v.max(l.peak_suv)).max(1.0))
    };
    (0..60)
        .flat_map(|n| {
            let step = f64::from(n) * 0.25;
            [suv + step, suv - step]
        })
        .find(|v| (lo..=hi).contains(v) && ok(*v))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tracer::Tracer;

    #[test]
    fn every_site_has_an_anchor() {
        let p = Patient::sample(&mut Rng::new(11));
        for s in SITES {
            assert!(anchor(&p, s.key).is_some(), "{}", s.key);
        }
    }

    #[test]
    fn sided_sites_lie_on_their_side() {
        for seed in 0..10 {
            let p = Patient::sample(&mut Rng::new(seed));
            for s in SITES {
                let c = anchor(&p, s.key).expect("anchor");
                match s.side {
                    Some("left") => assert!(c[0] > p.centre[0] + 15.0, "{} seed {seed}", s.key),
                    Some("right") => assert!(c[0] < p.centre[0] - 15.0, "{} seed {seed}", s.key),
                    _ => {}
                }
            }
        }
    }

    #[test]
    fn draw_gives_requested_count_mostly() {
        let mut rng = Rng::new(2);
        let p = Patient::sample(&mut rng);
        let up = Tracer::Fdg.uptake_table(&mut rng);
        let plan = LesionPlan {
            count: 6,
            min_suv: 2.0,
            max_suv: 25.0,
            groundable: true,
            clearance_mm: 15.0,
            min_diameter_mm: 5.0,
        };
        let ls = draw(&p, &up, &plan, &mut rng);
        assert!(ls.len() >= 4, "{}", ls.len());
        for l in &ls {
            assert!((5.0..=30.0).contains(&l.diameter_mm));
            assert!((2.0..=25.0).contains(&l.peak_suv));
        }
    }
}
