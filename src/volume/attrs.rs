//! Small, forgiving readers for the DICOM attributes the volume module needs: strings and
//! numbers whether stored with their VR or as UN bytes (private tags in implicit VR files), and
//! DICOM dates/times as plain calendar values. Nothing here decides policy; callers do.

use dicom_core::Tag;
use dicom_core::value::{PrimitiveValue, Value};
use dicom_object::InMemDicomObject;

use super::error::VolumeError;

/// The trimmed text of an attribute, `None` when absent or empty. UN bytes (private tags read
/// from implicit VR files) are read as ASCII, which is what GE and Philips store there.
pub(crate) fn text(obj: &InMemDicomObject, tag: Tag) -> Option<String> {
    let elem = obj.get(tag)?;
    let raw = match elem.value() {
        Value::Primitive(PrimitiveValue::U8(bytes)) => String::from_utf8_lossy(bytes).into_owned(),
        Value::Primitive(p) => p.to_str().into_owned(),
        _ => return None,
    };
    let t = raw.trim_matches(|c: char| c.is_whitespace() || c == '\0');
    (!t.is_empty()).then(|| t.to_owned())
}

/// All numbers of a (possibly multi-valued) numeric or DS/IS attribute.
pub(crate) fn numbers(
    obj: &InMemDicomObject,
    tag: Tag,
    attr: &'static str,
    instance: &str,
) -> Result<Option<Vec<f64>>, VolumeError> {
    let Some(t) = text(obj, tag) else {
        return Ok(None);
    };
    t.split('\\')
        .map(|s| {
            s.trim()
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| VolumeError::invalid(attr, instance, t.clone(), "not a number"))
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// One number; an attribute with several values takes the first (as DICOM readers do).
pub(crate) fn number(
    obj: &InMemDicomObject,
    tag: Tag,
    attr: &'static str,
    instance: &str,
) -> Result<Option<f64>, VolumeError> {
    Ok(numbers(obj, tag, attr, instance)?.and_then(|v| v.first().copied()))
}

/// Exactly `N` numbers (ImagePositionPatient, ImageOrientationPatient, PixelSpacing).
pub(crate) fn fixed<const N: usize>(
    obj: &InMemDicomObject,
    tag: Tag,
    attr: &'static str,
    instance: &str,
) -> Result<Option<[f64; N]>, VolumeError> {
    match numbers(obj, tag, attr, instance)? {
        None => Ok(None),
        Some(v) => <[f64; N]>::try_from(v.as_slice()).map(Some).map_err(|_| {
            VolumeError::invalid(
                attr,
                instance,
                format!("{v:?}"),
                format!("needs {N} values"),
            )
        }),
    }
}

/// Exactly `N` numbers, required.
pub(crate) fn fixed_req<const N: usize>(
    obj: &InMemDicomObject,
    tag: Tag,
    attr: &'static str,
    instance: &str,
) -> Result<[f64; N], VolumeError> {
    fixed(obj, tag, attr, instance)?.ok_or_else(|| VolumeError::missing(attr, instance))
}

/// The items of a sequence attribute (empty when absent).
pub(crate) fn items(obj: &InMemDicomObject, tag: Tag) -> &[InMemDicomObject] {
    obj.get(tag).and_then(|e| e.items()).unwrap_or(&[])
}

/// A calendar date and time of day without time zone, as DICOM DA/TM/DT carry it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DateTime {
    pub year: i32,
    pub month: u32,
    pub day: u32,
    /// Seconds since midnight, with fractions.
    pub seconds: f64,
}

impl DateTime {
    /// Seconds since 1970-01-01 00:00 (proleptic Gregorian), for differences.
    pub fn epoch_seconds(&self) -> f64 {
        days_from_civil(self.year, self.month, self.day) as f64 * 86_400.0 + self.seconds
    }
}

impl std::fmt::Display for DateTime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.seconds;
        let (h, m) = ((s / 3600.0).floor(), ((s % 3600.0) / 60.0).floor());
        write!(
            f,
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
            self.year,
            self.month,
            self.day,
            h as u32,
            m as u32,
            (s % 60.0).floor() as u32
        )
    }
}

