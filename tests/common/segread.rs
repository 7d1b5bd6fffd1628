//! Reads a DICOM SEG back onto the PET grid, independently of the writer: frames are placed by
//! their PlanePositionSequence, segments by SegmentIdentificationSequence.

use std::path::Path;

use dicom_dictionary_std::tags;
use dicom_object::{InMemDicomObject, open_file};
use ndarray::Array3;
use petground::volume::Geometry;

pub struct SegmentRead {
    pub number: u16,
    pub label: String,
    pub description: String,
    pub algorithm: String,
    pub mask: Array3<bool>,
}

fn text(o: &InMemDicomObject, tag: dicom_core::Tag) -> String {
    o.element(tag)
        .ok()
        .and_then(|e| e.to_str().ok())
        .map(|s| s.trim_end_matches(['\0', ' ']).to_owned())
        .unwrap_or_default()
}

fn items(o: &InMemDicomObject, tag: dicom_core::Tag) -> Vec<InMemDicomObject> {
    o.element(tag)
        .ok()
        .and_then(|e| e.items().map(|i| i.to_vec()))
        .unwrap_or_default()
}

/// Segments of `path`, each as a mask on `pet` (the PET grid the SEG references).
pub fn read_seg(path: &Path, pet: &Geometry) -> Vec<SegmentRead> {
    let obj = open_file(path).expect("open SEG");
    let rows: usize = text(&obj, tags::ROWS).parse().expect("rows");
    let cols: usize = text(&obj, tags::COLUMNS).parse().expect("cols");
    assert_eq!(
        [rows, cols],
        [pet.dims[1], pet.dims[2]],
        "SEG matrix equals the PET matrix"
    );
    let mut segs: Vec<SegmentRead> = items(&obj, tags::SEGMENT_SEQUENCE)
        .iter()
        .map(|s| SegmentRead {
            number: text(s, tags::SEGMENT_NUMBER)
                .parse()
                .expect("segment number"),
            label: text(s, tags::SEGMENT_LABEL),
            description: text(s, tags::SEGMENT_DESCRIPTION),
            algorithm: text(s, tags::SEGMENT_ALGORITHM_NAME),
            mask: Array3::from_elem((pet.dims[0], rows, cols), false),
        })
        .collect();
    let frames = items(&obj, tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE);
    let pixels = obj
        .element(tags::PIXEL_DATA)
        .expect("pixel data")
        .to_bytes()
        .expect("bytes")
        .to_vec();
    let bits = petground::seg::unpack_bits(&pixels, frames.len() * rows * cols)
        .expect("enough pixel data");
    for (f, frame) in frames.iter().enumerate() {
        let seg_no: u16 = text(
            &items(frame, tags::SEGMENT_IDENTIFICATION_SEQUENCE)[0],
            tags::REFERENCED_SEGMENT_NUMBER,
        )
        .parse()
        .expect("referenced segment");
        let ipp: Vec<f64> = text(
            &items(frame, tags::PLANE_POSITION_SEQUENCE)[0],
            tags::IMAGE_POSITION_PATIENT,
        )
        .split('\\')
        .map(|v| v.trim().parse().expect("IPP number"))
        .collect();
        let idx = pet.mm_to_index([ipp[0], ipp[1], ipp[2]]);
        let z = idx[0].round();
        assert!(
            (idx[0] - z).abs() < 0.01 && idx[1].abs() < 0.01 && idx[2].abs() < 0.01,
            "frame {f} lies on a PET slice: {idx:?}"
        );
        let seg = segs
            .iter_mut()
            .find(|s| s.number == seg_no)
            .expect("frame names a known segment");
        for y in 0..rows {
            for x in 0..cols {
                if bits[f * rows * cols + y * cols + x] {
                    seg.mask[[z as usize, y, x]] = true;
                }
            }
        }
    }
    segs
}
