//! Which clock times an SUV decay correction uses (QIBA): scan start from SeriesDate/Time,
//! or GE's private scan time, or the earliest acquisition when the series time is later than the
//! acquisition; injection from RadiopharmaceuticalStartDateTime or the series date plus
//! RadiopharmaceuticalStartTime, across midnight. The dose arithmetic stays in `suv`.

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
    /// SeriesDate + RadiopharmaceuticalStartTime (0018,1072), +24 h across midnight.
    StartTimeOnSeriesDate,
}

/// The times and doses of a decay correction.
#[derive(Debug, Clone, PartialEq)]
pub struct Decay {
    pub injection: DateTime,
    pub injection_source: TimeSource,
    pub scan: DateTime,
    pub scan_source: TimeSource,
    pub seconds: f64,
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
        let mut d = scan.epoch_seconds() - inj.epoch_seconds();
        if d < 0.0 {
            d += DAY_S; // injected the evening before a scan after midnight
        }
        (inj, d)
    };
    let (injection, injection_source, seconds) = match (start_dt, start_tm) {
        // A de-identified date shift can leave 0018,1078 days away from the scan; then only its
        // time of day is trusted.
        (Some(dt), _) if (0.0..DAY_S).contains(&(scan.epoch_seconds() - dt.epoch_seconds())) => (
            dt,
            TimeSource::StartDateTime,
            scan.epoch_seconds() - dt.epoch_seconds(),
        ),
        (Some(dt), _) => {
            let (inj, d) = on_scan_day(dt.seconds);
            (inj, TimeSource::StartTimeOnSeriesDate, d)
        }
        (None, Some(t)) => {
            let (inj, d) = on_scan_day(t);
            (inj, TimeSource::StartTimeOnSeriesDate, d)
        }
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
    })
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
