//! What the store reads of an instance: the identifiers and attributes in its header (before
//! PixelData), as an [`InstanceHeader`] with its UIDs validated, so they are safe as file names.

use std::path::Path;

use dicom_dictionary_std::tags;
use dicom_object::{DefaultDicomObject, OpenFileOptions};

use crate::ids::Uid;

/// What the store needs to know of an instance, read from its header.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceHeader {
    pub sop_class: String,
    pub sop_instance: Uid,
    pub study: Uid,
    pub series: Uid,
    pub modality: String,
    pub transfer_syntax: String,
    pub instance_number: Option<i32>,
    pub number_of_slices: Option<u32>,
    pub accession: Option<String>,
    pub patient_id: Option<String>,
    pub study_date: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum HeaderError {
    #[error("data set cannot be parsed: {0}")]
    Unreadable(String),
    #[error("data set lacks {0}")]
    Missing(&'static str),
    #[error("{0}")]
    BadUid(#[from] crate::ids::IdError),
}

impl InstanceHeader {
    /// Reads the header (everything before PixelData) of a Part 10 file, walked first
    /// (`walk::check_part10`): dicom-object reserves from claimed lengths, and a file in
    /// a folder given to `petground ground DIR` has been checked by nobody.
    pub fn read(path: &Path) -> Result<Self, HeaderError> {
        std::fs::File::open(path)
            .map_err(|e| HeaderError::Unreadable(e.to_string()))
            .and_then(|f| {
                crate::walk::check_part10(f).map_err(|e| HeaderError::Unreadable(e.to_string()))
            })?;
        Self::read_walked(path)
    }

    /// [`InstanceHeader::read`] of a file whose lengths are already checked: the SCP walks every
    /// data set it receives before this, and the file meta group is its own.
    pub fn read_walked(path: &Path) -> Result<Self, HeaderError> {
        let obj = OpenFileOptions::new()
            .read_until(tags::PIXEL_DATA)
            .open_file(path)
            .map_err(|e| HeaderError::Unreadable(e.to_string()))?;
        Self::from_object(&obj)
    }

    pub fn from_object(obj: &DefaultDicomObject) -> Result<Self, HeaderError> {
        let text = |tag| {
            obj.element_opt(tag)
                .ok()
                .flatten()
                .and_then(|e| e.to_str().ok())
                .map(|s| s.trim_matches(['\0', ' ']).to_owned())
                .filter(|s| !s.is_empty())
        };
        let uid = |tag, name| -> Result<Uid, HeaderError> {
            Ok(Uid::parse(&text(tag).ok_or(HeaderError::Missing(name))?)?)
        };
        Ok(Self {
            sop_class: text(tags::SOP_CLASS_UID).ok_or(HeaderError::Missing("SOPClassUID"))?,
            sop_instance: uid(tags::SOP_INSTANCE_UID, "SOPInstanceUID")?,
            study: uid(tags::STUDY_INSTANCE_UID, "StudyInstanceUID")?,
            series: uid(tags::SERIES_INSTANCE_UID, "SeriesInstanceUID")?,
            modality: text(tags::MODALITY).unwrap_or_default(),
            transfer_syntax: obj
                .meta()
                .transfer_syntax()
                .trim_end_matches('\0')
                .to_owned(),
            instance_number: text(tags::INSTANCE_NUMBER).and_then(|s| s.parse().ok()),
            number_of_slices: text(tags::NUMBER_OF_SLICES).and_then(|s| s.parse().ok()),
            accession: text(tags::ACCESSION_NUMBER),
            patient_id: text(tags::PATIENT_ID),
            study_date: text(tags::STUDY_DATE),
        })
    }
}
