//! 3D connected components (6/18/26 connectivity, `u32` labels), per-component statistics and
//! binary dilation, over `[z, y, x]` arrays. Iterative (explicit stack), never recursive, so a
//! component as large as the volume cannot overflow the call stack. Matching and ITM build on the
//! seeded flood fill ([`flood`]) so they only visit the components they need.

use ndarray::{Array3, ArrayView3, Zip};

/// Errors of the component and dilation operations.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ComponentsError {
    #[error(
        "component statistics: label array {labels:?} and value array {values:?} differ in shape"
    )]
    ShapeMismatch {
        labels: [usize; 3],
        values: [usize; 3],
    },
    #[error("connected components: more than u32::MAX components")]
    TooManyComponents,
}

/// Neighbourhood used to decide which voxels touch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Connectivity {
    /// Faces only (scipy `generate_binary_structure(3, 1)`).
    Six,
    /// Faces and edges: the 3×3×3 cube minus its centre and 8 corners.
    Eighteen,
    /// The full 3×3×3 cube minus its centre.
    TwentySix,
}

impl Connectivity {
    /// Neighbour offsets `[dz, dy, dx]`, in raster order.
    pub fn offsets(self) -> Vec<[isize; 3]> {
        let max_taxicab = match self {
            Connectivity::Six => 1,
            Connectivity::Eighteen => 2,
            Connectivity::TwentySix => 3,
        };
        let mut out = Vec::with_capacity(26);
        for dz in -1isize..=1 {
            for dy in -1isize..=1 {
                for dx in -1isize..=1 {
                    let t = dz.abs() + dy.abs() + dx.abs();
                    if t > 0 && t <= max_taxicab {
                        out.push([dz, dy, dx]);
                    }
                }
            }
        }
        out
    }
}

/// Shape of a `[z, y, x]` grid and the flat (C-order) indexing into it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grid {
    pub dims: [usize; 3],
}

impl Grid {
    pub fn new(dims: [usize; 3]) -> Self {
        Grid { dims }
    }

    pub fn len(&self) -> usize {
        self.dims.iter().product()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn flat(&self, [z, y, x]: [usize; 3]) -> usize {
        (z * self.dims[1] + y) * self.dims[2] + x
    }

    pub fn unflat(&self, i: usize) -> [usize; 3] {
        let plane = self.dims[1] * self.dims[2];
        [i / plane, (i % plane) / self.dims[2], i % self.dims[2]]
    }

    /// The voxel at `p + d`, or `None` outside the grid.
    pub fn step(&self, p: [usize; 3], d: [isize; 3]) -> Option<[usize; 3]> {
        let mut out = [0usize; 3];
        for a in 0..3 {
            let v = p[a].checked_add_signed(d[a])?;
            if v >= self.dims[a] {
                return None;
            }
            out[a] = v;
        }
        Some(out)
    }
}

/// Statistics of one component over a value volume.
#[derive(Debug, Clone, PartialEq)]
pub struct ComponentStats {
    /// Label number (1-based, raster order of each component's first voxel, as scipy).
    pub label: u32,
    pub voxels: usize,
    /// Maximum value and its voxel `[z, y, x]`; ties go to the first voxel in raster order
    /// (as `scipy.ndimage.maximum_position`).
    pub max: f32,
    pub argmax: [usize; 3],
    /// Inclusive z-range.
    pub z_min: usize,
    pub z_max: usize,
    pub sum: f64,
}

impl ComponentStats {
    pub(crate) fn start(label: u32, value: f32, p: [usize; 3]) -> Self {
        ComponentStats {
            label,
            voxels: 0,
            max: value,
            argmax: p,
            z_min: p[0],
            z_max: p[0],
            sum: 0.0,
        }
    }

