//! Candidate matching (PAPER.md §3 steps 1–3): threshold the SUV volume at
//! `T0 = 0.617 + 0.316·S`, take 6-connected components, and keep those whose z-range contains the
//! reported slice and whose maximum is within 0.1 of S (rejecting components longer than 50 slices
//! when S < 5). *Ours*: the reported number is tried as PET InstanceNumber, then as a 1-based index
//! from the head, then from the feet, with a ±k slice window; the first rule that yields a match
//! decides. Only components that touch the window are flood-filled, which gives the same
//! components as labelling the whole volume at a fraction of the cost. When no component
//! matches under any rule, the local-maximum rule (`peaks`, ours) looks for the lesion's peak
//! on the same slices.

use std::fmt;

use super::LabelParams;
pub use super::candidate::{Candidate, FoundBy};
use super::components::{ComponentStats, Connectivity, Grid, flood};
use crate::volume::{Geometry, SliceRef};

/// Errors of candidate matching: only inconsistent inputs; "no match" is a result, not an error.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MatchError {
    #[error("matching: {slices} slice references for a volume of {nz} slices")]
    SliceCount { slices: usize, nz: usize },
    #[error("matching: SUV data has {got} voxels, geometry says {expected}")]
    DataSize { got: usize, expected: usize },
}

/// How the reported image number was turned into a z index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SliceRule {
    /// The PET InstanceNumber (0020,0013) of the slice equals the reported number.
    InstanceNumber,
    /// 1-based index counted from the most superior slice (the paper's `z = Nz − n`).
    IndexFromHead,
    /// 1-based index counted from the most inferior slice.
    IndexFromFeet,
    /// No image number: the SUVmax alone picked a unique component in the whole volume.
    SuvOnly,
}

impl fmt::Display for SliceRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SliceRule::InstanceNumber => "PET InstanceNumber",
            SliceRule::IndexFromHead => "index from head",
            SliceRule::IndexFromFeet => "index from feet",
            SliceRule::SuvOnly => "SUVmax only (no image number)",
        })
    }
}

/// What matching found.
#[derive(Debug, Clone, PartialEq)]
pub enum Match {
    Unique {
        candidate: Candidate,
        rule: SliceRule,
        /// The z indices (before the ±k window) the rule resolved the number to; empty for
        /// [`SliceRule::SuvOnly`].
        slices: Vec<usize>,
    },
    Ambiguous {
        candidates: Vec<Candidate>,
        rule: SliceRule,
        /// As for `Unique`: the z indices the rule resolved the number to.
        slices: Vec<usize>,
    },
    /// Nothing matched under any rule; `closest` is the component maximum nearest to S among the
    /// components examined (for the reason text).
    None {
        tried: Vec<(SliceRule, Vec<usize>)>,
        closest: Option<f64>,
    },
}

/// Candidate matching for SUVmax `s` and optional image number, over SUV data in C order.
pub fn find_candidates(
    data: &[f32],
    geometry: &Geometry,
    slices: &[SliceRef],
    s: f64,
    number: Option<u32>,
    params: &LabelParams,
) -> Result<Match, MatchError> {
    let grid = Grid::new(geometry.dims);
    if data.len() != grid.len() {
        return Err(MatchError::DataSize {
            got: data.len(),
            expected: grid.len(),
        });
    }
    if !slices.is_empty() && slices.len() != grid.dims[0] {
        return Err(MatchError::SliceCount {
            slices: slices.len(),
            nz: grid.dims[0],
        });
    }
    let mut finder = Finder::new(data, geometry, params.t0(s));
    let Some(n) = number else {
        let comps = finder.all();
        return Ok(
            decide(&finder, comps, s, params, SliceRule::SuvOnly, Vec::new()).unwrap_or(
                Match::None {
                    tried: vec![(SliceRule::SuvOnly, Vec::new())],
                    closest: finder.closest(s),
                },
            ),
        );
    };
    let mut tried: Vec<(SliceRule, Vec<usize>)> = Vec::new();
    for rule in [
        SliceRule::InstanceNumber,
        SliceRule::IndexFromHead,
        SliceRule::IndexFromFeet,
    ] {
        let zs = resolve(rule, n, slices, geometry);
        if zs.is_empty() || tried.iter().any(|(_, t)| *t == zs) {
            continue;
        }
        let comps = finder.touching(&zs, params.slice_tolerance as usize);
        if let Some(m) = decide(&finder, comps, s, params, rule, zs.clone()) {
            return Ok(m);
        }
        tried.push((rule, zs));
    }
    // No component: a lesion in hot background may still stand out as a peak (`peaks`). Not
    // where a component of maximum S was there and the span rule rejected it: that rejection
    // (a long low-uptake structure) stands.
    for (rule, zs) in &tried {
        let rejected_by_span = finder
            .touching(zs, params.slice_tolerance as usize)
            .into_iter()
            .any(|k| params.suv_matches(f64::from(finder.comps[k].max), s));
        if rejected_by_span {
            continue;
        }
        let mut found = super::peaks::peaks(data, geometry, s, zs, params);
        match found.len() {
            0 => continue,
            1 => {
                return Ok(Match::Unique {
                    candidate: found.remove(0),
                    rule: *rule,
                    slices: zs.clone(),
                });
            }
            _ => {
                return Ok(Match::Ambiguous {
                    candidates: found,
                    rule: *rule,
                    slices: zs.clone(),
                });
            }
        }
    }
    Ok(Match::None {
        tried,
        closest: finder.closest(s),
    })
}

