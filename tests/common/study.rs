//! Whole studies for end-to-end tests: a small phantom study, pushing its images with dcmtk
//! `storescu`, and checking what comes back with dicom3tools' `dciodvfy`.

use std::path::Path;

use super::{Node, files_below, storescu, tool};

/// A small whole-body phantom study with `lesions` lesions, its report and truth, in `dir`.
pub fn phantom(dir: &Path, seed: u64, lesions: usize) -> petground_phantom::Truth {
    let mut o = petground_phantom::Options::new(seed);
    o.small = true;
    o.lesions = Some(lesions);
    petground_phantom::generate(&o, dir).expect("generate phantom study")
}

/// The study's PET and CT instances, pushed to the node by `storescu`.
pub fn send_images(node: &Node, study: &Path) {
    let mut files = files_below(&study.join("pet"));
    files.extend(files_below(&study.join("ct")));
    let (ok, out) = storescu(node, &[], &files);
    assert!(ok, "storescu failed: {out}");
}

/// The error lines `dciodvfy` prints for a file (its whole output is shown when there are any,
/// or with `PETGROUND_SHOW_DCIODVFY` set).
pub fn dciodvfy_errors(path: &Path) -> Vec<String> {
    let out = tool("dciodvfy").arg(path).output().expect("run dciodvfy");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    let errors: Vec<String> = text
        .lines()
        .filter(|l| l.starts_with("Error") || l.contains(" - Error - "))
        .map(str::to_owned)
        .collect();
    let warnings = text.lines().filter(|l| l.starts_with("Warning")).count();
    eprintln!(
        "dciodvfy {}: {} errors, {warnings} warnings",
        path.display(),
        errors.len()
    );
    if !errors.is_empty() || std::env::var_os("PETGROUND_SHOW_DCIODVFY").is_some() {
        eprintln!("{text}");
    }
    errors
}
