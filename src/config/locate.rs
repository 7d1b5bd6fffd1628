//! Which key of the config text an error is about, and on which line it is written, so that
//! every error names the full key (`node.ae_title`, `destinations[1].address`) and its line.
//! The TOML parser reports only a byte span and, for an unknown or mistyped key, the bare key
//! name; the table it sits in comes from the `[table]` / `[[array]]` headers above it.
//!
//! A line-based reading that knows the shapes this file uses (bare keys, one key per line,
//! arrays that may span lines); it never fails, whatever the text (the fuzz target feeds it
//! anything), and at worst names no key.

use std::collections::HashMap;

/// For each line (index 0 = line 1), the full key defined there: a `[table]` or `[[array]]`
/// header names its table (`destinations[0]`), a `key = value` line its dotted key.
fn definitions(text: &str) -> Vec<Option<String>> {
    let mut table = String::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    text.split('\n')
        .map(|line| {
            let line = line.trim();
            if let Some(name) = line.strip_prefix("[[").and_then(|r| r.split("]]").next()) {
                let name = name.trim().to_owned();
                let n = seen.entry(name.clone()).or_default();
                table = format!("{name}[{n}]");
                *n += 1;
                return Some(table.clone());
            }
            if let Some(name) = line.strip_prefix('[').and_then(|r| r.split(']').next()) {
                table = name.trim().to_owned();
                return Some(table.clone());
            }
            let key = line.split_once('=')?.0.trim();
            let bare = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.');
            if key.is_empty() || !key.chars().all(bare) {
                return None;
            }
            Some(match table.is_empty() {
                true => key.to_owned(),
                false => format!("{table}.{key}"),
            })
        })
        .collect()
}

/// The 1-based line of byte `offset`.
pub(super) fn line_of_offset(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// The full key written at or above the line of byte `offset`: the key whose value holds the
/// offset, or the table whose header it is. `field` is the key the parser named (a missing or
/// unknown field), added when the offset points at a table rather than at that key.
pub(super) fn key_at(text: &str, offset: usize, field: Option<&str>) -> Option<String> {
    let line = line_of_offset(text, offset);
    let defs = definitions(text);
    let found = defs.iter().take(line).rev().find_map(|d| d.as_deref());
    match (found, field) {
        (Some(key), Some(f)) if key == f || key.ends_with(&format!(".{f}")) => Some(key.to_owned()),
        (Some(key), Some(f)) => Some(format!("{}.{f}", table_of(key, &defs, line))),
        (Some(key), None) => Some(key.to_owned()),
        (None, f) => f.map(str::to_owned),
    }
}

/// The table that the definition `key` above `line` belongs to (itself for a header).
fn table_of(key: &str, defs: &[Option<String>], line: usize) -> String {
    let is_header = |d: &str| !d.contains('.') || d.ends_with(']');
    let header = defs
        .iter()
        .take(line)
        .rev()
        .filter_map(|d| d.as_deref())
        .find(|d| is_header(d) && (key == *d || key.starts_with(&format!("{d}."))));
    header.unwrap_or(key).to_owned()
}

/// The 1-based line where the full `key` is written, else where its table starts.
pub(super) fn line_of_key(text: &str, key: &str) -> Option<usize> {
    let defs = definitions(text);
    let at = |k: &str| {
        defs.iter()
            .position(|d| d.as_deref() == Some(k))
            .map(|i| i + 1)
    };
    at(key).or_else(|| at(key.rsplit_once('.')?.0))
}

/// The key a serde message names in backticks (``unknown field `ae_titel`, expected …``,
/// ``missing field `ae_title` ``).
pub(super) fn named_field(message: &str) -> Option<&str> {
    let rest = message
        .strip_prefix("unknown field `")
        .or_else(|| message.strip_prefix("missing field `"))?;
    rest.split('`').next()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "# comment\n[node]\nae_title = \"PG\"\n\n[[destinations]]\nname = \"a\"\n\
                        [[destinations]]\naddress = \"x\"\n[accept]\ncalling_ae_titles = [\n  \"A\",\n]\n";

    #[test]
    fn keys_are_named_with_their_table() {
        let at = |needle: &str| TEXT.find(needle).expect("in text");
        assert_eq!(
            key_at(TEXT, at("\"PG\""), None).as_deref(),
            Some("node.ae_title")
        );
        assert_eq!(
            key_at(TEXT, at("address"), Some("address")).as_deref(),
            Some("destinations[1].address")
        );
        assert_eq!(
            key_at(TEXT, at("\"A\""), None).as_deref(),
            Some("accept.calling_ae_titles"),
            "a value on a continuation line belongs to the key above"
        );
        assert_eq!(
            key_at(TEXT, at("[node]"), Some("dicom_listen")).as_deref(),
            Some("node.dicom_listen")
        );
        assert_eq!(
            key_at(TEXT, at("\"PG\""), Some("hl7_listen")).as_deref(),
            Some("node.hl7_listen")
        );
        assert_eq!(line_of_key(TEXT, "node.ae_title"), Some(3));
        assert_eq!(line_of_key(TEXT, "destinations[1].address"), Some(8));
        assert_eq!(line_of_key(TEXT, "node.data_dir"), Some(2), "its table");
        assert_eq!(
            line_of_offset(TEXT, at("[node]")),
            2,
            "a key at a line start"
        );
    }

    #[test]
    fn any_text_and_offset_is_safe() {
        for text in ["", "[", "[[", "=", "a.=\n[x]]\n", "é = 1\n[[é]]"] {
            for offset in 0..text.len() + 2 {
                let _ = key_at(text, offset, Some("f"));
                let _ = line_of_key(text, "f");
            }
        }
        assert_eq!(named_field("missing field `ae_title`"), Some("ae_title"));
        assert_eq!(named_field("invalid type"), None);
    }
}
