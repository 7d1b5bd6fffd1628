//! The content tree: TID 1500 Measurement Report with its language (TID 1204), device observer
//! (TID 1001/1004), procedure, image library (TID 1600) and imaging measurements: one TID 1411
//! group per segment and one TID 1501 group per finding that has no segment.
//!
//! ```text
//! CONTAINER Imaging Measurement Report [1500]
//!  ├ HAS CONCEPT MOD  Language = en-US          ├ HAS OBS CONTEXT  Observer Type = Device, UID, …
//!  ├ HAS CONCEPT MOD  Procedure reported = PET whole body
//!  ├ CONTAINS CONTAINER Image Library > Group (modality PT, frame of reference, PET images)
//!  └ CONTAINS CONTAINER Imaging Measurements
//!     ├ Measurement Group [1411]: tracking ID/UID, finding category + type, the sentence (TEXT
//!     │   "Finding"), finding site, algorithm, Referenced Segment, source series, SUVbw max/mean/
//!     │   peak, Metabolic Volume, TLG, Long axis
//!     └ Measurement Group [1501]: tracking ID/UID, finding, sentence, site, Comment "not grounded: …"
//! ```

use dicom_object::InMemDicomObject;

use super::codes as c;
use super::content::{Rel, code, container, image, num, text_item, uidref, with_children};
use super::plan::Plan;
use super::plan::{LesionGroup, SegSegment, UngroundedFinding};
use super::site::finding_site;
use crate::label::measure::PEAK_RADIUS_MM;
use crate::seg::{Code, new_uid};

/// Device Observer UID of petground (a name-based UUID of the project, so every node reports
/// the same device; the installation is told apart by Device Observer Serial Number).
pub const DEVICE_OBSERVER_UID: &str = "2.25.285479991411146642900582386835823369164";

/// How the numbers were made, written as Algorithm Parameters of every lesion group.
pub fn method_parameters() -> String {
    format!(
        "native PET grid; SUVpeak: hottest 1 mL sphere (voxel centres within {PEAK_RADIUS_MM:.4} mm) \
         centred on a lesion voxel centre (PERCIST); MTV: voxel count x voxel volume; TLG: SUVmean x \
         MTV; long axis: largest in-plane extent of the lesion's pixels over its slices"
    )
}

/// The root CONTAINER with its whole content (its elements go straight into the data set).
pub(super) fn document(p: &Plan) -> InMemDicomObject {
    let mut children = vec![code(
        Rel::HasConceptMod,
        &c::language_of_content(),
        &c::english_us(),
    )];
    children.extend(observer(p));
    children.push(code(
        Rel::HasConceptMod,
        &c::procedure_reported(),
        &c::pet_whole_body(),
    ));
    children.push(image_library(p));
    let mut groups: Vec<InMemDicomObject> = p.b.groups.iter().map(|g| lesion_group(p, g)).collect();
    groups.extend(p.b.ungrounded.iter().map(ungrounded_group));
    children.push(with_children(
        container(Some(Rel::Contains), &c::imaging_measurements(), None),
        groups,
    ));
    with_children(
        container(None, &c::imaging_measurement_report(), Some("1500")),
        children,
    )
}

/// TID 1001 observation context with TID 1004: the node as device observer.
fn observer(p: &Plan) -> Vec<InMemDicomObject> {
    let version = format!("petground {}", env!("CARGO_PKG_VERSION"));
    vec![
        code(Rel::HasObsContext, &c::observer_type(), &c::device()),
        uidref(
            Rel::HasObsContext,
            &c::device_observer_uid(),
            DEVICE_OBSERVER_UID,
        ),
        text_item(Rel::HasObsContext, &c::device_observer_name(), "petground"),
        text_item(
            Rel::HasObsContext,
            &c::device_observer_manufacturer(),
            "petground",
        ),
        text_item(
            Rel::HasObsContext,
            &c::device_observer_model_name(),
            &version,
        ),
        text_item(
            Rel::HasObsContext,
            &c::device_observer_serial_number(),
            &p.b.device_serial_number,
        ),
    ]
}

/// TID 1600: one group for the PET series (modality, frame of reference) with its images.
fn image_library(p: &Plan) -> InMemDicomObject {
    let src = &p.b.source;
    let mut entries = vec![
        code(Rel::HasAcqContext, &c::modality(), &c::modality_pt()),
        uidref(
            Rel::HasAcqContext,
            &c::frame_of_reference_uid(),
            src.frame_of_reference_uid,
        ),
    ];
    let mut seen = std::collections::HashSet::new();
    entries.extend(
        src.slices
            .iter()
            .filter(|s| seen.insert(s.sop_instance_uid.as_str()))
            .map(|s| {
                image(
                    Rel::Contains,
                    &c::source(),
                    &s.sop_class_uid,
                    &s.sop_instance_uid,
                    None,
                )
            }),
    );
    let group = with_children(
        container(Some(Rel::Contains), &c::image_library_group(), None),
        entries,
    );
    with_children(
        container(Some(Rel::Contains), &c::image_library(), None),
        vec![group],
    )
}