/// The z indices a rule maps the reported number to (empty when it does not apply).
pub fn resolve(rule: SliceRule, n: u32, slices: &[SliceRef], geometry: &Geometry) -> Vec<usize> {
    let nz = geometry.dims[0];
    let n_usize = n as usize;
    // Head = the more superior end (larger patient z in LPS).
    let last = nz.saturating_sub(1) as f64;
    let head_is_last = geometry.index_to_mm([last, 0.0, 0.0])[2] > geometry.origin[2];
    let from_head = |k: usize| if head_is_last { nz - k } else { k - 1 };
    match rule {
        SliceRule::InstanceNumber => slices
            .iter()
            .enumerate()
            .filter(|(_, r)| {
                r.instance_number
                    .is_some_and(|i| i64::from(i) == i64::from(n))
            })
            .map(|(z, _)| z)
            .collect(),
        SliceRule::IndexFromHead if (1..=nz).contains(&n_usize) => vec![from_head(n_usize)],
        SliceRule::IndexFromFeet if (1..=nz).contains(&n_usize) => {
            vec![from_head(nz + 1 - n_usize)]
        }
        _ => Vec::new(),
    }
}

/// Keeps the components that pass the SUV and span tests; `None` when none does.
fn decide(
    finder: &Finder,
    comps: Vec<usize>,
    s: f64,
    params: &LabelParams,
    rule: SliceRule,
    slices: Vec<usize>,
) -> Option<Match> {
    let mut hits: Vec<Candidate> = comps
        .into_iter()
        .map(|k| &finder.comps[k])
        .filter(|c| params.suv_matches(f64::from(c.max), s))
        .filter(|c| !(c.z_max - c.z_min + 1 > params.max_span_slices && s < params.span_suv_limit))
        .map(|c| finder.candidate(c))
        .collect();
    match hits.len() {
        0 => None,
        1 => Some(Match::Unique {
            candidate: hits.remove(0),
            rule,
            slices,
        }),
        _ => Some(Match::Ambiguous {
            candidates: hits,
            rule,
            slices,
        }),
    }
}

/// Lazily discovered components of `data > t0`; each voxel is flood-filled at most once.
struct Finder<'a> {
    data: &'a [f32],
    grid: Grid,
    t0: f64,
    /// Component number + 1 per voxel (0 = not yet reached or below T0).
    owner: Vec<u32>,
    comps: Vec<ComponentStats>,
    offsets: Vec<[isize; 3]>,
    /// Only needed for the candidates' patient positions.
    geometry: &'a Geometry,
}

impl<'a> Finder<'a> {
    fn new(data: &'a [f32], geometry: &'a Geometry, t0: f64) -> Self {
        let grid = Grid::new(geometry.dims);
        Finder {
            data,
            grid,
            t0,
            // Zeroed allocation: pages never touched (most of the volume) cost nothing.
            owner: vec![0; grid.len()],
            comps: Vec::new(),
            offsets: Connectivity::Six.offsets(),
            geometry,
        }
    }

