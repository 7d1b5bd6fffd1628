//! The C-STORE SCU against real peers on loopback: dcmtk `storescp` (bit-preserving, small PDUs,
//! implicit-only, refusing, aborting, a profile without CT), dcmtk `dcmqrscp` (checks the called
//! AE title, which storescp 3.6.7 does not), our own node (real 0xA700 refusals and transient
//! association rejections) and ports where nothing answers.

mod common;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::dicomgen::{self, SeriesSpec};
use common::{Node, dataset_bytes, files_below, tool};
use dicom_dictionary_std::{tags, uids};
use petground::config::Destination;
use petground::dicom::scu::{Outcome, ScuError, ScuOptions, StoreResult, echo, store_files};
use petground::ids::AeTitle;

/// A dcmtk peer process, killed on drop.
struct Peer {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port nobody listens on (bound, then released).
fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind port 0");
    l.local_addr().expect("local addr").port()
}

/// Waits until `addr` accepts TCP connections. storescp and dcmqrscp log a failed association
/// for the probe and keep listening.
fn wait_listening(addr: SocketAddr, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("peer exited before listening: {status}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("peer did not listen on {addr} within 10 s");
}

/// `storescp -aet PACS +B` (write data sets exactly as received) into `out`, plus `args`.
fn storescp(out: &Path, args: &[&str]) -> Peer {
    std::fs::create_dir_all(out).expect("create output dir");
    let port = free_port();
    let mut child = tool("storescp")
        .args(["-od"])
        .arg(out)
        .args(["-aet", "PACS", "+B"])
        .args(args)
        .arg(port.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start storescp");
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    wait_listening(addr, &mut child);
    Peer { child, addr }
}

fn dest(addr: SocketAddr, called: &str) -> Destination {
    Destination {
        name: "pacs".into(),
        ae_title: AeTitle::parse(called).expect("valid AE"),
        address: addr.into(),
    }
}

fn calling() -> AeTitle {
    AeTitle::parse("PETGROUND").expect("valid AE")
}

fn send(
    dest: &Destination,
    files: &[PathBuf],
    opts: &ScuOptions,
) -> Result<Vec<StoreResult>, ScuError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(store_files(dest, &calling(), files, opts))
}

/// Short timeouts so that failing peers fail the test quickly.
fn quick() -> ScuOptions {
    ScuOptions {
        connect_timeout: Duration::from_secs(2),
        acse_timeout: Duration::from_secs(5),
        dimse_timeout: Duration::from_secs(10),
        ..ScuOptions::default()
    }
}

fn sop_instance(path: &Path) -> String {
    let obj = dicom_object::open_file(path).expect("open DICOM file");
    obj.element(tags::SOP_INSTANCE_UID)
        .expect("SOPInstanceUID")
        .to_str()
        .expect("string")
        .trim_end_matches('\0')
        .to_owned()
}

/// The file storescp wrote for `sent`, found by SOP Instance UID.
fn received(out: &Path, sent: &Path) -> PathBuf {
    let want = sop_instance(sent);
    files_below(out)
        .into_iter()
        .find(|p| sop_instance(p) == want)
        .unwrap_or_else(|| panic!("{want} was not received"))
}

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}

#[test]
fn series_and_seg_arrive_byte_for_byte() {
    let dir = tempdir();
    // 4096-byte PDUs: each 64×64×2-byte data set goes out in several fragments.
    let peer = storescp(&dir.path().join("in"), &["-pdu", "4096"]);
    let pet = SeriesSpec::pet(6, 64);
    let mut files = pet.write(&dir.path().join("pet"));
    // A SEG-class instance: storescp's default contexts include Segmentation Storage (dcmtk
    // 3.6.7 accepts every storage SOP class it knows without -pm or a profile).
    let seg = SeriesSpec {
        modality: "SEG",
        sop_class: uids::SEGMENTATION_STORAGE,
        count: 1,
        number_of_slices: None,
        ..SeriesSpec::pet(1, 32)
    };
    files.extend(seg.write(&dir.path().join("seg")));

    let results = send(&dest(peer.addr, "PACS"), &files, &quick()).expect("delivered");
    assert_eq!(results.len(), files.len());
    for (r, f) in results.iter().zip(&files) {
        assert_eq!(r.path, *f, "results keep the order of the files");
        assert_eq!(
            (r.status, r.class, r.sent),
            (0, Outcome::Success, true),
            "{r:?}"
        );
        assert_eq!(r.sop_instance_uid, sop_instance(f));
        let got = received(&dir.path().join("in"), f);
        assert_eq!(
            dataset_bytes(&got),
            dataset_bytes(f),
            "{} differs",
            got.display()
        );
    }
}

