//! Golden tests of src/label/components.rs against scipy.ndimage.
//! Every expected value below was computed once with scipy 1.17.1 / numpy 2.4.6
//! (the mask is `np.random.default_rng(0).random((4, 6, 7)) < 0.22`; values are
//! `(np.arange(168).reshape(4, 6, 7) * 7919 % 101).astype(np.float32) / 10`) and pasted here.

use ndarray::Array3;
use petground::label::components::{
    Connectivity, component_stats, dilate_6, dilate_cube, label, outer_shell,
};

/// Parses rows of characters (`#`/`.` or base-36 digits) into a `[z, y, x]` array.
fn grid<T: Clone + Default>(rows: &[&str], nz: usize, f: impl Fn(char) -> T) -> Array3<T> {
    let ny = rows.len() / nz;
    let nx = rows[0].len();
    let mut out = Array3::from_elem((nz, ny, nx), T::default());
    for (r, row) in rows.iter().enumerate() {
        for (x, c) in row.chars().enumerate() {
            out[[r / ny, r % ny, x]] = f(c);
        }
    }
    out
}

fn mask(rows: &[&str], nz: usize) -> Array3<bool> {
    grid(rows, nz, |c| c == '#')
}

fn labels(rows: &[&str], nz: usize) -> Array3<u32> {
    grid(rows, nz, |c| c.to_digit(36).expect("base-36 label digit"))
}

fn values() -> Array3<f32> {
    Array3::from_shape_fn((4, 6, 7), |(z, y, x)| {
        let i = (z * 6 + y) * 7 + x;
        ((i * 7919) % 101) as f32 / 10.0
    })
}

const MASK: &[&str] = &[
    // z = 0
    "..##...", "....#.#", ".#....#", "#......", "....#..", ".......", // z = 1
    "......#", "....#.#", "...#.##", "...#..#", ".......", ".......", // z = 2
    "....#..", ".#...#.", ".......", "...#..#", ".#...#.", "#......", // z = 3
    "..#....", ".......", "...#..#", "...#.#.", "...#.#.", ".......",
];

/// verified with scipy.ndimage.label(mask, generate_binary_structure(3, 1)): 15 components.
const LABELS_SIX: &[&str] = &[
    // z = 0
    "0011000", "0000203", "0400003", "5000000", "0000600", "0000000", // z = 1
    "0000003", "0000203", "0007033", "0007003", "0000000", "0000000", // z = 2
    "0000800", "09000a0", "0000000", "0007003", "0b000c0", "d000000", // z = 3
    "00e0000", "0000000", "000700f", "00070c0", "00070c0", "0000000",
];

/// verified with scipy.ndimage.label(mask, generate_binary_structure(3, 2)): 6 components.
const LABELS_EIGHTEEN: &[&str] = &[
    // z = 0
    "0011000", "0000101", "0200001", "2000000", "0000300", "0000000", // z = 1
    "0000001", "0000101", "0001011", "0001001", "0000000", "0000000", // z = 2
    "0000100", "0400010", "0000000", "0001001", "0500010", "5000000", // z = 3
    "0060000", "0000000", "0001001", "0001010", "0001010", "0000000",
];

/// verified with scipy.ndimage.label(mask, generate_binary_structure(3, 3)): 4 components.
const LABELS_TWENTY_SIX: &[&str] = &[
    // z = 0
    "0011000", "0000101", "0200001", "2000000", "0000100", "0000000", // z = 1
    "0000001", "0000101", "0001011", "0001001", "0000000", "0000000", // z = 2
    "0000100", "0300010", "0000000", "0001001", "0400010", "4000000", // z = 3
    "0030000", "0000000", "0001001", "0001010", "0001010", "0000000",
];

/// verified with scipy.ndimage.binary_dilation(s) (6-neighbourhood cross) of three voxels.
const DIL6: &[&str] = &[
    // z = 0
    ".....##", "......#", "...#...", ".......", ".......", ".......", // z = 1
    "......#", "...#...", "..###..", "...#...", ".......", ".......", // z = 2
    ".......", ".......", "...#...", ".......", ".......", "#......", // z = 3
    ".......", ".......", ".......", ".......", "#......", "##.....",
];

#[test]
fn label_six_matches_scipy() {
    let (got, n) = label(mask(MASK, 4).view(), Connectivity::Six).expect("labels");
    assert_eq!(n, 15);
    assert_eq!(got, labels(LABELS_SIX, 4));
    // verified with scipy.ndimage.sum / maximum / maximum_position over the same labels.
    let stats = component_stats(got.view(), values().view(), n).expect("stats");
    let sizes: Vec<usize> = stats.iter().map(|s| s.voxels).collect();
    assert_eq!(sizes, vec![2, 2, 8, 1, 1, 1, 6, 1, 1, 1, 1, 3, 1, 1, 1]);
    let argmax: Vec<[usize; 3]> = stats.iter().map(|s| s.argmax).collect();
    assert_eq!(
        argmax,
        vec![
            [0, 0, 2],
            [1, 1, 4],
            [1, 2, 5],
            [0, 2, 1],
            [0, 3, 0],
            [0, 4, 4],
            [1, 2, 3],
            [2, 0, 4],
            [2, 1, 1],
            [2, 1, 5],
            [2, 4, 1],
            [3, 3, 5],
            [2, 5, 0],
            [3, 0, 2],
            [3, 2, 6]
        ]
    );
    let max = [
        8.2, 5.2, 7.7, 0.9, 5.3, 10.0, 9.6, 7.3, 3.5, 9.8, 8.8, 7.1, 3.1, 9.7, 2.7,
    ];
    let sum = [
        10.4, 9.9, 22.3, 0.9, 5.3, 10.0, 43.0, 7.3, 3.5, 9.8, 8.8, 17.6, 3.1, 9.7, 2.7,
    ];
    for (k, s) in stats.iter().enumerate() {
        assert!(
            (f64::from(s.max) - max[k]).abs() < 1e-6,
            "max of label {}",
            k + 1
        );
        assert!((s.sum - sum[k]).abs() < 1e-3, "sum of label {}", k + 1);
    }
}

