//! Throughput of the HL7 listener with a durable ACK (issue 3), in messages per second: one
//! connection and eight whose senders wait for each ACK before the next message (how original
//! mode is used), and one connection that keeps 16 messages in flight (the listener stores what
//! has arrived together with one `persist_batch`). The durable sink writes one file per commit
//! and fsyncs it and its directory before returning, a stand-in for the redb commit; the same
//! runs with an in-memory sink show the listener's own cost. Ignored by default: `bench/hl7.sh`.
use std::fs::File;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use petground::hl7::{Hl7Config, MemorySink, OruReport, ReportSink, SinkError, run};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// One file per report, fsynced with its directory entry.
struct FsyncSink {
    dir: PathBuf,
    seq: AtomicU64,
}

impl FsyncSink {
    /// One file holding `reports`, fsynced with its directory entry: one commit.
    fn commit(&self, reports: &[OruReport]) -> std::io::Result<()> {
        let n = self.seq.fetch_add(1, Ordering::Relaxed);
        let mut f = File::create(self.dir.join(format!("{n:08}.hl7")))?;
        for r in reports {
            f.write_all(&r.raw)?;
        }
        f.sync_all()?;
        File::open(&self.dir)?.sync_all()
    }
}

impl ReportSink for FsyncSink {
    fn persist(&self, report: &OruReport) -> Result<(), SinkError> {
        self.commit(std::slice::from_ref(report))
            .map_err(|e| SinkError::Storage(Box::new(e)))
    }

    fn persist_batch(&self, reports: &[OruReport]) -> Vec<Result<(), SinkError>> {
        match self.commit(reports) {
            Ok(()) => reports.iter().map(|_| Ok(())).collect(),
            Err(e) => {
                let why = e.to_string();
                let fail = || Err(SinkError::Storage(why.clone().into()));
                reports.iter().map(|_| fail()).collect()
            }
        }
    }
}

fn message(i: usize) -> Vec<u8> {
    let text = [
        format!("MSH|^~\\&|RIS|HOSP|PETGROUND|NM|20260127101500||ORU^R01^ORU_R01|B{i}|P|2.5"),
        "PID|1||PAT123^^^HOSP^MR||DOE^JANE||19600101|F".to_owned(),
        format!("OBR|1||F{i}|PETCT^PET/CT|||20260127083000|||||||||||ACC{i}|||||||F"),
        "OBX|1|UI|113014^Study Instance UID^DCM||1.2.826.0.1.3680043.8.498.1||||||F".to_owned(),
        "OBX|2|TX|121070^Findings^DCM||Right hilar lymph node, SUVmax 7.2, image 145.~Liver SUVmean 2.1, blood pool 1.6.~No other FDG avid lesion.||||||F".to_owned(),
        "OBX|3|TX|121073^Impression^DCM||Hilar node suspicious for malignancy.||||||F".to_owned(),
    ]
    .join("\r");
    let mut out = vec![0x0b];
    out.extend(text.as_bytes());
    out.extend([0x1c, 0x0d]);
    out
}

/// Send `count` messages one at a time on one connection, each after the previous ACK.
async fn sender(addr: SocketAddr, first: usize, count: usize) {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    let mut buf = vec![0u8; 4096];
    for i in first..first + count {
        stream.write_all(&message(i)).await.expect("send");
        let mut got = Vec::new();
        while !got.ends_with(&[0x1c, 0x0d]) {
            let n = stream.read(&mut buf).await.expect("read ACK");
            assert!(n > 0, "server closed");
            got.extend_from_slice(&buf[..n]);
        }
        let ack = String::from_utf8_lossy(&got);
        assert!(ack.contains(&format!("MSA|AA|B{i}\r")), "{ack}");
    }
}

