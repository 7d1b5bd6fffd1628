//! The C-ECHO / C-STORE SCP: accepts associations (bounded), reassembles each C-STORE data set
//! from its P-DATA fragments straight into a temporary Part 10 file, hands it to the store and
//! answers with the status the store's outcome earns. Every request gets an answer; nothing is
//! acknowledged before it is durable.
//!
//! Shutdown drains: no new association is taken, an idle association is aborted at once, a
//! C-STORE in progress may finish (and is answered) within `dicom.shutdown_grace_seconds`, and
//! whatever still runs then is aborted. This file owns the accept loop and the association
//! lifecycle; `messages` the DIMSE exchange of one association, `receive` one data set.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dicom_ul::pdu::Pdu;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, broadcast};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{Instrument, debug, info, info_span, warn};

use super::accept::{self, Peeked, Refusal};
use crate::config::ScpConfig;
use crate::listen;
use crate::logtext::capped;
use crate::store::{Event, Store};

mod messages;
mod receive;

use messages::{LoopError, Stats, message_loop};

/// What every association task shares.
pub struct ScpContext {
    pub cfg: ScpConfig,
    pub store: Arc<Store>,
    /// Series-complete events, for the pipeline (and tests) to follow.
    pub events: broadcast::Sender<Event>,
}

/// Why the SCP stopped before it was asked to.
#[derive(Debug, thiserror::Error)]
pub enum ScpError {
    /// The listening socket can never accept again ([`listen::is_fatal`]).
    #[error("accepting DICOM connections: {0}")]
    Accept(#[source] std::io::Error),
}

/// The two ends of an association's life at shutdown.
#[derive(Clone)]
struct Stop {
    /// Shutdown began: take no new association, end idle ones.
    drain: CancellationToken,
    /// The grace is over: end every association now.
    abort: CancellationToken,
}

/// Serves associations on `listener` until `shutdown` is cancelled, then drains (see the
/// module comment). Returns an error only when the listening socket itself fails.
pub async fn run(
    listener: TcpListener,
    shutdown: CancellationToken,
    ctx: Arc<ScpContext>,
) -> Result<(), ScpError> {
    let stop = Stop {
        drain: shutdown.child_token(),
        abort: CancellationToken::new(),
    };
    let admission = Admission::new(ctx.cfg.max_associations);
    let tracker = TaskTracker::new();
    let result = loop {
        let (socket, peer) = tokio::select! {
            _ = stop.drain.cancelled() => break Ok(()),
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) if listen::is_fatal(&e) => break Err(ScpError::Accept(e)),
                Err(e) => {
                    warn!(error = %e, "accept failed");
                    tokio::time::sleep(listen::ACCEPT_BACKOFF).await;
                    continue;
                }
            },
        };
        let _ = socket.set_nodelay(true);
        // Until its A-ASSOCIATE-RQ is in, a connection holds only a waiting place, not an
        // association slot: sockets that never send a byte cannot lock out real senders.
        let Ok(waiting) = admission.waiting.clone().try_acquire_owned() else {
            warn!(%peer, "too many connections waiting to send an association request; closing");
            continue;
        };
        let task = association(
            socket,
            peer,
            waiting,
            admission.clone(),
            ctx.clone(),
            stop.clone(),
        );
        let span = info_span!("association", %peer);
        tracker.spawn(abortable(task, stop.abort.clone()).instrument(span));
    };
    // Also when the listener failed: the node stops, and these associations with it.
    stop.drain.cancel();
    drain(&tracker, &stop.abort, ctx.cfg.shutdown_grace).await;
    result
}

/// Waits up to `grace` for the running associations, then aborts the rest and waits for them
/// to be gone (at once: each is dropped at its next poll).
async fn drain(tracker: &TaskTracker, abort: &CancellationToken, grace: Duration) {
    tracker.close();
    info!(
        running = tracker.len(),
        "DICOM listener closed; waiting for running associations"
    );
    if tokio::time::timeout(grace, tracker.wait()).await.is_err() {
        warn!(
            left = tracker.len(),
            "shutdown grace expired; aborting remaining associations"
        );
        abort.cancel();
        tracker.wait().await;
    }
}

