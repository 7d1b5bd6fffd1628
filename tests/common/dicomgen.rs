//! Small synthetic DICOM instances for network tests (uncompressed, explicit VR LE). Whole
//! phantom studies come from tools/phantom; these only need valid headers and some pixels.

use std::path::{Path, PathBuf};

use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_object::{FileMetaTableBuilder, InMemDicomObject};

pub const PET: &str = uids::POSITRON_EMISSION_TOMOGRAPHY_IMAGE_STORAGE;
pub const CT: &str = uids::CT_IMAGE_STORAGE;

/// One series to write: `count` slices of `rows`×`cols` 16-bit pixels.
#[derive(Clone, Debug)]
pub struct SeriesSpec {
    pub study: String,
    pub series: String,
    pub modality: &'static str,
    pub sop_class: &'static str,
    pub rows: u16,
    pub cols: u16,
    pub count: u32,
    /// Written as NumberOfSlices for PET series.
    pub number_of_slices: Option<u32>,
}

static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// A fresh UID under a test root, unique within this process run.
pub fn uid() -> String {
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("2.25.{}{}{n}", t % 10_000_000_000_000, std::process::id())
}

impl SeriesSpec {
    pub fn pet(count: u32, rows: u16) -> Self {
        Self {
            study: uid(),
            series: uid(),
            modality: "PT",
            sop_class: PET,
            rows,
            cols: rows,
            count,
            number_of_slices: Some(count),
        }
    }

    pub fn ct(count: u32, rows: u16) -> Self {
        Self {
            modality: "CT",
            sop_class: CT,
            number_of_slices: None,
            ..Self::pet(count, rows)
        }
    }

    /// Writes the series into `dir`, returning the file paths in slice order.
    pub fn write(&self, dir: &Path) -> Vec<PathBuf> {
        std::fs::create_dir_all(dir).expect("create dir");
        (1..=self.count)
            .map(|i| {
                let sop = uid();
                let path = dir.join(format!("{}-{i:04}.dcm", self.modality));
                self.instance(&sop, i)
                    .write_to_file(&path)
                    .expect("write instance");
                path
            })
            .collect()
    }

    pub fn instance(
        &self,
        sop: &str,
        number: u32,
    ) -> dicom_object::FileDicomObject<InMemDicomObject> {
        let mut o = InMemDicomObject::new_empty();
        let s = |o: &mut InMemDicomObject, tag, vr, v: &str| {
            o.put(DataElement::new(tag, vr, PrimitiveValue::from(v)));
        };
        s(&mut o, tags::SOP_CLASS_UID, VR::UI, self.sop_class);
        s(&mut o, tags::SOP_INSTANCE_UID, VR::UI, sop);
        s(&mut o, tags::STUDY_INSTANCE_UID, VR::UI, &self.study);
        s(&mut o, tags::SERIES_INSTANCE_UID, VR::UI, &self.series);
        s(&mut o, tags::MODALITY, VR::CS, self.modality);
        s(&mut o, tags::PATIENT_NAME, VR::PN, "Test^Phantom");
        s(&mut o, tags::PATIENT_ID, VR::LO, "PHANTOM-1");
        s(&mut o, tags::ACCESSION_NUMBER, VR::SH, "ACC-TEST");
        s(&mut o, tags::STUDY_DATE, VR::DA, "20261128");
        s(&mut o, tags::INSTANCE_NUMBER, VR::IS, &number.to_string());
        s(
            &mut o,
            tags::IMAGE_POSITION_PATIENT,
            VR::DS,
            &format!("-300\\-300\\{}", -(number as f64) * 3.0),
        );
        s(
            &mut o,
            tags::IMAGE_ORIENTATION_PATIENT,
            VR::DS,
            "1\\0\\0\\0\\1\\0",
        );
        s(
            &mut o,
            tags::PHOTOMETRIC_INTERPRETATION,
            VR::CS,
            "MONOCHROME2",
        );
        if let Some(n) = self.number_of_slices {
            o.put(DataElement::new(
                tags::NUMBER_OF_SLICES,
                VR::US,
                PrimitiveValue::from(n as u16),
            ));
        }
        for (tag, v) in [
            (tags::ROWS, self.rows),
            (tags::COLUMNS, self.cols),
            (tags::SAMPLES_PER_PIXEL, 1),
            (tags::BITS_ALLOCATED, 16),
            (tags::BITS_STORED, 16),
            (tags::HIGH_BIT, 15),
            (tags::PIXEL_REPRESENTATION, 0),
        ] {
            o.put(DataElement::new(tag, VR::US, PrimitiveValue::from(v)));
        }
        let n = self.rows as usize * self.cols as usize;
        let pixels: Vec<u16> = (0..n)
            .map(|k| ((k as u32 * 7 + number * 13) % 4096) as u16)
            .collect();
        o.put(DataElement::new(
            tags::PIXEL_DATA,
            VR::OW,
            PrimitiveValue::U16(pixels.into()),
        ));
        o.with_meta(
            FileMetaTableBuilder::new()
                .media_storage_sop_class_uid(self.sop_class)
                .media_storage_sop_instance_uid(sop)
                .transfer_syntax(uids::EXPLICIT_VR_LITTLE_ENDIAN),
        )
        .expect("valid file meta")
    }
}
