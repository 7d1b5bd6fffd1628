//! Small constructors for the data elements the SEG builder writes: strings, numbers, codes,
//! sequences, Decimal String formatting and DICOM dates. They exist so that `builder.rs` reads
//! as a list of attributes instead of a list of `DataElement::new` calls.

use dicom_core::value::{DataSetSequence, PrimitiveValue};
use dicom_core::{DataElement, Tag, VR};
use dicom_object::InMemDicomObject;
use dicom_object::mem::InMemElement;

use super::segment::Code;

/// A single-valued string element.
pub fn text(tag: Tag, vr: VR, value: &str) -> InMemElement {
    DataElement::new(tag, vr, PrimitiveValue::from(value))
}

/// A multi-valued string element (written with `\` between values).
pub fn texts(tag: Tag, vr: VR, values: Vec<String>) -> InMemElement {
    DataElement::new(tag, vr, PrimitiveValue::Strs(values.into()))
}

pub fn us(tag: Tag, value: u16) -> InMemElement {
    DataElement::new(tag, VR::US, PrimitiveValue::U16(vec![value].into()))
}

pub fn ul_many(tag: Tag, values: Vec<u32>) -> InMemElement {
    DataElement::new(tag, VR::UL, PrimitiveValue::U32(values.into()))
}

/// An Attribute Tag (AT) element, e.g. a Dimension Index Pointer.
pub fn at(tag: Tag, value: Tag) -> InMemElement {
    DataElement::new(tag, VR::AT, PrimitiveValue::Tags(vec![value].into()))
}

/// An Integer String (IS) element.
pub fn int(tag: Tag, value: i64) -> InMemElement {
    text(tag, VR::IS, &value.to_string())
}

/// A Decimal String (DS) element holding several numbers.
pub fn decimals(tag: Tag, values: &[f64]) -> InMemElement {
    texts(tag, VR::DS, values.iter().map(|&v| ds(v)).collect())
}

/// A sequence element with the given items.
pub fn seq(tag: Tag, items: Vec<InMemDicomObject>) -> InMemElement {
    DataElement::new(tag, VR::SQ, DataSetSequence::from(items))
}

/// A data set from a list of elements (a sequence item).
pub fn item(elements: impl IntoIterator<Item = InMemElement>) -> InMemDicomObject {
    InMemDicomObject::from_element_iter(elements)
}

/// A code sequence item (Code Value, Coding Scheme Designator, Code Meaning).
pub fn code_item(code: &Code) -> InMemDicomObject {
    use dicom_dictionary_std::tags;
    item([
        text(tags::CODE_VALUE, VR::SH, &code.value),
        text(tags::CODING_SCHEME_DESIGNATOR, VR::SH, &code.scheme),
        text(tags::CODE_MEANING, VR::LO, &code.meaning),
    ])
}

/// A code sequence with one item.
pub fn code_seq(tag: Tag, code: &Code) -> InMemElement {
    seq(tag, vec![code_item(code)])
}

/// Formats a number as a Decimal String of at most 16 characters (PS3.5 §6.2 DS), rounded to
/// micrometres first so that float noise (`0.30000000000000004`) does not reach the file.
pub fn ds(v: f64) -> String {
    let v = if v == 0.0 { 0.0 } else { v }; // no "-0"
    for prec in (0..=6).rev() {
        let s = trim_zeros(format!("{v:.prec$}"));
        if s.len() <= 16 {
            return if s == "-0" { "0".into() } else { s };
        }
    }
    // Only for |v| ≥ 1e16, far outside any patient coordinate; scientific notation still fits.
    format!("{v:.6e}")
}

fn trim_zeros(s: String) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s
    }
}

/// Today's date (DA, `YYYYMMDD`) and the time (TM, `HHMMSS`) in UTC, from the system clock.
pub fn now_date_time() -> (String, String) {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    (
        format!("{y:04}{m:02}{d:02}"),
        format!("{:02}{:02}{:02}", rem / 3600, rem % 3600 / 60, rem % 60),
    )
}

/// Proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Whether `s` looks like a DA value (`YYYYMMDD`).
pub fn is_da(s: &str) -> bool {
    s.len() == 8 && s.bytes().all(|b| b.is_ascii_digit())
}

/// Whether `s` looks like a TM value (`HH[MM[SS[.F{1,6}]]]`).
pub fn is_tm(s: &str) -> bool {
    let (hms, frac) = s.split_once('.').unwrap_or((s, ""));
    matches!(hms.len(), 2 | 4 | 6)
        && hms.bytes().all(|b| b.is_ascii_digit())
        && frac.len() <= 6
        && frac.bytes().all(|b| b.is_ascii_digit())
        && (frac.is_empty() || hms.len() == 6)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_strings_fit_16_chars() {
        assert_eq!(ds(0.1 + 0.2), "0.3");
        assert_eq!(ds(-0.0), "0");
        assert_eq!(ds(4.0), "4");
        assert_eq!(ds(-351.5625), "-351.5625");
        assert_eq!(ds(3.2700000001), "3.27");
        assert_eq!(ds(-123456789.123456), "-123456789.12346");
        for v in [1e15, -1e15, 1e20, 1.0 / 3.0, -2.0 / 3.0 * 1000.0] {
            assert!(ds(v).len() <= 16, "{v} → {}", ds(v));
        }
    }

    #[test]
    fn civil_dates() {
        // Golden values: `date -u -d @<secs>` (0 → 1970-01-01, 951782400 → 2000-02-29,
        // 1795824000 → 2026-11-28).
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(951_782_400 / 86_400), (2000, 2, 29));
        assert_eq!(civil_from_days(1_795_824_000 / 86_400), (2026, 11, 28));
        let (d, t) = now_date_time();
        assert!(is_da(&d) && is_tm(&t), "{d} {t}");
        assert!(!is_da("2026-11-28") && !is_tm("25:00"));
    }
}
