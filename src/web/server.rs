//! The socket side of the web page: a hand-written HTTP/1.1 server on tokio, one request per
//! connection. `main` binds the listener (STYLE 2); the answers come from [`super::Web`].
//!
//! Bounds: at most `web.max_connections` connections at once (one more is answered 503 at once
//! and closed, so a client never hangs in the backlog; as many such refusals may be in flight,
//! for at most [`LINGER`] each, and beyond them a connection is closed unanswered); a request head of at most
//! [`MAX_HEAD_BYTES`] (431 beyond), which must arrive within `web.read_timeout_seconds` (408);
//! the answer must be written within the same time; `Connection: close` always. On shutdown no
//! connection is accepted, those open are dropped, and `run` returns.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::time::timeout;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, info, warn};

use super::Web;
use super::http::{MAX_HEAD_BYTES, Response, head_end, parse_head};
use crate::config::WebConfig;
use crate::listen;

/// Why the web service stopped before it was asked to.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// The listening socket can never accept again ([`crate::listen::is_fatal`]).
    #[error("accepting HTTP connections: {0}")]
    Accept(#[source] std::io::Error),
}

/// After a refused request, how long the rest of what the client sent is read and dropped, so
/// that closing with unread data (a TCP reset) does not destroy the answer before it is read.
const LINGER: Duration = Duration::from_millis(500);

/// Serves `web` on `listener` until `shutdown`; an error only when the listening socket fails.
pub async fn run(
    listener: TcpListener,
    shutdown: CancellationToken,
    cfg: WebConfig,
    web: Arc<Web>,
) -> Result<(), WebError> {
    let tracker = TaskTracker::new();
    let slots = Arc::new(Semaphore::new(cfg.max_connections));
    let refusals = Arc::new(Semaphore::new(cfg.max_connections));
    if let Ok(addr) = listener.local_addr() {
        info!(%addr, "web page listening on http://{addr}/");
    }
    let result = loop {
        let stream = tokio::select! {
            _ = shutdown.cancelled() => break Ok(()),
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) if listen::is_fatal(&e) => break Err(WebError::Accept(e)),
                Err(e) => {
                    warn!(error = %e, "HTTP accept failed");
                    tokio::time::sleep(listen::ACCEPT_BACKOFF).await;
                    continue;
                }
            },
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            web.count(503);
            // As many refusals at once as connections; beyond that the connection is dropped.
            if let Ok(p) = refusals.clone().try_acquire_owned() {
                tracker.spawn(async move {
                    refuse(stream).await;
                    drop(p);
                });
            }
            continue;
        };
        let (web, stop) = (web.clone(), shutdown.clone());
        tracker.spawn(async move {
            tokio::select! {
                _ = stop.cancelled() => {}
                _ = connection(stream, &web, cfg.read_timeout, permit) => {}
            }
        });
    };
    tracker.close();
    tracker.wait().await;
    result
}

/// One request and its answer. The connection's slot (`permit`) is given back once the answer
/// is written, before the connection is shut: neither the client's reading to the end nor the
/// lingering over a refused request's leftovers holds a slot, so a client's next request is
/// not refused for want of one.
async fn connection(
    mut stream: TcpStream,
    web: &Web,
    limit: Duration,
    permit: tokio::sync::OwnedSemaphorePermit,
) {
    let request = match timeout(limit, read_head(&mut stream)).await {
        Err(_) => Err(Response::error(408)),
        Ok(Ok(None)) => return,
        Ok(Ok(Some(head))) => parse_head(&head),
        Ok(Err(refused)) => Err(refused),
    };
    let (response, head_only, path) = match &request {
        Ok(r) => (web.answer(r).await, r.head_only, r.path.as_str()),
        Err(refused) => (refused.clone(), false, "-"),
    };
    web.count(response.status);
    debug!(status = response.status, path, "http request");
    let bytes = response.to_bytes(head_only);
    let written = timeout(limit, stream.write_all(&bytes)).await;
    // Before the end of the answer (the FIN) reaches the client: by the time it can send its
    // next request, the slot is free.
    drop(permit);
    let written = match written {
        Ok(Ok(())) => timeout(limit, stream.shutdown()).await,
        other => other,
    };
    if request.is_err() && matches!(written, Ok(Ok(()))) {
        let _ = timeout(LINGER, drain(&mut stream)).await;
    }
}

/// Answers 503 without reading the request, then reads and drops it for a moment (so that the
/// answer is not lost to a reset), all within [`LINGER`].
async fn refuse(mut stream: TcpStream) {
    let bytes = Response::error(503).to_bytes(false);
    let _ = timeout(LINGER, async {
        stream.write_all(&bytes).await?;
        stream.shutdown().await?;
        drain(&mut stream).await;
        std::io::Result::Ok(())
    })
    .await;
}

/// Reads until the end of the request head. `Ok(None)`: the client went away before sending
/// anything (or the read failed); `Err`: the answer to a head that is too large or cut short.
async fn read_head(stream: &mut TcpStream) -> Result<Option<Vec<u8>>, Response> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 2048];
    loop {
        let n = match stream.read(&mut chunk).await {
            Ok(n) => n,
            Err(_) => return Ok(None),
        };
        if n == 0 {
            return if buf.is_empty() {
                Ok(None)
            } else {
                Err(Response::error(400))
            };
        }
        buf.extend_from_slice(&chunk[..n]);
        match head_end(&buf) {
            Some(end) if end <= MAX_HEAD_BYTES => {
                buf.truncate(end);
                return Ok(Some(buf));
            }
            _ if buf.len() > MAX_HEAD_BYTES => return Err(Response::error(431)),
            _ => {}
        }
    }
}

/// Reads and drops what the client still sends (at most 64 KiB).
async fn drain(stream: &mut TcpStream) {
    let mut chunk = [0u8; 4096];
    let mut left: usize = 64 * 1024;
    while left > 0 {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => left = left.saturating_sub(n),
        }
    }
}
