//! The HL7 listener over real TCP on loopback (CONTRACT §3): our own MLLP client and the real
//! `mllp_send --loose` from PyPI `hl7`, good reports and bad input. The sink is in memory; what
//! it holds after each exchange shows what would have been stored.
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use petground::hl7::{Hl7Config, ListenerError, MemorySink, ReportSink, ReportStatus, run};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

struct Node {
    addr: SocketAddr,
    sink: Arc<MemorySink>,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<Result<(), ListenerError>>,
}

async fn start(cfg: Hl7Config) -> Node {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    let sink = Arc::new(MemorySink::new());
    let shutdown = CancellationToken::new();
    let dyn_sink: Arc<dyn ReportSink> = sink.clone();
    let task = tokio::spawn(run(listener, shutdown.clone(), dyn_sink, cfg));
    Node {
        addr,
        sink,
        shutdown,
        task,
    }
}

fn test_config() -> Hl7Config {
    Hl7Config {
        max_message_bytes: 16 * 1024,
        read_timeout: Duration::from_millis(500),
        max_connections: 4,
        idle_timeout: Duration::from_secs(10),
        ..Hl7Config::default()
    }
}

/// A PET/CT report as a RIS sends it. `extra_msh` continues MSH after MSH-12 (MSH-13…).
fn oru(control_id: &str, accession: &str, extra_msh: &str) -> String {
    [
        format!("MSH|^~\\&|RIS|HOSP|PETGROUND|NM|20260127101500||ORU^R01^ORU_R01|{control_id}|P|2.5{extra_msh}"),
        "PID|1||PAT123^^^HOSP^MR||DOE^JANE||19600101|F".to_owned(),
        format!("OBR|1||{accession}|PETCT^PET/CT|||20260127083000|||||||||||{accession}|||||||F"),
        "OBX|1|TX|121070^Findings^DCM||Right hilar lymph node, SUVmax 7.2, image 145.||||||F".to_owned(),
        "OBX|2|FT|121073^Impression^DCM||Hilar node \\T\\ liver\\.br\\second line||||||F".to_owned(),
    ]
    .join("\r")
}

fn frame(payload: &[u8]) -> Vec<u8> {
    let mut out = vec![0x0b];
    out.extend_from_slice(payload);
    out.extend_from_slice(&[0x1c, 0x0d]);
    out
}

/// Read one framed answer; `None` when the server closed the connection first.
async fn read_ack(stream: &mut TcpStream) -> Option<String> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut byte))
            .await
            .expect("answer or close within 5 s")
            .unwrap_or(0);
        if n == 0 {
            return None;
        }
        buf.push(byte[0]);
        if buf.ends_with(&[0x1c, 0x0d]) {
            assert_eq!(buf[0], 0x0b, "ACK starts with the MLLP start block");
            return Some(String::from_utf8(buf[1..buf.len() - 2].to_vec()).expect("ACK is UTF-8"));
        }
    }
}

/// MSA-1 and MSA-2 of an ACK.
fn msa(ack: &str) -> (String, String) {
    let line = ack
        .split('\r')
        .find(|s| s.starts_with("MSA|"))
        .expect("ACK has MSA");
    let fields: Vec<&str> = line.split('|').collect();
    (
        fields[1].to_owned(),
        fields.get(2).copied().unwrap_or("").to_owned(),
    )
}

async fn send(addr: SocketAddr, payload: &[u8]) -> Option<String> {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(&frame(payload)).await.expect("send");
    read_ack(&mut stream).await
}

/// The listener still answers a fresh connection.
async fn assert_still_serving(node: &Node, control_id: &str) {
    let ack = send(node.addr, oru(control_id, "ACCOK", "").as_bytes())
        .await
        .expect("ACK");
    assert_eq!(msa(&ack), ("AA".to_owned(), control_id.to_owned()));
}

