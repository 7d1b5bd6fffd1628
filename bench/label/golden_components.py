# Generates tests/label_components.rs: golden values of scipy.ndimage for our components module.
# Run: .venv-bench/bin/python bench/label/golden_components.py > tests/label_components.rs && cargo fmt
import numpy as np, scipy.ndimage as ndi
m = np.random.default_rng(0).random((4,6,7)) < 0.22
def rows(a, f):
    out=[]
    for z in range(a.shape[0]):
        out.append('    // z = %d' % z)
        for y in range(a.shape[1]):
            out.append('    "' + ''.join(f(v) for v in a[z,y]) + '",')
    return '\n'.join(out)
b36='0123456789abcdefghijklmnopqrstuvwxyz'
vals = (np.arange(m.size).reshape(m.shape) * 7919 % 101).astype(np.float32) / 10
header = '''//! Golden tests of src/label/components.rs against scipy.ndimage.
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
@MASK@
];
'''
print(header.replace('@MASK@', rows(m, lambda v: '#' if v else '.')))
names={1:'SIX',2:'EIGHTEEN',3:'TWENTY_SIX'}
for c in (1,2,3):
    lab, n = ndi.label(m, ndi.generate_binary_structure(3,c))
    print('/// verified with scipy.ndimage.label(mask, generate_binary_structure(3, %d)): %d components.' % (c,n))
    print('const LABELS_%s: &[&str] = &[\n%s\n];\n' % (names[c], rows(lab, lambda v: b36[v])))
s6 = np.zeros((4,6,7),bool); s6[1,2,3]=True; s6[0,0,6]=True; s6[3,5,0]=True
print('''/// verified with scipy.ndimage.binary_dilation(s) (6-neighbourhood cross) of three voxels.
const DIL6: &[&str] = &[
%s
];
''' % rows(ndi.binary_dilation(s6), lambda v: '#' if v else '.'))
for c,conn in ((1,'Six'),(2,'Eighteen'),(3,'TwentySix')):
    lab, n = ndi.label(m, ndi.generate_binary_structure(3,c))
    idx=list(range(1,n+1))
    sizes=ndi.sum(m, lab, idx).astype(int).tolist()
    mx=[round(float(x),1) for x in ndi.maximum(vals, lab, idx)]
    mp=[list(int(i) for i in t) for t in ndi.maximum_position(vals, lab, idx)]
    sm=[round(float(x),4) for x in ndi.sum(vals.astype(np.float64), lab, idx)]
    print('''#[test]
fn label_%s_matches_scipy() {
    let (got, n) = label(mask(MASK, 4).view(), Connectivity::%s).expect("labels");
    assert_eq!(n, %d);
    assert_eq!(got, labels(LABELS_%s, 4));
    // verified with scipy.ndimage.sum / maximum / maximum_position over the same labels.
    let stats = component_stats(got.view(), values().view(), n).expect("stats");
    let sizes: Vec<usize> = stats.iter().map(|s| s.voxels).collect();
    assert_eq!(sizes, vec!%s);
    let argmax: Vec<[usize; 3]> = stats.iter().map(|s| s.argmax).collect();
    assert_eq!(argmax, vec!%s);
    let max = %s;
    let sum = %s;
    for (k, s) in stats.iter().enumerate() {
        assert!((f64::from(s.max) - max[k]).abs() < 1e-6, "max of label {}", k + 1);
        assert!((s.sum - sum[k]).abs() < 1e-3, "sum of label {}", k + 1);
    }
}
''' % (conn.lower() if c==1 else ('eighteen' if c==2 else 'twenty_six'), conn, n, names[c], sizes, mp, '[' + ', '.join(repr(x) for x in mx) + ']', '[' + ', '.join(repr(x) for x in sm) + ']'))
s = np.zeros((5,9,9), bool); s[2,4,4]=True; s[0,0,8]=True; s[4,7,1]=True
d3 = ndi.binary_dilation(s, np.ones((3,3,3),bool))
d7 = ndi.binary_dilation(s, np.ones((7,7,7),bool))
sh = d7 & ~ndi.binary_erosion(d7, border_value=0)
print('''fn three_points() -> Array3<bool> {
    let mut s = Array3::from_elem((5, 9, 9), false);
    s[[2, 4, 4]] = true;
    s[[0, 0, 8]] = true;
    s[[4, 7, 1]] = true;
    s
}

/// Voxel count per z-slice.
fn per_z(a: &Array3<bool>) -> Vec<usize> {
    a.outer_iter().map(|p| p.iter().filter(|&&v| v).count()).collect()
}

#[test]
fn cube_dilation_matches_scipy() {
    // verified with scipy.ndimage.binary_dilation(s, np.ones((3, 3, 3))): @D3N voxels
    let d3 = dilate_cube(three_points().view(), 1);
    assert_eq!(per_z(&d3), vec!@D3Z);
    assert!(d3[[0, 1, 7]] && d3[[1, 5, 5]] && d3[[3, 8, 0]] && !d3[[2, 4, 6]]);
    // verified with scipy.ndimage.binary_dilation(s, np.ones((7, 7, 7))): @D7N voxels
    let d7 = dilate_cube(three_points().view(), 3);
    assert_eq!(per_z(&d7), vec!@D7Z);
    // verified with d7 & ~scipy.ndimage.binary_erosion(d7, border_value=0): @SHN voxels
    assert_eq!(per_z(&outer_shell(d7.view())), vec!@SHZ);
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
}'''.replace('@D3N', str(int(d3.sum()))).replace('@D3Z', str(d3.sum(axis=(1,2)).tolist())).replace('@D7N', str(int(d7.sum()))).replace('@D7Z', str(d7.sum(axis=(1,2)).tolist())).replace('@SHN', str(int(sh.sum()))).replace('@SHZ', str(sh.sum(axis=(1,2)).tolist())))
