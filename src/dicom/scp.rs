//! The C-ECHO / C-STORE SCP: accepts associations (bounded), reassembles each C-STORE data set
//! from its P-DATA fragments straight into a temporary Part 10 file, hands it to the store and
//! answers with the status the store's outcome earns. Every request gets an answer; nothing is
//! acknowledged before it is durable.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dicom_ul::association::server::AsyncServerAssociation;
use dicom_ul::pdu::{PDataValue, PDataValueType, Pdu};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, broadcast};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{Instrument, debug, info, info_span, warn};

use super::accept::{self, Peeked, Refusal};
use super::dimse::{self, Request, Response, status};
use crate::config::ScpConfig;
use crate::logtext::capped;
use crate::store::{Event, Store};

mod receive;

/// What every association task shares.
pub struct ScpContext {
    pub cfg: ScpConfig,
    pub store: Arc<Store>,
    /// Series-complete events, for the pipeline (and tests) to follow.
    pub events: broadcast::Sender<Event>,
}

/// Serves associations on `listener` until `shutdown` is cancelled, then waits up to
/// `cfg.shutdown_grace` for the running associations to finish.
pub async fn run(listener: TcpListener, shutdown: CancellationToken, ctx: Arc<ScpContext>) {
    let slots = Arc::new(Semaphore::new(ctx.cfg.max_associations));
    let waiting_places = Arc::new(Semaphore::new(
        ctx.cfg.max_associations * WAITING_PER_ASSOCIATION,
    ));
    let tracker = TaskTracker::new();
    loop {
        let (socket, peer) = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let _ = socket.set_nodelay(true);
        // Until its A-ASSOCIATE-RQ is in, a connection holds only a waiting place, not an
        // association slot: sockets that never send a byte cannot lock out real senders.
        let Ok(waiting) = waiting_places.clone().try_acquire_owned() else {
            warn!(%peer, "too many connections waiting to send an association request; closing");
            continue;
        };
        let (ctx, slots, stop) = (ctx.clone(), slots.clone(), shutdown.clone());
        let span = info_span!("association", %peer);
        tracker.spawn(
            async move {
                let proposal = tokio::select! {
                    _ = stop.cancelled() => None,
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
                let permit = match slots.try_acquire_owned() {
                    Ok(permit) if !disk_reserve_reached(&ctx) => permit,
                    outcome => {
                        let why = match outcome {
                            Ok(_) => Refusal::DiskReserve,
                            Err(_) => Refusal::TooManyAssociations,
                        };
                        warn!(reason = ?why, "association refused before negotiation (transient)");
                        let timeout = ctx.cfg.association_timeout;
                        accept::reject_transient(socket, why, timeout).await;
                        return;
                    }
                };
                serve(socket, proposal, peer, &ctx).await;
                drop(permit);
            }
            .instrument(span),
        );
    }
    tracker.close();
    info!(
        running = tracker.len(),
        "DICOM listener closed; waiting for running associations"
    );
    if tokio::time::timeout(ctx.cfg.shutdown_grace, tracker.wait())
        .await
        .is_err()
    {
        warn!(
            left = tracker.len(),
            "shutdown grace expired; aborting remaining associations"
        );
    }
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
    match message_loop(assoc, ctx, calling, &mut stats).await {
        Ok(()) => info!(
            stored = stats.stored,
            failed = stats.failed,
            mb = stats.bytes as f64 / 1e6,
            secs = started.elapsed().as_secs_f64(),
            "association released"
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

#[derive(Default)]
struct Stats {
    stored: u32,
    failed: u32,
    bytes: u64,
}

#[derive(Debug, thiserror::Error)]
enum LoopError {
    #[error("{0}")]
    Ul(#[from] dicom_ul::association::Error),
    #[error("peer aborted the association")]
    Aborted,
    #[error("protocol violation: {0}")]
    Protocol(String),
}

/// The message state of an association: collecting a command, or a data set.
enum State {
    Idle,
    Command { pc: u8, bytes: Vec<u8> },
    Data(Box<receive::Incoming>),
}

async fn message_loop(
    mut assoc: AsyncServerAssociation<TcpStream>,
    ctx: &ScpContext,
    calling: &str,
    stats: &mut Stats,
) -> Result<(), LoopError> {
    let mut state = State::Idle;
    let result = loop {
        let pdu = match assoc.receive().await {
            Ok(p) => p,
            Err(e) => break Err(e.into()),
        };
        match pdu {
            Pdu::PData { data } => {
                for pdv in data {
                    state = match step(state, pdv, &mut assoc, ctx, calling, stats).await {
                        Ok(s) => s,
                        Err(e) => {
                            // Unusable stream: abort so that the peer knows nothing was stored.
                            let _ = assoc.send(&abort_pdu()).await;
                            return Err(e);
                        }
                    };
                }
            }
            Pdu::ReleaseRQ => {
                let _ = assoc.send(&Pdu::ReleaseRP).await;
                break Ok(());
            }
            Pdu::AbortRQ { .. } => break Err(LoopError::Aborted),
            other => {
                let _ = assoc.send(&abort_pdu()).await;
                break Err(LoopError::Protocol(format!(
                    "unexpected PDU {:?}",
                    pdu_name(&other)
                )));
            }
        }
    };
    if let State::Data(incoming) = state {
        incoming.discard().await;
    }
    result
}

fn pdu_name(p: &Pdu) -> &'static str {
    match p {
        Pdu::AssociationRQ(_) => "A-ASSOCIATE-RQ",
        Pdu::AssociationAC(_) => "A-ASSOCIATE-AC",
        Pdu::AssociationRJ(_) => "A-ASSOCIATE-RJ",
        Pdu::ReleaseRP => "A-RELEASE-RP",
        _ => "unknown",
    }
}

fn abort_pdu() -> Pdu {
    Pdu::AbortRQ {
        source: dicom_ul::pdu::AbortRQSource::ServiceProvider(
            dicom_ul::pdu::AbortRQServiceProviderReason::UnexpectedPdu,
        ),
    }
}

/// Largest DIMSE command set accepted across fragments (a C-STORE-RQ is ~150 bytes).
const MAX_COMMAND_BYTES: usize = 64 * 1024;

async fn step(
    state: State,
    pdv: PDataValue,
    assoc: &mut AsyncServerAssociation<TcpStream>,
    ctx: &ScpContext,
    calling: &str,
    stats: &mut Stats,
) -> Result<State, LoopError> {
    match (state, pdv.value_type) {
        (State::Idle, PDataValueType::Command) => {
            let st = State::Command {
                pc: pdv.presentation_context_id,
                bytes: pdv.data,
            };
            if pdv.is_last {
                command_complete(st, assoc, ctx, calling).await
            } else {
                Ok(st)
            }
        }
        (State::Command { pc, mut bytes }, PDataValueType::Command) => {
            if bytes.len() + pdv.data.len() > MAX_COMMAND_BYTES {
                return Err(LoopError::Protocol(format!(
                    "command set over {MAX_COMMAND_BYTES} bytes"
                )));
            }
            bytes.extend_from_slice(&pdv.data);
            let st = State::Command { pc, bytes };
            if pdv.is_last {
                command_complete(st, assoc, ctx, calling).await
            } else {
                Ok(st)
            }
        }
        (State::Data(mut incoming), PDataValueType::Data)
            if incoming.pc == pdv.presentation_context_id =>
        {
            incoming.write(ctx, &pdv.data).await;
            if !pdv.is_last {
                return Ok(State::Data(incoming));
            }
            let (rsp, bytes) = incoming.finish(ctx).await;
            if rsp.status == status::SUCCESS {
                stats.stored += 1;
                stats.bytes += bytes;
            } else {
                stats.failed += 1;
            }
            send_response(assoc, &rsp, pdv.presentation_context_id).await?;
            Ok(State::Idle)
        }
        (_, t) => Err(LoopError::Protocol(format!(
            "{t:?} fragment out of sequence"
        ))),
    }
}

async fn command_complete(
    state: State,
    assoc: &mut AsyncServerAssociation<TcpStream>,
    ctx: &ScpContext,
    calling: &str,
) -> Result<State, LoopError> {
    let State::Command { pc, bytes } = state else {
        return Ok(state);
    };
    let request = match Request::decode(&bytes) {
        Ok(r) => r,
        Err(dimse::DimseError::Unsupported(field)) => {
            warn!(
                command = format!("0x{field:04X}"),
                "unsupported DIMSE command"
            );
            let mut rsp = Response::echo(0, "");
            rsp.command_field = field | 0x8000;
            rsp.status = status::UNRECOGNIZED_OPERATION;
            send_response(assoc, &rsp, pc).await?;
            return Ok(State::Idle);
        }
        Err(e) => return Err(LoopError::Protocol(e.to_string())),
    };
    match request {
        Request::Echo {
            message_id,
            sop_class_uid,
        } => {
            debug!(message_id, "C-ECHO");
            send_response(assoc, &Response::echo(message_id, &sop_class_uid), pc).await?;
            Ok(State::Idle)
        }
        Request::Store {
            has_dataset: false,
            message_id,
            sop_class_uid,
            sop_instance_uid,
        } => {
            let rsp = Response::store(
                message_id,
                &sop_class_uid,
                &sop_instance_uid,
                status::CANNOT_UNDERSTAND,
            )
            .with_comment("C-STORE without a data set");
            send_response(assoc, &rsp, pc).await?;
            Ok(State::Idle)
        }
        Request::Store {
            message_id,
            sop_class_uid,
            sop_instance_uid,
            ..
        } => {
            let ts = assoc
                .presentation_contexts()
                .iter()
                .find(|c| c.id == pc)
                .map(|c| (c.transfer_syntax.clone(), c.abstract_syntax.clone()));
            let Some((ts, abstract_syntax)) = ts else {
                return Err(LoopError::Protocol(format!(
                    "presentation context {pc} was not negotiated"
                )));
            };
            let incoming = receive::Incoming::start(
                ctx,
                receive::Expect {
                    pc,
                    message_id,
                    sop_class: sop_class_uid,
                    sop_instance: sop_instance_uid,
                    transfer_syntax: ts,
                    abstract_syntax,
                    calling: calling.to_owned(),
                },
            )
            .await;
            Ok(State::Data(Box::new(incoming)))
        }
    }
}

async fn send_response(
    assoc: &mut AsyncServerAssociation<TcpStream>,
    rsp: &Response,
    pc: u8,
) -> Result<(), LoopError> {
    let pdu = Pdu::PData {
        data: vec![PDataValue {
            presentation_context_id: pc,
            value_type: PDataValueType::Command,
            is_last: true,
            data: rsp.encode(),
        }],
    };
    assoc.send(&pdu).await?;
    Ok(())
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
