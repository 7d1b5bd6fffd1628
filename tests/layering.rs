//! The crate's imports point one way (README, "module | owns"): the identifiers and the byte
//! walk at the bottom, the pure cores above them, then the store, the pipeline and the network
//! shells, `node` and `main` on top. This test reads `src/` and fails on an import that points
//! upward or closes a circle, so the layering stays a property of the code, not of a review.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Module path (`store::jobs`) → the source file's text without comments and test modules.
fn sources() -> BTreeMap<String, String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out = BTreeMap::new();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read src") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.insert(module_of(&root, &path), code_of(&path));
            }
        }
    }
    out
}

fn module_of(root: &Path, path: &Path) -> String {
    let rel: PathBuf = path
        .strip_prefix(root)
        .expect("under src")
        .with_extension("");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts.join("::")
}

/// The file without `//` comments and without everything from `#[cfg(test)]` on (test modules
/// sit at the end of a file and may import freely).
fn code_of(path: &Path) -> String {
    let text = std::fs::read_to_string(path).expect("read source");
    let text = text.split("#[cfg(test)]").next().unwrap_or_default();
    text.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The modules of the crate a file refers to through `crate::…` and `super::…` paths, resolved
/// to the longest known module, without the file's own ancestors (a child may use its parent).
fn imports(module: &str, code: &str, known: &BTreeSet<String>) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let bytes = code.as_bytes();
    for start in ["crate::", "super::"] {
        let mut from = 0;
        while let Some(i) = code[from..].find(start).map(|i| i + from) {
            from = i + start.len();
            if i > 0 && (bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_') {
                continue;
            }
            let mut base: Vec<&str> = if start == "crate::" {
                Vec::new()
            } else {
                let mut b: Vec<&str> = module.split("::").collect();
                b.pop();
                b
            };
            let rest = &code[from..];
            let path: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':' || *c == '{')
                .collect();
            let mut segs: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
            while segs.first() == Some(&"super") {
                base.pop();
                segs.remove(0);
            }
            // `use super::{a, b}` and `crate::x::{a, b}`: each name in the braces.
            let (segs, group) = match segs.iter().position(|s| s.starts_with('{')) {
                Some(k) => {
                    let inner = rest[rest.find('{').unwrap_or(0) + 1..]
                        .split('}')
                        .next()
                        .unwrap_or_default();
                    let names: Vec<String> = inner
                        .split(',')
                        .map(|n| n.trim().split("::").next().unwrap_or_default().to_owned())
                        .filter(|n| !n.is_empty() && n != "self")
                        .collect();
                    (segs[..k].to_vec(), names)
                }
                None => (segs, Vec::new()),
            };
            let mut candidates: Vec<Vec<&str>> = vec![segs.clone()];
            for name in &group {
                let mut s = segs.clone();
                s.push(name);
                candidates.push(s);
            }
            for segs in candidates {
                let mut best = None;
                for n in 0..=segs.len() {
                    let m = base
                        .iter()
                        .chain(&segs[..n])
                        .copied()
                        .collect::<Vec<_>>()
                        .join("::");
                    if known.contains(&m) {
                        best = Some(m);
                    }
                }
                if let Some(m) = best
                    && m != module
                    && !module.starts_with(&format!("{m}::"))
                    && !m.is_empty()
                {
                    out.insert(m);
                }
            }
        }
    }
    out
}

fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = sources();
    let known: BTreeSet<String> = src.keys().cloned().collect();
    src.iter()
        .map(|(m, code)| (m.clone(), imports(m, code, &known)))
        .collect()
}

fn top(m: &str) -> &str {
    m.split("::").next().unwrap_or(m)
}

/// A circle in `g`, if there is one (depth-first search).
fn circle(g: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        v: &str,
        g: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        state.insert(v.to_owned(), 1);
        path.push(v.to_owned());
        for w in g.get(v).into_iter().flatten() {
            match state.get(w.as_str()).copied().unwrap_or(0) {
                1 => {
                    let at = path.iter().position(|p| p == w).unwrap_or(0);
                    let mut c = path[at..].to_vec();
                    c.push(w.clone());
                    return Some(c);
                }
                0 => {
                    if let Some(c) = visit(w, g, state, path) {
                        return Some(c);
                    }
                }
                _ => {}
            }
        }
        path.pop();
        state.insert(v.to_owned(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for v in g.keys() {
        if state.get(v.as_str()).copied().unwrap_or(0) == 0
            && let Some(c) = visit(v, g, &mut state, &mut Vec::new())
        {
            return Some(c);
        }
    }
    None
}

#[test]
fn no_file_imports_a_file_that_imports_it_back() {
    let g = graph();
    assert!(g.len() > 50, "read the sources: {} files", g.len());
    if let Some(c) = circle(&g) {
        panic!("circular imports between files: {}", c.join(" -> "));
    }
}

#[test]
fn no_module_imports_a_module_that_imports_it_back() {
    let mut tops: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (m, deps) in graph() {
        let entry = tops.entry(top(&m).to_owned()).or_default();
        entry.extend(
            deps.iter()
                .map(|d| top(d).to_owned())
                .filter(|d| d != top(&m)),
        );
    }
    if let Some(c) = circle(&tops) {
        panic!("circular imports between modules: {}", c.join(" -> "));
    }
}

#[test]
fn lower_layers_never_import_higher_ones() {
    let g = graph();
    let uses = |from: &str| -> BTreeSet<String> {
        g.iter()
            .filter(|(m, _)| m.as_str() == from || m.starts_with(&format!("{from}::")))
            .flat_map(|(_, d)| d.iter().map(|d| top(d).to_owned()))
            .filter(|d| d != top(from))
            .collect()
    };
    let rules: [(&str, &[&str]); 6] = [
        ("ids", &[]),
        ("walk", &[]),
        ("config", &["ids"]),
        ("store", &["ids", "walk", "label", "logtext"]),
        ("label", &["volume", "config"]),
        ("volume", &["ids"]),
    ];
    for (module, allowed) in rules {
        let extra: Vec<String> = uses(module)
            .into_iter()
            .filter(|d| !allowed.contains(&d.as_str()))
            .collect();
        assert!(extra.is_empty(), "{module} imports {extra:?}");
    }
    let core = &g["pipeline::ground"];
    for forbidden in ["store", "dicom", "hl7", "delivery", "node"] {
        assert!(
            !core.iter().any(|d| top(d) == forbidden),
            "the job core imports {forbidden}: {core:?}"
        );
    }
}
