//! Ours (issue 16): a coarse body region named by a finding's sentence, and where that region
//! lies in the study itself, so candidates of one SUVmax that the side cannot separate can be
//! told apart ("right lower lobe nodule, SUVmax 5.1" with one candidate in the lung and one in
//! the liver). Everything is located from the PET volume, never from fixed array positions:
//!
//! - the **lungs** are the low-uptake holes enclosed by the body on each axial slice (voxels
//!   below half the whole body's median uptake that the outside air cannot reach in the
//!   slice);
//!   the longest run of slices where they fill at least a tenth of the body gives the chest's
//!   extent `[B, T]` (mm, patient z) and its height `H = T − B`;
//! - **neck** lies above `T − 0.05·H`; **chest** within `[B − 0.1·H, T + 0.1·H]`; **abdomen**
//!   within `[B − 1.3·H, B + 0.1·H]`; **pelvis** below `B − 0.6·H`; the **liver** within
//!   `[B − 1.2·H, B + 0.35·H]` on the patient's right of the body midline. The bands overlap on
//!   purpose: a region only rules a candidate out when it clearly lies elsewhere;
//! - a candidate is **in the lung** when at least a fifth of the voxels of a 7×7 window around
//!   its maximum, on its slice, are lung.
//!
//! Pure code: the volume in, a verdict per candidate out.

use ndarray::ArrayView2;

use crate::volume::Volume;

/// A coarse body region a sentence can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Region {
    Neck,
    Chest,
    Lung,
    Liver,
    Abdomen,
    Pelvis,
}

/// Words naming each region, most specific first: a sentence's region is the first group with
/// a word in it, and `None` when words of two groups of one level appear (the text does not
/// say one region).
const LUNG: &[&str] = &[
    "lung",
    "lungs",
    "pulmonary",
    "lobe",
    "lingula",
    "lingular",
    "rul",
    "rml",
    "rll",
    "lul",
    "lll",
    "perihilar",
];
const LIVER: &[&str] = &["liver", "hepatic"];
const NECK: &[&str] = &[
    "neck",
    "supraclavicular",
    "submandibular",
    "parotid",
    "tonsil",
    "tonsillar",
    "thyroid",
    "jugular",
    "nasopharynx",
    "oropharynx",
];
const CHEST: &[&str] = &[
    "mediastinal",
    "mediastinum",
    "hilar",
    "hilum",
    "axillary",
    "axilla",
    "subcarinal",
    "paratracheal",
    "prevascular",
    "breast",
    "aortopulmonary",
];
const ABDOMEN: &[&str] = &[
    "retroperitoneal",
    "mesenteric",
    "portocaval",
    "aortocaval",
    "coeliac",
    "celiac",
    "pancreas",
    "pancreatic",
    "adrenal",
    "splenic",
    "spleen",
    "renal",
    "kidney",
    "gastric",
    "paraaortic",
];
const PELVIS: &[&str] = &[
    "iliac",
    "inguinal",
    "obturator",
    "pelvic",
    "pelvis",
    "presacral",
    "prostate",
    "prostatic",
    "bladder",
    "rectal",
    "perirectal",
    "pararectal",
];

/// The region a sentence names, if it names exactly one.
pub fn sentence_region(sentence: &str) -> Option<Region> {
    let lower = sentence.to_lowercase().replace("para-aortic", "paraaortic");
    let words: Vec<&str> = lower
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    let has = |group: &[&str]| words.iter().any(|w| group.contains(w));
    // Organs first: "hepatic" or "lobe" says more than a nodal station beside it.
    // "Right hepatic lobe": a lobe of the liver.
    let liver = has(LIVER);
    let lung = words
        .iter()
        .any(|w| LUNG.contains(w) && !(liver && *w == "lobe"));
    match (lung, liver) {
        (true, false) => return Some(Region::Lung),
        (false, true) => return Some(Region::Liver),
        (true, true) => return None,
        (false, false) => {}
    }
    let named: Vec<Region> = [
        (NECK, Region::Neck),
        (CHEST, Region::Chest),
        (ABDOMEN, Region::Abdomen),
        (PELVIS, Region::Pelvis),
    ]
    .into_iter()
    .filter(|(g, _)| has(g))
    .map(|(_, r)| r)
    .collect();
    match named.as_slice() {
        [one] => Some(*one),
        _ => None,
    }
}

