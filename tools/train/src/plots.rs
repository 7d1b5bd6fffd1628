//! The evaluation report's PNG plots as small pure functions (data → RGB raster), with no text
//! in the pictures (no font): report.md carries the legend of each colour. Training curves from
//! loss.csv, F1 by group for the three methods, and a coronal MIP of the PET model input with
//! the truth and predicted outlines.

use ndarray::{Array2, ArrayView3, Axis};

/// Train loss (moving average), and model (text) bars.
pub const BLUE: [u8; 3] = [31, 119, 180];
/// Validation loss, and vision-only bars.
pub const ORANGE: [u8; 3] = [255, 127, 14];
/// Hottest-component bars.
pub const GREY: [u8; 3] = [127, 127, 127];
/// Overlay: truth outline.
pub const GREEN: [u8; 3] = [0, 200, 0];
/// Overlay: predicted outline.
pub const RED: [u8; 3] = [230, 0, 0];
/// Overlay: where both outlines fall on the same pixel.
pub const YELLOW: [u8; 3] = [255, 220, 0];
/// Per method, in `evaluate::METHODS` order.
pub const METHOD_COLOURS: [[u8; 3]; 3] = [BLUE, ORANGE, GREY];
const WHITE: [u8; 3] = [255, 255, 255];
const BLACK: [u8; 3] = [0, 0, 0];
const GRID: [u8; 3] = [225, 225, 225];
/// Blank border around curves and bars.
pub const MARGIN: usize = 10;

#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    #[error("loss.csv: {0}")]
    Csv(String),
    #[error("PNG encoding: {0}")]
    Png(#[from] png::EncodingError),
}

/// An 8-bit RGB raster, row major.
#[derive(Debug, Clone, PartialEq)]
pub struct Rgb {
    pub width: usize,
    pub height: usize,
    pub px: Vec<u8>,
}

impl Rgb {
    pub fn new(width: usize, height: usize, fill: [u8; 3]) -> Self {
        Rgb {
            width,
            height,
            px: fill.repeat(width * height),
        }
    }

    /// The colour at (x, y); black outside (tests only read inside).
    pub fn get(&self, x: usize, y: usize) -> [u8; 3] {
        let i = 3 * (y * self.width + x);
        match self.px.get(i..i + 3) {
            Some(p) => [p[0], p[1], p[2]],
            None => BLACK,
        }
    }

    /// Sets (x, y); off-raster points are ignored (clipping).
    pub fn set(&mut self, x: i64, y: i64, c: [u8; 3]) {
        if x < 0 || y < 0 || x as usize >= self.width || y as usize >= self.height {
            return;
        }
        let i = 3 * (y as usize * self.width + x as usize);
        self.px[i..i + 3].copy_from_slice(&c);
    }

    fn rect(&mut self, x0: usize, y0: usize, x1: usize, y1: usize, c: [u8; 3]) {
        for y in y0..y1 {
            for x in x0..x1 {
                self.set(x as i64, y as i64, c);
            }
        }
    }

    /// A straight line (Bresenham), both ends included.
    fn line(&mut self, (x0, y0): (i64, i64), (x1, y1): (i64, i64), c: [u8; 3]) {
        let (dx, dy) = ((x1 - x0).abs(), -(y1 - y0).abs());
        let (sx, sy) = (if x0 < x1 { 1 } else { -1 }, if y0 < y1 { 1 } else { -1 });
        let (mut x, mut y, mut err) = (x0, y0, dx + dy);
        loop {
            self.set(x, y, c);
            if x == x1 && y == y1 {
                return;
            }
            let e2 = 2 * err;
            if e2 >= dy {
                err += dy;
                x += sx;
            }
            if e2 <= dx {
                err += dx;
                y += sy;
            }
        }
    }

    /// PNG file bytes.
    pub fn to_png(&self) -> Result<Vec<u8>, PlotError> {
        let mut out = Vec::new();
        let mut enc = png::Encoder::new(&mut out, self.width as u32, self.height as u32);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut w = enc.write_header()?;
        w.write_image_data(&self.px)?;
        w.finish()?;
        Ok(out)
    }
}

/// One row of loss.csv.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LossRow {
    pub step: f64,
    pub loss: f64,
    pub val_loss: Option<f64>,
}

