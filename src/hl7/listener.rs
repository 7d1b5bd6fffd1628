//! The MLLP server: accepts connections, reads frames, hands reports to the [`ReportSink`] and
//! answers each message on the same connection, in order (CONTRACT §3).
//!
//! Messages of one connection are handled one after another. When a sender pipelines (sends
//! more before our ACK), whatever has already arrived is parsed and stored with one
//! `persist_batch` (at most 64 messages or `max_message_bytes`), so the store can commit them
//! with one fsync; each answer still goes out in order and only after its report is durable.
//!
//! `main` binds the socket and owns the shutdown token (STYLE 2). Every resource is bounded:
//! connections (`max_connections`; when all are taken, the connection quiet longest gives way
//! to the newcomer — see `slots` — and when none can, the newcomer is accepted and closed at
//! once, so the sender sees it instead of hanging in the backlog), frame size, read/idle/write
//! timeouts.
//! On shutdown no new frame is read (an idle connection closes at once); a message already
//! being stored is finished and answered; `run` then waits up to `read_timeout` for
//! connections to end and closes whatever is still open. Logs carry control IDs,
//! accession numbers and UIDs, never patient names or IDs.
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::io::AsyncWriteExt;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{Instrument, Span, debug, error, info, info_span, warn};

use super::ack::{self, AckMeta, ErrorCode, Outcome};
use super::mllp::{FrameLimits, MllpError, MllpReader, encode_frame};
use super::oru::{self, MessageHeader};
use super::sink::{ReportSink, SinkError};
use super::slots::{EVICT_WAIT, Slot, Slots};
use crate::config::Hl7Config;
use crate::listen;
use crate::logtext::capped;

/// Why the listener stopped before it was asked to.
#[derive(Debug, thiserror::Error)]
pub enum ListenerError {
    /// The listening socket can never accept again ([`crate::listen::is_fatal`]).
    #[error("accepting HL7 connections: {0}")]
    Accept(#[source] std::io::Error),
}

/// Serve HL7 over MLLP on `listener` until `shutdown` is cancelled; an error only when the
/// listening socket itself fails.
pub async fn run(
    listener: TcpListener,
    shutdown: CancellationToken,
    sink: Arc<dyn ReportSink>,
    cfg: Hl7Config,
) -> Result<(), ListenerError> {
    let tracker = TaskTracker::new();
    let slots = Slots::new(cfg.max_connections);
    let ack_ids = Arc::new(AckIds::new());
    // Cancelled by us too when the listener fails, so that the connections end with it.
    let stop = shutdown.child_token();
    let abort = CancellationToken::new();
    info!(addr = ?listener.local_addr().ok(), "HL7 listener started");
    let result = loop {
        let (stream, peer) = tokio::select! {
            _ = stop.cancelled() => break Ok(()),
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) if listen::is_fatal(&e) => break Err(ListenerError::Accept(e)),
                Err(e) => {
                    warn!(error = %e, "HL7 accept failed");
                    tokio::time::sleep(listen::ACCEPT_BACKOFF).await;
                    continue;
                }
            },
        };
        let conn = Connection {
            sink: sink.clone(),
            cfg,
            shutdown: stop.clone(),
            ack_ids: ack_ids.clone(),
        };
        let span = info_span!("hl7_connection", %peer);
        if let Some(task) = conn.admit(stream, peer, &slots) {
            tracker.spawn(abortable(task, abort.clone()).instrument(span));
        }
    };
    stop.cancel();
    tracker.close();
    if tokio::time::timeout(cfg.read_timeout, tracker.wait())
        .await
        .is_err()
    {
        warn!(
            left = tracker.len(),
            "HL7 connections still open at the shutdown deadline; closing them"
        );
        abort.cancel();
        tracker.wait().await;
    }
    info!("HL7 listener stopped");
    result
}

/// Runs one connection task until it ends or `abort` is cancelled; then it is dropped, which
/// closes its socket (a report being stored then is stored unanswered; the sender resends it
/// and it is stored once).
async fn abortable(task: impl Future<Output = ()>, abort: CancellationToken) {
    tokio::select! {
        biased;
        () = task => {}
        () = abort.cancelled() => warn!("HL7 connection closed at the shutdown deadline"),
    }
}

/// Unique MSH-10 values for our ACKs: start time + counter (≤ 20 characters, HL7 ST length).
struct AckIds {
    prefix: String,
    next: AtomicU64,
}

impl AckIds {
    fn new() -> Self {
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        Self {
            prefix: format!("PG{secs:x}"),
            next: AtomicU64::new(1),
        }
    }

    fn next(&self) -> String {
        format!(
            "{}{}",
            self.prefix,
            self.next.fetch_add(1, Ordering::Relaxed)
        )
    }
}

