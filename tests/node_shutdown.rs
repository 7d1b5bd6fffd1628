//! Node supervision and shutdown, with `node::run` in this process (as tests/disk_full.rs runs
//! it): idle associations and MLLP connections end as soon as shutdown begins, a C-STORE in
//! progress is finished and answered first, whatever still runs at the grace deadline is really
//! aborted, and a service that fails stops the node with an error naming it.

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::dicomgen::{self, SeriesSpec};
use dicom_ul::association::client::{ClientAssociation, ClientAssociationOptions};
use dicom_ul::pdu::{PDataValue, PDataValueType, Pdu};
use petground::config::Config;
use petground::dicom::dimse::{Request, Response, status};
use petground::node::{Listeners, NodeError};
use petground::store::Store;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UnixListener};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Far above "promptly" (well under a second here), far below the 60 s drain deadlines the
/// first test configures.
const PROMPT: Duration = Duration::from_secs(15);

struct Running {
    dicom: SocketAddr,
    hl7: SocketAddr,
    data_dir: PathBuf,
    shutdown: CancellationToken,
    task: JoinHandle<Result<(), NodeError>>,
}

/// Starts a node on `dir` with `extra` config lines; `dicom` replaces its DICOM listener.
async fn start(dir: &Path, extra: &str, dicom: Option<TcpListener>) -> Running {
    let cfg = Config::load(&common::write_config(dir, extra)).expect("config");
    let store = Arc::new(Store::open(&cfg.node.data_dir).expect("open store"));
    let dicom = match dicom {
        Some(l) => l,
        None => TcpListener::bind("127.0.0.1:0").await.expect("bind"),
    };
    let hl7 = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let control =
        UnixListener::bind(petground::store::Layout::new(&cfg.node.data_dir).control_socket())
            .expect("bind");
    let (dicom_addr, hl7_addr) = (
        dicom.local_addr().expect("addr"),
        hl7.local_addr().expect("addr"),
    );
    let data_dir = cfg.node.data_dir.clone();
    let shutdown = CancellationToken::new();
    let listeners = Listeners {
        dicom,
        hl7,
        control,
        web: None,
    };
    let task = tokio::spawn(petground::node::run(
        cfg,
        store,
        None,
        listeners,
        shutdown.clone(),
    ));
    Running {
        dicom: dicom_addr,
        hl7: hl7_addr,
        data_dir,
        shutdown,
        task,
    }
}

impl Running {
    /// Cancels the token and waits (at most `bound`) for `node::run` to return.
    async fn stop_within(self, bound: Duration) -> (Duration, Result<(), NodeError>) {
        let started = Instant::now();
        self.shutdown.cancel();
        let result = tokio::time::timeout(bound, self.task)
            .await
            .unwrap_or_else(|_| panic!("node::run still running {bound:?} after shutdown"))
            .expect("node::run does not panic");
        (started.elapsed(), result)
    }
}

/// A dicom-ul association as a hand-driven SCU (blocking: use it on the blocking pool).
fn associate(addr: SocketAddr) -> ClientAssociation<std::net::TcpStream> {
    ClientAssociationOptions::new()
        .calling_ae_title("RAWSCU")
        .called_ae_title("PETGROUND")
        .with_presentation_context(dicomgen::PET, vec!["1.2.840.10008.1.2.1"])
        .read_timeout(Duration::from_secs(60))
        .establish(addr)
        .expect("association")
}

