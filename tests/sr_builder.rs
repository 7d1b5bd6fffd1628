//! The SR builder through its public API, on a synthetic PET series and SEG: the tree holds what
//! the inputs say, and invalid combinations fail before anything is written. Real-peer checks
//! (dciodvfy, highdicom, dsrdump, the numpy reference) are in tests/sr_dciodvfy.rs. (Here, not
//! beside the builder, because the source series comes from petground_phantom's fixtures.)

use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;

use petground::seg::{SegObject, SegmentDescription, SegmentationBuilder};
use petground::sr::*;
use petground::volume::Volume;
use petground_phantom::fixtures::seg_source::SyntheticStudy;

fn study_and_seg() -> (SyntheticStudy, SegObject, Vec<LesionGroup>) {
    let study = SyntheticStudy::pet(12, 32, 4.0, 2.0);
    let masks = [
        study.ball([6.0, 10.0, 10.0], 2.5),
        study.ball([5.0, 22.0, 20.0], 1.5),
    ];
    let sentences = [
        "Right upper lobe pulmonary nodule, SUVmax 9.1, image 7.",
        "Left axillary lymph node, SUVmax 4.0.",
    ];
    let mut b = SegmentationBuilder::new(study.source(), 901, "petground findings");
    for (i, m) in masks.iter().enumerate() {
        let n = i as u16 + 1;
        let d = SegmentDescription::automatic(n, &format!("F{n}"), sentences[i], "test method");
        b = b.add_segment(d, m.view());
    }
    let seg = b.build().expect("SEG");
    let suv = Volume {
        data: ndarray::Array3::from_shape_fn((12, 32, 32), |(z, y, x)| {
            1.0 + ((z * 3 + y * 5 + x * 7) % 13) as f32 * 0.5
        }),
        geometry: study.geometry.clone(),
    };
    let groups = masks
        .iter()
        .enumerate()
        .map(|(i, m)| LesionGroup {
            segment_number: i as u16 + 1,
            sentence: sentences[i].to_owned(),
            method: "test method".to_owned(),
            measurements: petground::label::measure::measure_mask(&suv, m).expect("measurable"),
        })
        .collect();
    (study, seg, groups)
}

fn items(obj: &InMemDicomObject) -> &[InMemDicomObject] {
    obj.get(tags::CONTENT_SEQUENCE)
        .and_then(|e| e.items())
        .unwrap_or(&[])
}

fn name(obj: &InMemDicomObject) -> String {
    obj.get(tags::CONCEPT_NAME_CODE_SEQUENCE)
        .and_then(|e| e.items())
        .and_then(|i| i.first())
        .and_then(|c| c.get(tags::CODE_VALUE))
        .and_then(|e| e.to_str().ok())
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

fn find<'a>(obj: &'a InMemDicomObject, code: &str) -> Vec<&'a InMemDicomObject> {
    items(obj).iter().filter(|i| name(i) == code).collect()
}

#[test]
fn groups_reference_their_segments_and_carry_the_numbers() {
    let (study, seg, groups) = study_and_seg();
    let mut b = MeasurementReportBuilder::new(study.source(), &seg, 902);
    for g in &groups {
        b = b.add_group(g.clone());
    }
    let b = b.add_ungrounded(UngroundedFinding {
        index: 3,
        sentence: "Mildly avid T10 vertebral body lesion.".into(),
        reason: "no SUVmax in the sentence".into(),
    });
    let sr = b.build().expect("SR");
    assert_eq!(name(&sr), "126000");
    let measurements = find(&sr, "126010");
    assert_eq!(measurements.len(), 1);
    let gs = items(measurements[0]);
    assert_eq!(gs.len(), 3, "two lesion groups and one ungrounded");
    for (g, want) in gs.iter().zip(&groups) {
        let r = find(g, "121191");
        let sop = r[0]
            .get(tags::REFERENCED_SOP_SEQUENCE)
            .and_then(|e| e.items())
            .expect("ref");
        let n = sop[0]
            .get(tags::REFERENCED_SEGMENT_NUMBER)
            .and_then(|e| e.to_int::<u16>().ok());
        assert_eq!(n, Some(want.segment_number));
        let nums = find(g, "126401");
        assert_eq!(nums.len(), 3, "SUVbw max, mean, peak");
        let value = |item: &InMemDicomObject| -> f64 {
            let mv = item
                .get(tags::MEASURED_VALUE_SEQUENCE)
                .and_then(|e| e.items())
                .expect("mv");
            mv[0]
                .get(tags::NUMERIC_VALUE)
                .and_then(|e| e.to_str().ok())
                .expect("value")
                .trim()
                .parse()
                .expect("DS")
        };
        assert!((value(nums[0]) - want.measurements.suv_max).abs() < 1e-6);
        assert!((value(nums[2]) - want.measurements.suv_peak).abs() < 1e-6);
        assert!((value(find(g, "126032")[0]) - want.measurements.mtv_ml).abs() < 1e-6);
        assert_eq!(find(g, "363698007").len(), 1, "finding site named");
    }
    assert_eq!(
        find(&gs[2], "121106").len(),
        1,
        "reason of the ungrounded finding"
    );
    assert!(find(&gs[2], "121191").is_empty());
}

#[test]
fn every_segment_needs_exactly_one_group() {
    let (study, seg, groups) = study_and_seg();
    let only_first =
        MeasurementReportBuilder::new(study.source(), &seg, 902).add_group(groups[0].clone());
    assert!(matches!(
        only_first.build(),
        Err(SrError::Group {
            segment_number: 2,
            ..
        })
    ));
    let twice = MeasurementReportBuilder::new(study.source(), &seg, 902)
        .add_group(groups[0].clone())
        .add_group(groups[0].clone())
        .add_group(groups[1].clone());
    assert!(matches!(
        twice.build(),
        Err(SrError::Group {
            segment_number: 1,
            ..
        })
    ));
    let mut unknown = groups[1].clone();
    unknown.segment_number = 7;
    let b = MeasurementReportBuilder::new(study.source(), &seg, 902)
        .add_group(groups[0].clone())
        .add_group(unknown);
    assert!(matches!(
        b.build(),
        Err(SrError::Group {
            segment_number: 7,
            ..
        })
    ));
    assert!(matches!(
        MeasurementReportBuilder::new(study.source(), &seg, 902).build(),
        Err(SrError::NoGroups)
    ));
    let mut nan = groups[1].clone();
    nan.measurements.suv_peak = f64::NAN;
    let b = MeasurementReportBuilder::new(study.source(), &seg, 902)
        .add_group(groups[0].clone())
        .add_group(nan);
    assert!(matches!(
        b.build(),
        Err(SrError::Group {
            segment_number: 2,
            ..
        })
    ));
}

#[test]
fn the_seg_must_belong_to_the_pet_study() {
    let (_, seg, groups) = study_and_seg();
    let other = SyntheticStudy::pet(12, 32, 4.0, 2.0);
    let b = MeasurementReportBuilder::new(other.source(), &seg, 902)
        .add_group(groups[0].clone())
        .add_group(groups[1].clone());
    assert!(matches!(
        b.build(),
        Err(SrError::InvalidInput {
            what: "StudyInstanceUID",
            ..
        })
    ));
}