/// One accepted connection's shared state.
struct Connection {
    sink: Arc<dyn ReportSink>,
    cfg: Hl7Config,
    shutdown: CancellationToken,
    ack_ids: Arc<AckIds>,
}

impl Connection {
    /// The task that serves a new connection, given a slot now or once the connection quiet
    /// longest gave its own up; `None` (the connection is closed) when none can be had.
    fn admit(
        self,
        stream: TcpStream,
        peer: std::net::SocketAddr,
        slots: &Arc<Slots>,
    ) -> Option<impl Future<Output = ()> + use<>> {
        let slot = slots.try_take();
        if slot.is_none() && !slots.evict_quietest() {
            let max = self.cfg.max_connections;
            warn!(%peer, max, "too many HL7 connections; closing this one");
            return None;
        }
        if slot.is_none() {
            info!(%peer, "all HL7 connections taken; closing the one quiet longest");
        }
        let slots = slots.clone();
        Some(async move {
            let slot = match slot {
                Some(slot) => Some(slot),
                None => tokio::time::timeout(EVICT_WAIT, slots.take())
                    .await
                    .ok()
                    .flatten(),
            };
            match slot {
                Some(slot) => self.serve(stream, slot).await,
                None => warn!("no HL7 connection slot came free; closing this one"),
            }
        })
    }

    async fn serve(self, stream: TcpStream, slot: Slot) {
        // ACKs are small and latency-bound; Nagle would delay each one.
        if let Err(e) = stream.set_nodelay(true) {
            debug!(error = %e, "TCP_NODELAY not set");
        }
        let (rd, mut wr) = stream.into_split();
        let mut reader = MllpReader::new(
            rd,
            FrameLimits {
                max_bytes: self.cfg.max_message_bytes,
                read_timeout: self.cfg.read_timeout,
                idle_timeout: self.cfg.idle_timeout,
            },
        );
        debug!("HL7 connection open");
        loop {
            let next = tokio::select! {
                biased;
                _ = self.shutdown.cancelled() => break,
                _ = slot.evicted.cancelled() => {
                    info!("closing this quiet HL7 connection for a new sender");
                    break;
                }
                next = reader.next_frame() => next,
            };
            let skipped = reader.take_skipped();
            if skipped > 0 {
                warn!(skipped, "skipped bytes outside MLLP frames");
            }
            let reply = match next {
                Ok(Some(frame)) => {
                    slot.busy();
                    let batch = self.gather(frame, &mut reader).await;
                    self.handle(batch).await
                }
                Ok(None) => break,
                Err(MllpError::Oversize { limit, head }) => {
                    warn!(limit, "HL7 message too large; answering and closing");
                    let header = oru::parse_header_bytes(&head).ok();
                    let reason = format!("message exceeds the limit of {limit} bytes");
                    if let Some(ack) = self.ack(
                        header.as_ref(),
                        Outcome::Error,
                        Some((ErrorCode::INTERNAL, &reason)),
                    ) {
                        let _ = self.write(&mut wr, &ack).await;
                    }
                    let _ = wr.shutdown().await;
                    let _ =
                        tokio::time::timeout(self.cfg.read_timeout, reader.discard_frame()).await;
                    break;
                }
                Err(e @ MllpError::IdleTimeout(_)) => {
                    debug!(error = %e, "closing idle HL7 connection");
                    break;
                }
                Err(e) => {
                    warn!(error = %e, "closing HL7 connection");
                    break;
                }
            };
            if let Some(bytes) = reply
                && let Err(e) = self.write(&mut wr, &bytes).await
            {
                warn!(error = %e, "writing ACK failed; closing");
                break;
            }
            slot.answered();
        }
        let _ = wr.shutdown().await;
        debug!("HL7 connection closed");
    }

    /// The first frame plus those the sender has already pipelined behind it, bounded in count
    /// and bytes, so that they can be stored in one commit.
    async fn gather(&self, first: Vec<u8>, reader: &mut MllpReader<OwnedReadHalf>) -> Vec<Vec<u8>> {
        let mut bytes = first.len();
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH && bytes < self.cfg.max_message_bytes {
            match reader.next_ready_frame().await {
                Some(frame) => {
                    bytes += frame.len();
                    batch.push(frame);
                }
                None => break,
            }
        }
        batch
    }

