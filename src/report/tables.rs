//! Plain-text tables of lesions: a header row that names the current SUVmax column (and usually
//! an image or slice column), then one row per lesion, until a blank line or a line that is not
//! a row. Columns are separated by `|` (at least two on the line) or by runs of two or more
//! spaces or a tab; for the latter, a row's cell belongs to the header column it overlaps (or
//! starts nearest to), so a blank cell does not shift the rest.
//!
//! A row is one sentence (CONTRACT §4): the row whitespace-normalised, without the `|` at its
//! ends. It gives a finding when its SUVmax cell holds a number, or when its image cell does and
//! the row says the lesion has uptake; "Prior", "baseline", "mean" and "peak" columns are never
//! the value, and a row whose cells say "non-avid", "resolved" or "negative" gives nothing.
//! Pure and linear in the text.

use super::lexer::{Kind, lex};
use super::sentences::normalise;

/// A piece of a block: prose for the sentence splitter, or the findings of a table.
pub(crate) enum Piece {
    Prose(String),
    Rows(Vec<Row>),
}

/// One table row that gives a finding.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Row {
    pub sentence: String,
    pub suv_max: Option<f64>,
    pub slice: Option<u32>,
    /// The sentence without the SUV and image numbers.
    pub text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sep {
    Pipe,
    Spaces,
}

/// A cell: its text and its character span on the line.
#[derive(Debug, Clone)]
struct Cell<'a> {
    text: &'a str,
    start: usize,
    end: usize,
}

struct Header {
    sep: Sep,
    /// How many `|` the header line has (a full pipe row has as many).
    pipes: usize,
    cells: Vec<(usize, usize)>,
    suv: usize,
    image: Option<usize>,
}

/// Splits a block into prose and table pieces, in order.
pub(crate) fn split_tables(block: &str) -> Vec<Piece> {
    let mut out = Vec::new();
    let mut prose = String::new();
    let mut lines = block.lines().peekable();
    while let Some(line) = lines.next() {
        // A header the RIS wrapped ("| Lesion | Prior SUVmax | Current" + "SUVmax | Image |"):
        // join the next line when that makes a header, or when it is a short wrapped-off cell.
        let joined = lines.peek().map(|next| format!("{line}  {}", next.trim()));
        let line = match (header(line), joined) {
            (None, Some(j)) if line.contains('|') && header(&j).is_some() => {
                lines.next();
                j
            }
            (Some(_), _) => {
                unwrap_lines(line.to_owned(), &mut lines, |l, next| {
                    open_pipe_line(l, next) || wrapped_cell(next)
                })
                .0
            }
            _ => line.to_owned(),
        };
        let Some(h) = header(&line) else {
            prose.push_str(&line);
            prose.push('\n');
            continue;
        };
        if !prose.trim().is_empty() {
            out.push(Piece::Prose(std::mem::take(&mut prose)));
        }
        prose.clear();
        let mut rows = Vec::new();
        while let Some(&next) = lines.peek() {
            if is_rule(next) {
                lines.next();
                continue;
            }
            if split(next, h.sep).is_none_or(|c| c.len() < 2) {
                break;
            }
            lines.next();
            let (line, first_len) = unwrap_row(next, &h, &mut lines);
            if let Some(cells) = split(&line, h.sep)
                && let Some(r) = row(&line, &cells, &h, first_len)
            {
                rows.push(r);
            }
        }
        out.push(Piece::Rows(rows));
    }
    if !prose.trim().is_empty() {
        out.push(Piece::Prose(prose));
    }
    out
}

/// A row the RIS hard-wrapped: a pipe row goes on over the next lines while it has fewer `|`
/// than its header, or while it starts with `|` and the next line does not; a space-aligned row
/// goes on over a short next line that has no columns of its own (the wrapped-off last cells,
/// "4" or "decreased").
fn unwrap_row<'a>(
    first: &str,
    h: &Header,
    lines: &mut std::iter::Peekable<impl Iterator<Item = &'a str>>,
) -> (String, usize) {
    unwrap_lines(first.to_owned(), lines, |line, next| match h.sep {
        Sep::Pipe => {
            line.matches('|').count() < h.pipes || open_pipe_line(line, next) || wrapped_cell(next)
        }
        Sep::Spaces => split(next, Sep::Spaces).is_none() && next.trim().chars().count() <= 24,
    })
}

