//! The DICOM receiver against real peers over loopback: dcmtk echoscu/storescu, raw sockets for
//! bad input, dicom-ul as a hand-driven SCU for cut-short data sets, and kill -9 crash safety.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::dicomgen::{self, SeriesSpec};
use common::{Node, dataset_bytes, echo, files_below, storescu};
use petground::dicom::dimse::{Request, Response, status};

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}

/// Path where the node must have stored a sent file.
fn stored_path(node: &Node, sent: &std::path::Path) -> std::path::PathBuf {
    let obj = dicom_object::open_file(sent).expect("open sent file");
    let get = |t| {
        obj.element(t)
            .expect("element")
            .to_str()
            .expect("str")
            .trim_end_matches('\0')
            .to_owned()
    };
    use dicom_dictionary_std::tags;
    node.data_dir()
        .join("studies")
        .join(get(tags::STUDY_INSTANCE_UID))
        .join(get(tags::SERIES_INSTANCE_UID))
        .join(format!("{}.dcm", get(tags::SOP_INSTANCE_UID)))
}

#[test]
fn echo_and_store_with_dcmtk_keeps_every_byte() {
    let dir = tempdir();
    let node = Node::start(dir.path(), "");
    let (ok, out) = echo(&node, "ECHOSCU", "PETGROUND");
    assert!(ok, "C-ECHO failed: {out}");

    let pet = SeriesSpec::pet(12, 64);
    let ct = SeriesSpec {
        study: pet.study.clone(),
        ..SeriesSpec::ct(8, 128)
    };
    let mut files = pet.write(&dir.path().join("send/pet"));
    files.extend(ct.write(&dir.path().join("send/ct")));
    let (ok, out) = storescu(&node, &[], &files);
    assert!(ok, "storescu failed: {out}");

    for f in &files {
        let stored = stored_path(&node, f);
        assert!(stored.exists(), "{} not stored", stored.display());
        assert_eq!(
            dataset_bytes(&stored),
            dataset_bytes(f),
            "data set bytes differ for {}",
            f.display()
        );
    }
    let status = node.status();
    assert!(
        status.contains(&format!("series {} ", pet.series)),
        "{status}"
    );
    assert!(
        status.contains("instances=12/12 complete (all-slices)"),
        "{status}"
    );
    assert!(
        status.contains("modality=CT instances=8 receiving"),
        "{status}"
    );

    // Re-sending identical instances is a success and stores nothing new.
    let (ok, out) = storescu(&node, &[], &files[..3]);
    assert!(ok, "resend failed: {out}");
    let stored = files_below(&node.data_dir().join("studies"));
    assert_eq!(
        stored.len(),
        files.len(),
        "a resend must not add files: {stored:?}"
    );
}

#[test]
fn ct_series_completes_after_stable_seconds_and_survives_restart() {
    let dir = tempdir();
    let mut node = Node::start(dir.path(), "[series]\nstable_seconds = 2\n");
    let ct = SeriesSpec::ct(3, 32);
    let files = ct.write(&dir.path().join("send"));
    assert!(storescu(&node, &[], &files).0);
    assert!(node.status().contains("instances=3 receiving"));
    // Restart before the series is stable: completion must still happen, from stored state.
    node.kill9();
    let node = Node::start_with(dir.path(), node.config.clone());
    assert!(
        node.wait_log("series complete", Duration::from_secs(10))
            .is_some(),
        "series did not complete after restart"
    );
    assert!(
        node.status().contains("instances=3 complete (stable)"),
        "{}",
        node.status()
    );
}

#[test]
fn parallel_associations_all_store() {
    let dir = tempdir();
    let node = Node::start(dir.path(), "");
    let series: Vec<_> = (0..4)
        .map(|i| {
            let s = SeriesSpec::pet(10, 64);
            (s.clone(), s.write(&dir.path().join(format!("send{i}"))))
        })
        .collect();
    std::thread::scope(|scope| {
        for (_, files) in &series {
            let node = &node;
            scope.spawn(move || {
                let (ok, out) = storescu(node, &[], files);
                assert!(ok, "storescu failed: {out}");
            });
        }
    });
    for (_, files) in &series {
        for f in files {
            assert!(stored_path(&node, f).exists());
        }
    }
    assert_eq!(node.status().matches("instances=10/10 complete").count(), 4);
}