    /// Parse and store on the blocking pool, then build the framed answers in message order
    /// (`None` when there is nothing to send: MSH-15 asked for no answer).
    async fn handle(&self, batch: Vec<Vec<u8>>) -> Option<Vec<u8>> {
        // Kept for the answers should the blocking task panic (MSA-2 must still echo MSH-10).
        let heads: Vec<Vec<u8>> = batch
            .iter()
            .map(|f| f[..f.len().min(HEADER_BYTES)].to_vec())
            .collect();
        let sink = self.sink.clone();
        let span = Span::current();
        let done =
            tokio::task::spawn_blocking(move || span.in_scope(|| process_batch(&batch, &*sink)));
        let processed = match done.await {
            Ok(processed) => processed,
            Err(join) => {
                error!(error = %join, "HL7 message handling failed");
                heads
                    .iter()
                    .map(|head| Processed {
                        header: oru::parse_header_bytes(head).ok().map(Box::new),
                        outcome: Outcome::Error,
                        error: Some((ErrorCode::INTERNAL, NOT_STORED.to_owned())),
                    })
                    .collect()
            }
        };
        let mut out = Vec::new();
        for p in &processed {
            let error = p.error.as_ref().map(|(code, why)| (*code, why.as_str()));
            if let Some(ack) = self.ack(p.header.as_deref(), p.outcome, error) {
                out.extend(ack);
            }
        }
        (!out.is_empty()).then_some(out)
    }

    fn ack(
        &self,
        header: Option<&MessageHeader>,
        outcome: Outcome,
        error: Option<(ErrorCode, &str)>,
    ) -> Option<Vec<u8>> {
        let Some(code) = ack::response(header, outcome) else {
            debug!(?outcome, "MSH-15 asks for no acknowledgement");
            return None;
        };
        let control_id = self.ack_ids.next();
        let timestamp = ack::hl7_timestamp(SystemTime::now());
        let meta = AckMeta {
            control_id: &control_id,
            timestamp: &timestamp,
        };
        debug!(code = code.as_str(), "HL7 acknowledgement");
        Some(encode_frame(
            ack::build(header, code, error, meta).as_bytes(),
        ))
    }

    async fn write(&self, wr: &mut OwnedWriteHalf, bytes: &[u8]) -> std::io::Result<()> {
        match tokio::time::timeout(self.cfg.read_timeout, wr.write_all(bytes)).await {
            Ok(result) => result,
            Err(_) => Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "ACK write timed out",
            )),
        }
    }
}

/// How many leading bytes of a frame hold its MSH segment, for the fallback answer.
const HEADER_BYTES: usize = 4096;

/// At most this many pipelined messages are stored in one `persist_batch`.
const MAX_BATCH: usize = 64;

/// MSA-3 for a storage failure; the details stay in the log.
const NOT_STORED: &str = "report could not be stored; please resend";

/// What became of one message.
struct Processed {
    header: Option<Box<MessageHeader>>,
    outcome: Outcome,
    error: Option<(ErrorCode, String)>,
}

/// Parse each frame and store the reports among them in one `persist_batch`. Synchronous: runs
/// on the blocking pool. One result per frame, in order.
fn process_batch(frames: &[Vec<u8>], sink: &dyn ReportSink) -> Vec<Processed> {
    let mut processed = Vec::with_capacity(frames.len());
    let mut reports = Vec::new();
    let mut slots = Vec::new();
    for frame in frames {
        match oru::parse(frame) {
            Ok(report) => {
                info!(
                    control_id = %capped(&report.header.control_id),
                    accession = report.accession.as_deref().map(capped),
                    study_uid = report.study_uid.as_deref().map(capped),
                    status = report.status.code(),
                    "HL7 report received"
                );
                slots.push(processed.len());
                processed.push(Processed {
                    header: Some(Box::new(report.header.clone())),
                    outcome: Outcome::Accepted,
                    error: None,
                });
                reports.push(report);
            }
            Err(rejected) => processed.push(refused(rejected)),
        }
    }
    if reports.is_empty() {
        return processed;
    }
    let mut results = sink.persist_batch(&reports).into_iter();
    for (slot, report) in slots.into_iter().zip(&reports) {
        let control_id = capped(&report.header.control_id);
        let control_id = control_id.as_str();
        let result = results.next().unwrap_or_else(|| {
            Err(SinkError::Storage(
                "sink returned fewer results than reports".into(),
            ))
        });
        match result {
            Ok(()) => info!(control_id, "HL7 report stored"),
            Err(e) => {
                error!(control_id, error = %e, "HL7 report not stored");
                let reason = match &e {
                    SinkError::Refused(why) => format!("report refused: {why}"),
                    SinkError::Storage(_) => NOT_STORED.to_owned(),
                };
                processed[slot].outcome = Outcome::Error;
                processed[slot].error = Some((ErrorCode::INTERNAL, reason));
            }
        }
    }
    processed
}

/// The answer to a message that is not an acceptable report.
fn refused(rejected: oru::Rejected) -> Processed {
    let control_id = rejected.header.as_deref().map(|h| capped(&h.control_id));
    warn!(control_id, error = %rejected.error, "HL7 message not accepted");
    let outcome = if rejected.error.is_rejection() {
        Outcome::Rejected
    } else {
        Outcome::Error
    };
    let error = Some((rejected.error.error_code(), rejected.error.to_string()));
    Processed {
        header: rejected.header,
        outcome,
        error,
    }
}
