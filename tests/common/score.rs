//! Scoring a delivered SEG against a generated study's truth (PAPER §5: a lesion is found when
//! a segment overlaps its truth label and the segment's SUVmax on the study's own PET is within
//! 0.1 of the lesion's measured SUVmax; segments that find no lesion are false positives).

use std::path::{Path, PathBuf};

use petground_phantom::Truth;

use super::files_below;
use super::segread::read_seg;

#[derive(Default, Debug)]
pub struct Score {
    pub tp: usize,
    pub fp: usize,
    pub fn_: usize,
}

/// Scores one SEG against its phantom truth (PAPER §5: TP = overlap and |ΔSUVmax| ≤ 0.1).
pub fn score(seg: &Path, study: &Path, truth: &Truth, s: &mut Score) {
    let pet_files: Vec<PathBuf> = files_below(&study.join("pet"));
    let (pet, _) =
        petground::volume::suv::assemble_pet_suv(&pet_files).expect("assemble phantom PET");
    let labels = std::fs::read(study.join(&truth.labels_file)).expect("truth labels");
    let [_, ny, nx] = pet.volume.geometry.dims;
    let segments = read_seg(seg, &pet.volume.geometry);
    let mut matched = vec![false; segments.len()];
    for lesion in &truth.lesions {
        let mut hit = false;
        for (i, sg) in segments.iter().enumerate() {
            let mut overlap = false;
            let mut max = f32::MIN;
            for ((z, y, x), &on) in sg.mask.indexed_iter() {
                if !on {
                    continue;
                }
                max = max.max(pet.volume.data[[z, y, x]]);
                let n = pet.slices[z]
                    .instance_number
                    .expect("phantom slices carry InstanceNumber") as usize;
                overlap |= labels[((n - 1) * ny + y) * nx + x] == lesion.id;
            }
            if overlap && (max as f64 - lesion.measured_suv_max).abs() <= 0.1 + 1e-6 {
                hit = true;
                matched[i] = true;
            }
        }
        if hit {
            s.tp += 1;
        } else {
            s.fn_ += 1;
            eprintln!("missed: {}", lesion.sentence);
        }
    }
    s.fp += matched.iter().filter(|m| !**m).count();
}

impl Score {
    pub fn add(&mut self, o: &Score) {
        self.tp += o.tp;
        self.fp += o.fp;
        self.fn_ += o.fn_;
    }

    /// Precision, recall and F1.
    pub fn prf(&self) -> (f64, f64, f64) {
        let p = self.tp as f64 / (self.tp + self.fp).max(1) as f64;
        let r = self.tp as f64 / (self.tp + self.fn_).max(1) as f64;
        let f1 = if p + r > 0.0 {
            2.0 * p * r / (p + r)
        } else {
            0.0
        };
        (p, r, f1)
    }
}