fn stored_ids(node: &Node) -> Vec<String> {
    node.sink
        .reports()
        .iter()
        .map(|r| r.header.control_id.clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_is_stored_then_acknowledged() {
    let node = start(test_config()).await;
    let ack = send(node.addr, oru("MSG1", "ACC1", "").as_bytes())
        .await
        .expect("ACK");
    let segs: Vec<&str> = ack.trim_end_matches('\r').split('\r').collect();
    assert!(
        segs[0].starts_with("MSH|^~\\&|PETGROUND|NM|RIS|HOSP|"),
        "{ack}"
    );
    assert!(segs[0].contains("||ACK^R01^ACK|"), "{ack}");
    assert_eq!(segs[1], "MSA|AA|MSG1");
    let reports = node.sink.reports();
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].accession.as_deref(), Some("ACC1"));
    assert_eq!(reports[0].status, ReportStatus::Final);
    assert!(
        reports[0]
            .text
            .contains("IMPRESSION:\nHilar node & liver\nsecond line"),
        "{}",
        reports[0].text
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_messages_are_answered_in_order() {
    let node = start(test_config()).await;
    let mut stream = TcpStream::connect(node.addr).await.expect("connect");
    let mut bytes = Vec::new();
    for i in 0..20 {
        bytes.extend(frame(
            oru(&format!("P{i}"), &format!("A{i}"), "").as_bytes(),
        ));
    }
    stream.write_all(&bytes).await.expect("send all");
    for i in 0..20 {
        let ack = read_ack(&mut stream).await.expect("ACK");
        assert_eq!(msa(&ack), ("AA".to_owned(), format!("P{i}")));
    }
    let expected: Vec<String> = (0..20).map(|i| format!("P{i}")).collect();
    assert_eq!(stored_ids(&node), expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_outside_frames_is_skipped_and_inside_gets_ae() {
    let node = start(test_config()).await;
    let mut stream = TcpStream::connect(node.addr).await.expect("connect");
    let mut bytes = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec();
    bytes.extend(frame(oru("G1", "ACCG", "").as_bytes()));
    stream.write_all(&bytes).await.expect("send");
    let ack = read_ack(&mut stream).await.expect("ACK after garbage");
    assert_eq!(msa(&ack), ("AA".to_owned(), "G1".to_owned()));
    // A frame whose content is not HL7: AE without a control ID, connection stays usable.
    stream
        .write_all(&frame(b"\x00\xffnot hl7 at all"))
        .await
        .expect("send");
    let ack = read_ack(&mut stream).await.expect("AE");
    assert_eq!(msa(&ack), ("AE".to_owned(), String::new()));
    assert!(ack.contains("does not start with an MSH segment"), "{ack}");
    stream
        .write_all(&frame(oru("G2", "ACCG", "").as_bytes()))
        .await
        .expect("send");
    assert_eq!(msa(&read_ack(&mut stream).await.expect("ACK")).0, "AA");
    assert_eq!(stored_ids(&node), ["G1", "G2"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frame_without_end_block_is_closed_after_read_timeout() {
    let node = start(test_config()).await;
    let mut stream = TcpStream::connect(node.addr).await.expect("connect");
    let mut bytes = vec![0x0b];
    bytes.extend(oru("T1", "ACCT", "").as_bytes());
    stream.write_all(&bytes).await.expect("send");
    let started = std::time::Instant::now();
    assert_eq!(
        read_ack(&mut stream).await,
        None,
        "no ACK, connection closed"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "closed by the read timeout"
    );
    assert!(node.sink.reports().is_empty());
    assert_still_serving(&node, "T2").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversize_message_gets_ae_and_close() {
    let node = start(test_config()).await;
    let mut big = oru("BIG1", "ACCB", "");
    big.push_str("\rOBX|3|TX|GDT||");
    big.push_str(&"x".repeat(20 * 1024));
    let mut stream = TcpStream::connect(node.addr).await.expect("connect");
    stream
        .write_all(&frame(big.as_bytes()))
        .await
        .expect("send");
    let ack = read_ack(&mut stream).await.expect("AE before close");
    assert_eq!(msa(&ack), ("AE".to_owned(), "BIG1".to_owned()));
    assert!(ack.contains("exceeds the limit of 16384 bytes"), "{ack}");
    assert_eq!(read_ack(&mut stream).await, None, "then closed");
    assert!(node.sink.reports().is_empty());
    assert_still_serving(&node, "B2").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_oru_is_rejected_and_missing_obr_is_an_error() {
    let node = start(test_config()).await;
    let mut stream = TcpStream::connect(node.addr).await.expect("connect");
    let adt = "MSH|^~\\&|ADT|HOSP|PETGROUND|NM|20260127||ADT^A01^ADT_A01|ADT9|P|2.5\rPID|1||PAT123";
    stream
        .write_all(&frame(adt.as_bytes()))
        .await
        .expect("send");
    let ack = read_ack(&mut stream).await.expect("AR");
    assert_eq!(msa(&ack), ("AR".to_owned(), "ADT9".to_owned()));
    assert!(
        ack.contains("ERR|||200^Unsupported message type^HL70357|E"),
        "{ack}"
    );
    assert!(ack.contains("ACK^A01^ACK"), "{ack}");
    let no_obr: String = oru("NOOBR", "ACCN", "")
        .split('\r')
        .filter(|s| !s.starts_with("OBR"))
        .collect::<Vec<_>>()
        .join("\r");
    stream
        .write_all(&frame(no_obr.as_bytes()))
        .await
        .expect("send");
    let ack = read_ack(&mut stream).await.expect("AE");
    assert_eq!(msa(&ack), ("AE".to_owned(), "NOOBR".to_owned()));
    assert!(ack.contains("required segment OBR is missing"), "{ack}");
    assert!(node.sink.reports().is_empty(), "nothing stored");
    stream
        .write_all(&frame(oru("OK1", "ACC1", "").as_bytes()))
        .await
        .expect("send");
    assert_eq!(msa(&read_ack(&mut stream).await.expect("ACK")).0, "AA");
    assert_eq!(stored_ids(&node), ["OK1"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storage_failure_gets_ae_not_aa() {
    let node = start(test_config()).await;
    node.sink.set_failure(Some("disk full"));
    let ack = send(node.addr, oru("F1", "ACCF", "").as_bytes())
        .await
        .expect("AE");
    assert_eq!(msa(&ack), ("AE".to_owned(), "F1".to_owned()));
    assert!(ack.contains("could not be stored"), "{ack}");
    assert!(
        !ack.contains("disk full"),
        "storage details stay in the log"
    );
    node.sink.set_failure(None);
    assert_still_serving(&node, "F2").await;
    assert_eq!(stored_ids(&node), ["F2"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn msh15_ne_gets_no_answer_al_gets_commit_ack() {
    let node = start(test_config()).await;
    let mut stream = TcpStream::connect(node.addr).await.expect("connect");
    let mut bytes = frame(oru("NE1", "ACCE", "|||NE|NE").as_bytes());
    bytes.extend(frame(oru("AL1", "ACCE", "|||AL|NE").as_bytes()));
    stream.write_all(&bytes).await.expect("send");
    let ack = read_ack(&mut stream).await.expect("commit ACK");
    assert_eq!(
        msa(&ack),
        ("CA".to_owned(), "AL1".to_owned()),
        "NE1 was stored silently"
    );
    assert_eq!(stored_ids(&node), ["NE1", "AL1"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_limit_are_closed() {
    let node = start(Hl7Config {
        max_connections: 2,
        ..test_config()
    })
    .await;
    let mut held = Vec::new();
    for _ in 0..2 {
        held.push(TcpStream::connect(node.addr).await.expect("connect"));
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut third = TcpStream::connect(node.addr).await.expect("connect");
    assert_eq!(
        read_ack(&mut third).await,
        None,
        "third connection closed at once"
    );
    drop(held);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_still_serving(&node, "L1").await;
}

/// Issue 18: peers that hold every slot without sending a message (idle sockets, a frame
/// trickled a byte at a time) once locked out every real sender for the idle timeout. The
/// connection quiet longest now gives way to a newcomer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_trickling_peers_give_way_to_a_real_sender() {
    let node = start(Hl7Config {
        max_connections: 4,
        read_timeout: Duration::from_secs(60),
        idle_timeout: Duration::from_secs(3600),
        ..test_config()
    })
    .await;
    let mut idle = Vec::new();
    for _ in 0..2 {
        idle.push(TcpStream::connect(node.addr).await.expect("connect"));
    }
    let mut trickling = Vec::new();
    for _ in 0..2 {
        let mut s = TcpStream::connect(node.addr).await.expect("connect");
        trickling.push(tokio::spawn(async move {
            let _ = s.write_all(&[0x0B]).await;
            for b in b"MSH|^~\\&|SLOW".iter().cycle() {
                tokio::time::sleep(Duration::from_millis(300)).await;
                if s.write_all(&[*b]).await.is_err() {
                    return; // closed by the node
                }
            }
        }));
    }
    // Every slot taken by a peer that has completed no message for longer than the node waits
    // before it may close one (2 s).
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let started = std::time::Instant::now();
    // The first real sender stays connected, so the second needs another quiet peer's slot.
    let mut real1 = TcpStream::connect(node.addr).await.expect("connect");
    real1
        .write_all(&frame(oru("REAL1", "ACCOK", "").as_bytes()))
        .await
        .expect("send");
    let ack = read_ack(&mut real1)
        .await
        .expect("ACK for the first real sender");
    assert_eq!(msa(&ack), ("AA".to_owned(), "REAL1".to_owned()));
    assert_still_serving(&node, "REAL2").await;
    println!("two real senders answered in {:?}", started.elapsed());
    assert_eq!(stored_ids(&node), ["REAL1", "REAL2"]);
    // The closed ones notice within a few writes (trickling) or reads (idle).
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    let mut idle_closed = vec![false; idle.len()];
    let closed = loop {
        for (s, closed) in idle.iter_mut().zip(idle_closed.iter_mut()) {
            let mut b = [0u8; 1];
            let read = tokio::time::timeout(Duration::from_millis(20), s.read(&mut b)).await;
            *closed |= matches!(read, Ok(Ok(0)) | Ok(Err(_)));
        }
        let n = idle_closed.iter().filter(|c| **c).count()
            + trickling.iter().filter(|t| t.is_finished()).count();
        if n >= 2 || std::time::Instant::now() > deadline {
            break n;
        }
    };
    assert_eq!(closed, 2, "one quiet connection closed per newcomer");
    for t in trickling {
        t.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_stops_the_listener() {
    let node = start(test_config()).await;
    let _idle = TcpStream::connect(node.addr).await.expect("connect");
    node.shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(2), node.task)
        .await
        .expect("run returns after shutdown")
        .expect("no panic")
        .expect("the listener socket never failed");
}

/// PETGROUND_PYTHON, else <repo>/.venv/bin/python; `mllp_send` lives beside it.
fn mllp_send() -> (PathBuf, PathBuf) {
    let python = std::env::var_os("PETGROUND_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python"));
    let script = python
        .parent()
        .map(|d| d.join("mllp_send"))
        .unwrap_or_default();
    assert!(
        python.exists() && script.exists(),
        "mllp_send (PyPI hl7) not found beside {}: set PETGROUND_PYTHON to a venv's python with `hl7` installed (scripts/setup-test-env)",
        python.display()
    );
    (python, script)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_client_mllp_send_loose() {
    let (python, script) = mllp_send();
    let node = start(test_config()).await;
    // --loose: a plain file, `\n` line ends, messages found by their "MSH|^~\&|" start.
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    let adt = "MSH|^~\\&|ADT|HOSP|PETGROUND|NM|20260127||ADT^A08|PYADT|P|2.5\nPID|1||PAT123\n";
    let text = format!(
        "{}\n{adt}{}\n",
        oru("PY1", "ACCPY", "").replace('\r', "\n"),
        oru("PY2", "ACCPY", "").replace('\r', "\n")
    );
    file.write_all(text.as_bytes()).expect("write file");
    let port = node.addr.port().to_string();
    let path = file.path().to_owned();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(python)
            .arg(script)
            .args(["--loose", "-p", &port, "-f"])
            .arg(path)
            .arg("127.0.0.1")
            .output()
    })
    .await
    .expect("join")
    .expect("mllp_send runs");
    assert!(
        out.status.success(),
        "mllp_send failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let answers: Vec<(String, String)> = stdout
        .split('\x0b')
        .filter(|s| s.contains("MSA|"))
        .map(msa)
        .collect();
    let expected =
        [("AA", "PY1"), ("AR", "PYADT"), ("AA", "PY2")].map(|(a, b)| (a.to_owned(), b.to_owned()));
    assert_eq!(answers, expected, "{stdout}");
    assert_eq!(stored_ids(&node), ["PY1", "PY2"]);
    let report = &node.sink.reports()[0];
    assert!(
        report
            .text
            .starts_with("FINDINGS:\nRight hilar lymph node, SUVmax 7.2, image 145."),
        "{}",
        report.text
    );
}

/// A store that panics or refuses: the sender still gets an answer that names its message.
struct BrokenSink;

impl ReportSink for BrokenSink {
    fn persist(&self, report: &petground::hl7::OruReport) -> Result<(), petground::hl7::SinkError> {
        match report.header.control_id.as_str() {
            "PANIC" => panic!("store bug"),
            _ => Err(petground::hl7::SinkError::Refused(
                "correction of an unknown report".into(),
            )),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sink_panic_or_refusal_gets_ae_with_control_id() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let shutdown = CancellationToken::new();
    tokio::spawn(run(
        listener,
        shutdown.clone(),
        Arc::new(BrokenSink),
        test_config(),
    ));
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream
        .write_all(&frame(oru("PANIC", "A", "").as_bytes()))
        .await
        .expect("send");
    let ack = read_ack(&mut stream).await.expect("AE");
    assert_eq!(msa(&ack), ("AE".to_owned(), "PANIC".to_owned()));
    stream
        .write_all(&frame(oru("R1", "A", "").as_bytes()))
        .await
        .expect("send");
    let ack = read_ack(&mut stream).await.expect("AE");
    assert_eq!(msa(&ack), ("AE".to_owned(), "R1".to_owned()));
    assert!(
        ack.contains("report refused: correction of an unknown report"),
        "{ack}"
    );
    shutdown.cancel();
}

/// Records how many reports each `persist_batch` call got.
#[derive(Default)]
struct BatchSink {
    batches: std::sync::Mutex<Vec<Vec<String>>>,
}

impl ReportSink for BatchSink {
    fn persist(&self, report: &petground::hl7::OruReport) -> Result<(), petground::hl7::SinkError> {
        self.persist_batch(std::slice::from_ref(report)).remove(0)
    }

    fn persist_batch(
        &self,
        reports: &[petground::hl7::OruReport],
    ) -> Vec<Result<(), petground::hl7::SinkError>> {
        let ids = reports
            .iter()
            .map(|r| r.header.control_id.clone())
            .collect();
        self.batches.lock().expect("lock").push(ids);
        reports.iter().map(|_| Ok(())).collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_messages_are_stored_in_batches_and_answered_in_order() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let sink = Arc::new(BatchSink::default());
    let shutdown = CancellationToken::new();
    tokio::spawn(run(listener, shutdown.clone(), sink.clone(), test_config()));
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let mut bytes = Vec::new();
    for i in 0..30 {
        let payload = if i == 10 {
            "MSH|^~\\&|ADT|H|PG|NM|2026||ADT^A01|P10|P|2.5".to_owned()
        } else {
            oru(&format!("P{i}"), "ACC", "")
        };
        bytes.extend(frame(payload.as_bytes()));
    }
    stream.write_all(&bytes).await.expect("send all at once");
    for i in 0..30 {
        let ack = read_ack(&mut stream).await.expect("ACK");
        let code = if i == 10 { "AR" } else { "AA" };
        assert_eq!(msa(&ack), (code.to_owned(), format!("P{i}")));
    }
    let batches = sink.batches.lock().expect("lock").clone();
    let stored: Vec<String> = batches.concat();
    let expected: Vec<String> = (0..30)
        .filter(|&i| i != 10)
        .map(|i| format!("P{i}"))
        .collect();
    assert_eq!(stored, expected, "each report once, in order");
    assert!(
        batches.iter().any(|b| b.len() > 1),
        "pipelined reports share a commit: {batches:?}"
    );
    shutdown.cancel();
}