/// A short line without columns or a sentence end: the last cell of a wrapped table line
/// ("71", "Image", "decreased").
fn wrapped_cell(next: &str) -> bool {
    let t = next.trim();
    let abbreviation = t.chars().count() <= 4; // "no." of "Slice no."
    !t.contains('|')
        && (abbreviation || !t.ends_with('.'))
        && t.chars().count() <= 24
        && !t.contains("  ")
}

/// A pipe line cut by a wrap: in a `|`-led table, one that does not end in `|` yet or whose
/// next line is no row of its own; in a table without outer pipes, one that ends in `|` or whose
/// next line starts with one.
fn open_pipe_line(line: &str, next: &str) -> bool {
    let (l, n) = (line.trim(), next.trim());
    if l.starts_with('|') {
        !l.ends_with('|') || !n.starts_with('|')
    } else {
        l.ends_with('|') || n.starts_with('|')
    }
}

/// Appends up to four following lines while `more(line so far, next line)` holds; returns the
/// line and the length of its first physical line (cells after it came from wrapped lines).
fn unwrap_lines<'a>(
    mut line: String,
    lines: &mut std::iter::Peekable<impl Iterator<Item = &'a str>>,
    more: impl Fn(&str, &str) -> bool,
) -> (String, usize) {
    let first_len = line.len();
    for _ in 0..4 {
        let Some(&next) = lines.peek() else { break };
        if next.trim().is_empty() || is_rule(next) || !more(&line, next) {
            break;
        }
        line.push_str("  ");
        line.push_str(next.trim());
        lines.next();
    }
    (line, first_len)
}

/// "----", "---|---", "====": a table's rule line.
fn is_rule(line: &str) -> bool {
    let t = line.trim();
    t.len() >= 3
        && t.chars()
            .all(|c| matches!(c, '-' | '=' | '|' | '+' | ':' | ' '))
}

/// The cells of a line: at `|` (with at least two on the line), else at runs of 2+ spaces or a
/// tab. `None` when the line has no such separator.
fn split(line: &str, sep: Sep) -> Option<Vec<Cell<'_>>> {
    let mut cells = Vec::new();
    match sep {
        Sep::Pipe => {
            if line.matches('|').count() < 2 {
                return None;
            }
            let mut start = 0;
            for (i, c) in line.char_indices().chain([(line.len(), '|')]) {
                if c == '|' {
                    cells.push(cell(line, start, i));
                    start = i + 1;
                }
            }
            // "| a | b |": the empty cells outside the outer pipes are not columns.
            if line.trim_start().starts_with('|') {
                cells.remove(0);
            }
            if line.trim_end().ends_with('|') {
                cells.pop();
            }
        }
        Sep::Spaces => {
            let bytes = line.as_bytes();
            let (mut start, mut i) = (None::<usize>, 0);
            while i < bytes.len() {
                let gap = bytes[i] == b'\t'
                    || (bytes[i] == b' ' && bytes.get(i + 1).is_some_and(|b| *b == b' '));
                if gap {
                    if let Some(s) = start.take() {
                        cells.push(cell(line, s, i));
                    }
                    while i < bytes.len() && (bytes[i] == b' ' || bytes[i] == b'\t') {
                        i += 1;
                    }
                    continue;
                }
                if start.is_none() && bytes[i] != b' ' {
                    start = Some(i);
                }
                i += 1;
            }
            if let Some(s) = start {
                cells.push(cell(line, s, line.len()));
            }
            if cells.len() < 2 {
                return None;
            }
        }
    }
    Some(cells)
}

fn cell(line: &str, a: usize, b: usize) -> Cell<'_> {
    let raw = &line[a..b];
    let lead = raw.len() - raw.trim_start().len();
    let text = raw.trim();
    Cell {
        text,
        start: a + lead,
        end: a + lead + text.len(),
    }
}