#[test]
fn data_sets_are_reencoded_for_an_implicit_only_peer() {
    let dir = tempdir();
    let peer = storescp(&dir.path().join("in"), &["+xi"]);
    let files = SeriesSpec::pet(2, 32).write(&dir.path().join("pet"));
    let results = send(&dest(peer.addr, "PACS"), &files, &quick()).expect("delivered");
    assert!(
        results.iter().all(|r| r.class == Outcome::Success),
        "{results:?}"
    );
    for f in &files {
        let got = dicom_object::open_file(received(&dir.path().join("in"), f)).expect("open");
        assert_eq!(
            got.meta().transfer_syntax(),
            uids::IMPLICIT_VR_LITTLE_ENDIAN
        );
        let sent = dicom_object::open_file(f).expect("open");
        for tag in [
            tags::SOP_INSTANCE_UID,
            tags::IMAGE_POSITION_PATIENT,
            tags::PIXEL_DATA,
        ] {
            let a = sent
                .element(tag)
                .expect("sent element")
                .to_bytes()
                .expect("bytes");
            let b = got
                .element(tag)
                .expect("received element")
                .to_bytes()
                .expect("bytes");
            assert_eq!(a, b, "{tag} differs after re-encoding");
        }
    }
}

#[test]
fn destination_down_is_transient() {
    let dir = tempdir();
    let files = SeriesSpec::pet(1, 16).write(dir.path());
    let started = Instant::now();
    let err = send(
        &dest(SocketAddr::from(([127, 0, 0, 1], free_port())), "PACS"),
        &files,
        &quick(),
    )
    .expect_err("nobody listens");
    assert!(matches!(err, ScuError::Connect { .. }), "{err}");
    assert!(err.is_transient());
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "refusal must be fast"
    );
}

#[test]
fn a_silent_peer_times_out_as_transient() {
    let dir = tempdir();
    let files = SeriesSpec::pet(1, 16).write(dir.path());
    // The kernel completes the TCP handshake into the backlog; nobody ever answers.
    let silent = TcpListener::bind("127.0.0.1:0").expect("bind");
    let opts = ScuOptions {
        acse_timeout: Duration::from_millis(300),
        ..quick()
    };
    let err = send(
        &dest(silent.local_addr().expect("addr"), "PACS"),
        &files,
        &opts,
    )
    .expect_err("no answer");
    assert!(matches!(err, ScuError::Timeout { .. }), "{err}");
    assert!(err.is_transient());
}