/// Keep up to `window` messages unacknowledged on one connection (a pipelining sender).
async fn pipelined_sender(addr: SocketAddr, count: usize, window: usize) {
    let stream = TcpStream::connect(addr).await.expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    let (mut rd, mut wr) = stream.into_split();
    let (tx, mut rx) = tokio::sync::mpsc::channel::<()>(window);
    let writer = tokio::spawn(async move {
        for i in 0..count {
            tx.send(()).await.expect("window slot");
            wr.write_all(&message(i)).await.expect("send");
        }
        wr
    });
    let mut buf = vec![0u8; 64 * 1024];
    let mut pending = Vec::new();
    let mut acked = 0;
    while acked < count {
        let n = rd.read(&mut buf).await.expect("read ACKs");
        assert!(n > 0, "server closed");
        pending.extend_from_slice(&buf[..n]);
        while let Some(end) = pending.windows(2).position(|w| w == [0x1c, 0x0d]) {
            let ack = String::from_utf8_lossy(&pending[..end]).into_owned();
            assert!(ack.contains(&format!("MSA|AA|B{acked}\r")), "{ack}");
            pending.drain(..end + 2);
            acked += 1;
            rx.recv().await.expect("slot");
        }
    }
    drop(writer.await.expect("writer"));
}

async fn measure(addr: SocketAddr, connections: usize, per_connection: usize) -> f64 {
    let started = Instant::now();
    let tasks: Vec<_> = (0..connections)
        .map(|c| tokio::spawn(sender(addr, c * per_connection, per_connection)))
        .collect();
    for t in tasks {
        t.await.expect("sender");
    }
    (connections * per_connection) as f64 / started.elapsed().as_secs_f64()
}

/// Serve `sink` and measure 1 and 8 waiting connections and 1 pipelining connection.
async fn listener_rates(sink: Arc<dyn ReportSink>, total: usize) -> (f64, f64, f64) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let shutdown = CancellationToken::new();
    let cfg = Hl7Config {
        read_timeout: Duration::from_secs(10),
        ..Hl7Config::default()
    };
    let server = tokio::spawn(run(listener, shutdown.clone(), sink, cfg));
    measure(addr, 1, 50).await; // warm-up
    let one = measure(addr, 1, total).await;
    let eight = measure(addr, 8, total / 8).await;
    let started = Instant::now();
    pipelined_sender(addr, total, 16).await;
    let piped = total as f64 / started.elapsed().as_secs_f64();
    shutdown.cancel();
    server
        .await
        .expect("listener")
        .expect("the listener socket never failed");
    (one, eight, piped)
}

/// The sink alone, called in a loop: the bound a sequential sender cannot beat.
fn sink_rate(sink: &FsyncSink, count: usize) -> f64 {
    let raw = message(0);
    let report = petground::hl7::oru::parse(&raw[1..raw.len() - 2]).expect("bench message parses");
    let started = Instant::now();
    for _ in 0..count {
        sink.persist(&report).expect("persist");
    }
    count as f64 / started.elapsed().as_secs_f64()
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "benchmark: run bench/hl7.sh"]
async fn hl7_throughput_with_durable_ack() {
    let total: usize = std::env::var("HL7_BENCH_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let base = std::env::var_os("HL7_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let dir = tempfile::tempdir_in(base).expect("bench dir");
    let sink = Arc::new(FsyncSink {
        dir: dir.path().to_owned(),
        seq: AtomicU64::new(0),
    });
    let size = message(0).len();
    println!("hl7 bench: {total} ORU^R01 messages of {size} bytes per run");
    let (one, eight, piped) = listener_rates(Arc::new(MemorySink::new()), total).await;
    println!(
        "hl7 bench: in-memory sink (listener cost):  1 conn {one:6.0}/s | 8 conns {eight:6.0}/s | 1 conn, 16 in flight {piped:6.0}/s"
    );
    let (one, eight, piped) = listener_rates(sink.clone(), total).await;
    println!(
        "hl7 bench: durable sink (file+dir fsync):   1 conn {one:6.0}/s | 8 conns {eight:6.0}/s | 1 conn, 16 in flight {piped:6.0}/s"
    );
    // The node's own sink: reports committed to the redb store (one commit per message).
    let store_dir = tempfile::tempdir_in(dir.path()).expect("store dir");
    let store = Arc::new(petground::store::Store::open(store_dir.path()).expect("open store"));
    let (events, _) = tokio::sync::broadcast::channel(16);
    let intake = Arc::new(petground::store::ReportIntake { store, events });
    let (one, eight, piped) = listener_rates(intake, total).await;
    println!(
        "hl7 bench: node's redb store sink:          1 conn {one:6.0}/s | 8 conns {eight:6.0}/s | 1 conn, 16 in flight {piped:6.0}/s"
    );
    let alone = sink_rate(&sink, total.min(500));
    println!(
        "hl7 bench: durable sink alone (no network): {alone:6.0} commits/s (the bound for a waiting sender)"
    );
}