/// Runs one association task until it ends or `abort` is cancelled, then drops it (closing its
/// socket). The task is polled first, so one waiting in its message loop still sends its
/// A-ABORT; one stuck anywhere else is dropped all the same.
async fn abortable(task: impl Future<Output = ()>, abort: CancellationToken) {
    tokio::select! {
        biased;
        () = task => {}
        () = abort.cancelled() => warn!("association dropped at the end of the shutdown grace"),
    }
}

/// The bounds on connections: association slots, and places to wait for a request in.
#[derive(Clone)]
struct Admission {
    slots: Arc<Semaphore>,
    waiting: Arc<Semaphore>,
}

impl Admission {
    fn new(max_associations: usize) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(max_associations)),
            waiting: Arc::new(Semaphore::new(max_associations * WAITING_PER_ASSOCIATION)),
        }
    }

    /// An association slot, unless all are taken or the disk reserve is reached.
    fn slot(&self, ctx: &ScpContext) -> Result<OwnedSemaphorePermit, Refusal> {
        let permit =
            (self.slots.clone().try_acquire_owned()).map_err(|_| Refusal::TooManyAssociations)?;
        if disk_reserve_reached(ctx) {
            return Err(Refusal::DiskReserve);
        }
        Ok(permit)
    }
}

/// One connection, from its A-ASSOCIATE-RQ (read while holding a waiting place) through
/// admission to the end of the association.
async fn association(
    socket: TcpStream,
    peer: SocketAddr,
    waiting: OwnedSemaphorePermit,
    admission: Admission,
    ctx: Arc<ScpContext>,
    stop: Stop,
) {
    let proposal = tokio::select! {
        _ = stop.drain.cancelled() => None,
        p = read_request(&socket, &ctx) => p,
    };
    let Some(proposal) = proposal else {
        return;
    };
    drop(waiting);
    let proposal = match proposal {
        Peeked::Request(p) => Some(p),
        Peeked::Other => None,
        Peeked::Stalled { want } => {
            warn!(
                bytes = want,
                "association request cut short or too large; refusing"
            );
            accept::refuse_stalled(socket, want, REQUEST_STALL).await;
            return;
        }
    };
    let permit = match admission.slot(&ctx) {
        Ok(permit) => permit,
        Err(why) => {
            warn!(reason = ?why, "association refused before negotiation (transient)");
            let timeout = ctx.cfg.association_timeout;
            accept::reject_transient(socket, why, timeout).await;
            return;
        }
    };
    serve(socket, proposal, peer, &ctx, &stop).await;
    drop(permit);
}

fn disk_reserve_reached(ctx: &ScpContext) -> bool {
    match fs4::available_space(ctx.store.data_dir()) {
        Ok(free) => free < ctx.cfg.min_free_disk_bytes,
        Err(e) => {
            warn!(error = %e, "cannot read free disk space; accepting");
            false
        }
    }
}

/// Connections that may wait for their A-ASSOCIATE-RQ, per association slot.
const WAITING_PER_ASSOCIATION: usize = 4;

/// An incomplete A-ASSOCIATE-RQ that gains no byte for this long is refused (a real peer sends
/// its request in one go; one that half-closed or went silent mid-request would otherwise be
/// held until the association timeout).
const REQUEST_STALL: Duration = Duration::from_secs(2);

/// The peer's A-ASSOCIATE-RQ, within `dicom.association_timeout_seconds`; `None` when the
/// connection closed or timed out first (logged).
async fn read_request(socket: &TcpStream, ctx: &ScpContext) -> Option<Peeked> {
    let timeout = ctx.cfg.association_timeout;
    match tokio::time::timeout(
        timeout,
        accept::peek_request(socket, 1 << 20, REQUEST_STALL),
    )
    .await
    {
        Ok(Ok(p)) => Some(p),
        Ok(Err(e)) => {
            debug!(error = %e, "connection closed before an association request");
            None
        }
        Err(_) => {
            warn!("no association request within the timeout; closing");
            None
        }
    }
}