/// Tracking, finding category/type, the sentence and its site: what both group kinds open with.
fn finding_items(
    tracking_id: &str,
    tracking_uid: &str,
    segment: Option<&SegSegment>,
    sentence: &str,
) -> Vec<InMemDicomObject> {
    let mut items = vec![
        text_item(Rel::HasObsContext, &c::tracking_identifier(), tracking_id),
        uidref(
            Rel::HasObsContext,
            &c::tracking_unique_identifier(),
            tracking_uid,
        ),
    ];
    let sentence_type = crate::seg::SegmentedPropertyType::from_sentence(sentence).code();
    let category = segment
        .and_then(|s| s.category.clone())
        .unwrap_or_else(|| Code::new("49755003", "SCT", "Morphologically abnormal structure"));
    let kind = segment
        .and_then(|s| s.property_type.clone())
        .unwrap_or(sentence_type);
    items.push(code(Rel::Contains, &c::finding_category(), &category));
    items.push(code(Rel::Contains, &c::finding(), &kind));
    items.push(text_item(Rel::Contains, &c::finding(), sentence));
    if let Some(site) = finding_site(sentence) {
        let modifier = site
            .laterality
            .map(|l| vec![code(Rel::HasConceptMod, &c::laterality(), &l.code())])
            .unwrap_or_default();
        items.push(with_children(
            code(Rel::HasConceptMod, &c::finding_site(), &site.site),
            modifier,
        ));
    }
    items
}

/// TID 1411 for one segment.
fn lesion_group(p: &Plan, g: &LesionGroup) -> InMemDicomObject {
    // Validation found the segment in the SEG.
    let seg = p.seg.segments.iter().find(|s| s.number == g.segment_number);
    let tracking_id = seg
        .and_then(|s| s.tracking_id.clone().or_else(|| Some(s.label.clone())))
        .unwrap_or_else(|| format!("Segment {}", g.segment_number));
    let tracking_uid = seg
        .and_then(|s| s.tracking_uid.clone())
        .unwrap_or_else(new_uid);
    let mut items = finding_items(&tracking_id, &tracking_uid, seg, &g.sentence);
    items.extend([
        text_item(Rel::HasConceptMod, &c::algorithm_name(), &g.method),
        text_item(
            Rel::HasConceptMod,
            &c::algorithm_version(),
            env!("CARGO_PKG_VERSION"),
        ),
        text_item(
            Rel::HasConceptMod,
            &c::algorithm_parameters(),
            &method_parameters(),
        ),
        image(
            Rel::Contains,
            &c::referenced_segment(),
            &p.seg.sop_class_uid,
            &p.seg.sop_instance_uid,
            Some(g.segment_number),
        ),
        uidref(
            Rel::Contains,
            &c::source_series_for_segmentation(),
            p.b.source.series_instance_uid,
        ),
    ]);
    let m = &g.measurements;
    let suv = |value: f64, derivation: Code| {
        with_children(
            num(Rel::Contains, &c::suvbw(), value, &c::unit_suvbw()),
            vec![code(Rel::HasConceptMod, &c::derivation(), &derivation)],
        )
    };
    items.extend([
        suv(m.suv_max, c::maximum()),
        suv(m.suv_mean, c::mean()),
        suv(m.suv_peak, c::peak_value_within_roi()),
        num(
            Rel::Contains,
            &c::metabolic_volume(),
            m.mtv_ml,
            &c::unit_ml(),
        ),
        num(
            Rel::Contains,
            &c::total_lesion_glycolysis(),
            m.tlg,
            &c::unit_gram(),
        ),
        num(
            Rel::Contains,
            &c::long_axis(),
            m.largest_axial_diameter_mm,
            &c::unit_mm(),
        ),
    ]);
    with_children(
        container(Some(Rel::Contains), &c::measurement_group(), Some("1411")),
        items,
    )
}

/// TID 1501 for a finding without a segment: what it said and why it was not grounded.
fn ungrounded_group(u: &UngroundedFinding) -> InMemDicomObject {
    let id = format!("Finding {} (not grounded)", u.index);
    let mut items = finding_items(&id, &new_uid(), None, &u.sentence);
    items.push(text_item(
        Rel::Contains,
        &c::comment(),
        &format!("not grounded: {}", u.reason),
    ));
    with_children(
        container(Some(Rel::Contains), &c::measurement_group(), Some("1501")),
        items,
    )
}