    pub(crate) fn add(&mut self, value: f32, p: [usize; 3]) {
        self.voxels += 1;
        self.sum += f64::from(value);
        // Raster order of `[z, y, x]` is lexicographic order of the index arrays.
        if value > self.max || (value == self.max && p < self.argmax) {
            self.max = value;
            self.argmax = p;
        }
        self.z_min = self.z_min.min(p[0]);
        self.z_max = self.z_max.max(p[0]);
    }
}

/// Flood-fills from `seed` (already claimed by the caller): `claim(flat)` must return true
/// exactly once for each voxel that belongs to the component (and mark it so it returns false
/// afterwards); `visit([z, y, x])` is called once per voxel of the component, seed included.
pub fn flood(
    grid: Grid,
    seed: usize,
    offsets: &[[isize; 3]],
    mut claim: impl FnMut(usize) -> bool,
    mut visit: impl FnMut([usize; 3]),
) {
    let mut stack = vec![seed];
    while let Some(i) = stack.pop() {
        let p = grid.unflat(i);
        visit(p);
        for &d in offsets {
            if let Some(q) = grid.step(p, d) {
                let j = grid.flat(q);
                if claim(j) {
                    stack.push(j);
                }
            }
        }
    }
}

/// Connected components of a binary mask: labels `1..=count` numbered in raster order of each
/// component's first voxel (identical numbering to `scipy.ndimage.label`), 0 for background.
pub fn label(
    mask: ArrayView3<bool>,
    conn: Connectivity,
) -> Result<(Array3<u32>, u32), ComponentsError> {
    let (nz, ny, nx) = mask.dim();
    let grid = Grid::new([nz, ny, nx]);
    let m = mask.as_standard_layout();
    let fg: Vec<bool> = m.iter().copied().collect();
    let offsets = conn.offsets();
    let mut labels = vec![0u32; grid.len()];
    let mut count = 0u32;
    for i in 0..grid.len() {
        if !fg[i] || labels[i] != 0 {
            continue;
        }
        count = count
            .checked_add(1)
            .ok_or(ComponentsError::TooManyComponents)?;
        let id = count;
        labels[i] = id;
        let claim = |j: usize| {
            let free = fg[j] && labels[j] == 0;
            if free {
                labels[j] = id;
            }
            free
        };
        flood(grid, i, &offsets, claim, |_| {});
    }
    let arr = Array3::from_shape_vec((nz, ny, nx), labels)
        .expect("labels vector has exactly nz*ny*nx elements");
    Ok((arr, count))
}

/// Per-component statistics of `values` for labels `1..=count` (index `label - 1`); labels
/// above `count` are ignored.
pub fn component_stats(
    labels: ArrayView3<u32>,
    values: ArrayView3<f32>,
    count: u32,
) -> Result<Vec<ComponentStats>, ComponentsError> {
    if labels.dim() != values.dim() {
        let (a, b, c) = labels.dim();
        let (d, e, f) = values.dim();
        return Err(ComponentsError::ShapeMismatch {
            labels: [a, b, c],
            values: [d, e, f],
        });
    }
    let mut stats: Vec<Option<ComponentStats>> = vec![None; count as usize];
    for ((z, y, x), &l) in labels.indexed_iter() {
        if l == 0 || l > count {
            continue;
        }
        let v = values[[z, y, x]];
        let slot = &mut stats[(l - 1) as usize];
        slot.get_or_insert_with(|| ComponentStats::start(l, v, [z, y, x]))
            .add(v, [z, y, x]);
    }
    // A label number with no voxel yields an empty record rather than a gap.
    Ok(stats
        .into_iter()
        .enumerate()
        .map(|(k, s)| {
            s.unwrap_or(ComponentStats {
                label: k as u32 + 1,
                voxels: 0,
                max: f32::NAN,
                argmax: [0; 3],
                z_min: 0,
                z_max: 0,
                sum: 0.0,
            })
        })
        .collect())
}

/// Binary dilation by a `(2r+1)³` cube, clipped at the array border (scipy
/// `binary_dilation(mask, np.ones((2r+1,)*3))`). Separable: one running window per axis.
pub fn dilate_cube(mask: ArrayView3<bool>, radius: usize) -> Array3<bool> {
    let mut out = mask.to_owned();
    for axis in 0..3 {
        let mut next = Array3::from_elem(out.dim(), false);
        for (src, mut dst) in out
            .lanes(ndarray::Axis(axis))
            .into_iter()
            .zip(next.lanes_mut(ndarray::Axis(axis)))
        {
            let n = src.len();
            // Distance from each voxel back to the last `true` (forward pass) and ahead to the
            // next one (backward pass); a voxel is set when either is within the radius.
            let mut last: Option<usize> = None;
            for i in 0..n {
                if src[i] {
                    last = Some(i);
                }
                dst[i] = last.is_some_and(|l| i - l <= radius);
            }
            let mut next_true: Option<usize> = None;
            for i in (0..n).rev() {
                if src[i] {
                    next_true = Some(i);
                }
                if next_true.is_some_and(|l| l - i <= radius) {
                    dst[i] = true;
                }
            }
        }
        out = next;
    }
    out
}

/// Binary dilation by the 6-neighbourhood cross (scipy `binary_dilation(mask)`).
pub fn dilate_6(mask: ArrayView3<bool>) -> Array3<bool> {
    let (nz, ny, nx) = mask.dim();
    let grid = Grid::new([nz, ny, nx]);
    let offsets = Connectivity::Six.offsets();
    let mut out = mask.to_owned();
    for ((z, y, x), &v) in mask.indexed_iter() {
        if v {
            for &d in &offsets {
                if let Some(q) = grid.step([z, y, x], d) {
                    out[q] = true;
                }
            }
        }
    }
    out
}

/// Voxels of `mask` with a 6-neighbour outside it, where outside the array counts as outside
/// (scipy `mask & ~binary_erosion(mask, border_value=0)`).
pub fn outer_shell(mask: ArrayView3<bool>) -> Array3<bool> {
    let (nz, ny, nx) = mask.dim();
    let grid = Grid::new([nz, ny, nx]);
    let offsets = Connectivity::Six.offsets();
    let mut out = Array3::from_elem((nz, ny, nx), false);
    Zip::indexed(&mut out).for_each(|(z, y, x), o| {
        if mask[[z, y, x]] {
            *o = offsets
                .iter()
                .any(|&d| grid.step([z, y, x], d).is_none_or(|q| !mask[q]));
        }
    });
    out
}
