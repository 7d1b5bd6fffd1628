//! Series assembly on synthetic series written with dicom-object
//! (petground_phantom::fixtures::series): every voxel must hold the value of the field at its own
//! patient position, whatever the instance order, slice direction, orientation or per-slice
//! rescale; broken series give a precise error.

use std::path::PathBuf;

use petground::volume::geometry::Geometry;
use petground::volume::{VolumeError, assemble_files, assemble_objects};
use petground_phantom::fixtures::series::{
    SeriesIds, SynthSlice, enhanced_object, regular_slices, write_slice,
};

/// A smooth positive field (Bq/mL-like) of patient position.
fn field(p: [f64; 3]) -> f64 {
    2000.0 + 3.0 * p[0] - 2.0 * p[1] + 5.0 * p[2]
}

fn ids() -> SeriesIds {
    SeriesIds {
        study: "1.2.826.0.1.3680043.8.498.1".into(),
        series: "1.2.826.0.1.3680043.8.498.2".into(),
        frame_of_reference: "1.2.826.0.1.3680043.8.498.3".into(),
        modality: "PT".into(),
    }
}

fn axial(slice_dir: [f64; 3]) -> Geometry {
    Geometry {
        dims: [7, 9, 11],
        origin: [-20.0, -15.0, 40.0],
        spacing: [4.0, 4.5, 3.27],
        row_dir: [1.0, 0.0, 0.0],
        col_dir: [0.0, 1.0, 0.0],
        slice_dir,
    }
}

/// Writes the slices in a scrambled order (a fixed permutation) and returns the paths.
fn write_scrambled(dir: &tempfile::TempDir, slices: &[SynthSlice]) -> Vec<PathBuf> {
    let n = slices.len();
    (0..n)
        .map(|i| {
            let s = &slices[(i * 5 + 3) % n]; // 5 is coprime with the 7 slices used here
            let p = dir.path().join(format!("f{i:03}.dcm"));
            write_slice(&p, &ids(), s).expect("write synthetic slice");
            p
        })
        .collect()
}

/// Every voxel equals the field at its own position, within half a quantisation step.
fn assert_geometry_true(data: &ndarray::Array3<f32>, g: &Geometry, tol: f64) {
    for ((z, y, x), v) in data.indexed_iter() {
        let want = field(g.index_to_mm([z as f64, y as f64, x as f64]));
        assert!(
            (f64::from(*v) - want).abs() <= tol,
            "[{z},{y},{x}] {v} vs {want}"
        );
    }
}

#[test]
fn shuffled_instances_sort_by_position() {
    let dir = tempfile::tempdir().expect("tempdir");
    let g = axial([0.0, 0.0, 1.0]);
    let slices = regular_slices(&g, "1.2.3.4", field, |_| (1.0, 0.0));
    let s = assemble_files(&write_scrambled(&dir, &slices)).expect("regular series");
    assert_eq!(s.volume.geometry.dims, g.dims);
    assert!((s.volume.geometry.spacing[2] - 3.27).abs() < 1e-6);
    let numbers: Vec<_> = s.slices.iter().map(|r| r.instance_number).collect();
    assert_eq!(numbers, (1..=7).map(Some).collect::<Vec<_>>());
    assert_eq!(s.identity.modality, "PT");
    assert_geometry_true(&s.volume.data, &s.volume.geometry, 0.5);
}

#[test]
fn reversed_slice_direction_gives_the_same_patient_volume() {
    let dir = tempfile::tempdir().expect("tempdir");
    let g = axial([0.0, 0.0, -1.0]); // instance 1 is the most superior slice
    let slices = regular_slices(&g, "1.2.3.5", field, |_| (1.0, 0.0));
    let s = assemble_files(&write_scrambled(&dir, &slices)).expect("regular series");
    assert_eq!(s.volume.geometry.slice_dir, [0.0, 0.0, 1.0]);
    // z = 0 is now the last instance (most inferior).
    assert_eq!(s.slices[0].instance_number, Some(7));
    assert!((s.volume.geometry.origin[2] - (40.0 - 6.0 * 3.27)).abs() < 1e-5);
    assert_geometry_true(&s.volume.data, &s.volume.geometry, 0.5);
}