/// Parses the trainer's loss.csv (columns found by name: step, loss, val_loss; an empty
/// val_loss means no validation at that step).
pub fn parse_loss_csv(text: &str) -> Result<Vec<LossRow>, PlotError> {
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header: Vec<&str> = lines
        .next()
        .ok_or_else(|| PlotError::Csv("empty".to_owned()))?
        .split(',')
        .map(str::trim)
        .collect();
    let col = |name: &str| {
        header
            .iter()
            .position(|h| *h == name)
            .ok_or_else(|| PlotError::Csv(format!("no column {name} in {header:?}")))
    };
    let (s, l, v) = (col("step")?, col("loss")?, col("val_loss")?);
    lines
        .enumerate()
        .map(|(i, line)| {
            let f: Vec<&str> = line.split(',').map(str::trim).collect();
            let num = |k: usize| f.get(k).and_then(|t| t.parse::<f64>().ok());
            let bad = || PlotError::Csv(format!("line {}: {line}", i + 2));
            Ok(LossRow {
                step: num(s).ok_or_else(bad)?,
                loss: num(l).ok_or_else(bad)?,
                val_loss: num(v),
            })
        })
        .collect()
}

/// Trailing moving average over `window` values (shorter at the start).
pub fn moving_average(v: &[f64], window: usize) -> Vec<f64> {
    let window = window.max(1);
    let mut sum = 0.0;
    v.iter()
        .enumerate()
        .map(|(i, &x)| {
            sum += x;
            if i >= window {
                sum -= v[i - window];
            }
            sum / (i + 1).min(window) as f64
        })
        .collect()
}

/// Training curves on a `width`×`height` raster: the train loss smoothed over `window` steps
/// (blue line) and the validation loss (orange line with 3×3 dots). x: first to last step;
/// y: 0 at the bottom axis to the largest plotted value at the top of the plot area; light
/// grid lines at quarters of that value.
pub fn curves(rows: &[LossRow], window: usize, width: usize, height: usize) -> Rgb {
    let mut img = Rgb::new(width, height, WHITE);
    let (pw, ph) = (
        width.saturating_sub(2 * MARGIN),
        height.saturating_sub(2 * MARGIN),
    );
    if rows.is_empty() || pw < 2 || ph < 2 {
        return img;
    }
    let losses: Vec<f64> = rows.iter().map(|r| r.loss).collect();
    let smooth = moving_average(&losses, window);
    let vals: Vec<(f64, f64)> = rows
        .iter()
        .filter_map(|r| r.val_loss.map(|v| (r.step, v)))
        .collect();
    let top = smooth
        .iter()
        .copied()
        .chain(vals.iter().map(|v| v.1))
        .fold(0.0f64, f64::max);
    let top = if top > 0.0 { top } else { 1.0 };
    let (s0, s1) = (rows[0].step, rows[rows.len() - 1].step);
    let span = if s1 > s0 { s1 - s0 } else { 1.0 };
    let px = |step: f64, v: f64| {
        let x = MARGIN as f64 + (step - s0) / span * (pw - 1) as f64;
        let y = MARGIN as f64 + (1.0 - (v / top).clamp(0.0, 1.0)) * (ph - 1) as f64;
        (x.round() as i64, y.round() as i64)
    };
    for q in 1..=4 {
        let (_, y) = px(s0, top * f64::from(q) / 4.0);
        img.line((MARGIN as i64, y), ((MARGIN + pw - 1) as i64, y), GRID);
    }
    let bottom = (MARGIN + ph) as i64;
    img.line(
        (MARGIN as i64 - 1, MARGIN as i64),
        (MARGIN as i64 - 1, bottom),
        BLACK,
    );
    img.line(
        (MARGIN as i64 - 1, bottom),
        ((MARGIN + pw) as i64, bottom),
        BLACK,
    );
    let train: Vec<(i64, i64)> = rows
        .iter()
        .zip(&smooth)
        .map(|(r, &v)| px(r.step, v))
        .collect();
    polyline(&mut img, &train, BLUE);
    let val: Vec<(i64, i64)> = vals.iter().map(|&(s, v)| px(s, v)).collect();
    polyline(&mut img, &val, ORANGE);
    for &(x, y) in &val {
        for d in [
            (-1, -1),
            (-1, 0),
            (-1, 1),
            (0, -1),
            (0, 1),
            (1, -1),
            (1, 0),
            (1, 1),
        ] {
            img.set(x + d.0, y + d.1, ORANGE);
        }
    }
    img
}

