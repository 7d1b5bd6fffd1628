//! A synthetic PET series header and grid, built in code, for tests of the SEG and of whoever
//! delivers it (no pixel data: a SEG needs only the source's attributes, geometry and UIDs).
//! Not a phantom generator: `tools/phantom` owns images; this owns just enough identity.

use dicom_core::VR;
use dicom_dictionary_std::{tags, uids};
use dicom_object::InMemDicomObject;
use ndarray::Array3;

use super::SourceSeries;
use super::elements::{text, texts};
use super::uid::new_uid;
use crate::volume::geometry::{Geometry, SliceRef};

/// Header, geometry and per-slice references of a made-up axial PET series.
#[derive(Debug, Clone)]
pub struct SyntheticStudy {
    pub header: InMemDicomObject,
    pub geometry: Geometry,
    pub slices: Vec<SliceRef>,
    pub series_instance_uid: String,
    pub frame_of_reference_uid: String,
}

impl SyntheticStudy {
    /// An axial, head-first PET series of `nz` slices of `matrix × matrix` pixels with the given
    /// pixel size and slice step (mm), centred on the scanner axis; slices step toward the head.
    pub fn pet(nz: usize, matrix: usize, pixel_mm: f64, slice_mm: f64) -> Self {
        let half = (matrix as f64 - 1.0) / 2.0 * pixel_mm;
        let geometry = Geometry {
            dims: [nz, matrix, matrix],
            origin: [-half, -half, -800.0],
            spacing: [pixel_mm, pixel_mm, slice_mm],
            row_dir: [1.0, 0.0, 0.0],
            col_dir: [0.0, 1.0, 0.0],
            slice_dir: [0.0, 0.0, 1.0],
        };
        let slices = (0..nz)
            .map(|z| SliceRef {
                sop_class_uid: uids::POSITRON_EMISSION_TOMOGRAPHY_IMAGE_STORAGE.to_owned(),
                sop_instance_uid: new_uid(),
                instance_number: i32::try_from(z + 1).ok(),
                frame: None,
            })
            .collect();
        let series_instance_uid = new_uid();
        let frame_of_reference_uid = new_uid();
        let header = InMemDicomObject::from_element_iter([
            text(tags::SPECIFIC_CHARACTER_SET, VR::CS, "ISO_IR 192"),
            text(
                tags::SOP_CLASS_UID,
                VR::UI,
                uids::POSITRON_EMISSION_TOMOGRAPHY_IMAGE_STORAGE,
            ),
            text(tags::PATIENT_NAME, VR::PN, "Phantom^Müller"),
            text(tags::PATIENT_ID, VR::LO, "PG-SYN-0001"),
            text(tags::PATIENT_BIRTH_DATE, VR::DA, "19600101"),
            text(tags::PATIENT_SEX, VR::CS, "O"),
            text(tags::STUDY_INSTANCE_UID, VR::UI, &new_uid()),
            text(tags::STUDY_DATE, VR::DA, "20260101"),
            text(tags::STUDY_TIME, VR::TM, "101500"),
            text(tags::REFERRING_PHYSICIAN_NAME, VR::PN, ""),
            text(tags::STUDY_ID, VR::SH, "1"),
            text(tags::ACCESSION_NUMBER, VR::SH, "ACC0001"),
            text(tags::STUDY_DESCRIPTION, VR::LO, "PET-CT FDG whole body"),
            text(tags::MODALITY, VR::CS, "PT"),
            text(tags::SERIES_INSTANCE_UID, VR::UI, &series_instance_uid),
            text(
                tags::FRAME_OF_REFERENCE_UID,
                VR::UI,
                &frame_of_reference_uid,
            ),
            text(tags::POSITION_REFERENCE_INDICATOR, VR::LO, ""),
            texts(
                tags::SLICE_THICKNESS,
                VR::DS,
                vec![super::elements::ds(slice_mm)],
            ),
            text(tags::LOSSY_IMAGE_COMPRESSION, VR::CS, "00"),
        ]);
        SyntheticStudy {
            header,
            geometry,
            slices,
            series_instance_uid,
            frame_of_reference_uid,
        }
    }

    /// The study as the SEG builder's source.
    pub fn source(&self) -> SourceSeries<'_> {
        SourceSeries {
            header: &self.header,
            geometry: &self.geometry,
            slices: &self.slices,
            series_instance_uid: &self.series_instance_uid,
            frame_of_reference_uid: &self.frame_of_reference_uid,
        }
    }

    /// A ball of voxels whose centres lie within `radius_vox` (in voxels) of `centre` `[z, y, x]`.
    pub fn ball(&self, centre: [f64; 3], radius_vox: f64) -> Array3<bool> {
        let [nz, ny, nx] = self.geometry.dims;
        Array3::from_shape_fn((nz, ny, nx), |(z, y, x)| {
            let d = [
                z as f64 - centre[0],
                y as f64 - centre[1],
                x as f64 - centre[2],
            ];
            d.iter().map(|v| v * v).sum::<f64>() <= radius_vox * radius_vox
        })
    }
}