#[test]
fn oblique_orientation_and_per_slice_rescale() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Rows rotated 30° about z and tilted 10° out of the axial plane.
    let (s30, c30) = (0.5f64, 3f64.sqrt() / 2.0);
    let (s10, c10) = (10f64.to_radians().sin(), 10f64.to_radians().cos());
    let row = [c30, s30, 0.0];
    let col = [-s30 * c10, c30 * c10, s10];
    let normal = petground::volume::geometry::cross(row, col);
    let g = Geometry {
        row_dir: row,
        col_dir: col,
        slice_dir: normal,
        ..axial(normal)
    };
    // Different slope and intercept per slice, as PET scanners write them.
    let rescale = |z: usize| (0.25 + 0.05 * z as f64, -10.0 * z as f64);
    let slices = regular_slices(&g, "1.2.3.6", field, rescale);
    let s = assemble_files(&write_scrambled(&dir, &slices)).expect("oblique series");
    let got = &s.volume.geometry;
    for i in 0..3 {
        assert!(
            (got.row_dir[i] - row[i]).abs() < 1e-5 && (got.slice_dir[i] - normal[i]).abs() < 1e-5
        );
    }
    // Largest slope 0.55 → quantisation error at most 0.275.
    assert_geometry_true(&s.volume.data, got, 0.3);
}

fn expect_err(slices: &[SynthSlice]) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let err: VolumeError =
        assemble_files(&write_scrambled(&dir, slices)).expect_err("broken series");
    err.to_string()
}

#[test]
fn missing_slice_is_a_gap_naming_its_neighbours() {
    let mut slices = regular_slices(&axial([0.0, 0.0, 1.0]), "1.2.3.7", field, |_| (1.0, 0.0));
    slices.remove(3);
    let err = expect_err(&slices);
    assert!(
        err.contains("gap") && err.contains("1.2.3.7.3") && err.contains("1.2.3.7.5"),
        "{err}"
    );
}

#[test]
fn duplicate_position_names_both_instances() {
    let mut slices = regular_slices(&axial([0.0, 0.0, 1.0]), "1.2.3.8", field, |_| (1.0, 0.0));
    slices[4].position = slices[2].position;
    let err = expect_err(&slices);
    assert!(
        err.contains("share the slice position")
            && err.contains("1.2.3.8.3")
            && err.contains("1.2.3.8.5"),
        "{err}"
    );
}

#[test]
fn mixed_matrix_sizes_are_refused() {
    let mut slices = regular_slices(&axial([0.0, 0.0, 1.0]), "1.2.3.9", field, |_| (1.0, 0.0));
    slices[2].rows = 8;
    slices[2].stored.truncate(8 * 11);
    let err = expect_err(&slices);
    assert!(
        err.contains("Rows/Columns") && err.contains("9x11") && err.contains("8x11"),
        "{err}"
    );
}

#[test]
fn mixed_orientation_and_spacing_are_refused() {
    let mut slices = regular_slices(&axial([0.0, 0.0, 1.0]), "1.2.3.10", field, |_| (1.0, 0.0));
    slices[1].pixel_spacing = [5.0, 4.0];
    assert!(expect_err(&slices).contains("PixelSpacing"));
    let mut slices = regular_slices(&axial([0.0, 0.0, 1.0]), "1.2.3.11", field, |_| (1.0, 0.0));
    slices[1].orientation = [0.0, 1.0, 0.0, 1.0, 0.0, 0.0];
    assert!(expect_err(&slices).contains("ImageOrientationPatient"));
}

#[test]
fn enhanced_multiframe_matches_classic() {
    let g = axial([0.0, 0.0, -1.0]);
    let rescale = |z: usize| (0.5 + 0.1 * z as f64, 0.0);
    let mut slices = regular_slices(&g, "1.2.3.12", field, rescale);
    slices.swap(0, 5); // frames out of spatial order
    let obj = enhanced_object(&ids(), "1.2.3.12.100", &slices);
    let s = assemble_objects(&[obj]).expect("enhanced series");
    assert_eq!(s.volume.geometry.dims, g.dims);
    assert!(
        s.slices
            .iter()
            .all(|r| r.sop_instance_uid == "1.2.3.12.100" && r.frame.is_some())
    );
    // Lowest slice (z = 0) is the last generated one, stored as frame 7.
    assert_eq!(s.slices[0].frame, Some(7));
    assert_geometry_true(&s.volume.data, &s.volume.geometry, 0.6);
}

#[test]
fn instances_of_another_series_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let slices = regular_slices(&axial([0.0, 0.0, 1.0]), "1.2.3.13", field, |_| (1.0, 0.0));
    let mut paths = write_scrambled(&dir, &slices);
    let other = SeriesIds {
        series: "1.2.3.99".into(),
        ..ids()
    };
    let p = dir.path().join("other.dcm");
    let mut s = slices[0].clone();
    s.sop_instance_uid = "1.2.3.13.99".into();
    write_slice(&p, &other, &s).expect("write");
    paths.push(p);
    let err = assemble_files(&paths).expect_err("two series").to_string();
    assert!(err.contains("SeriesInstanceUID"), "{err}");
}

