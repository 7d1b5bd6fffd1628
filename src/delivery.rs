//! Delivery of SEGs, their SRs and rejection notes (KOS, `OutboxKind::Kos`: queued by
//! `pipeline::reject` after what they withdraw was delivered, sent like any other file): drains
//! the durable outbox with the C-STORE SCU. Each entry is
//! one (file, destination), taken in the order the store gives (an SR after its SEG); a transient failure is retried with exponential backoff up to a limit, a
//! permanent refusal marks it failed with the peer's status. State lives in the store, so
//! delivery resumes after a restart; an entry is marked sent in the same step that learns of the
//! success, so a file is never re-sent after a recorded success. (A crash in the instant between
//! the peer's success and that commit re-sends once: C-STORE has no way to ask a peer whether it
//! already holds an instance, and the same SOP Instance UID makes the resend harmless.)

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::config::DeliveryConfig;
use crate::dicom::scu::{self, Outcome, ScuOptions};
use crate::store::{DeliveryState, OutboxItem, Store, unix_now};

/// Backoff before attempt `attempts + 1`: initial × 2^(attempts−1), capped.
pub fn backoff(cfg: &DeliveryConfig, attempts: u32) -> Duration {
    let factor = 2u32.saturating_pow(attempts.saturating_sub(1).min(20));
    cfg.retry_initial.saturating_mul(factor).min(cfg.retry_max)
}

/// Runs until `shutdown`; `wake` is notified when the pipeline queues new files.
pub async fn run(
    store: Arc<Store>,
    cfg: DeliveryConfig,
    wake: Arc<Notify>,
    shutdown: CancellationToken,
) {
    // No `[delivery]` key sets these: the SCU's own limits and timeouts.
    let scu = ScuOptions::default();
    loop {
        let s = store.clone();
        let due = match tokio::task::spawn_blocking(move || s.due_deliveries(unix_now())).await {
            Ok(Ok(d)) => d,
            Ok(Err(e)) => {
                warn!(error = %e, "outbox unreadable");
                Vec::new()
            }
            Err(e) => {
                warn!(error = %e, "outbox task failed");
                Vec::new()
            }
        };
        // A recorded outcome may release an entry that waited for it (an SR for its SEG): look
        // again at once rather than after the idle sleep.
        let mut recorded = !due.is_empty();
        for (id, item) in due {
            if shutdown.is_cancelled() {
                return;
            }
            let updated = attempt(&store, &cfg, &scu, item).await;
            let s = store.clone();
            match tokio::task::spawn_blocking(move || s.put_delivery(id, &updated)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    recorded = false;
                    warn!(delivery = id, error = %e, "recording a delivery outcome failed")
                }
                Err(e) => {
                    recorded = false;
                    warn!(delivery = id, error = %e, "recording task failed")
                }
            }
        }
        if recorded {
            continue;
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = wake.notified() => {}
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}

/// One delivery attempt; returns the entry with its new state.
async fn attempt(
    store: &Store,
    cfg: &DeliveryConfig,
    scu: &ScuOptions,
    mut item: OutboxItem,
) -> OutboxItem {
    let Some(dest) = cfg.destinations.iter().find(|d| d.name == item.destination) else {
        item.state = DeliveryState::Failed {
            reason: format!("destination `{}` is no longer configured", item.destination),
        };
        return item;
    };
    item.attempts += 1;
    let path = store.absolute(&item.path);
    let result = scu::store_files(dest, &cfg.calling, std::slice::from_ref(&path), scu).await;
    let (transient, why) = match result {
        Ok(results) => match results.first() {
            Some(r) if r.class.is_delivered() => {
                info!(sop = %item.sop_instance, kind = item.kind.as_str(), dest = %dest.name, status = format!("{:04X}", r.status), attempts = item.attempts, "delivered");
                item.state = DeliveryState::Sent { unix: unix_now() };
                return item;
            }
            Some(r) => (
                r.class == Outcome::TransientFailure,
                format!(
                    "status {:04X}{}",
                    r.status,
                    r.comment
                        .as_deref()
                        .map(|c| format!(": {c}"))
                        .unwrap_or_default()
                ),
            ),
            None => (true, "no response for the file".to_owned()),
        },
        Err(e) => {
            // Host names are resolved at each attempt (dicom::scu): say so on every attempt,
            // since a DNS fault is fixed elsewhere than a PACS that is down.
            if let scu::ScuError::Resolve {
                address, detail, ..
            } = &e
            {
                warn!(dest = %dest.name, %address, attempts = item.attempts, error = %detail, "destination address does not resolve");
            }
            (e.is_transient(), e.to_string())
        }
    };
    if !transient || item.attempts >= cfg.max_attempts {
        warn!(sop = %item.sop_instance, kind = item.kind.as_str(), dest = %dest.name, attempts = item.attempts, reason = %why, "delivery failed for good");
        item.state = DeliveryState::Failed {
            reason: if transient {
                format!("gave up after {} attempts: {why}", item.attempts)
            } else {
                why
            },
        };
    } else {
        let wait = backoff(cfg, item.attempts);
        warn!(sop = %item.sop_instance, kind = item.kind.as_str(), dest = %dest.name, attempts = item.attempts, retry_in_s = wait.as_secs(), reason = %why, "delivery failed; will retry");
        item.state = DeliveryState::Pending {
            next_try_unix: unix_now() + wait.as_secs().max(1),
            last_error: Some(why),
        };
    }
    item
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::AeTitle;

    #[test]
    fn backoff_doubles_and_caps() {
        let cfg = DeliveryConfig {
            calling: AeTitle::parse("PETGROUND").expect("valid"),
            destinations: Vec::new(),
            max_attempts: 10,
            retry_initial: Duration::from_secs(5),
            retry_max: Duration::from_secs(60),
        };
        let secs: Vec<u64> = (1..=6).map(|a| backoff(&cfg, a).as_secs()).collect();
        assert_eq!(secs, vec![5, 10, 20, 40, 60, 60]);
    }
}