/// Where the lungs are in one study: their patient-z extent and, per slice, the lung voxels.
#[derive(Debug, Clone)]
pub struct BodyMap {
    /// Most inferior and most superior lung slice centre (mm, patient z).
    pub lung_bottom_mm: f64,
    pub lung_top_mm: f64,
    /// Patient x (mm) of the body midline.
    pub midline_x_mm: f64,
    lung: ndarray::Array3<bool>,
}

/// A slice counts as holding lung when its enclosed low-uptake area is at least this share of
/// its body area; the lungs are the longest run of such slices.
const LUNG_SLICE_SHARE: f64 = 0.10;
/// Lung voxels: below this fraction of the whole body's median uptake.
const LUNG_FRACTION: f32 = 0.5;

impl BodyMap {
    /// Locates the lungs from the PET volume; `None` when no slice holds an enclosed
    /// low-uptake area (a study without lungs in the field of view, or one too coarse to see
    /// them), in which case no region can be checked.
    pub fn from_pet(suv: &Volume, body_threshold: f64, midline_x_mm: f64) -> Option<BodyMap> {
        let (nz, ny, nx) = suv.data.dim();
        let mut lung = ndarray::Array3::from_elem((nz, ny, nx), false);
        let low = body_median(suv, body_threshold as f32)? * LUNG_FRACTION;
        let mut lung_slices = Vec::new();
        for z in 0..nz {
            let plane = suv.data.index_axis(ndarray::Axis(0), z);
            let (mask, body) = lung_of_slice(plane, body_threshold as f32, low);
            let area = mask.iter().filter(|&&m| m).count();
            if body > 0 && area as f64 >= LUNG_SLICE_SHARE * body as f64 {
                lung_slices.push(z);
                lung.index_axis_mut(ndarray::Axis(0), z).assign(&mask);
            }
        }
        let z_mm = |z: usize| suv.geometry.index_to_mm([z as f64, 0.0, 0.0])[2];
        let (first, last) = longest_run(&lung_slices)?;
        // Lung voxels outside the chest's run (bowel gas, noise) are not lung.
        for z in (0..nz).filter(|z| !(first..=last).contains(z)) {
            lung.index_axis_mut(ndarray::Axis(0), z).fill(false);
        }
        let (a, b) = (z_mm(first), z_mm(last));
        Some(BodyMap {
            lung_bottom_mm: a.min(b),
            lung_top_mm: a.max(b),
            midline_x_mm,
            lung,
        })
    }

    fn height(&self) -> f64 {
        (self.lung_top_mm - self.lung_bottom_mm).max(1.0)
    }

    /// Whether the voxel `[z, y, x]` at patient position `mm` can lie in `region`.
    pub fn admits(&self, region: Region, voxel: [usize; 3], mm: [f64; 3]) -> bool {
        let (b, t, h) = (self.lung_bottom_mm, self.lung_top_mm, self.height());
        let z = mm[2];
        match region {
            Region::Neck => z > t - 0.05 * h,
            Region::Chest => (b - 0.1 * h..=t + 0.1 * h).contains(&z),
            Region::Lung => self.in_lung(voxel),
            Region::Liver => {
                (b - 1.2 * h..=b + 0.35 * h).contains(&z)
                    && mm[0] < self.midline_x_mm
                    && !self.in_lung(voxel)
            }
            Region::Abdomen => (b - 1.3 * h..=b + 0.1 * h).contains(&z),
            Region::Pelvis => z < b - 0.6 * h,
        }
    }

