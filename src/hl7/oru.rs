//! ORU^R01 (unsolicited observation result) → [`OruReport`]: the header fields an ACK needs,
//! the identifiers that tie the report to a study (CONTRACT §3), its status and its text.
//!
//! Parsing is structural (`er7`: a zero-copy view, memory in proportion to what is kept); this
//! module decides what is required. It does not
//! store, match or acknowledge anything. Input bytes are decoded by MSH-18 (character set):
//! `8859/1` (also `ISO-8859-1`, `ISO_IR 100`) is ISO-8859-1, `UNICODE UTF-8` (also `UTF-8`) is
//! UTF-8 with invalid bytes replaced; when MSH-18 is empty or names another set, UTF-8 when valid,
//! else ISO-8859-1 (the usual MSH-18 of European RIS). This is the one HL7 reader: the listener,
//! `petground findings`, `petground ground` and `tools/train` all read text through it. Segments may be separated by
//! `\r`, `\n` or `\r\n`; blank lines are ignored. With several OBR segments the identifiers come
//! from the first one and the text from all OBX segments.
use hl7_parser::message::Separators;
use serde::{Deserialize, Serialize};

use super::er7::{self, Segment, component, raw_field};
pub use super::error::OruError;
pub use super::oru_text::STUDY_UID_CODE;

/// A message that could not be turned into a report, with its header when that much parsed.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{error}")]
pub struct Rejected {
    pub header: Option<Box<MessageHeader>>,
    pub error: OruError,
}

/// MSH fields an acknowledgement needs. Values are raw (still in the sender's escaping), so an
/// ACK written with the same encoding characters echoes them byte for byte.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageHeader {
    /// MSH-1 followed by MSH-2, e.g. `|^~\&`.
    pub encoding_characters: String,
    pub sending_application: String,
    pub sending_facility: String,
    pub receiving_application: String,
    pub receiving_facility: String,
    /// MSH-9 raw, e.g. `ORU^R01^ORU_R01`.
    pub message_type: String,
    /// MSH-10 raw.
    pub control_id: String,
    /// MSH-11 raw (P, T, D).
    pub processing_id: String,
    /// MSH-12 first component.
    pub version: String,
    /// MSH-15 accept acknowledgement type (AL, NE, ER, SU or empty).
    pub accept_ack: String,
    /// MSH-16 application acknowledgement type.
    pub application_ack: String,
}

impl MessageHeader {
    /// The separators named by MSH-1/MSH-2 (validated when the header was parsed).
    pub fn separators(&self) -> Separators {
        er7::separators(&self.encoding_characters)
    }
}

/// OBR-25 result status: defined in the store, whose report versions act on it.
pub use crate::store::ReportStatus;

/// The order identifiers as sent, before the accession rule picks one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderIds {
    /// OBR-18 placer field 1 (where most RIS put the accession number).
    pub obr18: Option<String>,
    /// OBR-19 placer field 2 (kept for sites that use it; not part of the matching rule).
    pub obr19: Option<String>,
    /// OBR-3 filler order number, first component.
    pub obr3: Option<String>,
    /// ORC-3 filler order number, first component.
    pub orc3: Option<String>,
}

impl OrderIds {
    /// CONTRACT §3: OBR-18, else OBR-3, else ORC-3.
    pub fn accession(&self) -> Option<&str> {
        self.obr18
            .as_deref()
            .or(self.obr3.as_deref())
            .or(self.orc3.as_deref())
    }
}

/// One received radiology report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OruReport {
    pub header: MessageHeader,
    /// PID-3, first repetition, first component. Never log it.
    pub patient_id: Option<String>,
    pub order: OrderIds,
    /// `order.accession()`, resolved once.
    pub accession: Option<String>,
    /// From the OBX whose OBX-3 is 113014 or "Study Instance UID".
    pub study_uid: Option<String>,
    pub status: ReportStatus,
    /// OBR-7 observation date/time, raw HL7 TS (YYYYMMDD[HHMM[SS]]…).
    pub observation_datetime: Option<String>,
    /// Report text in OBX order, one line per OBX-5 repetition, section headings kept.
    pub text: String,
    /// The message exactly as received (MLLP framing removed).
    pub raw: Vec<u8>,
}

impl OruReport {
    pub fn control_id(&self) -> &str {
        &self.header.control_id
    }

    /// The date part (YYYYMMDD) of OBR-7, for the patient + date rule.
    pub fn observation_date(&self) -> Option<&str> {
        self.observation_datetime
            .as_deref()
            .and_then(|ts| ts.get(..8))
            .filter(|d| d.bytes().all(|b| b.is_ascii_digit()))
    }
}

