//! The one error type of the volume module: assembly, SUV and resampling failures.
//! Every variant names the operation and the DICOM attribute or instances involved, so the CLI
//! and the pipeline can print one readable line ("why SUV cannot be computed").

use std::path::PathBuf;

/// What went wrong while turning DICOM instances into volumes or SUV.
#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    #[error("reading DICOM file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: Box<dicom_object::ReadError>,
    },
    #[error("series has no instances")]
    EmptySeries,
    #[error("instance {instance}: missing attribute {attr}")]
    MissingAttribute {
        attr: &'static str,
        instance: String,
    },
    #[error("instance {instance}: attribute {attr} = {value:?} is not usable: {why}")]
    InvalidAttribute {
        attr: &'static str,
        instance: String,
        value: String,
        why: String,
    },
    #[error("instances {first} and {other} disagree on {attr}: {first_value} vs {other_value}")]
    Inconsistent {
        attr: &'static str,
        first: String,
        other: String,
        first_value: String,
        other_value: String,
    },
    #[error("instances {first} and {other} share the slice position {position_mm:.3} mm")]
    DuplicatePosition {
        first: String,
        other: String,
        position_mm: f64,
    },
    #[error(
        "gap in slice positions between instances {before} and {after}: {found_mm:.3} mm apart, \
         expected {expected_mm:.3} mm (missing or irregular slices)"
    )]
    Gap {
        before: String,
        after: String,
        expected_mm: f64,
        found_mm: f64,
    },
    #[error("instance {instance}: decoding pixel data: {message}")]
    Decode { instance: String, message: String },
    #[error("SUV cannot be computed for {instance}: {attr} {why}")]
    Suv {
        attr: &'static str,
        instance: String,
        why: String,
    },
    #[error("PET and CT cannot be paired: {attr} differs (PET {pet}, CT {ct})")]
    Pairing {
        attr: &'static str,
        pet: String,
        ct: String,
    },
    #[error("resampling: {0}")]
    Resample(String),
}

impl VolumeError {
    pub(crate) fn missing(attr: &'static str, instance: &str) -> Self {
        VolumeError::MissingAttribute {
            attr,
            instance: instance.to_owned(),
        }
    }

    pub(crate) fn invalid(
        attr: &'static str,
        instance: &str,
        value: impl Into<String>,
        why: impl Into<String>,
    ) -> Self {
        VolumeError::InvalidAttribute {
            attr,
            instance: instance.to_owned(),
            value: value.into(),
            why: why.into(),
        }
    }

    pub(crate) fn suv(attr: &'static str, instance: &str, why: impl Into<String>) -> Self {
        VolumeError::Suv {
            attr,
            instance: instance.to_owned(),
            why: why.into(),
        }
    }
}
