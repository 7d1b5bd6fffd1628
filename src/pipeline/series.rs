//! When a series is complete: all its PET slices arrived (decided as each instance is indexed,
//! in the store), or it has been quiet for `series.stable_seconds` (decided here, on a timer).
//! Completion events wake the job loop.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::store::{Event, Store, unix_now};

/// Marks series complete once they have been quiet for `stable`; state is in the store, so a
/// series that went quiet while the node was down completes at the first tick after restart.
pub async fn watch(
    store: Arc<Store>,
    stable: Duration,
    events: broadcast::Sender<Event>,
    shutdown: CancellationToken,
) {
    let tick = (stable / 4).clamp(Duration::from_millis(200), Duration::from_secs(1));
    let mut interval = tokio::time::interval(tick);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = interval.tick() => {}
        }
        let s = store.clone();
        let secs = stable.as_secs();
        let work = move || {
            // Bounds how much an unclean stop leaves for start-up reconciliation to re-index.
            s.sync_index()?;
            s.complete_stable_series(unix_now(), secs)
        };
        match tokio::task::spawn_blocking(work).await {
            Ok(Ok(done)) => {
                for ev in done {
                    info!(event = ?ev.kind, "series complete");
                    let _ = events.send(ev);
                }
            }
            Ok(Err(e)) => warn!(error = %e, "series watcher: store error"),
            Err(e) => warn!(error = %e, "series watcher task failed"),
        }
    }
}
