//! Issue 18: a full disk must not wedge the node. Once a redb commit fails for space, redb
//! refuses every later transaction until the database is re-opened; the store re-opens it by
//! itself, so storing resumes when there is room again, without a restart. The node runs in
//! this process on a store whose index writes can be made to fail with ENOSPC (the instance
//! files themselves are written to the real disk).

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::dicomgen::SeriesSpec;
use petground::node::Listeners;
use petground::store::{DiskFull, Store};

/// storescu's output for `files` sent to `port`.
fn storescu(port: u16, files: &[PathBuf]) -> String {
    let out = common::tool("storescu")
        .args(["-v", "-aec", "PETGROUND", "127.0.0.1"])
        .arg(port.to_string())
        .args(files)
        .output()
        .expect("run storescu");
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

fn sop_uid(path: &std::path::Path) -> String {
    let header = petground::store::InstanceHeader::read(path).expect("sent file");
    header.sop_instance.to_string()
}

/// One ORU over MLLP; returns MSA-1.
fn send_report(port: u16, control_id: &str) -> String {
    let msg = format!(
        "MSH|^~\\&|RIS|HOSP|PETGROUND|HOSP|20261203120000||ORU^R01|{control_id}|P|2.5\r\
         PID|||PAT1\rOBR|1||ACC-DISKFULL|||20261203|||||||||||ACC-DISKFULL||||||F\r\
         OBX|1|TX|FINDINGS||Right hilar lymph node, SUVmax 7.2, image 145.||||||F\r"
    );
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect MLLP");
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("test setup");
    let mut frame = vec![0x0B];
    frame.extend_from_slice(msg.as_bytes());
    frame.extend_from_slice(&[0x1C, 0x0D]);
    s.write_all(&frame).expect("send");
    let mut ack = Vec::new();
    let mut byte = [0u8; 1];
    while s.read(&mut byte).expect("read ACK") == 1 {
        ack.push(byte[0]);
        if ack.ends_with(&[0x1C, 0x0D]) {
            break;
        }
    }
    let text = String::from_utf8_lossy(&ack).into_owned();
    text.split('\r')
        .find(|seg| seg.starts_with("MSA"))
        .and_then(|msa| msa.split('|').nth(1))
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn storing_resumes_by_itself_after_the_index_disk_was_full() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = common::write_config(dir.path(), "");
    let cfg = petground::config::Config::load(&config).expect("config");
    let full = DiskFull::default();
    let store =
        Arc::new(Store::open_with_faults(&cfg.node.data_dir, full.clone()).expect("open store"));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let shutdown = tokio_util::sync::CancellationToken::new();
    let (dicom_port, hl7_port) = rt.block_on(async {
        let dicom = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("test setup");
        let hl7 = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("test setup");
        let control = tokio::net::UnixListener::bind(
            petground::store::Layout::new(&cfg.node.data_dir).control_socket(),
        )
        .expect("test setup");
        let ports = (
            dicom.local_addr().expect("local addr").port(),
            hl7.local_addr().expect("local addr").port(),
        );
        let listeners = Listeners {
            dicom,
            hl7,
            control,
            web: None,
        };
        tokio::spawn(petground::node::run(
            cfg,
            store.clone(),
            None,
            listeners,
            shutdown.clone(),
        ));
        ports
    });
    // Series A opens normally; series B arrives while the disk is full.
    let a = SeriesSpec::pet(4, 16).write(&dir.path().join("a"));
    let b = SeriesSpec::pet(3, 16).write(&dir.path().join("b"));
    let mut acknowledged: Vec<&PathBuf> = Vec::new();

    let out = storescu(dicom_port, &a[..2]);
    assert_eq!(out.matches("(Success)").count(), 2, "{out}");
    acknowledged.extend(&a[..2]);
    assert_eq!(send_report(hl7_port, "DF-1"), "AA");

    // The disk fills. Opening a series is a durable index commit: refused with A700, and
    // from then on redb refuses every transaction until the index is re-opened. An instance
    // of the open series may still be acknowledged first (its file is durable, its index
    // commit is not): it must be indexed in the end.
    full.set(true);
    let out = storescu(dicom_port, &a[2..3]);
    if out.contains("(Success)") {
        acknowledged.push(&a[2]);
    }
    let out = storescu(dicom_port, &b[..2]);
    assert_eq!(out.matches("(Success)").count(), 0, "{out}");
    assert!(
        out.contains("OutOfResources"),
        "full disk answers A700: {out}"
    );
    assert_eq!(
        send_report(hl7_port, "DF-2"),
        "AE",
        "a full disk refuses reports"
    );

    // Room again: the same node stores at once (the index was re-opened, not left refusing).
    full.set(false);
    let started = Instant::now();
    let out = storescu(dicom_port, &b);
    let first_success = started.elapsed();
    assert_eq!(out.matches("(Success)").count(), 3, "{out}");
    acknowledged.extend(&b);
    let out = storescu(dicom_port, &a[3..]);
    assert_eq!(out.matches("(Success)").count(), 1, "{out}");
    acknowledged.extend(&a[3..]);
    assert_eq!(send_report(hl7_port, "DF-3"), "AA");
    println!("first Success {first_success:?} after the disk had room again");

    // Every acknowledged instance and report is in the index.
    for f in acknowledged {
        let sop = sop_uid(f);
        assert!(
            store.instance(&sop).expect("index readable").is_some(),
            "{sop} acknowledged but not indexed"
        );
    }
    let reports = store.all_reports().expect("reports");
    let ids: Vec<&str> = reports.iter().map(|(_, r)| r.control_id.as_str()).collect();
    assert!(ids.contains(&"DF-1") && ids.contains(&"DF-3"), "{ids:?}");
    shutdown.cancel();
}