#[test]
fn label_eighteen_matches_scipy() {
    let (got, n) = label(mask(MASK, 4).view(), Connectivity::Eighteen).expect("labels");
    assert_eq!(n, 6);
    assert_eq!(got, labels(LABELS_EIGHTEEN, 4));
    // verified with scipy.ndimage.sum / maximum / maximum_position over the same labels.
    let stats = component_stats(got.view(), values().view(), n).expect("stats");
    let sizes: Vec<usize> = stats.iter().map(|s| s.voxels).collect();
    assert_eq!(sizes, vec![24, 2, 1, 1, 2, 1]);
    let argmax: Vec<[usize; 3]> = stats.iter().map(|s| s.argmax).collect();
    assert_eq!(
        argmax,
        vec![
            [2, 1, 5],
            [0, 3, 0],
            [0, 4, 4],
            [2, 1, 1],
            [2, 4, 1],
            [3, 0, 2]
        ]
    );
    let max = [9.8, 5.3, 10.0, 3.5, 8.8, 9.7];
    let sum = [123.0, 6.2, 10.0, 3.5, 11.9, 9.7];
    for (k, s) in stats.iter().enumerate() {
        assert!(
            (f64::from(s.max) - max[k]).abs() < 1e-6,
            "max of label {}",
            k + 1
        );
        assert!((s.sum - sum[k]).abs() < 1e-3, "sum of label {}", k + 1);
    }
}

#[test]
fn label_twenty_six_matches_scipy() {
    let (got, n) = label(mask(MASK, 4).view(), Connectivity::TwentySix).expect("labels");
    assert_eq!(n, 4);
    assert_eq!(got, labels(LABELS_TWENTY_SIX, 4));
    // verified with scipy.ndimage.sum / maximum / maximum_position over the same labels.
    let stats = component_stats(got.view(), values().view(), n).expect("stats");
    let sizes: Vec<usize> = stats.iter().map(|s| s.voxels).collect();
    assert_eq!(sizes, vec![25, 2, 2, 2]);
    let argmax: Vec<[usize; 3]> = stats.iter().map(|s| s.argmax).collect();
    assert_eq!(argmax, vec![[0, 4, 4], [0, 3, 0], [3, 0, 2], [2, 4, 1]]);
    let max = [10.0, 5.3, 9.7, 8.8];
    let sum = [133.0, 6.2, 13.2, 11.9];
    for (k, s) in stats.iter().enumerate() {
        assert!(
            (f64::from(s.max) - max[k]).abs() < 1e-6,
            "max of label {}",
            k + 1
        );
        assert!((s.sum - sum[k]).abs() < 1e-3, "sum of label {}", k + 1);
    }
}

fn three_points() -> Array3<bool> {
    let mut s = Array3::from_elem((5, 9, 9), false);
    s[[2, 4, 4]] = true;
    s[[0, 0, 8]] = true;
    s[[4, 7, 1]] = true;
    s
}

/// Voxel count per z-slice.
fn per_z(a: &Array3<bool>) -> Vec<usize> {
    a.outer_iter()
        .map(|p| p.iter().filter(|&&v| v).count())
        .collect()
}

#[test]
fn cube_dilation_matches_scipy() {
    // verified with scipy.ndimage.binary_dilation(s, np.ones((3, 3, 3))): 53 voxels
    let d3 = dilate_cube(three_points().view(), 1);
    assert_eq!(per_z(&d3), vec![4, 13, 9, 18, 9]);
    assert!(d3[[0, 1, 7]] && d3[[1, 5, 5]] && d3[[3, 8, 0]] && !d3[[2, 4, 6]]);
    // verified with scipy.ndimage.binary_dilation(s, np.ones((7, 7, 7))): 309 voxels
    let d7 = dilate_cube(three_points().view(), 3);
    assert_eq!(per_z(&d7), vec![56, 65, 65, 65, 58]);
    // verified with d7 & ~scipy.ndimage.binary_erosion(d7, border_value=0): 198 voxels
    assert_eq!(per_z(&outer_shell(d7.view())), vec![56, 28, 28, 28, 58]);
}

#[test]
fn six_dilation_matches_scipy() {
    let mut s = Array3::from_elem((4, 6, 7), false);
    s[[1, 2, 3]] = true;
    s[[0, 0, 6]] = true;
    s[[3, 5, 0]] = true;
    assert_eq!(dilate_6(s.view()), mask(DIL6, 4));
}

#[test]
fn connectivity_sizes() {
    assert_eq!(Connectivity::Six.offsets().len(), 6);
    assert_eq!(Connectivity::Eighteen.offsets().len(), 18);
    assert_eq!(Connectivity::TwentySix.offsets().len(), 26);
}

#[test]
fn one_big_component_does_not_recurse() {
    // A 64x64x64 solid block would overflow a recursive fill's stack.
    let block = Array3::from_elem((64, 64, 64), true);
    let (l, n) = label(block.view(), Connectivity::TwentySix).expect("labels");
    assert_eq!(n, 1);
    assert!(l.iter().all(|&v| v == 1));
}
