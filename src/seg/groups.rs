//! Functional groups and dimensions of the SEG (PS3.3 §C.7.6.16, §C.7.6.17): shared pixel
//! measures and orientation, per-frame position, segment, dimension index and source image,
//! and the two dimensions (segment number, image position) that index the frames.

use dicom_core::{Tag, VR};
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;
use dicom_object::mem::InMemElement;

use super::elements::{at, code_seq, decimals, int, item, seq, text, ul_many, us};
use super::plan::Plan;
use super::segment::Code;
use crate::volume::geometry::SliceRef;

pub(super) fn shared_groups(p: &Plan) -> InMemDicomObject {
    let g = p.b.source.geometry;
    let [sx, sy, sz] = g.spacing;
    let thickness =
        p.b.source
            .header
            .get(tags::SLICE_THICKNESS)
            .and_then(|e| e.value().to_float64().ok())
            .filter(|t| t.is_finite() && *t > 0.0)
            .unwrap_or(sz);
    // PixelSpacing is (between rows, between columns) = (y step, x step).
    let measures = item([
        decimals(tags::PIXEL_SPACING, &[sy, sx]),
        decimals(tags::SLICE_THICKNESS, &[thickness]),
        decimals(tags::SPACING_BETWEEN_SLICES, &[sz]),
    ]);
    let orientation = item([decimals(
        tags::IMAGE_ORIENTATION_PATIENT,
        &g.image_orientation(),
    )]);
    item([
        seq(tags::PIXEL_MEASURES_SEQUENCE, vec![measures]),
        seq(tags::PLANE_ORIENTATION_SEQUENCE, vec![orientation]),
    ])
}

pub(super) fn per_frame_groups(p: &Plan) -> Vec<InMemDicomObject> {
    let src = &p.b.source;
    // Position dimension index: rank of the slice among the slices that have any frame.
    let mut zs: Vec<usize> = p.frames.iter().map(|f| f.z).collect();
    zs.sort_unstable();
    zs.dedup();
    p.frames
        .iter()
        .map(|f| {
            let pos_index = zs.binary_search(&f.z).map_or(0, |i| i + 1) as u32;
            let derivation = derivation_item(&src.slices[f.z]);
            let position = item([decimals(
                tags::IMAGE_POSITION_PATIENT,
                &src.geometry.slice_position(f.z),
            )]);
            item([
                seq(tags::DERIVATION_IMAGE_SEQUENCE, vec![derivation]),
                seq(
                    tags::FRAME_CONTENT_SEQUENCE,
                    vec![item([ul_many(
                        tags::DIMENSION_INDEX_VALUES,
                        vec![u32::from(f.segment), pos_index],
                    )])],
                ),
                seq(tags::PLANE_POSITION_SEQUENCE, vec![position]),
                seq(
                    tags::SEGMENT_IDENTIFICATION_SEQUENCE,
                    vec![item([us(tags::REFERENCED_SEGMENT_NUMBER, f.segment)])],
                ),
            ])
        })
        .collect()
}

/// DerivationImageSequence item: this frame was segmented from that PET instance (and frame).
fn derivation_item(slice: &SliceRef) -> InMemDicomObject {
    let mut source_image = item([
        text(tags::REFERENCED_SOP_CLASS_UID, VR::UI, &slice.sop_class_uid),
        text(
            tags::REFERENCED_SOP_INSTANCE_UID,
            VR::UI,
            &slice.sop_instance_uid,
        ),
        code_seq(
            tags::PURPOSE_OF_REFERENCE_CODE_SEQUENCE,
            &Code::new(
                "121322",
                "DCM",
                "Source image for image processing operation",
            ),
        ),
        // The SEG grid is the PET grid, so pixel locations carry over unchanged.
        text(tags::SPATIAL_LOCATIONS_PRESERVED, VR::CS, "YES"),
    ]);
    if let Some(frame) = slice.frame {
        source_image.put(int(tags::REFERENCED_FRAME_NUMBER, i64::from(frame)));
    }
    item([
        code_seq(
            tags::DERIVATION_CODE_SEQUENCE,
            &Code::new("113076", "DCM", "Segmentation"),
        ),
        seq(tags::SOURCE_IMAGE_SEQUENCE, vec![source_image]),
    ])
}

pub(super) fn dimensions(p: &Plan) -> [InMemElement; 2] {
    let uid = &p.dimension_organization_uid;
    let dim = |pointer: Tag, group: Tag, label: &str| {
        item([
            text(tags::DIMENSION_ORGANIZATION_UID, VR::UI, uid),
            at(tags::DIMENSION_INDEX_POINTER, pointer),
            at(tags::FUNCTIONAL_GROUP_POINTER, group),
            text(tags::DIMENSION_DESCRIPTION_LABEL, VR::LO, label),
        ])
    };
    [
        seq(
            tags::DIMENSION_ORGANIZATION_SEQUENCE,
            vec![item([text(tags::DIMENSION_ORGANIZATION_UID, VR::UI, uid)])],
        ),
        seq(
            tags::DIMENSION_INDEX_SEQUENCE,
            vec![
                dim(
                    tags::REFERENCED_SEGMENT_NUMBER,
                    tags::SEGMENT_IDENTIFICATION_SEQUENCE,
                    "Segment Number",
                ),
                dim(
                    tags::IMAGE_POSITION_PATIENT,
                    tags::PLANE_POSITION_SEQUENCE,
                    "Image Position Patient",
                ),
            ],
        ),
    ]
}