#[test]
fn jpeg_ls_transcoded_in_process_decodes_to_the_same_volume() {
    use dicom_pixeldata::Transcode;
    use dicom_transfer_syntax_registry::entries::JPEG_LS_LOSSLESS_IMAGE_COMPRESSION as JPEG_LS;
    let g = axial([0.0, 0.0, 1.0]);
    let slices = regular_slices(&g, "1.2.3.14", field, |z| (0.5 + 0.1 * z as f64, 0.0));
    let native: Vec<_> = slices
        .iter()
        .map(|s| petground_phantom::fixtures::series::slice_object(&ids(), s))
        .collect();
    let want = assemble_objects(&native).expect("native").volume.data;
    let mut objs = native.clone();
    for o in &mut objs {
        o.transcode(&JPEG_LS.erased()).expect("charls encoder");
        assert_eq!(o.meta().transfer_syntax(), JPEG_LS.uid());
    }
    let got = assemble_objects(&objs).expect("JPEG-LS series").volume.data;
    assert_eq!(got, want);
}

#[test]
fn jpeg_lossless_and_rle_from_dcmtk_decode_to_the_same_volume() {
    // dcmtk's encoders (Debian package dcmtk) write the files, as a scanner or PACS would.
    let dir = tempfile::tempdir().expect("tempdir");
    let slices = regular_slices(&axial([0.0, 0.0, 1.0]), "1.2.3.15", field, |_| (1.0, 0.0));
    let native = write_scrambled(&dir, &slices);
    let want = assemble_files(&native).expect("native").volume.data;
    for (tool, uid) in [
        ("dcmcjpeg", "1.2.840.10008.1.2.4.70"),
        ("dcmcrle", "1.2.840.10008.1.2.5"),
    ] {
        let out: Vec<PathBuf> = native
            .iter()
            .map(|p| {
                let q = p.with_extension(format!("{tool}.dcm"));
                let status = std::process::Command::new(tool)
                    .arg(p)
                    .arg(&q)
                    .status()
                    .unwrap_or_else(|e| panic!("{tool} (dcmtk) is needed for this test: {e}"));
                assert!(status.success(), "{tool} failed on {}", p.display());
                q
            })
            .collect();
        let obj = dicom_object::open_file(&out[0]).expect("encoded file");
        assert_eq!(
            obj.meta().transfer_syntax().trim_end_matches('\0'),
            uid,
            "{tool}"
        );
        let got = assemble_files(&out).expect("compressed series").volume.data;
        assert_eq!(got, want, "{tool}");
    }
}

#[test]
fn signed_ct_pixels_keep_their_sign() {
    use dicom_core::value::PrimitiveValue;
    use dicom_core::{DataElement, VR, smallvec::SmallVec};
    use dicom_dictionary_std::tags;
    // CT stored as signed 16-bit HU with intercept 0, as many scanners write it.
    let hu = |p: [f64; 3]| -1000.0 + 10.0 * (p[0] + 20.0);
    let ct = SeriesIds {
        modality: "CT".into(),
        ..ids()
    };
    let g = axial([0.0, 0.0, 1.0]);
    let slices = regular_slices(&g, "1.2.3.16", |_| 0.0, |_| (1.0, 0.0));
    let objs: Vec<_> = slices
        .iter()
        .enumerate()
        .map(|(z, s)| {
            let mut o = petground_phantom::fixtures::series::slice_object(&ct, s);
            let stored: SmallVec<[u16; 2]> = (0..s.rows * s.cols)
                .map(|i| {
                    let p = g.index_to_mm([z as f64, (i / s.cols) as f64, (i % s.cols) as f64]);
                    (hu(p).round() as i16) as u16
                })
                .collect();
            o.put(DataElement::new(
                tags::PIXEL_REPRESENTATION,
                VR::US,
                PrimitiveValue::from(1u16),
            ));
            o.put(DataElement::new(
                tags::PIXEL_DATA,
                VR::OW,
                PrimitiveValue::U16(stored),
            ));
            o
        })
        .collect();
    let s = assemble_objects(&objs).expect("signed CT");
    assert_eq!(s.identity.modality, "CT");
    for ((z, y, x), v) in s.volume.data.indexed_iter() {
        let want = hu(s
            .volume
            .geometry
            .index_to_mm([z as f64, y as f64, x as f64]))
        .round();
        assert_eq!(f64::from(*v), want);
    }
    assert!(s.volume.data.iter().any(|v| *v < -500.0));
}
