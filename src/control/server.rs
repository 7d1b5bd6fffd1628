//! The node's side of the control socket: one connection at a time (operators, not traffic),
//! each bounded by [`CONNECTION_TIMEOUT`] and [`super::MAX_REQUEST_BYTES`]; store work runs on
//! the blocking pool. `main` binds the listener; shutdown is the caller's token.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::{ErrorKind, MAX_REQUEST_BYTES, Op, Reply, Request, Response, VERSION};
use crate::ids::Uid;
use crate::listen;
use crate::status::{self, Filter, Source};
use crate::store::{Reprocess, Resend, Store, unix_now};

/// How long a client that sends nothing waits before it gets the status text (the protocol
/// before version 1: connect, read to the end).
pub const LEGACY_WAIT: Duration = Duration::from_millis(500);

/// The longest one connection may take, request to answer written.
pub const CONNECTION_TIMEOUT: Duration = Duration::from_secs(30);

/// What the control requests act on.
pub struct Control {
    pub store: Arc<Store>,
    /// Wakes the delivery worker when `resend` queued entries.
    pub wake_delivery: Arc<Notify>,
}

/// Answers connections on `listener` until `shutdown`.
pub async fn run(
    listener: UnixListener,
    ctl: Arc<Control>,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    loop {
        let conn = tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            c = listener.accept() => match c {
                Ok((conn, _)) => conn,
                Err(e) if listen::is_fatal(&e) => return Err(e),
                Err(e) => {
                    warn!(error = %e, "control socket accept failed");
                    tokio::time::sleep(listen::ACCEPT_BACKOFF).await;
                    continue;
                }
            },
        };
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            r = tokio::time::timeout(CONNECTION_TIMEOUT, serve(conn, &ctl)) => match r {
                Ok(Ok(())) => {}
                Ok(Err(e)) => warn!(error = %e, "control connection failed"),
                Err(_) => warn!("control connection timed out"),
            },
        }
    }
}

/// One connection: a request line and its answer, or the legacy text.
async fn serve(conn: UnixStream, ctl: &Control) -> std::io::Result<()> {
    let (read, mut write) = conn.into_split();
    let mut reader = BufReader::new(read.take(MAX_REQUEST_BYTES));
    let mut line = String::new();
    let got = tokio::time::timeout(LEGACY_WAIT, reader.read_line(&mut line)).await;
    match got {
        Err(_) | Ok(Ok(0)) if line.trim().is_empty() => return legacy_text(ctl, &mut write).await,
        Ok(Err(e)) => return Err(e),
        _ => {}
    }
    let reply = match got {
        Err(_) => Reply::error(ErrorKind::BadRequest, "the request line did not end"),
        _ => answer(&line, ctl).await,
    };
    let mut out = serde_json::to_string(&Response { v: VERSION, reply })
        .expect("responses are plain data and always serialise");
    out.push('\n');
    write.write_all(out.as_bytes()).await?;
    write.shutdown().await
}

/// Every item as text, for a client of the protocol before version 1.
async fn legacy_text(
    ctl: &Control,
    write: &mut tokio::net::unix::OwnedWriteHalf,
) -> std::io::Result<()> {
    let store = ctl.store.clone();
    let text = match tokio::task::spawn_blocking(move || status::status_text(&store)).await {
        Ok(Ok(t)) => t,
        Ok(Err(e)) => format!("error: {e}\n"),
        Err(e) => format!("error: {e}\n"),
    };
    write.write_all(text.as_bytes()).await
}