    /// At least a fifth of the 7×7 window around `[z, y, x]` on its slice is lung.
    fn in_lung(&self, [z, y, x]: [usize; 3]) -> bool {
        let (nz, ny, nx) = self.lung.dim();
        if z >= nz {
            return false;
        }
        let (y0, y1) = (y.saturating_sub(3), (y + 4).min(ny));
        let (x0, x1) = (x.saturating_sub(3), (x + 4).min(nx));
        let mut n = 0;
        let mut hits = 0;
        for yy in y0..y1 {
            for xx in x0..x1 {
                n += 1;
                hits += usize::from(self.lung[[z, yy, xx]]);
            }
        }
        n > 0 && hits * 5 >= n
    }
}

/// First and last index of the longest run of consecutive values in sorted `zs`.
fn longest_run(zs: &[usize]) -> Option<(usize, usize)> {
    let mut best: Option<(usize, usize)> = None;
    let mut start = *zs.first()?;
    for w in zs.windows(2) {
        if w[1] != w[0] + 1 {
            start = w[1];
        }
        let len = |r: (usize, usize)| r.1 - r.0;
        if best.is_none_or(|b| len((start, w[1])) > len(b)) {
            best = Some((start, w[1]));
        }
    }
    best.or(Some((start, start)))
}

/// The median uptake of the body (voxels above `body_threshold`), `None` without any.
fn body_median(suv: &Volume, body_threshold: f32) -> Option<f32> {
    let mut body: Vec<f32> = suv
        .data
        .iter()
        .copied()
        .filter(|&v| v > body_threshold)
        .collect();
    if body.is_empty() {
        return None;
    }
    let mid = body.len() / 2;
    Some(*body.select_nth_unstable_by(mid, |a, b| a.total_cmp(b)).1)
}

