//! The MLLP listener's connection slots (`hl7.max_connections`). When every slot is taken, a
//! new sender does not lose to connections that send nothing: the connection that has been
//! quiet longest — no complete message for [`QUIET_BEFORE_EVICT`] or more, and none being
//! handled — is closed and the newcomer gets its slot. Idle RIS connections reconnect when
//! closed; a peer trickling a frame or holding a socket open without sending loses its slot to
//! a sender that has a message. (16 such peers once locked every sender out for an hour.)

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// A connection can be closed for a newcomer once it has completed no message for this long.
pub const QUIET_BEFORE_EVICT: Duration = Duration::from_secs(2);

/// How long a newcomer waits for the slot of the connection closed for it.
pub const EVICT_WAIT: Duration = Duration::from_secs(2);

pub struct Slots {
    permits: Arc<Semaphore>,
    entries: Mutex<HashMap<u64, Entry>>,
    next_id: AtomicU64,
}

struct Entry {
    /// Since when the connection has completed no message (or since it opened).
    quiet_since: Instant,
    /// A message is being stored or answered.
    busy: bool,
    evict: CancellationToken,
}

/// One taken slot; dropping it frees the slot.
pub struct Slot {
    id: u64,
    slots: Arc<Slots>,
    /// Cancelled when the connection is closed for a newcomer.
    pub evicted: CancellationToken,
    _permit: OwnedSemaphorePermit,
}

impl Slots {
    pub fn new(max: usize) -> Arc<Self> {
        Arc::new(Self {
            permits: Arc::new(Semaphore::new(max)),
            entries: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
        })
    }

    /// A free slot, if there is one.
    pub fn try_take(self: &Arc<Self>) -> Option<Slot> {
        let permit = self.permits.clone().try_acquire_owned().ok()?;
        Some(self.register(permit))
    }

    /// Waits for a slot (after [`Self::evict_quietest`]).
    pub async fn take(self: &Arc<Self>) -> Option<Slot> {
        let permit = self.permits.clone().acquire_owned().await.ok()?;
        Some(self.register(permit))
    }

    /// Asks the connection quiet longest (at least [`QUIET_BEFORE_EVICT`]) to close; false
    /// when every connection is busy or has just completed a message.
    pub fn evict_quietest(&self) -> bool {
        let entries = self.lock();
        let now = Instant::now();
        let victim = entries
            .values()
            .filter(|e| !e.busy && !e.evict.is_cancelled())
            .filter(|e| now.duration_since(e.quiet_since) >= QUIET_BEFORE_EVICT)
            .min_by_key(|e| e.quiet_since);
        match victim {
            Some(e) => {
                e.evict.cancel();
                true
            }
            None => false,
        }
    }

    fn register(self: &Arc<Self>, permit: OwnedSemaphorePermit) -> Slot {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let evicted = CancellationToken::new();
        let entry = Entry {
            quiet_since: Instant::now(),
            busy: false,
            evict: evicted.clone(),
        };
        self.lock().insert(id, entry);
        Slot {
            id,
            slots: self.clone(),
            evicted,
            _permit: permit,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Entry>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Slot {
    /// A message arrived: the connection is not to be closed until it is answered.
    pub fn busy(&self) {
        if let Some(e) = self.slots.lock().get_mut(&self.id) {
            e.busy = true;
        }
    }

    /// The message was answered: quiet from now on.
    pub fn answered(&self) {
        if let Some(e) = self.slots.lock().get_mut(&self.id) {
            e.busy = false;
            e.quiet_since = Instant::now();
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.slots.lock().remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_quietest_idle_connection_gives_way() {
        let slots = Slots::new(2);
        let old = slots.try_take().expect("first");
        tokio::time::advance(Duration::from_secs(5)).await;
        let newer = slots.try_take().expect("second");
        assert!(slots.try_take().is_none(), "both taken");
        // Nobody has been quiet long enough yet... except `old`.
        assert!(slots.evict_quietest());
        assert!(old.evicted.is_cancelled() && !newer.evicted.is_cancelled());
        drop(old);
        assert!(slots.take().await.is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn busy_and_recently_active_connections_are_kept() {
        let slots = Slots::new(2);
        let a = slots.try_take().expect("a");
        let b = slots.try_take().expect("b");
        tokio::time::advance(QUIET_BEFORE_EVICT * 2).await;
        a.busy();
        b.answered();
        assert!(!slots.evict_quietest(), "a is busy, b just answered");
        a.answered();
        tokio::time::advance(QUIET_BEFORE_EVICT).await;
        assert!(slots.evict_quietest());
        assert!(a.evicted.is_cancelled() ^ b.evicted.is_cancelled());
    }
}
