//! `[retention]`: how long a delivered study stays on disk (`store::retention` says what is
//! removed and what is kept).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::ConfigError;

/// `[retention]` as written.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawRetention {
    /// Days after a study's last instance; 0 keeps everything (the default).
    pub keep_days: u64,
}

/// What the retention service needs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetentionConfig {
    /// `None`: retention is off.
    pub keep: Option<Duration>,
}

const MAX_KEEP_DAYS: u64 = 100 * 366;

pub(super) fn retention(raw: &RawRetention) -> Result<RetentionConfig, ConfigError> {
    if raw.keep_days > MAX_KEEP_DAYS {
        return Err(super::invalid(
            "retention.keep_days",
            format!("at most {MAX_KEEP_DAYS} (0 keeps everything)"),
        ));
    }
    Ok(RetentionConfig {
        keep: (raw.keep_days > 0).then(|| Duration::from_secs(raw.keep_days * 86_400)),
    })
}

pub(super) fn raw_retention(r: &RetentionConfig) -> RawRetention {
    RawRetention {
        keep_days: r.keep.map_or(0, |k| k.as_secs() / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_by_default_days_otherwise_and_bounded() {
        assert_eq!(retention(&RawRetention::default()).expect("ok").keep, None);
        let r = retention(&RawRetention { keep_days: 30 }).expect("ok");
        assert_eq!(r.keep, Some(Duration::from_secs(30 * 86_400)));
        assert_eq!(raw_retention(&r).keep_days, 30);
        let e = retention(&RawRetention {
            keep_days: u64::MAX,
        })
        .expect_err("too long");
        assert!(e.to_string().contains("retention.keep_days"), "{e}");
    }
}