/// Parse one message (payload of an MLLP frame, or a file).
pub fn parse(raw: &[u8]) -> Result<OruReport, Rejected> {
    let text = normalise(&bytes_to_text(raw));
    let header = parse_header(&text).map_err(|error| Rejected {
        header: None,
        error,
    })?;
    parse_body(&text, &header, raw).map_err(|error| Rejected {
        header: Some(Box::new(header)),
        error,
    })
}

/// Only the report text (OBX order, headings kept), with none of the report's identifier rules:
/// for `petground findings`, `petground ground` and `tools/train`, which take any ORU file
/// whether or not it names a study. The text is assembled exactly as [`parse`] assembles it for
/// the listener, so both give the same findings.
pub fn parse_text(raw: &[u8]) -> Result<String, OruError> {
    let text = normalise(&bytes_to_text(super::mllp::unframe(raw)));
    let header = parse_header(&text)?;
    let seps = header.separators();
    let segments = er7::segments(&text, seps).map_while(Result::ok);
    let text = super::oru_text::collect(segments, &seps)?.text;
    if text.trim().is_empty() {
        return Err(OruError::NoText);
    }
    Ok(text)
}

/// Whether bytes (MLLP framing already removed) are an HL7 v2 message rather than plain text:
/// after white space or a byte order mark, "MSH" and an ASCII punctuation field separator.
pub fn looks_like_hl7(bytes: &[u8]) -> bool {
    let start = bytes
        .strip_prefix(b"\xef\xbb\xbf".as_slice())
        .unwrap_or(bytes);
    let t = start.trim_ascii_start();
    let t = t.strip_prefix(b"\xef\xbb\xbf".as_slice()).unwrap_or(t);
    t.starts_with(b"MSH") && t.get(3).is_some_and(u8::is_ascii_punctuation)
}

/// Only the header, from the first bytes of a message (used to answer an oversize message).
pub fn parse_header_bytes(raw: &[u8]) -> Result<MessageHeader, OruError> {
    parse_header(&normalise(&bytes_to_text(raw)))
}

/// The character set MSH-18 names, as far as it decides the decoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Charset {
    Latin1,
    Utf8,
    /// Empty, ASCII or a set we do not decode specially: UTF-8 when valid, else ISO-8859-1.
    Guess,
}

/// MSH-18, read from the raw bytes of the first segment (its field separator is byte 3).
fn declared_charset(raw: &[u8]) -> Charset {
    let raw = raw.strip_prefix(b"\xef\xbb\xbf".as_slice()).unwrap_or(raw);
    let first = raw
        .split(|&b| b == b'\r' || b == b'\n')
        .next()
        .unwrap_or_default();
    let (Some(b"MSH"), Some(&sep)) = (first.get(..3), first.get(3)) else {
        return Charset::Guess;
    };
    // Field n of MSH is piece n - 1 when splitting at the separator (MSH-1 is the separator).
    let field = first.split(|&b| b == sep).nth(17).unwrap_or_default();
    let component = first
        .get(4)
        .and_then(|&c| field.split(|&b| b == c).next())
        .unwrap_or(field);
    let name = String::from_utf8_lossy(component)
        .trim()
        .to_ascii_uppercase();
    match name.as_str() {
        "8859/1" | "ISO-8859-1" | "ISO8859-1" | "ISO_IR 100" | "ISO IR100" => Charset::Latin1,
        "UNICODE UTF-8" | "UTF-8" | "UTF8" | "ISO_IR 192" => Charset::Utf8,
        _ => Charset::Guess,
    }
}

/// Text of the message per its MSH-18 ([`Charset`]); ISO-8859-1 maps every byte to the code
/// point of the same value.
fn bytes_to_text(raw: &[u8]) -> String {
    let latin1 = |raw: &[u8]| raw.iter().map(|&b| char::from(b)).collect::<String>();
    let text = match declared_charset(raw) {
        Charset::Latin1 => latin1(raw),
        Charset::Utf8 => String::from_utf8_lossy(raw).into_owned(),
        Charset::Guess => match std::str::from_utf8(raw) {
            Ok(s) => s.to_owned(),
            Err(_) => latin1(raw),
        },
    };
    text.trim_start_matches(['\u{feff}', '\u{ef}', '\u{bb}', '\u{bf}'])
        .to_owned()
}

