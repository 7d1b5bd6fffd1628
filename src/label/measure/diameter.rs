//! Largest axial diameter: per slice, the Feret (caliper) diameter of the union of the label's
//! pixel squares; the largest over slices. Only the outermost pixel of each row can touch the
//! convex hull of that union, so each row contributes the four corners of its leftmost and
//! rightmost pixel; the hull of those points (in corner-index space: the pixel grid is a linear
//! image of patient millimetres, so hull vertices stay hull vertices) then gives the diameter as
//! its longest vertex-to-vertex distance in mm.

use std::collections::BTreeMap;

/// Largest axial diameter (mm) of the label `voxels` (`[z, y, x]`) with in-plane pixel size
/// `pixel` = `[x, y]` mm. 0 for no voxels.
pub fn largest_axial_diameter_mm(voxels: &[[usize; 3]], pixel: [f64; 2]) -> f64 {
    // Per slice, per row: (leftmost x, rightmost x).
    let mut rows: BTreeMap<(usize, usize), (usize, usize)> = BTreeMap::new();
    for &[z, y, x] in voxels {
        rows.entry((z, y))
            .and_modify(|(lo, hi)| {
                *lo = (*lo).min(x);
                *hi = (*hi).max(x);
            })
            .or_insert((x, x));
    }
    let mut best = 0.0f64;
    let mut slice: Vec<(i64, i64)> = Vec::new();
    let mut current = None;
    let mut flush = |points: &mut Vec<(i64, i64)>| {
        best = best.max(hull_diameter(points, pixel));
        points.clear();
    };
    for (&(z, y), &(lo, hi)) in &rows {
        if current != Some(z) {
            flush(&mut slice);
            current = Some(z);
        }
        let (y, lo, hi) = (y as i64, lo as i64, hi as i64);
        // Corner (x, y) of pixel (x, y) is its top-left; the pixel spans [x, x+1] × [y, y+1].
        slice.extend([(lo, y), (lo, y + 1), (hi + 1, y), (hi + 1, y + 1)]);
    }
    flush(&mut slice);
    best
}

/// Longest distance (mm) between two of `points` (corner indices `(x, y)`), via their convex
/// hull (Andrew's monotone chain).
fn hull_diameter(points: &mut [(i64, i64)], pixel: [f64; 2]) -> f64 {
    points.sort_unstable();
    let hull = convex_hull(points);
    let mut best = 0.0f64;
    for (i, a) in hull.iter().enumerate() {
        for b in &hull[i + 1..] {
            let dx = (a.0 - b.0) as f64 * pixel[0];
            let dy = (a.1 - b.1) as f64 * pixel[1];
            best = best.max((dx * dx + dy * dy).sqrt());
        }
    }
    best
}

/// Convex hull vertices of sorted, possibly repeated points (collinear points dropped).
fn convex_hull(sorted: &[(i64, i64)]) -> Vec<(i64, i64)> {
    let mut lower = half_hull(sorted.iter().copied());
    let mut upper = half_hull(sorted.iter().rev().copied());
    // The last point of each chain is the first of the other.
    lower.pop();
    upper.pop();
    lower.extend(upper);
    lower
}

/// One chain of the monotone-chain hull: keeps only left turns.
fn half_hull(points: impl Iterator<Item = (i64, i64)>) -> Vec<(i64, i64)> {
    let cross = |o: (i64, i64), a: (i64, i64), b: (i64, i64)| {
        (a.0 - o.0) * (b.1 - o.1) - (a.1 - o.1) * (b.0 - o.0)
    };
    let mut h: Vec<(i64, i64)> = Vec::new();
    for p in points {
        while h.len() >= 2 && cross(h[h.len() - 2], h[h.len() - 1], p) <= 0 {
            h.pop();
        }
        h.push(p);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_pixel_is_its_diagonal() {
        let d = largest_axial_diameter_mm(&[[3, 4, 5]], [4.0, 4.0]);
        assert!((d - 32f64.sqrt()).abs() < 1e-12, "{d}");
        assert_eq!(largest_axial_diameter_mm(&[], [4.0, 4.0]), 0.0);
    }

    #[test]
    fn rectangles_and_slices() {
        // 3 × 2 pixels of 2 × 3 mm: the rectangle is 6 mm × 6 mm, diagonal √72.
        let v: Vec<[usize; 3]> = (0..3)
            .flat_map(|x| (0..2).map(move |y| [0, y, x]))
            .collect();
        let d = largest_axial_diameter_mm(&v, [2.0, 3.0]);
        assert!((d - 72f64.sqrt()).abs() < 1e-12, "{d}");
        // A long thin line on another slice wins; slices are never combined.
        let mut w = v.clone();
        w.extend((0..10).map(|x| [1, 0, x]));
        w.push([2, 9, 9]);
        let d = largest_axial_diameter_mm(&w, [2.0, 3.0]);
        assert!((d - (20f64.powi(2) + 9.0).sqrt()).abs() < 1e-12, "{d}");
    }

    #[test]
    fn hull_matches_brute_force_on_an_l_shape() {
        // An L of pixels plus a hole: brute force over every corner of every pixel.
        let v: Vec<[usize; 3]> = [
            (0, 0),
            (0, 1),
            (0, 2),
            (0, 3),
            (1, 0),
            (2, 0),
            (3, 0),
            (3, 3),
        ]
        .iter()
        .map(|&(y, x)| [0, y, x])
        .collect();
        let pixel = [1.5, 2.5];
        let corners: Vec<(f64, f64)> = v
            .iter()
            .flat_map(|&[_, y, x]| {
                [(0, 0), (0, 1), (1, 0), (1, 1)]
                    .map(|(dy, dx)| ((x + dx) as f64 * pixel[0], (y + dy) as f64 * pixel[1]))
            })
            .collect();
        let brute = corners
            .iter()
            .flat_map(|a| {
                corners
                    .iter()
                    .map(move |b| ((a.0 - b.0).powi(2) + (a.1 - b.1).powi(2)).sqrt())
            })
            .fold(0.0f64, f64::max);
        let d = largest_axial_diameter_mm(&v, pixel);
        assert!((d - brute).abs() < 1e-12, "{d} vs {brute}");
    }
}
