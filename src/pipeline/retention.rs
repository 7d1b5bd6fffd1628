//! Runs retention (`[retention] keep_days`, see `store::retention` for what is removed) at
//! start and then every [`EVERY`], on the blocking pool. Off when `keep` is `None`.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::store::{Store, unix_now};

/// How often retention looks for studies to remove.
pub const EVERY: Duration = Duration::from_secs(3600);

/// Until `shutdown`; when retention is off it only waits (a supervised service that ends by
/// itself would stop the node).
pub async fn run(store: Arc<Store>, keep: Option<Duration>, shutdown: CancellationToken) {
    let Some(keep) = keep else {
        shutdown.cancelled().await;
        return;
    };
    let mut interval = tokio::time::interval(EVERY);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = interval.tick() => {}
        }
        let s = store.clone();
        match tokio::task::spawn_blocking(move || s.apply_retention(unix_now(), keep)).await {
            Ok(Ok(removed)) => {
                for (study, r) in removed {
                    info!(%study, instances = r.instances, bytes = r.bytes, "retention removed a study");
                }
            }
            Ok(Err(e)) => warn!(error = %e, "retention: store error"),
            Err(e) => warn!(error = %e, "retention task failed"),
        }
    }
}