/// The reply to one request line.
pub async fn answer(line: &str, ctl: &Control) -> Reply {
    let value: serde_json::Value = match serde_json::from_str(line) {
        Ok(v) => v,
        Err(e) => return Reply::error(ErrorKind::BadRequest, format!("not JSON: {e}")),
    };
    let v = value.get("v").and_then(serde_json::Value::as_u64);
    if v != Some(u64::from(VERSION)) {
        let msg = format!("protocol version {v:?} is not supported; this node speaks {VERSION}");
        return Reply::error(ErrorKind::Unsupported, msg);
    }
    let request: Request = match serde_json::from_value(value) {
        Ok(r) => r,
        Err(e) => return Reply::error(ErrorKind::BadRequest, e.to_string()),
    };
    let store = ctl.store.clone();
    let op = request.op.clone();
    let reply = tokio::task::spawn_blocking(move || act(&store, op)).await;
    let reply = reply.unwrap_or_else(|e| Reply::error(ErrorKind::Internal, e.to_string()));
    match (&request.op, &reply) {
        (Op::Resend { .. }, Reply::Resent { seg, deliveries }) => {
            info!(seg = %seg, entries = deliveries.len(), "resend queued");
            ctl.wake_delivery.notify_one();
        }
        (Op::Reprocess { .. }, Reply::Reprocessing { job, .. }) => {
            info!(job = %job, "reprocess queued");
        }
        _ => {}
    }
    reply
}

/// Does what `op` asks (blocking: store work).
fn act(store: &Store, op: Op) -> Reply {
    let internal = |e: crate::store::StoreError| Reply::error(ErrorKind::Internal, e.to_string());
    match op {
        Op::Status { study, accession } => {
            let filter = Filter { study, accession };
            match status::document(store, &filter, Source::Node) {
                Ok(d) => Reply::Status {
                    status: Box::new(d),
                },
                Err(e) => internal(e),
            }
        }
        Op::Resend { seg, to } => resend(store, &seg, to.as_deref()).unwrap_or_else(internal),
        Op::Reprocess { study, accession } => {
            reprocess(store, study, accession).unwrap_or_else(internal)
        }
    }
}

fn resend(store: &Store, seg: &str, to: Option<&str>) -> Result<Reply, crate::store::StoreError> {
    if let Err(e) = Uid::parse(seg) {
        return Ok(Reply::error(ErrorKind::BadRequest, format!("SEG UID: {e}")));
    }
    Ok(match store.resend(seg, to, unix_now())? {
        Resend::Queued(deliveries) => Reply::Resent {
            seg: seg.to_owned(),
            deliveries,
        },
        Resend::UnknownSeg => Reply::error(
            ErrorKind::NotFound,
            format!("no SEG with SOP Instance UID {seg} in the outbox"),
        ),
        Resend::StillPending { destination } => Reply::error(
            ErrorKind::Conflict,
            format!("SEG {seg} still waits for delivery to {destination}; not queued again"),
        ),
    })
}

fn reprocess(
    store: &Store,
    study: Option<String>,
    accession: Option<String>,
) -> Result<Reply, crate::store::StoreError> {
    let study = match (study, accession) {
        (Some(s), _) => s,
        (None, Some(acc)) => match study_of_accession(store, &acc)? {
            Ok(s) => s,
            Err(reply) => return Ok(reply),
        },
        (None, None) => {
            return Ok(Reply::error(
                ErrorKind::BadRequest,
                "name a study or an accession",
            ));
        }
    };
    Ok(match store.reprocess(&study, unix_now())? {
        Reprocess::Queued { key, version } => Reply::Reprocessing {
            study,
            job: key,
            version,
        },
        Reprocess::NoJob => Reply::error(
            ErrorKind::NotFound,
            format!(
                "study {study} has no job to run again (no report matched with a complete PET series)"
            ),
        ),
        Reprocess::Busy { key } => Reply::error(
            ErrorKind::Conflict,
            format!("job {key} of study {study} is queued or running already"),
        ),
    })
}

/// The one study with this accession number, or the reply saying why there is none.
fn study_of_accession(
    store: &Store,
    acc: &str,
) -> Result<Result<String, Reply>, crate::store::StoreError> {
    let studies: Vec<String> = (store.all_studies()?.into_iter())
        .filter(|(_, s)| s.accession.as_deref() == Some(acc))
        .map(|(uid, _)| uid)
        .collect();
    Ok(match studies.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(Reply::error(
            ErrorKind::NotFound,
            format!("no study with accession {acc}"),
        )),
        many => Err(Reply::error(
            ErrorKind::Conflict,
            format!(
                "accession {acc} names {} studies ({}); name one with --study",
                many.len(),
                many.join(", ")
            ),
        )),
    })
}
