//! The read-only web page (`[web] listen`): what the node knows — studies, reports, jobs with
//! each finding's outcome and the job's MIP picture, deliveries — and `/metrics` for
//! Prometheus. It only reads the store (on the blocking pool) and never changes anything.
//!
//! Routes: `/` the page (`pages`), `/metrics` (`metrics`), `/pictures/<job>.png` the picture the
//! pipeline wrote for a done job (only for a job key the store knows, so no request names a
//! path of its own). The HTTP side is `http` (pure) and `server` (sockets, limits). Like
//! `petground status`, it shows UIDs, accession numbers and report sentences, never patient
//! names, IDs or birth dates.

mod http;
mod metrics;
mod pages;
mod server;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::warn;

use crate::config::WebConfig;
use crate::store::{JobState, Layout, Store, StoreError};
use http::{Request, Response};

pub use http::MAX_HEAD_BYTES;
pub use server::WebError;

/// Serves the page on `listener` until `shutdown`.
pub async fn run(
    listener: TcpListener,
    shutdown: CancellationToken,
    store: Arc<Store>,
    cfg: WebConfig,
) -> Result<(), WebError> {
    server::run(listener, shutdown, cfg, Arc::new(Web::new(store))).await
}

/// What the answers are made from: the store, and the process's own counters.
pub struct Web {
    store: Arc<Store>,
    /// When this process started (Unix seconds): resets of the process-lifetime counters.
    started_unix: u64,
    /// Answers sent since start, by status (process lifetime).
    answered: Mutex<BTreeMap<u16, u64>>,
}

impl Web {
    fn new(store: Arc<Store>) -> Self {
        Self {
            store,
            started_unix: crate::store::unix_now(),
            answered: Mutex::new(BTreeMap::new()),
        }
    }

    /// Counts one answer.
    fn count(&self, status: u16) {
        if let Ok(mut m) = self.answered.lock() {
            *m.entry(status).or_default() += 1;
        }
    }

    fn answered(&self) -> BTreeMap<u16, u64> {
        self.answered.lock().map(|m| m.clone()).unwrap_or_default()
    }

    /// The answer to a GET (or HEAD) of `request.path`.
    async fn answer(&self, request: &Request) -> Response {
        let path = request.path.as_str();
        if path == "/" {
            let now = crate::store::unix_now();
            return self
                .read(move |s| pages::read(s).map(|v| pages::render(&v, now)))
                .await
                .map(|html| Response::ok(http::HTML, html.into_bytes()))
                .unwrap_or_else(|r| r);
        }
        if path == "/metrics" {
            let process = metrics::Process {
                started_unix: self.started_unix,
                answered: self.answered(),
            };
            return self
                .read(move |s| metrics::read(s).map(|m| metrics::render(&m, &process)))
                .await
                .map(|text| Response::ok(http::PROMETHEUS, text.into_bytes()))
                .unwrap_or_else(|r| r);
        }
        if let Some(key) = path
            .strip_prefix("/pictures/")
            .and_then(|p| p.strip_suffix(".png"))
        {
            let key = key.to_owned();
            return match self.read(move |s| picture(s, &key)).await {
                Ok(Some(png)) => Response::ok(http::PNG, png),
                Ok(None) => Response::error(404),
                Err(r) => r,
            };
        }
        Response::error(404)
    }

    /// Runs `f` on the store on the blocking pool; a failure is a 500 (and logged).
    async fn read<T, F>(&self, f: F) -> Result<T, Response>
    where
        T: Send + 'static,
        F: FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
    {
        let store = self.store.clone();
        match tokio::task::spawn_blocking(move || f(&store)).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => {
                warn!(error = %e, "web page: store error");
                Err(Response::error(500))
            }
            Err(e) => {
                warn!(error = %e, "web page: store read panicked");
                Err(Response::error(500))
            }
        }
    }
}

/// The picture of the done job `key`, when the store knows that job and its file exists.
fn picture(store: &Store, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
    let known = store.job(key)?.is_some_and(|j| j.state == JobState::Done);
    if !known {
        return Ok(None);
    }
    let path = store.layout().absolute(Layout::picture_rel(key));
    match std::fs::read(&path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(StoreError::io("read", &path)(e)),
    }
}

#[cfg(test)]
mod tests;