async fn serve(
    socket: TcpStream,
    proposal: Option<accept::Proposal>,
    peer: SocketAddr,
    ctx: &ScpContext,
    stop: &Stop,
) {
    let timeout = ctx.cfg.association_timeout;
    let (calling, called, proposed) = match &proposal {
        Some(p) => (
            p.calling_ae.as_str(),
            p.called_ae.as_str(),
            p.abstract_syntaxes.as_slice(),
        ),
        None => ("?", "?", &[][..]),
    };
    let opts = accept::options(&ctx.cfg, peer.ip(), proposed);
    let assoc = match tokio::time::timeout(timeout, opts.establish_async(socket)).await {
        Ok(Ok(a)) => a,
        Ok(Err(e)) => {
            let (calling, called) = (capped(calling), capped(called));
            warn!(calling, called, error = %loggable(&e), "association rejected");
            return;
        }
        Err(_) => {
            warn!(calling, called, "association negotiation timed out");
            return;
        }
    };
    let accepted = assoc
        .presentation_contexts()
        .iter()
        .filter(|pc| pc.reason == dicom_ul::pdu::PresentationContextResultReason::Acceptance)
        .count();
    info!(
        calling,
        called,
        accepted_contexts = accepted,
        "association accepted"
    );
    let started = Instant::now();
    let mut stats = Stats::default();
    match message_loop(assoc, ctx, calling, &mut stats, stop).await {
        Ok(()) => info!(
            stored = stats.stored,
            failed = stats.failed,
            mb = stats.bytes as f64 / 1e6,
            secs = started.elapsed().as_secs_f64(),
            "association released"
        ),
        Err(LoopError::ShuttingDown) => info!(
            stored = stats.stored,
            failed = stats.failed,
            "association aborted: the node is shutting down"
        ),
        Err(e) => {
            let error = capped(&e.to_string());
            warn!(stored = stats.stored, failed = stats.failed, %error, "association ended abnormally")
        }
    }
}

/// A peer's association error, fit for the log: an unexpected PDU by its kind and size only,
/// never its bytes (a P-DATA sent before association carries a data set, patient data
/// included, and was once logged whole as a decimal dump, 3.8 MB for 0.95 MB in).
fn loggable(e: &dicom_ul::association::Error) -> String {
    use dicom_ul::association::Error as E;
    match e {
        E::UnexpectedPdu { pdu, .. } => format!("unexpected PDU {}", pdu_text(pdu)),
        E::UnknownPdu { pdu, .. } => format!("unknown PDU {}", pdu_text(pdu)),
        other => capped(&other.to_string()),
    }
}

/// A PDU as its kind and sizes ("PData [(Data, 912 bytes)]"), capped.
fn pdu_text(pdu: &Pdu) -> String {
    capped(&pdu.short_description().to_string())
}

/// Where a failed or undecodable data set is kept for inspection, with the reason beside it.
fn quarantine_path(ctx: &ScpContext, sop: &str) -> PathBuf {
    let safe: String = sop
        .chars()
        .filter(|c| c.is_ascii_digit() || *c == '.')
        .take(64)
        .collect();
    ctx.store
        .layout()
        .quarantine_file(&format!("{}-{safe}.dcm", crate::store::unix_now()))
}

#[cfg(test)]
mod log_tests {
    use dicom_ul::pdu::{PDataValue, PDataValueType};

    use super::*;

    /// Issue 18: a P-DATA PDU sent before association (a data set with a patient name) is
    /// logged by kind and size, never by its bytes.
    #[test]
    fn an_unexpected_pdu_is_logged_without_its_bytes() {
        let pdu = Pdu::PData {
            data: vec![PDataValue {
                presentation_context_id: 1,
                value_type: PDataValueType::Data,
                is_last: true,
                data: b"\x10\x00\x10\x00PN\x08\x00DOE^JANE".to_vec(),
            }],
        };
        let text = pdu_text(&pdu);
        assert!(text.contains("16 bytes"), "{text}");
        assert!(!text.contains("68") && !text.contains("DOE"), "{text}");
    }
}