/// The enclosed low-uptake voxels of one axial slice and the slice's body voxel count.
/// Outside air is what a 4-connected flood from the slice's border reaches through voxels at
/// or below `body_threshold`; lung is every other voxel below `low`.
fn lung_of_slice(
    plane: ArrayView2<f32>,
    body_threshold: f32,
    low: f32,
) -> (ndarray::Array2<bool>, usize) {
    let (ny, nx) = plane.dim();
    let body = plane.iter().filter(|&&v| v > body_threshold).count();
    let mut lung = ndarray::Array2::from_elem((ny, nx), false);
    if body == 0 {
        return (lung, 0);
    }
    let mut outside = ndarray::Array2::from_elem((ny, nx), false);
    let mut stack: Vec<(usize, usize)> = Vec::new();
    let push = |y: usize, x: usize, outside: &mut ndarray::Array2<bool>, stack: &mut Vec<_>| {
        if !outside[[y, x]] && plane[[y, x]] <= body_threshold {
            outside[[y, x]] = true;
            stack.push((y, x));
        }
    };
    for x in 0..nx {
        push(0, x, &mut outside, &mut stack);
        push(ny - 1, x, &mut outside, &mut stack);
    }
    for y in 0..ny {
        push(y, 0, &mut outside, &mut stack);
        push(y, nx - 1, &mut outside, &mut stack);
    }
    while let Some((y, x)) = stack.pop() {
        if y > 0 {
            push(y - 1, x, &mut outside, &mut stack);
        }
        if y + 1 < ny {
            push(y + 1, x, &mut outside, &mut stack);
        }
        if x > 0 {
            push(y, x - 1, &mut outside, &mut stack);
        }
        if x + 1 < nx {
            push(y, x + 1, &mut outside, &mut stack);
        }
    }
    for ((y, x), v) in plane.indexed_iter() {
        lung[[y, x]] = !outside[[y, x]] && *v < low;
    }
    (lung, body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::volume::Geometry;

    #[test]
    fn sentences_name_one_region_or_none() {
        let r = sentence_region;
        assert_eq!(
            r("Right lower lobe nodule, SUVmax 5.1."),
            Some(Region::Lung)
        );
        assert_eq!(
            r("Segment VII hepatic lesion, SUVmax 6.0."),
            Some(Region::Liver)
        );
        assert_eq!(
            r("Left para-aortic node, SUVmax 4.2."),
            Some(Region::Abdomen)
        );
        assert_eq!(
            r("Right external iliac node (SUVmax 7.7)."),
            Some(Region::Pelvis)
        );
        assert_eq!(
            r("Right hilar lymph node, SUVmax 7.2."),
            Some(Region::Chest)
        );
        assert_eq!(
            r("Left supraclavicular node, SUVmax 3.3."),
            Some(Region::Neck)
        );
        // Two regions of one level, or none: the text does not decide.
        assert_eq!(r("Axillary and inguinal nodes, SUVmax 3.1."), None);
        assert_eq!(r("Focal uptake, SUVmax 5.0."), None);
        assert_eq!(r("Lung and liver lesions, SUVmax 5.0."), None);
        assert_eq!(
            r("Right hepatic lobe lesion, SUVmax 5.0."),
            Some(Region::Liver)
        );
    }

    /// A 40-slice torso, 32×32 at 10 mm: body SUV 1 inside a disc; two lungs (SUV 0.3,
    /// enclosed) on slices 10..=24; z index 0 most superior (slice_dir −z).
    fn torso() -> Volume {
        let (nz, ny, nx) = (40, 32, 32);
        let data = ndarray::Array3::from_shape_fn((nz, ny, nx), |(z, y, x)| {
            let (dy, dx) = (y as f64 - 15.5, x as f64 - 15.5);
            if dy * dy + dx * dx > 14.0 * 14.0 {
                return 0.0;
            }
            let lung_x = (5..=11).contains(&x) || (20..=26).contains(&x);
            if (10..=24).contains(&z) && (8..=22).contains(&y) && lung_x {
                0.3
            } else {
                1.0
            }
        });
        let geometry = Geometry {
            dims: [nz, ny, nx],
            origin: [-155.0, -155.0, 0.0],
            spacing: [10.0, 10.0, 10.0],
            row_dir: [1.0, 0.0, 0.0],
            col_dir: [0.0, 1.0, 0.0],
            slice_dir: [0.0, 0.0, -1.0],
        };
        Volume { data, geometry }
    }

    #[test]
    fn lungs_and_bands_come_from_the_study() {
        let v = torso();
        let map = BodyMap::from_pet(&v, 0.1, 0.0).expect("lungs found");
        // Slices 10..=24 at z = −100 … −240 mm.
        assert_eq!((map.lung_top_mm, map.lung_bottom_mm), (-100.0, -240.0));
        let at = |z: usize, y: usize, x: usize| {
            (
                [z, y, x],
                v.geometry.index_to_mm([z as f64, y as f64, x as f64]),
            )
        };
        let (vx, mm) = at(15, 15, 8);
        assert!(map.admits(Region::Lung, vx, mm), "inside the right lung");
        assert!(map.admits(Region::Chest, vx, mm));
        assert!(!map.admits(Region::Pelvis, vx, mm));
        let (vx, mm) = at(15, 15, 16);
        assert!(
            !map.admits(Region::Lung, vx, mm),
            "mediastinum between the lungs"
        );
        // Just below the lung bases on the patient's right (x < midline 0): liver.
        let (vx, mm) = at(28, 15, 8);
        assert!(map.admits(Region::Liver, vx, mm));
        assert!(!map.admits(Region::Lung, vx, mm));
        let (vx, mm) = at(28, 15, 24);
        assert!(
            !map.admits(Region::Liver, vx, mm),
            "the patient's left is not the liver"
        );
        // The most inferior slice (−390 mm) is pelvis, not chest; the top is neck.
        let (vx, mm) = at(39, 15, 16);
        assert!(map.admits(Region::Pelvis, vx, mm) && !map.admits(Region::Chest, vx, mm));
        let (vx, mm) = at(2, 15, 16);
        assert!(map.admits(Region::Neck, vx, mm) && !map.admits(Region::Abdomen, vx, mm));
    }

    #[test]
    fn no_lungs_no_map() {
        let mut v = torso();
        v.data.mapv_inplace(|s| if s > 0.0 { 1.0 } else { 0.0 });
        assert!(BodyMap::from_pet(&v, 0.1, 0.0).is_none());
    }
}