#[test]
fn unknown_called_ae_is_a_permanent_rejection() {
    let dir = tempdir();
    let port = free_port();
    let db = dir.path().join("db");
    std::fs::create_dir_all(&db).expect("db dir");
    let cfg = dir.path().join("dcmqrscp.cfg");
    std::fs::write(
        &cfg,
        format!(
            "NetworkTCPPort = {port}\nMaxPDUSize = 16384\nMaxAssociations = 4\n\
             HostTable BEGIN\nHostTable END\nVendorTable BEGIN\nVendorTable END\n\
             AETable BEGIN\nOTHER {} RW (10, 10mb) ANY\nAETable END\n",
            db.display()
        ),
    )
    .expect("write dcmqrscp config");
    let mut child = tool("dcmqrscp")
        .args(["--single-process", "-c"])
        .arg(&cfg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start dcmqrscp");
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    wait_listening(addr, &mut child);
    let _peer = Peer { child, addr };
    let files = SeriesSpec::pet(1, 16).write(&dir.path().join("pet"));
    let err = send(&dest(addr, "PACS"), &files, &quick()).expect_err("PACS is not OTHER");
    match &err {
        ScuError::Rejected {
            permanent, reason, ..
        } => {
            assert!(*permanent, "{err}");
            assert!(reason.to_lowercase().contains("called"), "{reason}");
        }
        other => panic!("expected a rejection, got {other}"),
    }
    assert!(!err.is_transient());
}

#[test]
fn refused_association_is_permanent_and_abort_is_transient() {
    let dir = tempdir();
    let files = SeriesSpec::pet(2, 16).write(&dir.path().join("pet"));
    let refusing = storescp(&dir.path().join("in1"), &["--refuse"]);
    let err = send(&dest(refusing.addr, "PACS"), &files, &quick()).expect_err("refused");
    assert!(
        matches!(
            err,
            ScuError::Rejected {
                permanent: true,
                ..
            }
        ),
        "{err}"
    );
    assert!(!err.is_transient());

    let aborting = storescp(&dir.path().join("in2"), &["--abort-after"]);
    let err = send(&dest(aborting.addr, "PACS"), &files, &quick()).expect_err("aborted");
    assert!(err.is_transient(), "{err}");
    assert!(err.completed().is_empty(), "nothing was answered: {err}");
}

#[test]
fn a_class_the_peer_does_not_take_is_refused_and_the_rest_delivered() {
    let dir = tempdir();
    // A storescp profile with PET only: the CT context is rejected in negotiation.
    let cfg = dir.path().join("pet-only.cfg");
    std::fs::write(
        &cfg,
        format!(
            "[[TransferSyntaxes]]\n[Uncompressed]\nTransferSyntax1 = {}\nTransferSyntax2 = {}\n\
             [[PresentationContexts]]\n[PetOnly]\nPresentationContext1 = {}\\Uncompressed\n\
             [[Profiles]]\n[Pet]\nPresentationContexts = PetOnly\n",
            uids::EXPLICIT_VR_LITTLE_ENDIAN,
            uids::IMPLICIT_VR_LITTLE_ENDIAN,
            dicomgen::PET
        ),
    )
    .expect("write storescp profile");
    let cfg_arg = cfg.to_str().expect("utf-8 path");
    let peer = storescp(&dir.path().join("in"), &["-xf", cfg_arg, "Pet"]);
    let pet = SeriesSpec::pet(2, 16);
    let ct = SeriesSpec {
        study: pet.study.clone(),
        ..SeriesSpec::ct(1, 16)
    };
    let mut files = pet.write(&dir.path().join("pet"));
    files.extend(ct.write(&dir.path().join("ct")));
    let results = send(&dest(peer.addr, "PACS"), &files, &quick()).expect("PET accepted");
    let classes: Vec<_> = results
        .iter()
        .map(|r| (r.class, r.sent, r.status))
        .collect();
    assert_eq!(
        classes,
        [
            (Outcome::Success, true, 0),
            (Outcome::Success, true, 0),
            (Outcome::PermanentFailure, false, 0x0122)
        ]
    );
    assert_eq!(files_below(&dir.path().join("in")).len(), 2);

    // Only CT: no context at all is accepted, which is a permanent error for the call.
    let err = send(&dest(peer.addr, "PACS"), &files[2..], &quick()).expect_err("no context");
    assert!(
        matches!(err, ScuError::NoPresentationContext { .. }),
        "{err}"
    );
    assert!(!err.is_transient());
}

/// Our node's config with its own limits (common::write_config fixes min_free_disk_mb).
fn node_with(dir: &Path, dicom: &str) -> Node {
    let config = dir.join("petground.toml");
    std::fs::write(
        &config,
        format!(
            "[node]\nae_title = \"PETGROUND\"\ndicom_listen = \"127.0.0.1:0\"\n\
             hl7_listen = \"127.0.0.1:0\"\ndata_dir = \"{}\"\n[web]\nlisten = \"\"\n\n[dicom]\n{dicom}\n",
            dir.join("var").display()
        ),
    )
    .expect("write config");
    Node::start_with(dir, config)
}

#[test]
fn out_of_resources_is_transient_per_file_and_per_association() {
    let dir = tempdir();
    let node = node_with(dir.path(), "min_free_disk_mb = 1\nmax_instance_mb = 1");
    let small = SeriesSpec::pet(2, 16);
    let mut files = small.write(&dir.path().join("small"));
    // 800×800×2 bytes = 1.28 MB of pixels: over the node's 1 MB instance limit.
    let big = SeriesSpec {
        study: small.study.clone(),
        ..SeriesSpec::pet(1, 800)
    };
    files.insert(1, big.write(&dir.path().join("big")).remove(0));
    let results = send(&dest(node.dicom, "PETGROUND"), &files, &quick()).expect("association");
    let got: Vec<_> = results.iter().map(|r| (r.status, r.class)).collect();
    assert_eq!(
        got,
        [
            (0x0000, Outcome::Success),
            (0xA700, Outcome::TransientFailure),
            (0x0000, Outcome::Success)
        ]
    );
    assert!(
        results[1].comment.is_some(),
        "the node explains its refusal"
    );
    drop(node);

    // A node below its disk reserve rejects associations as transient.
    let dir = tempdir();
    let node = node_with(dir.path(), "min_free_disk_mb = 1000000000");
    let err = send(&dest(node.dicom, "PETGROUND"), &files[..1], &quick()).expect_err("reserve");
    assert!(
        matches!(
            err,
            ScuError::Rejected {
                permanent: false,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.is_transient());
}

/// A hand-driven SCP (dicom-ul's sync server) that answers each C-STORE-RQ with
/// MessageIDBeingRespondedTo = `answer(MessageID)`, to check that the SCU verifies it.
fn misnumbering_peer(answer: fn(u16) -> u16) -> SocketAddr {
    use dicom_ul::association::server::ServerAssociationOptions;
    use dicom_ul::pdu::{PDataValue, PDataValueType, Pdu};
    use petground::dicom::dimse::{Request, Response};
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        let (socket, _) = listener.accept().expect("accept");
        let mut assoc = ServerAssociationOptions::new()
            .accept_any()
            .ae_title("PACS")
            .with_abstract_syntax(dicomgen::PET)
            .establish(socket)
            .expect("association");
        let (mut command, mut pending) = (Vec::new(), None);
        while let Ok(Pdu::PData { data }) = assoc.receive() {
            for pdv in data {
                if pdv.value_type == PDataValueType::Command {
                    command.extend_from_slice(&pdv.data);
                    if pdv.is_last {
                        pending = Request::decode(&std::mem::take(&mut command)).ok();
                    }
                } else if let (
                    true,
                    Some(Request::Store {
                        message_id,
                        sop_class_uid,
                        sop_instance_uid,
                        ..
                    }),
                ) = (pdv.is_last, pending.take())
                {
                    let rsp =
                        Response::store(answer(message_id), &sop_class_uid, &sop_instance_uid, 0);
                    let pdu = Pdu::PData {
                        data: vec![PDataValue {
                            presentation_context_id: pdv.presentation_context_id,
                            value_type: PDataValueType::Command,
                            is_last: true,
                            data: rsp.encode(),
                        }],
                    };
                    if assoc.send(&pdu).is_err() {
                        return;
                    }
                }
            }
        }
    });
    addr
}

#[test]
fn a_response_to_another_message_ends_the_association() {
    let dir = tempdir();
    let files = SeriesSpec::pet(3, 16).write(dir.path());
    // Message 1 is answered correctly, message 2 as if it were 3.
    let addr = misnumbering_peer(|id| if id == 1 { 1 } else { id + 1 });
    let err = send(&dest(addr, "PACS"), &files, &quick()).expect_err("misnumbered answer");
    let ScuError::Interrupted { completed, source } = &err else {
        panic!("expected an interrupted batch, got {err}");
    };
    assert!(matches!(**source, ScuError::Protocol { .. }), "{source}");
    assert!(
        source
            .to_string()
            .contains("response answers message 3 but 2 was sent"),
        "{source}"
    );
    assert_eq!(completed.len(), 1);
    assert_eq!(completed[0].class, Outcome::Success);
    assert!(err.is_transient());
}

#[test]
fn a_slow_store_is_waited_for_up_to_the_dimse_timeout_only() {
    let dir = tempdir();
    let files = SeriesSpec::pet(1, 16).write(&dir.path().join("pet"));
    // storescp sleeps 1 s inside its store callback, before answering.
    let peer = storescp(&dir.path().join("in"), &["--sleep-during", "1"]);
    // The ACSE timeout (also the association's read timeout) is shorter than the sleep: the
    // DIMSE wait must outlast it.
    let patient = ScuOptions {
        acse_timeout: Duration::from_millis(300),
        dimse_timeout: Duration::from_secs(10),
        ..quick()
    };
    let results = send(&dest(peer.addr, "PACS"), &files, &patient).expect("slow but answered");
    assert_eq!(results[0].class, Outcome::Success);

    let impatient = ScuOptions {
        dimse_timeout: Duration::from_millis(300),
        ..quick()
    };
    let err = send(&dest(peer.addr, "PACS"), &files, &impatient).expect_err("too slow");
    assert!(matches!(err, ScuError::Timeout { .. }), "{err}");
    assert!(err.is_transient());
}

#[test]
fn echo_tells_a_reachable_destination_from_a_down_one() {
    let dir = tempdir();
    let peer = storescp(&dir.path().join("in"), &[]);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let status = rt
        .block_on(echo(&dest(peer.addr, "PACS"), &calling(), &quick()))
        .expect("echo answered");
    assert_eq!(status, 0);
    let down = dest(SocketAddr::from(([127, 0, 0, 1], free_port())), "PACS");
    let err = rt
        .block_on(echo(&down, &calling(), &quick()))
        .expect_err("nobody listens");
    assert!(err.is_transient(), "{err}");
}

/// Throughput against storescp (`--ignore`: received, not written), ours vs dcmtk's storescu on
/// the same files. Run: `cargo test --release --test scu -- --ignored --nocapture throughput`.
#[test]
#[ignore = "benchmark"]
fn throughput_against_storescp() {
    let dir = tempdir();
    let files = SeriesSpec::pet(300, 128).write(&dir.path().join("pet"));
    let bytes: u64 = files
        .iter()
        .map(|f| std::fs::metadata(f).expect("size").len())
        .sum();
    let mb = bytes as f64 / 1e6;
    for pdu in ["16384", "131072"] {
        let peer = storescp(&dir.path().join("in"), &["--ignore", "-pdu", pdu]);
        let t = Instant::now();
        let results = send(&dest(peer.addr, "PACS"), &files, &quick()).expect("delivered");
        let ours = t.elapsed();
        assert!(results.iter().all(|r| r.class == Outcome::Success));
        let t = Instant::now();
        let out = tool("storescu")
            .args(["-aec", "PACS", "127.0.0.1", &peer.addr.port().to_string()])
            .args(&files)
            .output()
            .expect("run storescu");
        let theirs = t.elapsed();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        println!(
            "{} files, {mb:.1} MB, peer max PDU {pdu}: petground SCU {:.0} ms ({:.0} MB/s), \
             dcmtk storescu {:.0} ms ({:.0} MB/s)",
            files.len(),
            ours.as_secs_f64() * 1e3,
            mb / ours.as_secs_f64(),
            theirs.as_secs_f64() * 1e3,
            mb / theirs.as_secs_f64()
        );
    }
}