    /// Component index of the voxel, flood-filling its component on first contact.
    fn component_at(&mut self, i: usize) -> Option<usize> {
        if f64::from(self.data[i]) <= self.t0 {
            return None;
        }
        if self.owner[i] != 0 {
            return Some(self.owner[i] as usize - 1);
        }
        let id = self.comps.len() as u32 + 1;
        let (data, t0, owner) = (self.data, self.t0, &mut self.owner);
        owner[i] = id;
        let p = self.grid.unflat(i);
        let mut stats = ComponentStats::start(id, data[i], p);
        let grid = self.grid;
        let claim = |j: usize| {
            let free = owner[j] == 0 && f64::from(data[j]) > t0;
            if free {
                owner[j] = id;
            }
            free
        };
        flood(grid, i, &self.offsets, claim, |q| {
            stats.add(data[grid.flat(q)], q)
        });
        self.comps.push(stats);
        Some(id as usize - 1)
    }

    /// Components with a voxel on any slice within `tol` of the given z indices, in order of
    /// first contact.
    fn touching(&mut self, zs: &[usize], tol: usize) -> Vec<usize> {
        let nz = self.grid.dims[0];
        let plane = self.grid.dims[1] * self.grid.dims[2];
        let mut window: Vec<usize> = zs
            .iter()
            .flat_map(|&z| z.saturating_sub(tol)..=(z + tol).min(nz - 1))
            .collect();
        window.sort_unstable();
        window.dedup();
        let mut out = Vec::new();
        let mut last = None;
        for z in window {
            for i in z * plane..(z + 1) * plane {
                let k = self.component_at(i);
                // Neighbouring voxels mostly share a component: skip the list scan for those.
                if let Some(k) = k
                    && last != Some(k)
                    && !out.contains(&k)
                {
                    out.push(k);
                }
                last = k.or(last);
            }
        }
        out
    }

    /// Every component of the volume.
    fn all(&mut self) -> Vec<usize> {
        for i in 0..self.grid.len() {
            self.component_at(i);
        }
        (0..self.comps.len()).collect()
    }

    fn closest(&self, s: f64) -> Option<f64> {
        self.comps
            .iter()
            .map(|c| f64::from(c.max))
            .min_by(|a, b| (a - s).abs().total_cmp(&(b - s).abs()))
    }

    fn candidate(&self, c: &ComponentStats) -> Candidate {
        let [z, y, x] = c.argmax;
        let max_mm = self.geometry.index_to_mm([z as f64, y as f64, x as f64]);
        Candidate {
            max: f64::from(c.max),
            max_voxel: c.argmax,
            max_mm,
            z_range: [c.z_min, c.z_max],
            voxels: c.voxels,
            found_by: FoundBy::Component,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn geometry(slice_dir_z: f64) -> Geometry {
        Geometry {
            dims: [10, 4, 4],
            origin: [0.0, 0.0, 0.0],
            spacing: [4.0, 4.0, 3.0],
            row_dir: [1.0, 0.0, 0.0],
            col_dir: [0.0, 1.0, 0.0],
            slice_dir: [0.0, 0.0, slice_dir_z],
        }
    }

    fn refs(first: i32) -> Vec<SliceRef> {
        (0..10)
            .map(|z| SliceRef {
                sop_class_uid: String::new(),
                sop_instance_uid: format!("1.{z}"),
                instance_number: Some(first + z),
                frame: None,
            })
            .collect()
    }

    #[test]
    fn head_and_feet_follow_patient_z() {
        // slice_dir −z: z = 0 is the most superior slice.
        let g = geometry(-1.0);
        assert_eq!(resolve(SliceRule::IndexFromHead, 1, &[], &g), vec![0]);
        assert_eq!(resolve(SliceRule::IndexFromFeet, 1, &[], &g), vec![9]);
        // slice_dir +z: z = 9 is the most superior slice (the paper's z = Nz − n).
        let g = geometry(1.0);
        assert_eq!(resolve(SliceRule::IndexFromHead, 3, &[], &g), vec![7]);
        assert_eq!(resolve(SliceRule::IndexFromFeet, 3, &[], &g), vec![2]);
        assert!(resolve(SliceRule::IndexFromHead, 0, &[], &g).is_empty());
        assert!(resolve(SliceRule::IndexFromHead, 11, &[], &g).is_empty());
        assert_eq!(
            resolve(SliceRule::InstanceNumber, 105, &refs(100), &g),
            vec![5]
        );
        assert!(resolve(SliceRule::InstanceNumber, 5, &refs(100), &g).is_empty());
    }
}
