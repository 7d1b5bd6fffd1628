//! The SEG builder through its public API: validation errors, copied and generated attributes,
//! frame selection and the byte encodings. Conformance (dciodvfy) and highdicom read-back are in
//! tests/seg_dciodvfy.rs. (Here, not beside the builder, because the source series comes from
//! petground_phantom's fixtures, which unit tests cannot use.)

use dicom_core::VR;
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;
use ndarray::Array3;

use petground::seg::elements::text;
use petground::seg::*;
use petground_phantom::fixtures::seg_source::SyntheticStudy;

fn study() -> SyntheticStudy {
    SyntheticStudy::pet(6, 9, 4.0, 3.0)
}

fn lesion(n: u16) -> SegmentDescription {
    SegmentDescription::automatic(
        n,
        &format!("Finding {n}"),
        "Avid mass in the liver.",
        "petground weak-label ITM",
    )
}

fn one_voxel(s: &SyntheticStudy, z: usize) -> Array3<bool> {
    let mut m = Array3::from_elem(s.geometry.dims, false);
    m[[z, 4, 4]] = true;
    m
}

fn str_of(obj: &InMemDicomObject, tag: dicom_core::Tag) -> String {
    obj.get(tag)
        .map(|e| {
            e.value()
                .to_str()
                .expect("string value")
                .trim_end_matches(['\0', ' '])
                .to_owned()
        })
        .unwrap_or_else(|| panic!("{tag} missing"))
}

fn items(obj: &InMemDicomObject, tag: dicom_core::Tag) -> &[InMemDicomObject] {
    obj.get(tag)
        .and_then(|e| e.items())
        .unwrap_or_else(|| panic!("{tag} not a sequence"))
}

#[test]
fn no_segments_is_an_error() {
    let s = study();
    let r = SegmentationBuilder::new(s.source(), 900, "findings").build();
    assert!(matches!(r, Err(SegError::NoSegments)));
}

#[test]
fn segment_numbers_must_run_from_one() {
    let s = study();
    let m = one_voxel(&s, 1);
    let r = SegmentationBuilder::new(s.source(), 900, "findings")
        .add_segment(lesion(1), m.view())
        .add_segment(lesion(3), m.view())
        .build();
    assert!(matches!(
        r,
        Err(SegError::SegmentNumbering {
            expected: 2,
            found: 3
        })
    ));
}

#[test]
fn mask_shape_and_emptiness_are_checked() {
    let s = study();
    let wrong = Array3::from_elem((6, 9, 8), true);
    let r = SegmentationBuilder::new(s.source(), 900, "findings")
        .add_segment(lesion(1), wrong.view())
        .build();
    assert!(matches!(
        r,
        Err(SegError::MaskShape {
            segment_number: 1,
            ..
        })
    ));
    let empty = Array3::from_elem(s.geometry.dims, false);
    let r = SegmentationBuilder::new(s.source(), 900, "findings")
        .add_segment(lesion(1), empty.view())
        .build();
    assert!(matches!(
        r,
        Err(SegError::EmptySegment { segment_number: 1 })
    ));
}

#[test]
fn inputs_are_validated() {
    let s = study();
    let m = one_voxel(&s, 0);
    let base =
        || SegmentationBuilder::new(s.source(), 900, "findings").add_segment(lesion(1), m.view());
    let what = |r: Result<SegObject, SegError>| match r {
        Err(SegError::InvalidInput { what, .. }) => what,
        other => panic!("expected InvalidInput, got {other:?}"),
    };
    assert_eq!(
        what(base().content_label("lower case").build()),
        "ContentLabel"
    );
    assert_eq!(
        what(base().content_date_time("2026-01-01", "1200").build()),
        "ContentDate/Time"
    );
    assert_eq!(
        what(base().device_serial_number("").build()),
        "DeviceSerialNumber"
    );
    let mut short = s.clone();
    short.slices.pop();
    let r = SegmentationBuilder::new(short.source(), 900, "findings")
        .add_segment(lesion(1), m.view())
        .build();
    assert_eq!(what(r), "SliceRef");
    let mut no_study = s.clone();
    no_study.header.remove_element(tags::STUDY_INSTANCE_UID);
    let r = SegmentationBuilder::new(no_study.source(), 900, "findings")
        .add_segment(lesion(1), m.view())
        .build();
    assert_eq!(what(r), "StudyInstanceUID");
    let bad = SegmentDescription::automatic(1, "L\\2", "x", "a");
    let r = SegmentationBuilder::new(s.source(), 900, "findings")
        .add_segment(bad, m.view())
        .build();
    assert!(matches!(
        r,
        Err(SegError::InvalidSegment {
            field: "SegmentLabel",
            ..
        })
    ));
}