/// The header of a lesion table: at least three cells, one naming the current SUVmax.
fn header(line: &str) -> Option<Header> {
    let sep = if line.matches('|').count() >= 2 {
        Sep::Pipe
    } else {
        Sep::Spaces
    };
    let cells = split(line, sep)?;
    // A header names columns: no cell is a value ("Image (series 3)" is still a name).
    let value_cell = |c: &Cell| {
        let t = c.text.trim_start_matches(['(', '-']);
        t.starts_with(|ch: char| ch.is_ascii_digit())
    };
    if cells.len() < 3 || cells.iter().any(value_cell) {
        return None;
    }
    let words = |c: &Cell| -> Vec<String> {
        c.text
            .split(|ch: char| !ch.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(str::to_lowercase)
            .collect()
    };
    let not_current = [
        "prior", "previous", "baseline", "mean", "peak", "interim", "delta",
    ];
    let suv_cols: Vec<usize> = (0..cells.len())
        .filter(|&i| {
            let w = words(&cells[i]);
            w.iter().any(|w| w.starts_with("suv"))
                && !w.iter().any(|w| not_current.contains(&w.as_str()))
                && !w
                    .iter()
                    .any(|w| w.starts_with("suvmean") || w.starts_with("suvpeak"))
        })
        .collect();
    let suv = *suv_cols.first()?;
    let image = (0..cells.len()).find(|&i| {
        words(&cells[i]).iter().any(|w| {
            matches!(
                w.as_str(),
                "image" | "slice" | "im" | "img" | "images" | "slices"
            )
        })
    });
    Some(Header {
        sep,
        pipes: line.matches('|').count(),
        cells: cells.iter().map(|c| (c.start, c.end)).collect(),
        suv,
        image,
    })
}

/// The header column a row cell belongs to.
fn column(h: &Header, c: &Cell, index: usize) -> usize {
    if h.sep == Sep::Pipe {
        return index;
    }
    let overlap = |(a, b): (usize, usize)| b.min(c.end).saturating_sub(a.max(c.start));
    let best = (0..h.cells.len()).max_by_key(|&i| (overlap(h.cells[i]), usize::MAX - i));
    match best {
        Some(i) if overlap(h.cells[i]) > 0 => i,
        _ => (0..h.cells.len())
            .min_by_key(|&i| h.cells[i].0.abs_diff(c.start))
            .unwrap_or(index),
    }
}

/// The finding of one row, if it gives one. Cells past `first_len` came from wrapped lines:
/// in a space-aligned table they take the columns after the last one placed, in order.
fn row(line: &str, cells: &[Cell], h: &Header, first_len: usize) -> Option<Row> {
    let mut suv_cell = None;
    let mut image_cell = None;
    let mut last = 0;
    for (i, c) in cells.iter().enumerate() {
        let col = if h.sep == Sep::Spaces && c.start >= first_len {
            last + 1
        } else {
            column(h, c, i)
        };
        last = col;
        if col == h.suv {
            suv_cell = Some(c.text);
        } else if Some(col) == h.image {
            image_cell = Some(c.text);
        }
    }
    // "non-avid" status cells, and reference rows ("Liver (reference)", "Parotid gland
    // (physiologic)") give no finding.
    let negated = cells.iter().any(|c| {
        let t = c.text.to_lowercase();
        [
            "non-avid",
            "nonavid",
            "resolved",
            "negative",
            "not avid",
            "no uptake",
            "reference",
            "physiologic",
            "background",
            "blood pool",
        ]
        .iter()
        .any(|n| t.contains(n))
    });
    let suv = suv_cell.and_then(|c| first_number(c, true));
    let slice = image_cell
        .and_then(|c| first_number(c, false))
        .map(|(v, span)| (v as u32, span));
    let uptake = {
        let t = line.to_lowercase();
        ["avid", "uptake", "hypermetabolic", "positive", "expressing"]
            .iter()
            .any(|w| t.contains(w))
    };
    if negated || (suv.is_none() && !(slice.is_some() && uptake)) {
        return None;
    }
    let inner = line.trim();
    let inner = inner.strip_prefix('|').unwrap_or(inner);
    let inner = inner.strip_suffix('|').unwrap_or(inner);
    let sentence = normalise(inner);
    let mut cuts: Vec<String> = Vec::new();
    cuts.extend(suv.as_ref().map(|(_, s)| s.clone()));
    cuts.extend(slice.as_ref().map(|(_, s)| s.clone()));
    Some(Row {
        text: cut_numbers(&sentence, &cuts, suv_cell, image_cell),
        sentence,
        suv_max: suv.map(|(v, _)| v),
        slice: slice.map(|(v, _)| v),
    })
}

/// The first number of a cell ("11.8", "4,2", "141 (se 3)") and its text; an image number must
/// be an integer.
fn first_number(cell: &str, suv: bool) -> Option<(f64, String)> {
    let toks = lex(cell);
    let at = toks.iter().position(|t| t.is_number())?;
    // An image cell "3/77" is series 3, image 77 (as "(3/77)" in prose).
    let series_image = !suv
        && toks.get(at + 1).is_some_and(|t| t.is_punct('/'))
        && toks.get(at + 2).is_some_and(|t| t.is_number());
    let tok = &toks[if series_image { at + 2 } else { at }];
    let Kind::Number { value, decimal, .. } = tok.kind else {
        return None;
    };
    if !suv && decimal {
        return None;
    }
    Some((value, cell[tok.start..tok.end].to_owned()))
}

/// The sentence with the SUV and image cells' numbers removed (the model's input), cutting in
/// the cells themselves so a number that also appears elsewhere in the row is not touched.
fn cut_numbers(
    sentence: &str,
    cuts: &[String],
    suv_cell: Option<&str>,
    image_cell: Option<&str>,
) -> String {
    let mut out = sentence.to_owned();
    for cell_text in [suv_cell, image_cell].into_iter().flatten() {
        let cell_norm = normalise(cell_text);
        let Some(at) = out
            .find(&format!("| {cell_norm}"))
            .map(|i| i + 2)
            .or_else(|| {
                // Space-separated tables: the cell text as a word run.
                out.rfind(&cell_norm)
            })
        else {
            continue;
        };
        if let Some(num) = cuts.iter().find(|n| cell_norm.contains(n.as_str()))
            && let Some(off) = cell_norm.find(num.as_str())
        {
            let a = at + off;
            out.replace_range(a..a + num.len(), "");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(block: &str) -> Vec<Row> {
        split_tables(block)
            .into_iter()
            .flat_map(|p| match p {
                Piece::Rows(r) => r,
                Piece::Prose(_) => Vec::new(),
            })
            .collect()
    }

    #[test]
    fn pipe_table_with_prior_column() {
        let t = "| Lesion | Prior SUVmax | SUVmax | Image |\n|---|---|---|---|\n\
                 | Right hilar node | 4.1 | 7.2 | 145 |\n| Liver segment VII | 3.0 | - | - |\n\n\
                 Prose after.";
        let r = rows(t);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].sentence, "Right hilar node | 4.1 | 7.2 | 145");
        assert_eq!((r[0].suv_max, r[0].slice), (Some(7.2), Some(145)));
        assert_eq!(r[0].text, "Right hilar node | 4.1 |  | ");
    }

    #[test]
    fn space_aligned_table_keeps_blank_cells_in_their_column() {
        let t = "Lesion                     Prior SUVmax   SUVmax   Slice\n\
                 Left supraclavicular node  14.2           3.4      58\n\
                 Right paratracheal node    9.6            -        -\n\
                 Spleen, focal lesion                      2,9      181\n";
        let r = rows(t);
        let got: Vec<_> = r.iter().map(|r| (r.suv_max, r.slice)).collect();
        assert_eq!(got, [(Some(3.4), Some(58)), (Some(2.9), Some(181))]);
        assert_eq!(r[0].sentence, "Left supraclavicular node 14.2 3.4 58");
    }

    #[test]
    fn prose_is_not_a_table() {
        let t = "Right hilar node, SUVmax 7.2 | image 145.\nLiver SUVmax 2.1.";
        assert!(rows(t).is_empty());
        assert!(matches!(&split_tables(t)[..], [Piece::Prose(_)]));
    }
}
