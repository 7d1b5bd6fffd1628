//! The DIMSE exchange of one accepted association: P-DATA fragments reassembled into commands
//! and data sets, C-ECHO answered, each C-STORE handed to `receive` and answered with the
//! status it earned; release, abort, and the end of the association at shutdown.

use dicom_ul::association::server::AsyncServerAssociation;
use dicom_ul::pdu::{PDataValue, PDataValueType, Pdu};
use tokio::net::TcpStream;
use tracing::{debug, warn};

use super::{ScpContext, Stop, receive};
use crate::dicom::dimse::{self, Request, Response, status};

/// What one association did, for its closing log line.
#[derive(Default)]
pub(super) struct Stats {
    pub stored: u32,
    pub failed: u32,
    pub bytes: u64,
}

#[derive(Debug, thiserror::Error)]
pub(super) enum LoopError {
    #[error("{0}")]
    Ul(#[from] dicom_ul::association::Error),
    #[error("peer aborted the association")]
    Aborted,
    #[error("protocol violation: {0}")]
    Protocol(String),
    /// We aborted it: the node is shutting down.
    #[error("the node is shutting down")]
    ShuttingDown,
}

/// The message state of an association: collecting a command, or a data set.
enum State {
    Idle,
    Command { pc: u8, bytes: Vec<u8> },
    Data(Box<receive::Incoming>),
}

/// Serves the association's messages until it is released or aborted. At shutdown it ends
/// between messages; a command or data set in progress is received and answered first, unless
/// the shutdown grace runs out (drain semantics: an acknowledged instance is a stored one).
pub(super) async fn message_loop(
    mut assoc: AsyncServerAssociation<TcpStream>,
    ctx: &ScpContext,
    calling: &str,
    stats: &mut Stats,
    stop: &Stop,
) -> Result<(), LoopError> {
    let mut state = State::Idle;
    let result = loop {
        // The drain token is always cancelled before the abort token.
        let end = match state {
            State::Idle => &stop.drain,
            _ => &stop.abort,
        };
        let pdu = tokio::select! {
            biased;
            () = end.cancelled() => {
                let _ = assoc.send(&shutdown_abort_pdu()).await;
                break Err(LoopError::ShuttingDown);
            }
            pdu = assoc.receive() => match pdu {
                Ok(p) => p,
                Err(e) => break Err(e.into()),
            },
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

/// The A-ABORT we send when the node stops: from the service user (this application), not a
/// protocol fault.
fn shutdown_abort_pdu() -> Pdu {
    Pdu::AbortRQ {
        source: dicom_ul::pdu::AbortRQSource::ServiceUser,
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
    let Some(request) = decode_request(&bytes, assoc, pc).await? else {
        return Ok(State::Idle);
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
            let (transfer_syntax, abstract_syntax) = negotiated(assoc, pc)?;
            let expect = receive::Expect {
                pc,
                message_id,
                sop_class: sop_class_uid,
                sop_instance: sop_instance_uid,
                transfer_syntax,
                abstract_syntax,
                calling: calling.to_owned(),
            };
            let incoming = receive::Incoming::start(ctx, expect).await;
            Ok(State::Data(Box::new(incoming)))
        }
    }
}

/// The request in a complete command set; `None` when it was an unsupported command, which
/// has been answered (0xC000-class "unrecognized operation") and the association goes on.
async fn decode_request(
    bytes: &[u8],
    assoc: &mut AsyncServerAssociation<TcpStream>,
    pc: u8,
) -> Result<Option<Request>, LoopError> {
    match Request::decode(bytes) {
        Ok(r) => Ok(Some(r)),
        Err(dimse::DimseError::Unsupported(field)) => {
            warn!(
                command = format!("0x{field:04X}"),
                "unsupported DIMSE command"
            );
            let mut rsp = Response::echo(0, "");
            rsp.command_field = field | 0x8000;
            rsp.status = status::UNRECOGNIZED_OPERATION;
            send_response(assoc, &rsp, pc).await?;
            Ok(None)
        }
        Err(e) => Err(LoopError::Protocol(e.to_string())),
    }
}

/// The transfer and abstract syntax negotiated for presentation context `pc`, which a C-STORE
/// on it must match.
fn negotiated(
    assoc: &AsyncServerAssociation<TcpStream>,
    pc: u8,
) -> Result<(String, String), LoopError> {
    let Some(context) = assoc.presentation_contexts().iter().find(|c| c.id == pc) else {
        return Err(LoopError::Protocol(format!(
            "presentation context {pc} was not negotiated"
        )));
    };
    Ok((
        context.transfer_syntax.clone(),
        context.abstract_syntax.clone(),
    ))
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