fn send_pdv(
    assoc: &mut ClientAssociation<std::net::TcpStream>,
    value_type: PDataValueType,
    data: Vec<u8>,
    is_last: bool,
) {
    let pc = assoc.presentation_contexts()[0].id;
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

/// Sends the C-STORE-RQ for `sop` and the first `head` bytes of `dataset`, not the last
/// fragment.
fn begin_store(assoc: &mut ClientAssociation<std::net::TcpStream>, sop: &str, dataset: &[u8]) {
    let cmd = Request::Store {
        message_id: 1,
        sop_class_uid: dicomgen::PET.to_owned(),
        sop_instance_uid: sop.to_owned(),
        has_dataset: true,
    };
    send_pdv(assoc, PDataValueType::Command, cmd.encode(), true);
    for chunk in dataset.chunks(64 << 10) {
        send_pdv(assoc, PDataValueType::Data, chunk.to_vec(), false);
    }
}

/// How the node ended the association: `true` for an A-ABORT, `false` for a closed socket.
/// Panics on anything else, and when the read timeout passed with the association open.
fn ended_by_node(assoc: &mut ClientAssociation<std::net::TcpStream>) -> bool {
    match assoc.receive() {
        Ok(Pdu::AbortRQ { .. }) => true,
        Ok(other) => panic!("expected the association to end, got {other:?}"),
        Err(e) => {
            let text = format!("{e:?}");
            assert!(
                !text.contains("TimedOut") && !text.contains("WouldBlock"),
                "the association was left open: {text}"
            );
            false
        }
    }
}

/// The data set of one PET instance of `rows`² pixels, with its SOP Instance UID.
fn pet_dataset(rows: u16) -> (String, Vec<u8>) {
    let sop = dicomgen::uid();
    let mut bytes = Vec::new();
    SeriesSpec::pet(1, rows)
        .instance(&sop, 1)
        .write_dataset(&mut bytes)
        .expect("encode");
    (sop, bytes)
}

/// Polls until the node's spill file in `incoming/` shows that a transfer is under way.
async fn transfer_reached(data_dir: &std::path::Path) {
    let incoming = data_dir.join("incoming");
    let waited = Instant::now();
    while common::files_below(&incoming).is_empty() {
        assert!(
            waited.elapsed() < PROMPT,
            "the transfer never reached the node"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// One ORU over `stream`, answered.
async fn exchange_report(stream: &mut TcpStream) {
    let msg = "MSH|^~\\&|RIS|HOSP|PETGROUND|HOSP|20261203120000||ORU^R01|SD-1|P|2.5\r\
               PID|||PAT1\rOBR|1||ACC-SD|||20261203|||||||||||ACC-SD||||||F\r\
               OBX|1|TX|FINDINGS||Right hilar lymph node, SUVmax 7.2, image 145.||||||F\r";
    let mut frame = vec![0x0B];
    frame.extend_from_slice(msg.as_bytes());
    frame.extend_from_slice(&[0x1C, 0x0D]);
    stream.write_all(&frame).await.expect("send ORU");
    let mut ack = Vec::new();
    while !ack.ends_with(&[0x1C, 0x0D]) {
        let mut byte = [0u8; 1];
        let n = stream.read(&mut byte).await.expect("read ACK");
        assert_eq!(n, 1, "connection closed before the ACK");
        ack.push(byte[0]);
    }
    assert!(String::from_utf8_lossy(&ack).contains("MSA|AA|SD-1"));
}

/// Before: the association loop never looked at the shutdown token, so an idle association
/// held the node for the whole `dicom.shutdown_grace_seconds`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_association_and_mllp_connection_end_promptly_at_shutdown() {
    let dir = tempfile::tempdir().expect("tempdir");
    let extra = "shutdown_grace_seconds = 60\n[hl7]\nread_timeout_seconds = 60\n";
    let node = start(dir.path(), extra, None).await;
    let addr = node.dicom;
    let mut assoc = tokio::task::spawn_blocking(move || associate(addr))
        .await
        .expect("associate");
    let mut mllp = TcpStream::connect(node.hl7).await.expect("connect MLLP");
    exchange_report(&mut mllp).await;

    let (took, result) = node.stop_within(PROMPT).await;
    result.expect("a clean stop");
    println!("node stopped {took:?} after shutdown with an idle association and connection");
    let aborted = tokio::task::spawn_blocking(move || ended_by_node(&mut assoc))
        .await
        .expect("peer");
    assert!(aborted, "an idle association gets an A-ABORT");
    let mut rest = Vec::new();
    let n = tokio::time::timeout(PROMPT, mllp.read_to_end(&mut rest))
        .await
        .expect("the MLLP connection is closed")
        .unwrap_or(0);
    assert_eq!(n, 0, "nothing more is sent on the MLLP connection");
}

/// A C-STORE in progress when shutdown begins is received, stored and answered; then the
/// association ends, long before the grace is over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_in_progress_at_shutdown_is_finished_and_answered() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = start(dir.path(), "shutdown_grace_seconds = 60\n", None).await;
    let addr = node.dicom;
    // Over the 4 MiB the SCP assembles in memory: the spill file in incoming/ shows that the
    // transfer is under way at the node.
    let (sop, dataset) = pet_dataset(1600);
    let head = dataset.len() - 1000;
    let (sop2, tail) = (sop.clone(), dataset[head..].to_vec());
    let mut assoc = tokio::task::spawn_blocking(move || {
        let mut assoc = associate(addr);
        begin_store(&mut assoc, &sop2, &dataset[..head]);
        assoc
    })
    .await
    .expect("begin store");
    transfer_reached(&node.data_dir).await;

    let stopping = tokio::spawn(node.stop_within(PROMPT));
    let (rsp, aborted) = tokio::task::spawn_blocking(move || {
        send_pdv(&mut assoc, PDataValueType::Data, tail, true);
        let rsp = match assoc.receive().expect("response") {
            Pdu::PData { data } => Response::decode(&data[0].data).expect("decode response"),
            other => panic!("expected the C-STORE-RSP, got {other:?}"),
        };
        (rsp, ended_by_node(&mut assoc))
    })
    .await
    .expect("finish store");
    assert_eq!(rsp.status, status::SUCCESS, "{rsp:?}");
    assert!(aborted, "the association ends after its answer");
    let (_, result) = stopping.await.expect("stop");
    result.expect("a clean stop");
    let stored = common::files_below(&dir.path().join("var/studies"));
    assert!(
        stored.iter().any(|p| p.to_string_lossy().contains(&sop)),
        "{stored:?}"
    );
}

/// Before: "aborting remaining associations" aborted nothing — the node returned at the end of
/// the grace and left a stalled transfer's association open until its own timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_transfer_is_aborted_at_the_end_of_the_grace() {
    let dir = tempfile::tempdir().expect("tempdir");
    let extra = "shutdown_grace_seconds = 1\n[hl7]\nread_timeout_seconds = 1\n";
    let node = start(dir.path(), extra, None).await;
    let addr = node.dicom;
    // Over the 4 MiB the SCP assembles in memory: the spill file in incoming/ shows that the
    // transfer is under way at the node (stopping before that raced the node's own start of
    // the transfer: it then had nothing to wait for).
    let (sop, dataset) = pet_dataset(1600);
    let mut assoc = tokio::task::spawn_blocking(move || {
        let mut assoc = associate(addr);
        begin_store(&mut assoc, &sop, &dataset[..dataset.len() - 1000]);
        assoc
    })
    .await
    .expect("begin store");
    transfer_reached(&node.data_dir).await;

    let (took, result) = node.stop_within(PROMPT).await;
    result.expect("an aborted association is no failure of the node");
    assert!(
        took >= Duration::from_secs(1),
        "the transfer had its grace: {took:?}"
    );
    let started = Instant::now();
    tokio::task::spawn_blocking(move || ended_by_node(&mut assoc))
        .await
        .expect("peer");
    assert!(
        started.elapsed() < PROMPT,
        "the association was closed when the node stopped"
    );
}

/// A "listener" whose accept fails for good (EINVAL): the socket of a connected stream, which
/// is not listening. Its peer is closed so that it polls readable and accept is tried.
fn not_listening() -> TcpListener {
    let real = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let stream = std::net::TcpStream::connect(real.local_addr().expect("addr")).expect("connect");
    drop(real.accept().expect("accept"));
    let fd: std::os::fd::OwnedFd = stream.into();
    let socket = std::net::TcpListener::from(fd);
    socket.set_nonblocking(true).expect("non-blocking");
    TcpListener::from_std(socket).expect("register")
}

/// Before: `tokio::join!` discarded a service's end, and the accept loop retried a dead socket
/// forever: the node ran on without a DICOM listener and logged nothing useful.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_service_stops_the_node_with_its_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = start(dir.path(), "", Some(not_listening())).await;
    let result = tokio::time::timeout(PROMPT, node.task)
        .await
        .expect("the node stops by itself")
        .expect("node::run does not panic");
    let err = result
        .expect_err("the node reports the failure")
        .to_string();
    assert!(err.contains("service dicom-scp failed"), "{err}");
    assert!(err.contains("accepting DICOM connections"), "{err}");
    assert!(
        node.shutdown.is_cancelled(),
        "the other services were stopped"
    );
}