fn polyline(img: &mut Rgb, pts: &[(i64, i64)], c: [u8; 3]) {
    if let Some(&p) = pts.first() {
        img.set(p.0, p.1, c);
    }
    for w in pts.windows(2) {
        img.line(w[0], w[1], c);
    }
}

/// F1 by group: per group a cluster of three bars (`METHOD_COLOURS`), each `bar` pixels wide,
/// clusters one bar apart, in the order given; a bar's height is F1 × the plot height
/// (`height` − 2·MARGIN), from the bottom axis. Light grid lines at F1 0.25, 0.5, 0.75, 1.
pub fn f1_bars(groups: &[(String, [f64; 3])], bar: usize, height: usize) -> Rgb {
    let width = 2 * MARGIN + groups.len() * 4 * bar;
    let mut img = Rgb::new(width, height, WHITE);
    let ph = height.saturating_sub(2 * MARGIN);
    let bottom = MARGIN + ph; // first row below the plot area
    for q in 1..=4 {
        let y = bottom - (ph * q).div_ceil(4);
        img.line(
            (MARGIN as i64, y as i64),
            ((width - MARGIN) as i64, y as i64),
            GRID,
        );
    }
    for (g, (_, f1)) in groups.iter().enumerate() {
        for (m, &v) in f1.iter().enumerate() {
            let h = (v.clamp(0.0, 1.0) * ph as f64).round() as usize;
            let x0 = MARGIN + g * 4 * bar + m * bar;
            img.rect(x0, bottom - h, x0 + bar, bottom, METHOD_COLOURS[m]);
        }
    }
    img.line(
        (MARGIN as i64, bottom as i64),
        ((width - MARGIN) as i64, bottom as i64),
        BLACK,
    );
    img
}

/// Coronal MIP of the PET model input `pet` `[Z, Y, X]` (0–1, drawn inverted: hot = dark), each
/// voxel a `scale`×`scale` block, top row = last slice (head up when the slices run feet → head),
/// with the outlines (2 pixels thick, inside the mask's projection) of `truth` in green, `pred`
/// in red and yellow where both fall.
pub fn overlay(
    pet: ArrayView3<f32>,
    truth: ArrayView3<bool>,
    pred: ArrayView3<bool>,
    scale: usize,
) -> Rgb {
    let (z, _, x) = pet.dim();
    let scale = scale.max(1);
    let mip = pet.fold_axis(Axis(1), 0.0f32, |a, &b| a.max(b));
    let up = |m: &ArrayView3<bool>| -> Array2<bool> {
        let p = m.fold_axis(Axis(1), false, |a, &b| *a || b);
        Array2::from_shape_fn((z * scale, x * scale), |(r, c)| {
            p.get([z - 1 - r / scale, c / scale])
                .copied()
                .unwrap_or(false)
        })
    };
    let (t, p) = (outline(&up(&truth), 2), outline(&up(&pred), 2));
    let mut img = Rgb::new(x * scale, z * scale, WHITE);
    for r in 0..z * scale {
        for c in 0..x * scale {
            let v = mip[[z - 1 - r / scale, c / scale]].clamp(0.0, 1.0);
            let g = 255 - (v * 255.0).round() as u8;
            let colour = match (t[[r, c]], p[[r, c]]) {
                (true, true) => YELLOW,
                (true, false) => GREEN,
                (false, true) => RED,
                (false, false) => [g, g, g],
            };
            img.set(c as i64, r as i64, colour);
        }
    }
    img
}