#[test]
fn attributes_copied_and_generated() {
    let s = study();
    let (m1, m2) = (one_voxel(&s, 2), one_voxel(&s, 4));
    let build = || {
        SegmentationBuilder::new(s.source(), 901, "findings")
            .add_segment(lesion(1), m1.view())
            .add_segment(lesion(2).with_tracking("F2", None), m2.view())
            .content_date_time("20260102", "030405")
            .build()
            .expect("valid")
    };
    let (a, b) = (build(), build());
    for tag in [
        tags::PATIENT_NAME,
        tags::PATIENT_ID,
        tags::STUDY_INSTANCE_UID,
        tags::ACCESSION_NUMBER,
        tags::STUDY_DATE,
    ] {
        assert_eq!(str_of(&a, tag), str_of(&s.header, tag), "{tag}");
    }
    assert_eq!(
        str_of(&a, tags::FRAME_OF_REFERENCE_UID),
        s.frame_of_reference_uid
    );
    assert_eq!(str_of(&a, tags::REFERRING_PHYSICIAN_NAME), "");
    assert_eq!(str_of(&a, tags::LOSSY_IMAGE_COMPRESSION), "00");
    assert_eq!(
        str_of(&a, tags::SOFTWARE_VERSIONS),
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(str_of(&a, tags::CONTENT_DATE), "20260102");
    // Fresh UIDs per object, the meta group agrees with the dataset.
    assert_eq!(sop_instance_uid(&a), str_of(&a, tags::SOP_INSTANCE_UID));
    assert_ne!(
        str_of(&a, tags::SOP_INSTANCE_UID),
        str_of(&b, tags::SOP_INSTANCE_UID)
    );
    assert_ne!(
        str_of(&a, tags::SERIES_INSTANCE_UID),
        str_of(&b, tags::SERIES_INSTANCE_UID)
    );
    assert_ne!(str_of(&a, tags::SERIES_INSTANCE_UID), s.series_instance_uid);
    // One frame per non-empty (segment, slice); position index ranks the used slices.
    assert_eq!(str_of(&a, tags::NUMBER_OF_FRAMES), "2");
    let frames = items(&a, tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE);
    let div = |f: &InMemDicomObject| {
        items(f, tags::FRAME_CONTENT_SEQUENCE)[0]
            .get(tags::DIMENSION_INDEX_VALUES)
            .expect("DimensionIndexValues")
            .value()
            .to_multi_int::<u32>()
            .expect("UL values")
    };
    assert_eq!(div(&frames[0]), vec![1, 1]);
    assert_eq!(div(&frames[1]), vec![2, 2]);
    let src = &items(
        &items(&frames[1], tags::DERIVATION_IMAGE_SEQUENCE)[0],
        tags::SOURCE_IMAGE_SEQUENCE,
    )[0];
    assert_eq!(
        str_of(src, tags::REFERENCED_SOP_INSTANCE_UID),
        s.slices[4].sop_instance_uid
    );
    let segs = items(&a, tags::SEGMENT_SEQUENCE);
    assert!(segs[0].get(tags::TRACKING_UID).is_none());
    assert!(petground::ids::Uid::parse(&str_of(&segs[1], tags::TRACKING_UID)).is_ok());
}

#[test]
fn lossy_source_makes_lossy_seg() {
    let mut s = study();
    s.header
        .put(text(tags::LOSSY_IMAGE_COMPRESSION, VR::CS, "01"));
    s.header
        .put(text(tags::LOSSY_IMAGE_COMPRESSION_RATIO, VR::DS, "8"));
    let m = one_voxel(&s, 0);
    let a = SegmentationBuilder::new(s.source(), 900, "findings")
        .add_segment(lesion(1), m.view())
        .build()
        .expect("valid");
    assert_eq!(str_of(&a, tags::LOSSY_IMAGE_COMPRESSION), "01");
    assert_eq!(str_of(&a, tags::LOSSY_IMAGE_COMPRESSION_RATIO), "8");
}

#[test]
fn bytes_read_back() {
    let s = study();
    let m = s.ball([3.0, 4.0, 4.0], 2.0);
    let a = SegmentationBuilder::new(s.source(), 900, "findings")
        .add_segment(lesion(1), m.view())
        .build()
        .expect("valid");
    let file = seg_to_bytes(&a).expect("encode");
    assert_eq!(&file[128..132], b"DICM");
    let back = dicom_object::OpenFileOptions::new()
        .read_preamble(dicom_object::file::ReadPreamble::Always)
        .from_reader(&file[..])
        .expect("own bytes parse");
    assert_eq!(str_of(&back, tags::SOP_INSTANCE_UID), sop_instance_uid(&a));
    let pixels = back
        .get(tags::PIXEL_DATA)
        .expect("PixelData")
        .value()
        .to_bytes()
        .expect("bytes");
    let frames = str_of(&back, tags::NUMBER_OF_FRAMES)
        .parse::<usize>()
        .expect("IS");
    let bits = unpack_bits(&pixels, frames * 81).expect("enough bytes");
    assert_eq!(
        bits.iter().filter(|&&b| b).count(),
        m.iter().filter(|&&b| b).count()
    );
    let dataset = seg_dataset_bytes(&a).expect("encode dataset");
    assert_eq!(
        dataset.len(),
        file.len() - 132 - a.meta().information_group_length as usize - 12
    );
}
