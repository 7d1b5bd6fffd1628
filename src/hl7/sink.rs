//! The seam between the listener and durable storage: [`ReportSink`]. The redb store's
//! [`ReportIntake`] implements it here (hl7 depends on the store, never the other way);
//! [`MemorySink`] is the in-memory stand-in for tests and tools.
use std::sync::Mutex;

use super::matching::ReportKeys;
use super::oru::OruReport;
use crate::store::{IncomingReport, ReportIntake};

/// Why a report could not be stored. The listener answers `AE` either way.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// The store failed (disk, database). The detail is logged, not sent to the sender.
    #[error("storing the report failed: {0}")]
    Storage(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The store refuses this report (e.g. a correction of an unknown report); the reason
    /// goes back to the sender in MSA-3, so it must not contain patient data.
    #[error("report refused: {0}")]
    Refused(String),
}

/// What the listener hands to durable storage.
pub trait ReportSink: Send + Sync + 'static {
    /// Store the report. Must return only once the report is durable (fsynced / committed):
    /// the listener answers `AA` on `Ok`. Blocking; the listener calls it on the blocking
    /// pool, one message of a connection at a time, possibly from several connections at once.
    /// A repeated control ID (a sender resending after a lost ACK) must be accepted again.
    fn persist(&self, report: &OruReport) -> Result<(), SinkError>;

    /// Store several reports that one connection sent back to back (a pipelining sender), in
    /// arrival order; one result per report, each with `persist`'s guarantee. A store that can
    /// commit them in one transaction (one fsync) should override this; the default stores them
    /// one by one.
    fn persist_batch(&self, reports: &[OruReport]) -> Vec<Result<(), SinkError>> {
        reports.iter().map(|r| self.persist(r)).collect()
    }
}

/// The durable sink: `persist` returns after the redb commit, so `AA` is only sent for a report
/// that survives a crash. New events go to the node's event channel.
impl ReportSink for ReportIntake {
    fn persist(&self, report: &OruReport) -> Result<(), SinkError> {
        let (id, events) = self
            .store
            .put_report(&IncomingReport::from(report), crate::store::unix_now())
            .map_err(|e| SinkError::Storage(Box::new(e)))?;
        tracing::info!(report = id, control_id = %crate::logtext::capped(report.control_id()), accession = ?report.accession.as_deref().map(crate::logtext::capped), status = report.status.code(), "report stored");
        for e in events {
            let _ = self.events.send(e);
        }
        Ok(())
    }
}

impl<'a> From<&'a OruReport> for IncomingReport<'a> {
    fn from(r: &'a OruReport) -> Self {
        Self {
            control_id: r.control_id(),
            keys: ReportKeys::from_report(r),
            status: r.status,
            text: &r.text,
            raw: &r.raw,
        }
    }
}

/// Keeps reports in memory (not durable): tests, and the `findings`-style tools.
#[derive(Debug, Default)]
pub struct MemorySink {
    reports: Mutex<Vec<OruReport>>,
    /// When set, every `persist` fails with this storage error (to test the `AE` path).
    fail_with: Mutex<Option<String>>,
}

impl MemorySink {
    pub fn new() -> Self {
        Self::default()
    }

    /// Make every following `persist` fail (or succeed again with `None`).
    pub fn set_failure(&self, reason: Option<&str>) {
        *lock(&self.fail_with) = reason.map(str::to_owned);
    }

    /// The reports stored so far, in arrival order.
    pub fn reports(&self) -> Vec<OruReport> {
        lock(&self.reports).clone()
    }
}

impl ReportSink for MemorySink {
    fn persist(&self, report: &OruReport) -> Result<(), SinkError> {
        if let Some(reason) = lock(&self.fail_with).clone() {
            return Err(SinkError::Storage(reason.into()));
        }
        lock(&self.reports).push(report.clone());
        Ok(())
    }
}

/// A poisoned lock only means another test thread panicked; the data is still usable.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