#[test]
fn wrong_called_ae_and_unknown_calling_ae_are_rejected_with_reason() {
    let dir = tempdir();
    let node = Node::start(
        dir.path(),
        "[accept]\ncalling_ae_titles = [\"MODALITY\", \"PACS@127.0.0.1\", \"OTHER@10.9.9.9\"]\n",
    );
    let (ok, out) = echo(&node, "MODALITY", "NOTUS");
    assert!(!ok);
    assert!(out.contains("Called AE Title Not Recognized"), "{out}");
    let (ok, out) = echo(&node, "STRANGER", "PETGROUND");
    assert!(!ok);
    assert!(out.contains("Calling AE Title Not Recognized"), "{out}");
    let (ok, out) = echo(&node, "OTHER", "PETGROUND");
    assert!(!ok, "OTHER is only allowed from 10.9.9.9: {out}");
    assert!(echo(&node, "MODALITY", "PETGROUND").0);
    assert!(echo(&node, "PACS", "PETGROUND").0);
    assert!(
        node.wait_log("association rejected", Duration::from_secs(5))
            .is_some()
    );
}

#[test]
fn unsupported_transfer_syntax_is_not_accepted() {
    use dicom_ul::association::client::ClientAssociationOptions;
    let dir = tempdir();
    let node = Node::start(dir.path(), "");
    // Explicit VR Big Endian (retired) is not among the transfer syntaxes we decode.
    let attempt = ClientAssociationOptions::new()
        .calling_ae_title("RAWSCU")
        .called_ae_title("PETGROUND")
        .with_presentation_context(dicomgen::PET, vec!["1.2.840.10008.1.2.2"])
        .establish(node.dicom);
    match attempt {
        Err(e) => assert!(e.to_string().to_lowercase().contains("presentation"), "{e}"),
        Ok(a) => panic!("big endian accepted: {:?}", a.presentation_contexts()),
    }
    // The same SOP class with explicit VR little endian is accepted.
    let ok = ClientAssociationOptions::new()
        .calling_ae_title("RAWSCU")
        .called_ae_title("PETGROUND")
        .with_presentation_context(
            dicomgen::PET,
            vec!["1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1"],
        )
        .establish(node.dicom)
        .expect("explicit VR LE accepted");
    assert_eq!(
        ok.presentation_contexts()[0].transfer_syntax,
        "1.2.840.10008.1.2.1"
    );
    let _ = ok.release();
    // A non-storage SOP class (Study Root Q/R FIND) is refused in negotiation.
    let find = ClientAssociationOptions::new()
        .called_ae_title("PETGROUND")
        .with_presentation_context("1.2.840.10008.5.1.4.1.2.2.1", vec!["1.2.840.10008.1.2.1"])
        .establish(node.dicom);
    assert!(find.is_err(), "Q/R FIND must not be accepted");
    assert!(echo(&node, "ECHOSCU", "PETGROUND").0, "node keeps serving");
}