/// Pixels of `m` within `thick` pixels (Chebyshev) of a pixel outside `m` or of the border.
fn outline(m: &Array2<bool>, thick: usize) -> Array2<bool> {
    let (h, w) = m.dim();
    let t = thick as i64;
    Array2::from_shape_fn((h, w), |(r, c)| {
        m[[r, c]]
            && (-t..=t).any(|dr| {
                (-t..=t).any(|dc| {
                    let (rr, cc) = (r as i64 + dr, c as i64 + dc);
                    rr < 0
                        || cc < 0
                        || rr >= h as i64
                        || cc >= w as i64
                        || !m[[rr as usize, cc as usize]]
                })
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array3;

    #[test]
    fn csv_columns_are_found_by_name_and_empty_val_is_none() {
        let rows = parse_loss_csv(
            "step,loss,dice_loss,ce,lr,sec_per_step,val_loss\n1,0.5,0.4,0.1,0.1,2.0,\n2,0.25,0,0,0,1,0.3\n",
        )
        .expect("csv");
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].val_loss, None);
        assert_eq!(
            (rows[1].step, rows[1].loss, rows[1].val_loss),
            (2.0, 0.25, Some(0.3))
        );
        assert!(
            parse_loss_csv("step,loss\n1,2\n").is_err(),
            "no val_loss column"
        );
    }

    #[test]
    fn moving_average_is_trailing() {
        assert_eq!(
            moving_average(&[2.0, 4.0, 6.0, 8.0], 2),
            [2.0, 3.0, 5.0, 7.0]
        );
    }

    #[test]
    fn curves_put_a_constant_loss_on_the_top_row_and_val_at_half_height() {
        // 200×101: plot area x 10..190, y 10..91 (81 rows, so 0.5 of the top is row 10 + 40).
        let rows: Vec<LossRow> = (1..=100)
            .map(|s| LossRow {
                step: f64::from(s),
                loss: 1.0,
                val_loss: (s % 50 == 0).then_some(0.5),
            })
            .collect();
        let img = curves(&rows, 10, 200, 101);
        assert_eq!((img.width, img.height), (200, 101));
        assert_eq!(img.get(100, 10), BLUE, "train at the top");
        assert_eq!(img.get(189, 50), ORANGE, "last val point at half height");
        assert_eq!(img.get(189, 52), WHITE, "nothing below the val dot");
        assert_eq!(img.get(100, 91), BLACK, "x axis");
    }

    #[test]
    fn bars_have_heights_in_proportion_to_f1_and_fixed_colours() {
        // Plot height 100 − 20 = 80: F1 1 → 80 rows, 0.5 → 40 rows, 0 → none.
        let img = f1_bars(&[("g".to_owned(), [1.0, 0.5, 0.0])], 5, 100);
        assert_eq!((img.width, img.height), (2 * MARGIN + 20, 100));
        let column = |x: usize, c: [u8; 3]| (0..100).filter(|&y| img.get(x, y) == c).count();
        assert_eq!(column(MARGIN + 2, BLUE), 80);
        assert_eq!(column(MARGIN + 7, ORANGE), 40);
        assert_eq!(
            img.get(MARGIN + 7, 89),
            ORANGE,
            "bars stand on the axis row 90"
        );
        assert_eq!(column(MARGIN + 12, GREY), 0);
    }

    #[test]
    fn overlay_outlines_truth_and_prediction_in_their_colours() {
        // 4 slices × 3 rows × 6 columns; a hot voxel column at x = 1, truth there, pred at x = 4.
        let mut pet = Array3::<f32>::zeros((4, 3, 6));
        let mut truth = Array3::from_elem((4, 3, 6), false);
        let mut pred = Array3::from_elem((4, 3, 6), false);
        pet[[0, 1, 1]] = 1.0;
        truth[[0, 1, 1]] = true;
        pred[[3, 2, 4]] = true;
        pred[[3, 2, 5]] = true;
        let img = overlay(pet.view(), truth.view(), pred.view(), 8);
        assert_eq!((img.width, img.height), (48, 32));
        // Slice 0 is the bottom block (rows 24..32); the truth voxel is columns 8..16.
        assert_eq!(img.get(8, 24), GREEN, "outline corner");
        assert_eq!(img.get(12, 28), [0, 0, 0], "inside: hot PET drawn black");
        // Slice 3 is the top block; the prediction spans columns 32..48.
        assert_eq!(img.get(33, 1), RED);
        assert_eq!(
            img.get(40, 4),
            [255, 255, 255],
            "inside the prediction: cold PET"
        );
        assert_eq!(img.get(20, 16), [255, 255, 255], "background");
        let both = overlay(pet.view(), truth.view(), truth.view(), 8);
        assert_eq!(both.get(8, 24), YELLOW);
        let bytes = img.to_png().expect("png");
        assert_eq!(&bytes[1..4], b"PNG");
    }
}
