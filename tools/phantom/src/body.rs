//! The paint list of one patient: the solids of body outline, neck, legs, ribs, head, lungs,
//! airway, heart and blood pool, abdominal organs and skeleton, outermost first (the painter's
//! last word wins). Landmarks and the rasteriser live in `anatomy`.

use crate::anatomy::{Patient, Solid, Tissue};
use crate::rng::Rng;

fn ell(c: [f64; 3], r: [f64; 3]) -> Solid {
    Solid::Ellipsoid { c, r }
}

fn cyl(c: [f64; 2], r: [f64; 2], z0: f64, z1: f64) -> Solid {
    Solid::Cylinder {
        c,
        r,
        z: [z0.min(z1), z0.max(z1)],
    }
}

/// The paint list, outermost first. Organ sizes get their own jitter.
pub fn build_parts(p: &Patient, rng: &mut Rng) -> Vec<(Tissue, Solid)> {
    // Subcutaneous fat thickness as a fraction of the semi-axes, and the head radius: shared by
    // several regions, drawn once here.
    let fat = rng.range(0.06, 0.14);
    let head_r = 0.052 * p.height_m * 1000.0 * rng.range(0.95, 1.05);
    let mut v: Vec<(Tissue, Solid)> = Vec::new();
    outline(p, fat, head_r, &mut v);
    ribs(p, fat, &mut v);
    head(p, head_r, &mut v);
    let aorta_top = thorax(p, rng, head_r, &mut v);
    abdomen(p, rng, aorta_top, &mut v);
    skeleton(p, &mut v);
    v
}

/// Neck, torso (fat shell then soft tissue), legs with femurs.
fn outline(p: &Patient, fat: f64, head_r: f64, v: &mut Vec<(Tissue, Solid)>) {
    use Tissue::*;
    let h = p.height_m * 1000.0;
    let [cx, cy] = p.centre;
    let [a, b] = p.torso;

    let head = p.head_centre();
    // Neck, torso (fat shell then soft tissue), legs.
    let neck_r = 0.55 * head_r;
    v.push((
        Fat,
        cyl(
            [cx, cy - 0.05 * b],
            [neck_r * 1.1, neck_r],
            head[2] - 0.6 * head_r,
            p.z_shoulder + 40.0,
        ),
    ));
    v.push((
        Soft,
        cyl(
            [cx, cy - 0.05 * b],
            [neck_r * 0.95, neck_r * 0.85],
            head[2] - 0.6 * head_r,
            p.z_shoulder + 40.0,
        ),
    ));
    v.push((Fat, cyl([cx, cy], [a, b], p.z_shoulder, p.z_groin)));
    v.push((
        Soft,
        cyl(
            [cx, cy],
            [a * (1.0 - fat), b * (1.0 - fat)],
            p.z_shoulder,
            p.z_groin,
        ),
    ));
    let leg_r = 0.45 * a;
    for s in [-1.0, 1.0] {
        let lc = [cx + s * 0.48 * a, cy];
        v.push((
            Fat,
            cyl(
                lc,
                [leg_r, leg_r * 0.95],
                p.z_groin + 30.0,
                p.z_groin - 0.45 * h,
            ),
        ));
        v.push((
            Soft,
            cyl(
                lc,
                [leg_r * 0.85, leg_r * 0.8],
                p.z_groin + 30.0,
                p.z_groin - 0.45 * h,
            ),
        ));
        v.push((
            Bone,
            cyl(
                [lc[0] + s * 5.0, lc[1]],
                [13.0, 13.0],
                p.z_groin + 20.0,
                p.z_groin - 0.45 * h,
            ),
        ));
    }
}

/// Ribs: a bony ring every ~25 mm through the thorax, painted before the lungs.
fn ribs(p: &Patient, fat: f64, v: &mut Vec<(Tissue, Solid)>) {
    use Tissue::*;
    let [cx, cy] = p.centre;
    let [a, b] = p.torso;

    let ring = [a * (1.0 - fat) * 0.93, b * (1.0 - fat) * 0.9];
    let mut z = p.z_lung_apex - 15.0;
    while z > p.z_diaphragm - 60.0 {
        v.push((Bone, cyl([cx, cy], ring, z - 9.0, z)));
        v.push((
            Soft,
            cyl([cx, cy], [ring[0] - 8.0, ring[1] - 8.0], z - 9.0, z),
        ));
        z -= 25.0;
    }
}

/// Head: skull shell, brain, face, pituitary, salivary glands.
fn head(p: &Patient, head_r: f64, v: &mut Vec<(Tissue, Solid)>) {
    use Tissue::*;

    let head = p.head_centre();
    let head_e = ell(head, [head_r * 0.82, head_r, head_r]);
    v.push((Bone, head_e));
    v.push((
        Brain,
        ell(head, [head_r * 0.82 - 7.0, head_r - 7.0, head_r - 7.0]),
    ));
    v.push((
        Soft,
        ell(
            [head[0], head[1] - 0.55 * head_r, head[2] - 0.55 * head_r],
            [0.5 * head_r, 0.45 * head_r, 0.4 * head_r],
        ),
    ));
    v.push((
        Pituitary,
        ell(
            [head[0], head[1] - 0.1 * head_r, head[2] - 0.3 * head_r],
            [5.0, 5.0, 4.0],
        ),
    ));
    for s in [-1.0, 1.0] {
        v.push((
            Salivary,
            ell(
                [
                    head[0] + s * 0.62 * head_r,
                    head[1] - 0.05 * head_r,
                    head[2] - 0.62 * head_r,
                ],
                [10.0, 14.0, 18.0],
            ),
        ));
        v.push((
            Salivary,
            ell(
                [
                    head[0] + s * 0.4 * head_r,
                    head[1] - 0.45 * head_r,
                    head[2] - 0.92 * head_r,
                ],
                [9.0, 10.0, 9.0],
            ),
        ));
    }
}

