//! Start-up reconciliation: an instance of an open series is acknowledged once its file is
//! durable, while its index entry is committed without fsync (the series watcher makes it
//! durable within a tick). A crash in between leaves files the index does not know; opening
//! the store must re-index them, newest version included. (tests/scp.rs covers the same through
//! a real `kill -9` mid-transfer.)
mod common;

use common::dicomgen::SeriesSpec;
use petground::store::{InstanceHeader, Store};

fn commit(store: &Store, file: &std::path::Path) -> InstanceHeader {
    let (tmp, _) = store.incoming_file().expect("temp file");
    std::fs::copy(file, &tmp).expect("copy");
    let header = InstanceHeader::read(&tmp).expect("header");
    store.commit_instance(&tmp, &header, 1_000).expect("commit");
    header
}

#[test]
fn files_of_an_open_series_missing_from_the_index_are_reindexed_at_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spec = SeriesSpec::ct(4, 16);
    let files = spec.write(&dir.path().join("send"));
    let data = dir.path().join("var");

    let first = {
        let store = Store::open(&data).expect("open");
        commit(&store, &files[0])
    };
    // What a crash leaves: durable files whose (non-durable) index commits were lost — two new
    // instances, and a second version of the first one.
    let series_dir = data
        .join("studies")
        .join(first.study.as_str())
        .join(first.series.as_str());
    for f in &files[1..3] {
        let h = InstanceHeader::read(f).expect("header");
        let rel = Store::instance_rel_path(&h.study, &h.series, &h.sop_instance, 1);
        std::fs::copy(f, data.join(rel)).expect("place");
    }
    let mut v2 = spec.instance(first.sop_instance.as_str(), 99);
    v2.put(dicom_object::mem::InMemElement::new(
        dicom_dictionary_std::tags::SERIES_DESCRIPTION,
        dicom_core::VR::LO,
        dicom_core::PrimitiveValue::from("changed"),
    ));
    v2.write_to_file(series_dir.join(format!("{}.v2.dcm", first.sop_instance)))
        .expect("v2");
    // A stray non-DICOM name is left alone.
    std::fs::write(series_dir.join("notes.txt"), b"x").expect("stray");

    let store = Store::open(&data).expect("reopen");
    let listed = store
        .series_instances(first.series.as_str())
        .expect("instances");
    assert_eq!(listed.len(), 3, "{listed:?}");
    let rec = store
        .instance(first.sop_instance.as_str())
        .expect("lookup")
        .expect("first instance indexed");
    assert_eq!(rec.version, 2);
    assert!(rec.path.ends_with(".v2.dcm"), "{}", rec.path);
    assert_eq!(rec.instance_number, Some(99));
    let series = store
        .series(first.series.as_str())
        .expect("series")
        .expect("series known");
    assert_eq!(series.instances, 3, "a new version is not a new instance");
    assert!(series.complete.is_none());
    // A fourth, never-placed instance stays unknown.
    let h4 = InstanceHeader::read(&files[3]).expect("header");
    assert!(
        store
            .instance(h4.sop_instance.as_str())
            .expect("lookup")
            .is_none()
    );
}

/// Found by bench/soak: the same instance committed by several associations at once was counted
/// once per association (20 files, 58 instances in the index; a PET series "complete" with
/// slices missing).
#[test]
fn the_same_instance_committed_concurrently_is_counted_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let files = SeriesSpec::ct(3, 16).write(&dir.path().join("send"));
    let store = Store::open(&dir.path().join("var")).expect("open");
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| {
                for f in &files {
                    commit(&store, f);
                }
            });
        }
    });
    let header = InstanceHeader::read(&files[0]).expect("header");
    let series = store
        .series(header.series.as_str())
        .expect("lookup")
        .expect("series indexed");
    assert_eq!(series.instances, 3, "{series:?}");
    assert_eq!(
        store
            .series_instances(header.series.as_str())
            .expect("list")
            .len(),
        3
    );
}
