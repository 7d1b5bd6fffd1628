//! Retention (issue 19): once `keep` has passed, a study whose SEG and SR were delivered is
//! removed (instance files, delivered files, index entries) and the index stays consistent; a
//! study still waiting for its report, or too recent, stays. The node runs for real (dcmtk
//! `storescu`, `mllp_send`, a `storescp` destination) with `keep_days = 1`, which must leave fresh
//! studies alone; retention is then applied to its data dir at a chosen time.

mod common;

use common::study::{phantom, send_images};

use std::time::Duration;

use common::peers::{Storescp, free_port};
use common::{Node, files_below};
use petground::store::{EventKind, Store, unix_now};

const DAY: u64 = 86_400;

#[test]
fn delivered_studies_are_removed_after_keep_and_the_index_stays_consistent() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pacs = Storescp::start(&dir.path().join("pacs"), "PACS", free_port());
    let config = format!(
        "[[destinations]]\nname = \"pacs\"\nae_title = \"PACS\"\naddress = \"127.0.0.1:{}\"\n\
         [routing]\nsend_seg_to = [\"pacs\"]\n[series]\nstable_seconds = 2\n\
         [retention]\nkeep_days = 1\n",
        pacs.port
    );
    let mut node = Node::start(dir.path(), &config);
    let (done, waiting) = (dir.path().join("done"), dir.path().join("waiting"));
    let done_truth = phantom(&done, 41, 3);
    let waiting_truth = phantom(&waiting, 42, 3);
    send_images(&node, &done);
    send_images(&node, &waiting);
    let msg = std::fs::read_to_string(done.join("report.hl7")).expect("report.hl7");
    assert!(common::mllp_send(&node, &msg).contains("MSA|AA|"));
    let received = pacs.wait_for(2, Duration::from_secs(90));
    assert_eq!(received.len(), 2, "SEG and SR delivered: {}", node.status());
    // An outbox entry is marked sent just after storescp has written its file.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while node.status().matches("sent (").count() < 2 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(node.terminate().success());

    let store = Store::open(&node.data_dir()).expect("open store");
    let studies = || -> Vec<String> {
        let all = store.all_studies().expect("studies");
        all.into_iter().map(|(k, _)| k).collect()
    };
    let instance_files = || files_below(&node.data_dir().join("studies")).len();
    let before = instance_files();
    assert!(
        before > 0,
        "the node's own retention (keep_days = 1) kept the fresh studies"
    );
    let now = unix_now();
    assert!(
        store
            .apply_retention(now, Duration::from_secs(DAY))
            .expect("retention")
            .is_empty(),
        "nothing is older than a day yet"
    );
    let removed = store
        .apply_retention(now + 3 * DAY, Duration::from_secs(DAY))
        .expect("retention");
    assert_eq!(removed.len(), 1, "{removed:?}");
    let (uid, freed) = &removed[0];
    assert_eq!(uid.as_str(), done_truth.study_instance_uid);
    assert!(freed.instances > 0 && freed.bytes > 0, "{freed:?}");
    assert_eq!(studies(), vec![waiting_truth.study_instance_uid.clone()]);
    assert_eq!(instance_files(), before - freed.instances);
    assert!(
        files_below(&node.data_dir().join("outbox")).is_empty(),
        "delivered SEG and SR files removed"
    );
    assert!(store.study_series(uid).expect("series").is_empty());
    let series_left = store.all_series().expect("series");
    assert!(
        series_left
            .iter()
            .all(|(_, s)| s.study.as_str() != uid.as_str())
    );
    let jobs = store.all_jobs().expect("jobs");
    assert!(
        jobs.iter().any(|(_, j)| &j.study == uid),
        "job history kept"
    );
    let events = store.events_after(0).expect("events");
    assert!(matches!(
        &events.last().expect("an event").1.kind,
        EventKind::StudyRemoved { study, .. } if study == uid
    ));
    assert!(
        store
            .apply_retention(now + 3 * DAY, Duration::from_secs(DAY))
            .expect("retention again")
            .is_empty(),
        "the study waiting for its report stays; a second run removes nothing"
    );
}