/// Lungs (apex to diaphragm), airway, heart with its blood pool; returns where the descending
/// aorta starts (above the heart).
fn thorax(p: &Patient, rng: &mut Rng, head_r: f64, v: &mut Vec<(Tissue, Solid)>) -> f64 {
    use Tissue::*;
    let [cx, cy] = p.centre;
    let [a, b] = p.torso;

    let head = p.head_centre();
    let lung_h = (p.z_lung_apex - p.z_diaphragm) / 2.0;
    let lung_zc = (p.z_lung_apex + p.z_diaphragm) / 2.0;
    for s in [-1.0, 1.0] {
        let w = rng.range(0.95, 1.05);
        v.push((
            Lung,
            ell(
                [cx + s * 0.44 * a, cy + 0.05 * b, lung_zc],
                [0.36 * a * w, 0.68 * b, lung_h * w.sqrt()],
            ),
        ));
    }
    v.push((
        AirWay,
        cyl(
            [cx, cy - 0.1 * b],
            [8.0, 8.0],
            p.z_carina,
            head[2] - 0.8 * head_r,
        ),
    ));
    let heart_c = [
        cx + 0.12 * a,
        cy - 0.2 * b,
        p.z_diaphragm + rng.range(40.0, 50.0),
    ];
    let heart_r = [0.32 * a, 0.45 * b, 50.0].map(|r| r * rng.range(0.9, 1.1));
    v.push((Myocardium, ell(heart_c, heart_r)));
    v.push((
        BloodPool,
        ell(
            [heart_c[0] - 8.0, heart_c[1] - 5.0, heart_c[2] + 8.0],
            heart_r.map(|r| r * 0.65),
        ),
    ));
    // The descending aorta starts at the arch, about the level of the carina.
    p.z_carina + 10.0
}

/// Liver (patient right = −x), spleen (left), kidneys, bladder, then the descending aorta so the liver never hides it.
fn abdomen(p: &Patient, rng: &mut Rng, aorta_top: f64, v: &mut Vec<(Tissue, Solid)>) {
    use Tissue::*;
    let [cx, cy] = p.centre;
    let [a, b] = p.torso;

    let liver_r = [0.55 * a, 0.62 * b, 85.0].map(|r| r * rng.range(0.9, 1.12));
    v.push((
        Liver,
        ell(
            [
                cx - 0.38 * a + rng.range(-10.0, 10.0),
                cy - 0.05 * b + rng.range(-8.0, 8.0),
                p.z_diaphragm - rng.range(0.5, 0.7) * liver_r[2],
            ],
            liver_r,
        ),
    ));
    let spleen_r = [28.0, 45.0, 55.0].map(|r| r * rng.range(0.85, 1.2));
    v.push((
        Spleen,
        ell(
            [
                cx + 0.62 * a + rng.range(-10.0, 8.0),
                cy + 0.35 * b + rng.range(-10.0, 5.0),
                p.z_diaphragm - rng.range(45.0, 75.0),
            ],
            spleen_r,
        ),
    ));
    for s in [-1.0, 1.0] {
        let kr = [28.0, 24.0, 52.0].map(|r| r * rng.range(0.9, 1.1));
        v.push((
            Kidney,
            ell(
                [
                    cx + s * rng.range(62.0, 78.0),
                    p.spine_y() - 10.0,
                    p.z_kidney + s * 8.0 + rng.range(-15.0, 15.0),
                ],
                kr,
            ),
        ));
    }
    let br = rng.range(28.0, 48.0);
    v.push((
        Bladder,
        ell([cx, cy - 0.35 * b, p.z_bladder], [br * 1.2, br, br * 0.9]),
    ));
    v.push((
        BloodPool,
        cyl(
            [cx + 18.0, p.spine_y() - 25.0],
            [12.0, 12.0],
            aorta_top,
            p.z_iliac_crest,
        ),
    ));
}

/// Vertebral column and iliac wings.
fn skeleton(p: &Patient, v: &mut Vec<(Tissue, Solid)>) {
    use Tissue::*;
    let [cx, _] = p.centre;
    let [a, b] = p.torso;

    // Skeleton: vertebral column, iliac wings, sacrum.
    v.push((
        Bone,
        cyl(
            [cx, p.spine_y()],
            [17.0, 15.0],
            p.z_shoulder + 60.0,
            p.z_iliac_crest - 60.0,
        ),
    ));
    for s in [-1.0, 1.0] {
        v.push((
            Bone,
            ell(
                [
                    cx + s * 0.6 * a,
                    p.spine_y() - 0.15 * b,
                    p.z_iliac_crest - 55.0,
                ],
                [14.0, 45.0, 60.0],
            ),
        ));
    }
}
