//! Which clock times an SUV decay correction uses (QIBA): scan start from SeriesDate/Time,
//! or GE's private scan time, or the earliest acquisition when the series time is later than the
//! acquisition; injection from RadiopharmaceuticalStartDateTime or the series date plus
//! RadiopharmaceuticalStartTime. The dose arithmetic stays in `suv`.
//!
//! **The interval rule** (one rule, [`DecayRule`]): with Δ = scan start − injection,
//! 1. RadiopharmaceuticalStartDateTime, when it gives 0 ≤ Δ < 24 h: that interval;
//! 2. an injection at most [`CLOCK_SKEW_S`] (10 min) *after* the scan start is clock skew
//!    between the injection and scanner clocks: decay 0, and the node warns naming both times
//!    (a real Philips file reads SeriesTime 14:05:19, injection 14:06:00: adding a day made its
//!    SUV ~9000 times too high);
//! 3. a StartDateTime on the scan's date more than 10 min after the scan start is an error
//!    naming the attribute (no rule makes it an interval);
//! 4. a StartDateTime on another date that gives an impossible interval (a de-identification
//!    shift) falls back to its time of day on the series date, as does a StartTime alone; then
//!    0 ≤ Δ is that interval, −10 min ≤ Δ < 0 is clock skew (2), and only an injection time more
//!    than 10 min after the scan's time of day means the evening before (+24 h).

use dicom_core::Tag;
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;

use crate::volume::attrs::{
    DateTime, combine, items, parse_date, parse_datetime, parse_time, text,
};
use crate::volume::error::VolumeError;

/// GE private scan date/time "GEMS_PETD_01" (0009,100D), a DT.
const GE_SCAN_DATETIME: Tag = Tag(0x0009, 0x100D);
const GE_CREATOR: Tag = Tag(0x0009, 0x0010);
const DAY_S: f64 = 86_400.0;

/// Where a time used in the decay came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeSource {
    SeriesDateTime,
    /// GE (0009,100D), used because SeriesTime is later than AcquisitionTime.
    GePrivateScanTime,
    /// The earliest AcquisitionDate/Time (of the series, or of this instance when alone).
    AcquisitionDateTime,
    /// RadiopharmaceuticalStartDateTime (0018,1078).
    StartDateTime,
    /// SeriesDate + RadiopharmaceuticalStartTime (0018,1072) (or the time of day of a
    /// StartDateTime whose date gives an impossible interval).
    StartTimeOnSeriesDate,
}

/// An injection at most this long after the scan start (seconds) is clock skew, not an
/// injection the evening before.
pub const CLOCK_SKEW_S: f64 = 600.0;

/// Which part of the interval rule (module root) decided the decay time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DecayRule {
    /// The injection precedes the scan start: decay over the interval.
    Interval,
    /// The injection clock reads up to [`CLOCK_SKEW_S`] after the scan start: decay 0.
    ClockSkew {
        /// How far the injection time is after the scan start (s).
        injection_after_s: f64,
    },
    /// No usable injection date and a time of day after the scan's: the evening before (+24 h).
    PreviousDay,
}

impl std::fmt::Display for DecayRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Interval => f.write_str("interval"),
            Self::ClockSkew { injection_after_s } => write!(
                f,
                "clock skew: injection {injection_after_s:.0} s after the scan start, decay 0"
            ),
            Self::PreviousDay => f.write_str("injected the day before (+24 h)"),
        }
    }
}

/// The times and doses of a decay correction.
#[derive(Debug, Clone, PartialEq)]
pub struct Decay {
    pub injection: DateTime,
    pub injection_source: TimeSource,
    pub scan: DateTime,
    pub scan_source: TimeSource,
    pub seconds: f64,
    pub rule: DecayRule,
}

fn date_time(obj: &InMemDicomObject, date: Tag, time: Tag) -> Option<DateTime> {
    let d = parse_date(&text(obj, date)?)?;
    Some(combine(d, parse_time(&text(obj, time)?)?))
}

pub(crate) fn acquisition_datetime(obj: &InMemDicomObject) -> Option<DateTime> {
    text(obj, tags::ACQUISITION_DATE_TIME)
        .and_then(|s| parse_datetime(&s))
        .or_else(|| date_time(obj, tags::ACQUISITION_DATE, tags::ACQUISITION_TIME))
        .or_else(|| date_time(obj, tags::SERIES_DATE, tags::ACQUISITION_TIME))
}