#[test]
fn garbage_and_truncated_pdus_leave_the_node_serving() {
    let dir = tempdir();
    let node = Node::start(dir.path(), "association_timeout_seconds = 2\n");
    let addr = node.dicom;
    // Random bytes: answered with an abort or closed.
    let mut s = TcpStream::connect(addr).expect("connect");
    s.write_all(&[0x42; 300]).expect("write");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    assert!(
        buf.is_empty() || buf[0] == 0x07,
        "expected abort or close, got {buf:?}"
    );
    // A-ASSOCIATE-RQ header announcing 1000 bytes, then 10 bytes and silence.
    let mut s = TcpStream::connect(addr).expect("connect");
    s.write_all(&[0x01, 0, 0, 0, 0x03, 0xE8, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
        .expect("write");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf); // the node closes it after the association timeout
    // Connect and hang up at once.
    drop(TcpStream::connect(addr).expect("connect"));
    assert!(
        echo(&node, "ECHOSCU", "PETGROUND").0,
        "node must keep serving"
    );
}

/// An A-ASSOCIATE-RQ to PETGROUND proposing `contexts` PET presentation contexts.
fn association_request(contexts: usize) -> Vec<u8> {
    use dicom_ul::pdu::{AssociationRQ, Pdu, PresentationContextProposed};
    let rq = AssociationRQ {
        protocol_version: 1,
        calling_ae_title: "RAWSCU".into(),
        called_ae_title: "PETGROUND".into(),
        application_context_name: "1.2.840.10008.3.1.1.1".into(),
        presentation_contexts: (0..contexts)
            .map(|i| PresentationContextProposed {
                id: (2 * (i % 128) + 1) as u8,
                abstract_syntax: dicomgen::PET.into(),
                transfer_syntaxes: vec!["1.2.840.10008.1.2.1".into(), "1.2.840.10008.1.2".into()],
            })
            .collect(),
        user_variables: vec![dicom_ul::pdu::UserVariableItem::MaxLength(16384)],
    };
    let mut out = Vec::new();
    dicom_ul::pdu::write_pdu(&mut out, &Pdu::AssociationRQ(rq)).expect("encode RQ");
    out
}

/// The first PDU type byte the node answers with on `s`, or `None` if it closed silently.
fn answer_type(s: &mut TcpStream) -> Option<u8> {
    s.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    let mut b = [0u8; 1];
    match s.read(&mut b) {
        Ok(1) => Some(b[0]),
        _ => None,
    }
}

/// Issue 18: connections that never send a byte wait outside the association slots, and a
/// request cut short (then half-closed) or too large to take is answered at once instead of
/// being held to the association timeout (set to an hour here, so a hold fails the test).
#[test]
fn idle_sockets_and_stalled_requests_do_not_hold_association_slots() {
    let dir = tempdir();
    let node = Node::start(
        dir.path(),
        "max_associations = 2\nassociation_timeout_seconds = 3600\n",
    );
    let idle: Vec<TcpStream> = (0..5)
        .map(|_| TcpStream::connect(node.dicom).expect("connect"))
        .collect();
    let (ok, out) = echo(&node, "ECHOSCU", "PETGROUND");
    assert!(ok, "five idle sockets must not lock out C-ECHO: {out}");

    // Half a request, then the peer half-closes: A-ABORT.
    let rq = association_request(3);
    let mut s = TcpStream::connect(node.dicom).expect("connect");
    s.write_all(&rq[..rq.len() / 2]).expect("write");
    s.shutdown(std::net::Shutdown::Write).expect("half-close");
    assert_eq!(
        answer_type(&mut s),
        Some(0x07),
        "cut-short request: A-ABORT"
    );

    // 3,000 presentation contexts (~300 KB; at most 128 are valid): an answer, not a hold.
    let big = association_request(3000);
    let mut s = TcpStream::connect(node.dicom).expect("connect");
    let writer = {
        let mut w = s.try_clone().expect("clone");
        std::thread::spawn(move || {
            let _ = w.write_all(&big);
        })
    };
    let answer = answer_type(&mut s);
    assert!(
        matches!(answer, Some(0x02 | 0x03 | 0x07)),
        "oversized request answered with AC, RJ or abort, got {answer:?}"
    );
    let _ = writer.join();
    drop(idle);
    assert!(echo(&node, "ECHOSCU", "PETGROUND").0, "node keeps serving");
}

/// Drives one C-STORE by hand with dicom-ul so that the data set can be cut short.
fn store_raw(node: &Node, sop_class: &str, sop: &str, dataset: &[u8]) -> Response {
    store_raw_ts(node, sop_class, sop, dataset, "1.2.840.10008.1.2.1")
}

/// [`store_raw`] in transfer syntax `ts`.
fn store_raw_ts(node: &Node, sop_class: &str, sop: &str, dataset: &[u8], ts: &str) -> Response {
    use dicom_ul::association::client::ClientAssociationOptions;
    use dicom_ul::pdu::{PDataValue, PDataValueType, Pdu};
    let mut assoc = ClientAssociationOptions::new()
        .calling_ae_title("RAWSCU")
        .called_ae_title("PETGROUND")
        .with_presentation_context(sop_class, vec![ts])
        .establish(node.dicom)
        .expect("association");
    let pc = assoc.presentation_contexts()[0].id;
    let cmd = Request::Store {
        message_id: 1,
        sop_class_uid: sop_class.to_owned(),
        sop_instance_uid: sop.to_owned(),
        has_dataset: true,
    };
    // The data set in 64 KiB fragments, one per P-DATA-TF (well under the node's max PDU).
    let mut fragments = vec![(PDataValueType::Command, cmd.encode(), true)];
    let chunks: Vec<&[u8]> = dataset.chunks(64 << 10).collect();
    for (i, c) in chunks.iter().enumerate() {
        fragments.push((PDataValueType::Data, c.to_vec(), i + 1 == chunks.len()));
    }
    for (value_type, data, is_last) in fragments {
        assoc
            .send(&Pdu::PData {
                data: vec![PDataValue {
                    presentation_context_id: pc,
                    value_type,
                    is_last,
                    data,
                }],
            })
            .expect("send");
    }
    let rsp = match assoc.receive().expect("response") {
        Pdu::PData { data } => Response::decode(&data[0].data).expect("decode response"),
        other => panic!("expected P-DATA, got {other:?}"),
    };
    let _ = assoc.release();
    rsp
}

#[test]
fn cut_short_dataset_and_oversize_instance_get_failure_statuses() {
    let dir = tempdir();
    let node = Node::start(dir.path(), "max_instance_mb = 1\n");
    let spec = SeriesSpec::pet(1, 32);
    let sop = dicomgen::uid();
    let mut full = Vec::new();
    spec.instance(&sop, 1)
        .write_dataset(&mut full)
        .expect("encode");
    let rsp = store_raw(&node, dicomgen::PET, &sop, &full[..full.len() / 3]);
    assert_eq!(rsp.status, status::CANNOT_UNDERSTAND, "{rsp:?}");
    assert!(
        node.data_dir().join("quarantine").exists(),
        "undecodable data set is quarantined"
    );

    // The data set claims another SOP instance than the command.
    let rsp = store_raw(&node, dicomgen::PET, &dicomgen::uid(), &full);
    assert_eq!(rsp.status, status::DATASET_DOES_NOT_MATCH, "{rsp:?}");

    // 1.5 MB instance against a 1 MB limit: A700 through dcmtk.
    let big = SeriesSpec::pet(1, 900).write(&dir.path().join("big"));
    let (_, out) = storescu(&node, &["-v"], &big);
    assert!(out.contains("OutOfResources"), "{out}");
    assert!(files_below(&node.data_dir().join("studies")).is_empty());

    assert_keeps_serving(&node, &sop, &full);
}

/// After bad input, the same node stores a good data set.
fn assert_keeps_serving(node: &Node, sop: &str, dataset: &[u8]) {
    let rsp = store_raw(node, dicomgen::PET, sop, dataset);
    assert_eq!(
        rsp.status,
        status::SUCCESS,
        "the node keeps serving: {rsp:?}"
    );
}

/// The data set bytes of one small synthetic PET instance with a new SOP Instance UID.
fn pet_dataset() -> (String, Vec<u8>) {
    let sop = dicomgen::uid();
    let mut bytes = Vec::new();
    SeriesSpec::pet(1, 16)
        .instance(&sop, 1)
        .write_dataset(&mut bytes)
        .expect("encode");
    (sop, bytes)
}

/// Issue 18: an empty, blank or NUL SOP Instance UID in the command gets a failure status (the
/// association goes on); an element claiming 1.8 GB inside a sequence item is refused with
/// C000 before anything reserves that much.
#[test]
fn bad_command_uids_and_claimed_lengths_get_failure_statuses() {
    let dir = tempdir();
    let node = Node::start(dir.path(), "");
    let (sop, full) = pet_dataset();
    for bad in ["", "    ", "\0\0"] {
        let rsp = store_raw(&node, dicomgen::PET, bad, &full);
        assert_eq!(rsp.status, status::CANNOT_UNDERSTAND, "{bad:?}: {rsp:?}");
    }
    // (0008,1115) SQ of one 20-byte item whose first element (0009,0010) claims 1.8 GB.
    let mut hostile = full.clone();
    let mut seq = vec![0x08, 0x00, 0x15, 0x11, b'S', b'Q', 0, 0];
    seq.extend_from_slice(&28u32.to_le_bytes());
    seq.extend_from_slice(&[0xFE, 0xFF, 0x00, 0xE0]);
    seq.extend_from_slice(&20u32.to_le_bytes());
    seq.extend_from_slice(&[0x09, 0x00, 0x10, 0x00, b'U', b'N', 0, 0]);
    seq.extend_from_slice(&1_800_000_000u32.to_le_bytes());
    seq.extend_from_slice(&[0u8; 8]);
    // Sequences sort after (0008,0060) and before (0010,xxxx): insert before the first group 0010 element.
    let at = (0..hostile.len() - 2)
        .step_by(2)
        .find(|&i| hostile[i..i + 2] == [0x10, 0x00] && hostile[i + 2..i + 4] == [0x10, 0x00])
        .expect("PatientName");
    hostile.splice(at..at, seq);
    let rsp = store_raw(&node, dicomgen::PET, &sop, &hostile);
    assert_eq!(rsp.status, status::CANNOT_UNDERSTAND, "{rsp:?}");
    assert_keeps_serving(&node, &sop, &full);
}

/// Deflated data sets are inflated (bounded) and walked before any parser sees them: a good
/// one from dcmtk is stored, a cut-short or bogus one gets C000.
#[test]
fn deflated_data_sets_are_checked_after_inflating() {
    use std::io::Write as _;
    const DEFLATED: &str = "1.2.840.10008.1.2.1.99";
    let dir = tempdir();
    let node = Node::start(dir.path(), "");
    let files = SeriesSpec::pet(1, 16).write(&dir.path().join("in"));
    let (ok, out) = storescu(&node, &["-v", "-xd"], &files);
    assert!(ok && out.contains("(Success)"), "{out}");
    let stored = dicom_object::open_file(stored_path(&node, &files[0])).expect("stored");
    assert_eq!(
        stored.meta().transfer_syntax().trim_end_matches('\0'),
        DEFLATED
    );

    let (sop, plain) = pet_dataset();
    let deflate = |bytes: &[u8]| {
        let mut z = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
        z.write_all(bytes).expect("deflate");
        z.finish().expect("deflate")
    };
    let cut = deflate(&plain[..plain.len() - 100]);
    let rsp = store_raw_ts(&node, dicomgen::PET, &sop, &cut, DEFLATED);
    assert_eq!(rsp.status, status::CANNOT_UNDERSTAND, "{rsp:?}");
    let rsp = store_raw_ts(&node, dicomgen::PET, &sop, &[0xFF; 64], DEFLATED);
    assert_eq!(rsp.status, status::CANNOT_UNDERSTAND, "{rsp:?}");
    let rsp = store_raw_ts(&node, dicomgen::PET, &sop, &deflate(&plain), DEFLATED);
    assert_eq!(rsp.status, status::SUCCESS, "{rsp:?}");
}

/// Found by bench/soak: the same data set from another calling AE was kept as `.v2`, `.v3`
/// (the whole file was compared, including the meta header we write, which names the sender).
#[test]
fn an_identical_resend_from_another_sender_is_stored_once() {
    let dir = tempdir();
    let node = Node::start(dir.path(), "");
    let files = SeriesSpec::pet(2, 16).write(&dir.path().join("in"));
    for aet in ["SENDER_A", "SENDER_B", "SENDER_A"] {
        let (ok, out) = storescu(&node, &["-aet", aet], &files);
        assert!(ok, "{out}");
    }
    let stored = files_below(&node.data_dir().join("studies"));
    assert_eq!(stored.len(), 2, "{stored:?}");
}

/// Issue 19: the same study sent three ways (explicit VR, implicit VR, deflated; by two senders)
/// is stored once: a resend is judged by the data set, not by its transfer syntax.
#[test]
fn a_study_resent_in_other_transfer_syntaxes_is_stored_once() {
    let dir = tempdir();
    let node = Node::start(dir.path(), "");
    let files = SeriesSpec::pet(3, 16).write(&dir.path().join("in"));
    for (aet, ts) in [
        ("SENDER_A", "-xe"),
        ("SENDER_B", "-xi"),
        ("SENDER_A", "-xd"),
    ] {
        let (ok, out) = storescu(&node, &["-aet", aet, ts], &files);
        assert!(ok, "{ts}: {out}");
    }
    let stored = files_below(&node.data_dir().join("studies"));
    assert_eq!(stored.len(), 3, "{stored:?}");
}

#[test]
fn instances_over_the_in_memory_size_go_through_a_temporary_file_intact() {
    // The receiver assembles instances up to 4 MiB in memory and spills larger ones to a
    // temporary file: a ~5 MB slice must be stored byte for byte, and one cut short refused.
    let dir = tempdir();
    let node = Node::start(dir.path(), "");
    let spec = SeriesSpec::ct(2, 1600);
    let files = spec.write(&dir.path().join("send"));
    assert!(std::fs::metadata(&files[0]).expect("size").len() > 5_000_000);
    let (ok, out) = storescu(&node, &[], &files[..1]);
    assert!(ok, "storescu failed: {out}");
    let stored = stored_path(&node, &files[0]);
    assert_eq!(dataset_bytes(&stored), dataset_bytes(&files[0]));

    let sop = dicomgen::uid();
    let mut full = Vec::new();
    spec.instance(&sop, 2)
        .write_dataset(&mut full)
        .expect("encode");
    let rsp = store_raw(&node, dicomgen::CT, &sop, &full[..full.len() - 1000]);
    assert_eq!(rsp.status, status::CANNOT_UNDERSTAND, "{rsp:?}");
    let rsp = store_raw(&node, dicomgen::CT, &sop, &full);
    assert_eq!(rsp.status, status::SUCCESS, "{rsp:?}");
    assert!(files_below(&node.data_dir().join("incoming")).is_empty());
    assert_eq!(files_below(&node.data_dir().join("studies")).len(), 2);
}

#[test]
fn kill_9_mid_transfer_loses_no_acknowledged_instance() {
    let dir = tempdir();
    let mut node = Node::start(dir.path(), "");
    let spec = SeriesSpec::pet(150, 256);
    let files = spec.write(&dir.path().join("send"));
    let mut child = common::tool("storescu")
        .args(["-v", "-aec", "PETGROUND", "127.0.0.1", &node.port()])
        .args(&files)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("storescu");
    let stdout = child.stderr.take().expect("stderr");
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::BufReader::new(stdout).read_to_string(&mut text);
        text
    });
    // Kill once some instances are acknowledged (by disk evidence), while the rest are in flight.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while files_below(&node.data_dir().join("studies")).len() < 20
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(5));
    }
    node.kill9();
    let _ = child.wait();
    let log = reader.join().expect("reader");
    // storescu -v prints "Sending Store Request ... (file)" then "Received Store Response (Success)".
    let acked = log.matches("Received Store Response (Success)").count();
    assert!(
        acked > 0 && acked < files.len(),
        "kill must land mid-transfer: {} acked",
        acked
    );
    // No partial file is visible in the store.
    let node = Node::start_with(dir.path(), node.config.clone());
    for f in files_below(&node.data_dir().join("studies")) {
        assert_eq!(
            f.extension().and_then(|e| e.to_str()),
            Some("dcm"),
            "stray file {}",
            f.display()
        );
        dicom_object::open_file(&f).unwrap_or_else(|e| panic!("{} unreadable: {e}", f.display()));
    }
    assert!(files_below(&node.data_dir().join("incoming")).is_empty());
    // storescu sends files in order: the first `acked` are on disk, intact and indexed.
    for f in &files[..acked] {
        let stored = stored_path(&node, f);
        assert_eq!(dataset_bytes(&stored), dataset_bytes(f));
    }
    let status = node.status();
    let indexed: u32 = status
        .split_whitespace()
        .find_map(|w| w.strip_prefix("instances="))
        .and_then(|v| v.split('/').next())
        .and_then(|v| v.parse().ok())
        .expect("status lists the series");
    assert!(
        indexed as usize >= acked,
        "indexed {indexed} < acked {}",
        acked
    );
    // The whole transfer can be resent and completes the series.
    let (ok, out) = storescu(&node, &[], &files);
    assert!(ok, "{out}");
    assert!(
        node.status().contains("instances=150/150 complete"),
        "{}",
        node.status()
    );
}