/// Howard Hinnant's days-from-civil: exact day count for any Gregorian date.
fn days_from_civil(y: i32, m: u32, d: u32) -> i64 {
    let y = i64::from(y) - i64::from(m <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (i64::from(m) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Parses a DA value `YYYYMMDD`; `None` for anything else (including "00000000").
pub fn parse_date(s: &str) -> Option<(i32, u32, u32)> {
    let s = s.trim();
    if s.len() != 8 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let y: i32 = s[0..4].parse().ok()?;
    let m: u32 = s[4..6].parse().ok()?;
    let d: u32 = s[6..8].parse().ok()?;
    ((1..=12).contains(&m) && (1..=31).contains(&d) && y > 0).then_some((y, m, d))
}

/// Parses a TM value `HH[MM[SS[.F+]]]` (also the old `HH:MM:SS` form) into seconds of day.
pub fn parse_time(s: &str) -> Option<f64> {
    let s: String = s.trim().chars().filter(|c| *c != ':').collect();
    let (int, frac) = match s.split_once('.') {
        Some((i, f)) => (i.to_owned(), format!("0.{f}")),
        None => (s.clone(), "0".to_owned()),
    };
    if int.len() < 2 || int.len() > 6 || int.len() % 2 != 0 {
        return None;
    }
    if !int.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let h: f64 = int[0..2].parse().ok()?;
    let m: f64 = int.get(2..4).map_or(Some(0.0), |v| v.parse().ok())?;
    let sec: f64 = int.get(4..6).map_or(Some(0.0), |v| v.parse().ok())?;
    let frac: f64 = frac.parse().ok()?;
    (h < 24.0 && m < 60.0 && sec < 61.0).then_some(h * 3600.0 + m * 60.0 + sec + frac)
}

/// Parses a DT value `YYYYMMDDHHMMSS[.F][&ZZXX]`; the UTC offset is ignored (all times in a
/// PET series share one clock).
pub fn parse_datetime(s: &str) -> Option<DateTime> {
    let s = s.trim();
    let s = s.split(['+', '-', '&']).next().unwrap_or(s);
    let (year, month, day) = parse_date(s.get(0..8)?)?;
    let seconds = match s.get(8..) {
        Some(t) if !t.is_empty() => parse_time(t)?,
        _ => 0.0,
    };
    Some(DateTime {
        year,
        month,
        day,
        seconds,
    })
}

/// Combines a DA and a TM value.
pub fn combine(date: (i32, u32, u32), seconds: f64) -> DateTime {
    DateTime {
        year: date.0,
        month: date.1,
        day: date.2,
        seconds,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_dates_parse() {
        assert_eq!(
            parse_time("142904.00"),
            Some(14.0 * 3600.0 + 29.0 * 60.0 + 4.0)
        );
        assert_eq!(parse_time("1430"), Some(14.5 * 3600.0));
        assert_eq!(parse_time("14:30:00"), Some(14.5 * 3600.0));
        assert_eq!(parse_time("25"), None);
        assert_eq!(parse_date("00000000"), None);
        let dt = parse_datetime("19600103142904.00").expect("valid DT");
        assert_eq!((dt.year, dt.month, dt.day), (1960, 1, 3));
        // 2000-03-01 minus 1999-12-31 = 61 days (2000 is a leap year).
        let a = combine((2000, 3, 1), 0.0).epoch_seconds();
        let b = combine((1999, 12, 31), 0.0).epoch_seconds();
        assert_eq!((a - b) / 86_400.0, 61.0);
        assert_eq!(combine((1970, 1, 1), 5.0).epoch_seconds(), 5.0);
    }
}