/// Scan start and injection times (QIBA): SeriesDate/Time unless it is later than the
/// acquisition, then GE's private scan time, else the earliest acquisition.
pub(crate) fn decay_times(
    obj: &InMemDicomObject,
    inst: &str,
    earliest: Option<DateTime>,
) -> Result<Decay, VolumeError> {
    let series = date_time(obj, tags::SERIES_DATE, tags::SERIES_TIME).ok_or_else(|| {
        VolumeError::suv(
            "SeriesDate/SeriesTime (0008,0021/0031)",
            inst,
            "is missing or unreadable",
        )
    })?;
    let acq = acquisition_datetime(obj);
    let (scan, scan_source) = match acq {
        Some(a) if series.epoch_seconds() > a.epoch_seconds() => match ge_scan_time(obj, series) {
            Some(g) => (g, TimeSource::GePrivateScanTime),
            None => (earliest.unwrap_or(a), TimeSource::AcquisitionDateTime),
        },
        _ => (series, TimeSource::SeriesDateTime),
    };
    let rp = items(obj, tags::RADIOPHARMACEUTICAL_INFORMATION_SEQUENCE).first();
    let start_dt = rp
        .and_then(|i| text(i, tags::RADIOPHARMACEUTICAL_START_DATE_TIME))
        .and_then(|s| parse_datetime(&s));
    let start_tm = rp
        .and_then(|i| text(i, tags::RADIOPHARMACEUTICAL_START_TIME))
        .and_then(|s| parse_time(&s));
    let on_scan_day = |secs: f64| {
        let inj = combine((scan.year, scan.month, scan.day), secs);
        let (d, rule) = interval(scan.epoch_seconds() - inj.epoch_seconds(), true);
        (inj, TimeSource::StartTimeOnSeriesDate, d, rule)
    };
    let (injection, injection_source, seconds, rule) = match (start_dt, start_tm) {
        // A de-identified date shift can leave 0018,1078 days away from the scan; then only its
        // time of day is trusted.
        (Some(dt), _)
            if (-CLOCK_SKEW_S..DAY_S).contains(&(scan.epoch_seconds() - dt.epoch_seconds())) =>
        {
            let (d, rule) = interval(scan.epoch_seconds() - dt.epoch_seconds(), false);
            (dt, TimeSource::StartDateTime, d, rule)
        }
        // On the scan's own date and later than the skew: no rule makes that a real interval.
        (Some(dt), _) if (dt.year, dt.month, dt.day) == (scan.year, scan.month, scan.day) => {
            return Err(VolumeError::suv(
                "RadiopharmaceuticalStartDateTime (0018,1078)",
                inst,
                format!(
                    "is {:.0} s after the scan start {scan} on the same date (more than the \
                     {CLOCK_SKEW_S:.0} s clock-skew tolerance)",
                    dt.epoch_seconds() - scan.epoch_seconds()
                ),
            ));
        }
        (Some(dt), _) => on_scan_day(dt.seconds),
        (None, Some(t)) => on_scan_day(t),
        (None, None) => {
            return Err(VolumeError::suv(
                "RadiopharmaceuticalStartTime (0018,1072)",
                inst,
                "is missing (and so is RadiopharmaceuticalStartDateTime (0018,1078))",
            ));
        }
    };
    Ok(Decay {
        injection,
        injection_source,
        scan,
        scan_source,
        seconds,
        rule,
    })
}

/// The decay time for Δ = scan − injection (s): the interval when non-negative, 0 for clock
/// skew, and Δ + 24 h for an injection more than the skew after the scan's time of day when
/// the date is only assumed (`time_of_day`).
fn interval(delta: f64, time_of_day: bool) -> (f64, DecayRule) {
    if delta >= 0.0 {
        (delta, DecayRule::Interval)
    } else if delta >= -CLOCK_SKEW_S || !time_of_day {
        (
            0.0,
            DecayRule::ClockSkew {
                injection_after_s: -delta,
            },
        )
    } else {
        (delta + DAY_S, DecayRule::PreviousDay)
    }
}

/// GE's private scan start, on the series date: de-identification often shifts its date by a
/// day while the time of day stays true.
fn ge_scan_time(obj: &InMemDicomObject, series: DateTime) -> Option<DateTime> {
    if let Some(creator) = text(obj, GE_CREATOR)
        && !creator.to_ascii_uppercase().contains("GEMS_PETD")
    {
        return None;
    }
    let dt = parse_datetime(&text(obj, GE_SCAN_DATETIME)?)?;
    Some(combine((series.year, series.month, series.day), dt.seconds))
}