/// Segments joined by `\r`, blank lines dropped (a blank line is not a segment, and some senders
/// put one between segments). A v2.7 truncation character (a sixth MSH-2 character) is removed:
/// it would shift every later MSH field by one, and it has no meaning for a receiver.
fn normalise(text: &str) -> String {
    let mut out = text
        .split(['\r', '\n'])
        .filter(|line| !line.trim().is_empty())
        .collect::<Vec<_>>()
        .join("\r");
    // By characters, not bytes: any byte of MSH-1/MSH-2 may be the start of a multi-byte
    // character in hostile input.
    let mut head = out.char_indices().skip(3);
    let field = head.next().map(|(_, c)| c);
    if out.starts_with("MSH")
        && let Some((at, sixth)) = head.nth(4)
        && Some(sixth) != field
        && sixth != '\r'
        && sixth.is_ascii_punctuation()
    {
        out.remove(at);
    }
    out
}

fn parse_header(text: &str) -> Result<MessageHeader, OruError> {
    if text.is_empty() {
        return Err(OruError::Empty);
    }
    let msh_line = text.split('\r').next().unwrap_or_default();
    if !msh_line.starts_with("MSH") {
        return Err(OruError::NoMsh);
    }
    let encoding: String = msh_line.chars().skip(3).take(5).collect();
    let distinct = encoding
        .chars()
        .collect::<std::collections::HashSet<_>>()
        .len();
    if distinct != 5 || !encoding.is_ascii() || encoding.contains(char::is_alphanumeric) {
        return Err(OruError::BadEncodingCharacters);
    }
    let seps = er7::separators(&encoding);
    let msh = Segment::parse(msh_line, seps).map_err(|_| OruError::Syntax { segment: 1 })?;
    let raw = |n: usize| raw_field(&msh, n).to_owned();
    Ok(MessageHeader {
        encoding_characters: encoding,
        sending_application: raw(3),
        sending_facility: raw(4),
        receiving_application: raw(5),
        receiving_facility: raw(6),
        message_type: raw(9),
        control_id: raw(10),
        processing_id: raw(11),
        version: component(&msh, 12, 1, &seps).unwrap_or_default(),
        accept_ack: raw(15).trim().to_owned(),
        application_ack: raw(16).trim().to_owned(),
    })
}

fn parse_body(text: &str, header: &MessageHeader, raw: &[u8]) -> Result<OruReport, OruError> {
    let seps = header.separators();
    // One pass to check every line and keep the (first) segments the identifiers come from;
    // the OBX text is read in a second pass. Neither builds anything per segment.
    let (mut msh, mut obr, mut orc, mut pid) = (None, None, None, None);
    for seg in er7::segments(text, seps) {
        let seg = seg.map_err(|segment| OruError::Syntax { segment })?;
        let slot = match seg.name {
            "MSH" => &mut msh,
            "OBR" => &mut obr,
            "ORC" => &mut orc,
            "PID" => &mut pid,
            _ => continue,
        };
        slot.get_or_insert(seg);
    }
    let msh = msh.ok_or(OruError::NoMsh)?;
    check_message_type(&msh, &seps)?;
    if header.control_id.trim().is_empty() {
        return Err(OruError::MissingField("MSH-10"));
    }
    let obr = obr.ok_or(OruError::MissingSegment("OBR"))?;
    let order = OrderIds {
        obr18: component(&obr, 18, 1, &seps),
        obr19: component(&obr, 19, 1, &seps),
        obr3: component(&obr, 3, 1, &seps),
        orc3: orc.and_then(|orc| component(&orc, 3, 1, &seps)),
    };
    let patient_id = pid.and_then(|pid| component(&pid, 3, 1, &seps));
    let segments = er7::segments(text, seps).map_while(Result::ok);
    let observations = super::oru_text::collect(segments, &seps)?;
    let study_uid = observations.study_uid;
    let accession = order.accession().map(str::to_owned);
    if study_uid.is_none() && accession.is_none() && patient_id.is_none() {
        return Err(OruError::NoIdentifier);
    }
    let status = match component(&obr, 25, 1, &seps).or(observations.first_status) {
        Some(code) => {
            ReportStatus::parse(&code).ok_or(OruError::UnsupportedStatus { found: code })?
        }
        None => return Err(OruError::MissingField("OBR-25")),
    };
    if observations.text.trim().is_empty() && status != ReportStatus::Cancelled {
        return Err(OruError::NoText);
    }
    Ok(OruReport {
        header: header.clone(),
        patient_id,
        order,
        accession,
        study_uid,
        status,
        observation_datetime: component(&obr, 7, 1, &seps),
        text: observations.text,
        raw: raw.to_vec(),
    })
}

fn check_message_type(msh: &Segment<'_>, seps: &Separators) -> Result<(), OruError> {
    let code = component(msh, 9, 1, seps).ok_or(OruError::MissingField("MSH-9"))?;
    let trigger = component(msh, 9, 2, seps).unwrap_or_default();
    if code == "ORU" && trigger == "R01" {
        Ok(())
    } else {
        Err(OruError::UnsupportedType { code, trigger })
    }
}
