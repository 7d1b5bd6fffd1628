//! The picture a physician glances at: coronal and sagittal PET maximum-intensity projections
//! (inverted grey, SUV 0–10), each grounded finding's segment outlined in its own colour and
//! numbered, and a legend (number, SUVmax, MTV, sentence) below. Pure: volume and masks in,
//! PNG bytes out.

use font8x8::UnicodeFonts;
use ndarray::{Array2, Array3, Axis};

use crate::volume::Volume;

/// One grounded finding to draw.
pub struct Overlay<'a> {
    pub mask: &'a Array3<bool>,
    pub legend: String,
}

const COLOURS: [[u8; 3]; 8] = [
    [230, 25, 75],
    [60, 180, 75],
    [0, 130, 200],
    [245, 130, 48],
    [145, 30, 180],
    [70, 200, 200],
    [240, 50, 230],
    [128, 128, 0],
];
const SUV_WINDOW: f32 = 10.0;
const GAP: usize = 8;

/// An RGB canvas.
struct Canvas {
    w: usize,
    h: usize,
    px: Vec<u8>,
}

impl Canvas {
    fn new(w: usize, h: usize) -> Self {
        Self {
            w,
            h,
            px: vec![255; w * h * 3],
        }
    }
    fn set(&mut self, x: usize, y: usize, c: [u8; 3]) {
        if x < self.w && y < self.h {
            let i = (y * self.w + x) * 3;
            self.px[i..i + 3].copy_from_slice(&c);
        }
    }
    fn text(&mut self, x: usize, y: usize, s: &str, c: [u8; 3]) {
        for (k, ch) in s.chars().enumerate() {
            let glyph = font8x8::BASIC_FONTS
                .get(ch)
                .or_else(|| font8x8::BASIC_FONTS.get('?'));
            let Some(glyph) = glyph else { continue };
            for (row, bits) in glyph.iter().enumerate() {
                for col in 0..8 {
                    if bits >> col & 1 == 1 {
                        self.set(x + k * 8 + col, y + row, c);
                    }
                }
            }
        }
    }
}

/// A 2D view: `img[row, col]` with row = z from the head down, and the pixel scale per axis.
struct View {
    img: Array2<f32>,
    masks: Vec<Array2<bool>>,
    scale: (usize, usize), // (column px, row px) per voxel
}

fn project(suv: &Volume, overlays: &[Overlay], axis: Axis, head_up: bool) -> View {
    let mip = suv.data.fold_axis(axis, f32::MIN, |a, &b| a.max(b));
    let masks: Vec<Array2<bool>> = overlays
        .iter()
        .map(|o| o.mask.fold_axis(axis, false, |a, &b| *a || b))
        .collect();
    // Rows run along z; flip so that the head is at the top.
    fn flip<T>(mut a: Array2<T>, head_up: bool) -> Array2<T> {
        if head_up {
            a.invert_axis(Axis(0));
        }
        a
    }
    let g = &suv.geometry;
    let col_mm = if axis == Axis(1) {
        g.spacing[0]
    } else {
        g.spacing[1]
    };
    let px = |mm: f64| ((mm / 2.0).round() as usize).clamp(1, 4);
    View {
        img: flip(mip, head_up),
        masks: masks.into_iter().map(|m| flip(m, head_up)).collect(),
        scale: (px(col_mm), px(g.spacing[2])),
    }
}

fn draw_view(c: &mut Canvas, v: &View, ox: usize, oy: usize) {
    let (sx, sy) = v.scale;
    let (rows, cols) = v.img.dim();
    for r in 0..rows {
        for q in 0..cols {
            let g = 255 - ((v.img[[r, q]] / SUV_WINDOW).clamp(0.0, 1.0) * 255.0) as u8;
            for dy in 0..sy {
                for dx in 0..sx {
                    c.set(ox + q * sx + dx, oy + r * sy + dy, [g, g, g]);
                }
            }
        }
    }
    for (k, m) in v.masks.iter().enumerate() {
        let colour = COLOURS[k % COLOURS.len()];
        let mut first: Option<(usize, usize)> = None;
        for r in 0..rows {
            for q in 0..cols {
                if !m[[r, q]] {
                    continue;
                }
                first.get_or_insert((r, q));
                let edge = [
                    (r.wrapping_sub(1), q),
                    (r + 1, q),
                    (r, q.wrapping_sub(1)),
                    (r, q + 1),
                ]
                .iter()
                .any(|&(a, b)| a >= rows || b >= cols || !m[[a, b]]);
                if edge {
                    for dy in 0..sy {
                        for dx in 0..sx {
                            c.set(ox + q * sx + dx, oy + r * sy + dy, colour);
                        }
                    }
                }
            }
        }
        if let Some((r, q)) = first {
            let x = (ox + q * sx).saturating_sub(12);
            let y = (oy + r * sy).saturating_sub(10);
            c.text(x, y, &(k + 1).to_string(), colour);
        }
    }
}

