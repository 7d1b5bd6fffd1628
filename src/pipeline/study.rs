//! The inputs of one study, read once and shared by every caller of the job core: the node, the
//! `petground ground` command and `tools/train`. PET files → SUV volume with its slice
//! references; CT files → the model's second channel on the PET grid, built on first use.
//! What to do when the CT cannot be used is the caller's decision: the grounding core uses the
//! PET alone, the training set drops the study ([`ModelChannels::ct_unused`] says why).

use std::cell::OnceCell;
use std::path::{Path, PathBuf};

use dicom_dictionary_std::tags;
use dicom_object::OpenFileOptions;

use crate::ground::preprocess::{ModelInput, model_input};
use crate::volume::resample::ct_on_pet_grid;
use crate::volume::suv::assemble_pet_suv;
use crate::volume::{AssembledSeries, assemble_files};

/// Why a study could not be grounded at all (a finding that is not grounded is a
/// [`super::ground::NotGrounded`], not an error).
#[derive(Debug, thiserror::Error)]
pub enum StudyError {
    #[error("PET series: {0}")]
    Volume(#[from] crate::volume::VolumeError),
    #[error("reading the PET header {path}: {detail}")]
    Header { path: PathBuf, detail: String },
    #[error("building the SEG: {0}")]
    Seg(#[from] crate::seg::SegError),
    #[error("building the SR: {0}")]
    Sr(#[from] crate::sr::SrError),
    #[error("the PET series has no instances")]
    NoInstances,
}

/// One study's PET, and its CT for the model.
pub struct Study {
    /// The PET series in SUV.
    pub series: AssembledSeries,
    /// The first PET file: the SEG and SR copy its patient and study modules.
    pub first_pet: PathBuf,
    ct: Vec<PathBuf>,
    input: OnceCell<Result<ModelChannels, String>>,
}

/// The model's input for a study.
pub struct ModelChannels {
    pub input: ModelInput,
    /// Why the CT files given were not used (the CT channel is then air), if they were not.
    pub ct_unused: Option<String>,
}

/// Reads the PET series (required) and remembers the CT series of the same frame of reference
/// (may be empty) for [`Study::model_input`].
pub fn prepare(pet: &[PathBuf], ct: &[PathBuf]) -> Result<Study, StudyError> {
    let first_pet = pet.first().ok_or(StudyError::NoInstances)?.clone();
    let (series, _suv) = assemble_pet_suv(pet)?;
    Ok(Study {
        series,
        first_pet,
        ct: ct.to_vec(),
        input: OnceCell::new(),
    })
}

impl Study {
    /// The model input: PET SUV and, when it pairs with the PET, the CT; built on first call.
    pub fn model_input(&self) -> Result<&ModelChannels, &str> {
        self.input
            .get_or_init(|| self.build_model_input())
            .as_ref()
            .map_err(String::as_str)
    }

    /// Why the CT files given were not used, once the model input has been built.
    pub fn ct_unused(&self) -> Option<&str> {
        match self.input.get() {
            Some(Ok(c)) => c.ct_unused.as_deref(),
            _ => None,
        }
    }

    fn build_model_input(&self) -> Result<ModelChannels, String> {
        let (ct, ct_unused) = if self.ct.is_empty() {
            (None, None)
        } else {
            match assemble_files(&self.ct).and_then(|ct| ct_on_pet_grid(&ct, &self.series)) {
                Ok(v) => (Some(v), None),
                Err(e) => {
                    tracing::warn!(error = %e, "CT not usable for the model; using PET only");
                    (None, Some(e.to_string()))
                }
            }
        };
        let input = model_input(&self.series.volume, ct.as_ref()).map_err(|e| e.to_string())?;
        Ok(ModelChannels { input, ct_unused })
    }

    /// The PET header (everything before the pixel data) the SEG and SR copy.
    pub fn pet_header(&self) -> Result<dicom_object::InMemDicomObject, StudyError> {
        OpenFileOptions::new()
            .read_until(tags::PIXEL_DATA)
            .open_file(&self.first_pet)
            .map(|o| o.into_inner())
            .map_err(|e| StudyError::Header {
                path: self.first_pet.clone(),
                detail: e.to_string(),
            })
    }
}

/// The series to ground in a folder of DICOM files (for `petground ground`): the PT series with
/// the most instances, and the CT series with the most instances (possibly none).
pub struct FolderSeries {
    pub pet: Vec<PathBuf>,
    pub ct: Vec<PathBuf>,
    /// Files that are not DICOM (ignored).
    pub skipped: usize,
}

pub fn series_in(dir: &Path) -> Result<FolderSeries, StudyError> {
    use std::collections::BTreeMap;
    let mut by_series: BTreeMap<(bool, String), Vec<PathBuf>> = BTreeMap::new();
    let mut skipped = 0;
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d).map_err(|e| StudyError::Header {
            path: d.clone(),
            detail: e.to_string(),
        })?;
        for entry in entries.flatten() {
            let p = entry.path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            match crate::store::InstanceHeader::read(&p) {
                Ok(h) if h.modality == "PT" || h.modality == "CT" => by_series
                    .entry((h.modality == "PT", h.series.to_string()))
                    .or_default()
                    .push(p),
                Ok(_) => {}
                Err(_) => skipped += 1,
            }
        }
    }
    let fullest = |pet: bool| {
        let mut files = by_series
            .iter()
            .filter(|((p, _), _)| *p == pet)
            .map(|(_, f)| f)
            .max_by_key(|f| f.len())
            .cloned()
            .unwrap_or_default();
        files.sort();
        files
    };
    let pet = fullest(true);
    if pet.is_empty() {
        return Err(StudyError::NoInstances);
    }
    Ok(FolderSeries {
        pet,
        ct: fullest(false),
        skipped,
    })
}
