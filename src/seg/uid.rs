//! UID generation under the `2.25.` root (PS3.5 §B.2: a UUID-derived 128-bit integer).
//!
//! No RNG crate is a dependency, so the 128 bits come from the standard library's `RandomState`:
//! each `RandomState` carries SipHash keys seeded from the operating system's random source, and
//! two independently keyed hashes of (wall-clock nanoseconds, process id, a process-wide counter)
//! give 128 bits that are unpredictable across processes and distinct within one. Checking UIDs
//! is `ids::Uid`'s business; this file only makes new ones.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A new UID `2.25.<decimal of 128 random bits>`: at most 44 characters.
pub fn new_uid() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    let pid = std::process::id();
    let half = |salt: u8| {
        let mut h = RandomState::new().build_hasher();
        h.write_u8(salt);
        h.write_u128(nanos);
        h.write_u64(count);
        h.write_u32(pid);
        h.finish()
    };
    let value = (u128::from(half(0)) << 64) | u128::from(half(1));
    format!("2.25.{value}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn uids_are_valid_and_distinct() {
        let uids: HashSet<String> = (0..10_000).map(|_| new_uid()).collect();
        assert_eq!(uids.len(), 10_000);
        for u in &uids {
            assert!(crate::ids::Uid::parse(u).is_ok(), "{u}");
            assert!(u.starts_with("2.25."));
            assert!(u.len() <= 44);
        }
    }
}