/// Wraps `s` to lines of at most `width` characters.
fn wrap(s: &str, width: usize) -> Vec<String> {
    let mut lines = vec![String::new()];
    for word in s.split_whitespace() {
        let last = lines.last_mut().expect("lines is never empty");
        if !last.is_empty() && last.len() + 1 + word.len() > width {
            lines.push(String::new());
        }
        let last = lines.last_mut().expect("lines is never empty");
        if !last.is_empty() {
            last.push(' ');
        }
        last.push_str(word);
    }
    lines
}

/// Renders the picture as PNG bytes.
pub fn render_png(suv: &Volume, overlays: &[Overlay]) -> Vec<u8> {
    let head_up = suv.geometry.slice_dir[2] > 0.0;
    let coronal = project(suv, overlays, Axis(1), head_up);
    let sagittal = project(suv, overlays, Axis(2), head_up);
    let cw = coronal.img.dim().1 * coronal.scale.0;
    let sw = sagittal.img.dim().1 * sagittal.scale.0;
    let h = coronal.img.dim().0 * coronal.scale.1;
    let width = (cw + GAP + sw + 2 * GAP).max(480);
    let chars = (width - 2 * GAP) / 8;
    let legend: Vec<(usize, String)> = overlays
        .iter()
        .enumerate()
        .flat_map(|(k, o)| {
            wrap(&format!("{}: {}", k + 1, o.legend), chars)
                .into_iter()
                .map(move |l| (k, l))
        })
        .collect();
    let height = GAP + h + GAP + legend.len() * 10 + GAP;
    let mut c = Canvas::new(width, height);
    draw_view(&mut c, &coronal, GAP, GAP);
    draw_view(&mut c, &sagittal, GAP + cw + GAP, GAP);
    for (i, (k, line)) in legend.iter().enumerate() {
        c.text(
            GAP,
            GAP + h + GAP + i * 10,
            line,
            COLOURS[k % COLOURS.len()],
        );
    }
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, width as u32, height as u32);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    if let Ok(mut w) = enc.write_header() {
        let _ = w.write_image_data(&c.px);
    }
    out
}

/// The picture of a job: every segment outlined, its legend the SUVmax, MTV and the sentence
/// that describes it. A job without segments gets the projections alone.
pub fn grounded_png(
    grounded: &super::segmentation::Grounded,
    findings: &[crate::report::Finding],
) -> Vec<u8> {
    let overlays: Vec<Overlay> = grounded
        .segments()
        .map(|(d, g)| Overlay {
            mask: &g.mask,
            legend: format!(
                "SUVmax {:.1}, MTV {:.1} mL - {}",
                g.measurements.suv_max,
                g.measurements.mtv_ml,
                findings.get(d).map(|f| f.sentence.as_str()).unwrap_or("")
            ),
        })
        .collect();
    render_png(&grounded.suv, &overlays)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::volume::Geometry;

    #[test]
    fn picture_has_the_views_the_outline_and_the_legend() {
        let g = Geometry {
            dims: [40, 30, 20],
            origin: [0.0; 3],
            spacing: [4.0, 4.0, 4.0],
            row_dir: [1.0, 0.0, 0.0],
            col_dir: [0.0, 1.0, 0.0],
            slice_dir: [0.0, 0.0, 1.0],
        };
        let mut data = Array3::<f32>::from_elem((40, 30, 20), 1.0);
        let mut mask = Array3::from_elem((40, 30, 20), false);
        for z in 18..22 {
            for y in 10..14 {
                for x in 8..12 {
                    data[[z, y, x]] = 8.0;
                    mask[[z, y, x]] = true;
                }
            }
        }
        let vol = Volume { data, geometry: g };
        let png_bytes = render_png(
            &vol,
            &[Overlay {
                mask: &mask,
                legend: "SUVmax 8.0, MTV 4.1 mL: node".into(),
            }],
        );
        let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
        let mut reader = decoder.read_info().expect("valid PNG");
        let mut buf = vec![0; reader.output_buffer_size().expect("size")];
        let info = reader.next_frame(&mut buf).expect("frame");
        assert_eq!(info.width, 480, "minimum width for the legend");
        // The first overlay colour appears (outline, number, legend).
        let red = buf.chunks(3).filter(|p| p == &COLOURS[0]).count();
        assert!(
            red > 20,
            "outline and legend drawn in the segment colour: {red}"
        );
        // The hot cube is dark in the inverted MIP.
        let dark = buf
            .chunks(3)
            .filter(|p| p[0] < 60 && p[0] == p[1] && p[1] == p[2])
            .count();
        assert!(dark > 0);
    }

    #[test]
    fn wrap_keeps_words_whole() {
        assert_eq!(wrap("aa bb cc", 5), vec!["aa bb", "cc"]);
    }
}
