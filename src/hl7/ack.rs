//! HL7 v2 acknowledgements: which code a message gets (original or enhanced mode, MSH-15) and
//! the ACK message itself. Pure: the caller supplies our control ID and the time.
//!
//! Acknowledgement rules (HL7 v2.5 §2.9 and CONTRACT §3):
//! - MSH-15 empty → original mode: every message is answered, `AA` once the report is durably
//!   stored, `AE` (with MSA-3 and ERR) when it cannot be parsed, lacks required fields or cannot
//!   be stored, `AR` for a message type other than ORU^R01. MSH-16 alone does not change this.
//! - MSH-15 valued → enhanced mode: we answer with a commit acknowledgement `CA`/`CE`/`CR`
//!   (same meaning: `CA` only after the durable write) when MSH-15 asks for it: `AL` always,
//!   `ER` only `CE`/`CR`, `SU` only `CA`, `NE` never. An unknown MSH-15 value counts as `AL`.
//!   No separate application acknowledgement is ever sent (MSH-16): the node's application
//!   result is a DICOM SEG, not an HL7 message, and the sender's return address is unknown.
//! - MSA-2 echoes MSH-10 byte for byte (ACKs use the sender's encoding characters); empty when
//!   the message was too broken to have one.
use std::time::{SystemTime, UNIX_EPOCH};

use super::escape::encode;
use super::oru::MessageHeader;

pub use super::error::ErrorCode;

/// MSA-1 acknowledgement codes (HL7 table 0008).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckCode {
    AA,
    AE,
    AR,
    CA,
    CE,
    CR,
}

impl AckCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AA => "AA",
            Self::AE => "AE",
            Self::AR => "AR",
            Self::CA => "CA",
            Self::CE => "CE",
            Self::CR => "CR",
        }
    }
}

/// What became of a message, before the acknowledgement mode turns it into a code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Parsed and durably stored.
    Accepted,
    /// Not parseable, missing required fields, or not stored.
    Error,
    /// A message type we do not take.
    Rejected,
}

/// The code to answer with, or `None` when the sender's MSH-15 asked for no answer.
pub fn response(header: Option<&MessageHeader>, outcome: Outcome) -> Option<AckCode> {
    let accept = header.map(|h| h.accept_ack.as_str()).unwrap_or_default();
    if accept.is_empty() {
        return Some(match outcome {
            Outcome::Accepted => AckCode::AA,
            Outcome::Error => AckCode::AE,
            Outcome::Rejected => AckCode::AR,
        });
    }
    let code = match outcome {
        Outcome::Accepted => AckCode::CA,
        Outcome::Error => AckCode::CE,
        Outcome::Rejected => AckCode::CR,
    };
    let wanted = match accept {
        "NE" => false,
        "ER" => outcome != Outcome::Accepted,
        "SU" => outcome == Outcome::Accepted,
        _ => true,
    };
    wanted.then_some(code)
}

/// Our side of the ACK's MSH.
#[derive(Debug, Clone, Copy)]
pub struct AckMeta<'a> {
    /// MSH-10 of the ACK itself (unique per ACK we send).
    pub control_id: &'a str,
    /// MSH-7, see [`hl7_timestamp`].
    pub timestamp: &'a str,
}

/// Build the ACK message (segments ended by `\r`, no MLLP framing). `error` is the ERR-3 code
/// and a readable reason, written to MSA-3 and ERR-8.
pub fn build(
    header: Option<&MessageHeader>,
    code: AckCode,
    error: Option<(ErrorCode, &str)>,
    meta: AckMeta<'_>,
) -> String {
    let seps = header.map(MessageHeader::separators).unwrap_or_default();
    let f = seps.field;
    let c = seps.component;
    let enc: String = header
        .map(|h| h.encoding_characters.chars().skip(1).collect())
        .unwrap_or_else(|| "^~\\&".to_owned());
    let pick = |get: fn(&MessageHeader) -> &str, default: &str| -> String {
        header
            .map(get)
            .filter(|v| !v.is_empty())
            .unwrap_or(default)
            .to_owned()
    };
    let trigger = header
        .and_then(|h| h.message_type.split(c).nth(1))
        .filter(|t| !t.is_empty())
        .unwrap_or("R01");
    let mut out = format!(
        "MSH{f}{enc}{f}{ra}{f}{rf}{f}{sa}{f}{sf}{f}{ts}{f}{f}ACK{c}{trigger}{c}ACK{f}{id}{f}{pid}{f}{ver}\r",
        ra = pick(|h| &h.receiving_application, ""),
        rf = pick(|h| &h.receiving_facility, ""),
        sa = pick(|h| &h.sending_application, ""),
        sf = pick(|h| &h.sending_facility, ""),
        ts = meta.timestamp,
        id = encode(meta.control_id, &seps),
        pid = pick(|h| &h.processing_id, "P"),
        ver = pick(|h| &h.version, "2.5"),
    );
    let control_id = pick(|h| &h.control_id, "");
    out.push_str(&format!("MSA{f}{}{f}{control_id}", code.as_str()));
    if let Some((err, reason)) = error {
        let reason = encode(reason, &seps);
        out.push_str(&format!("{f}{reason}\r"));
        out.push_str(&format!(
            "ERR{f}{f}{f}{}{c}{}{c}HL70357{f}E{f}{f}{f}{f}{reason}\r",
            err.code,
            encode(err.text, &seps)
        ));
    } else {
        out.push('\r');
    }
    out
}

/// HL7 TS in UTC with offset, e.g. `20260128093012+0000`.
pub fn hl7_timestamp(t: SystemTime) -> String {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}{m:02}{d:02}{:02}{:02}{:02}+0000",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 → (year, month, day); H. Hinnant's `civil_from_days`.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
#[path = "ack_tests.rs"]
mod tests;
