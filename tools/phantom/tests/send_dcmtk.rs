//! `send::store_study` against a real peer: dcmtk's `storescp` on a loopback port. The peer must
//! receive every instance (identity, slope, pixels), and a dead port must be an error.

use dicom_dictionary_std::tags;
use petground_phantom::{Options, generate, send};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// `send` is async (the node's SCU); each test drives it on its own runtime.
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(f)
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind port 0");
    l.local_addr().expect("local addr").port()
}

struct Peer(Child);

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_storescp(dir: &Path, port: u16) -> Peer {
    let child = Command::new("storescp")
        .args([
            "-od",
            &dir.to_string_lossy(),
            "-aet",
            "PETGROUND",
            &port.to_string(),
        ])
        .spawn()
        .expect("dcmtk `storescp` must be on PATH for this test (apt-get install dcmtk)");
    let peer = Peer(child);
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "storescp did not start listening on {port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    peer
}

#[test]
fn store_study_delivers_every_instance_to_storescp() {
    let study = tempfile::tempdir().expect("temp");
    generate(
        &Options {
            small: true,
            lesions: Some(1),
            ..Options::new(71)
        },
        study.path(),
    )
    .expect("generate");
    // A few slices of each series keep the test fast (storescp takes ~40 ms per instance).
    let subset = tempfile::tempdir().expect("temp");
    for (sub, names) in [
        ("pet", ["PT0001.dcm", "PT0002.dcm", "PT0010.dcm"]),
        ("ct", ["CT0001.dcm", "CT0005.dcm", "CT0009.dcm"]),
    ] {
        std::fs::create_dir_all(subset.path().join(sub)).expect("mkdir");
        for n in names {
            std::fs::copy(
                study.path().join(sub).join(n),
                subset.path().join(sub).join(n),
            )
            .expect("copy");
        }
    }
    let inbox = tempfile::tempdir().expect("temp");
    let port = free_port();
    let _peer = start_storescp(inbox.path(), port);
    let n = block_on(send::store_study(
        subset.path(),
        &format!("127.0.0.1:{port}"),
        "PHANTOM",
        "PETGROUND",
    ))
    .expect("store");
    assert_eq!(n, 6);
    // storescp re-encodes sequences with explicit lengths, so compare what matters, not bytes:
    // identity, slope and pixels of every instance.
    let key = |p: &Path| {
        let o = dicom_object::open_file(p).expect("open");
        let t = |tag| {
            o.element(tag)
                .expect("element")
                .to_str()
                .expect("str")
                .trim()
                .to_owned()
        };
        let px = o
            .element(tags::PIXEL_DATA)
            .expect("pixels")
            .to_bytes()
            .expect("bytes")
            .to_vec();
        (
            t(tags::SOP_INSTANCE_UID),
            t(tags::RESCALE_SLOPE),
            t(tags::STUDY_INSTANCE_UID),
            px,
        )
    };
    let mut sent: Vec<_> = send::study_files(subset.path())
        .expect("files")
        .iter()
        .map(|f| key(f))
        .collect();
    let mut got: Vec<_> = std::fs::read_dir(inbox.path())
        .expect("inbox")
        .map(|e| key(&e.expect("entry").path()))
        .collect();
    sent.sort();
    got.sort();
    assert_eq!(got.len(), 6);
    assert!(got == sent, "received instances differ from the files sent");
}

#[test]
fn store_study_to_a_dead_port_fails() {
    let study = tempfile::tempdir().expect("temp");
    generate(
        &Options {
            small: true,
            lesions: Some(1),
            ..Options::new(72)
        },
        study.path(),
    )
    .expect("generate");
    let port = free_port();
    let err = block_on(send::store_study(
        study.path(),
        &format!("127.0.0.1:{port}"),
        "PHANTOM",
        "PETGROUND",
    ));
    assert!(err.is_err());
}
