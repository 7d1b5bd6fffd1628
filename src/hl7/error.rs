//! Why an HL7 message is refused, and the HL7 table 0357 code that goes with it in the ERR
//! segment. A leaf of `hl7`: the reader (`oru`, `oru_text`) and the acknowledgement (`ack`) share it.

/// An HL7 table 0357 message error condition code, for ERR-3.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorCode {
    pub code: u16,
    pub text: &'static str,
}

impl ErrorCode {
    pub const SEGMENT_SEQUENCE: Self = Self::new(100, "Segment sequence error");
    pub const REQUIRED_FIELD_MISSING: Self = Self::new(101, "Required field missing");
    pub const DATA_TYPE: Self = Self::new(102, "Data type error");
    pub const TABLE_VALUE_NOT_FOUND: Self = Self::new(103, "Table value not found");
    pub const UNSUPPORTED_MESSAGE_TYPE: Self = Self::new(200, "Unsupported message type");
    pub const UNSUPPORTED_EVENT: Self = Self::new(201, "Unsupported event code");
    pub const INTERNAL: Self = Self::new(207, "Application internal error");

    const fn new(code: u16, text: &'static str) -> Self {
        Self { code, text }
    }
}

/// Why a message is not an acceptable report. Messages never contain field contents, so they
/// can be logged (no patient data) and returned in MSA-3/ERR.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OruError {
    #[error("message is empty")]
    Empty,
    #[error("message does not start with an MSH segment")]
    NoMsh,
    #[error("MSH-1/MSH-2 encoding characters are missing or not distinct")]
    BadEncodingCharacters,
    #[error("HL7 syntax error in segment {segment}")]
    Syntax { segment: usize },
    #[error("required field {0} is empty")]
    MissingField(&'static str),
    #[error("required segment {0} is missing")]
    MissingSegment(&'static str),
    #[error("unsupported message type {code}^{trigger} (only ORU^R01 is accepted)")]
    UnsupportedType { code: String, trigger: String },
    #[error("result status {found:?} is not supported (expected P, F, C or X)")]
    UnsupportedStatus { found: String },
    #[error("OBX-5 Study Instance UID is not a valid UID (1-64 characters of 0-9 and .)")]
    BadStudyUid,
    #[error("no identifier to match a study (Study Instance UID OBX, OBR-18, OBR-3, ORC-3, PID-3)")]
    NoIdentifier,
    #[error("report has no text (no OBX of value type TX, FT or ST)")]
    NoText,
}

impl OruError {
    /// The HL7 table 0357 code for the ERR segment.
    pub fn error_code(&self) -> ErrorCode {
        match self {
            Self::UnsupportedType { code, .. } if code == "ORU" => ErrorCode::UNSUPPORTED_EVENT,
            Self::UnsupportedType { .. } => ErrorCode::UNSUPPORTED_MESSAGE_TYPE,
            Self::MissingField(_) | Self::NoIdentifier | Self::NoText => {
                ErrorCode::REQUIRED_FIELD_MISSING
            }
            Self::MissingSegment(_) => ErrorCode::SEGMENT_SEQUENCE,
            Self::UnsupportedStatus { .. } => ErrorCode::TABLE_VALUE_NOT_FOUND,
            Self::Empty
            | Self::NoMsh
            | Self::BadEncodingCharacters
            | Self::Syntax { .. }
            | Self::BadStudyUid => ErrorCode::DATA_TYPE,
        }
    }

    /// A rejection (`AR`, the message type is not ours) rather than an error (`AE`).
    pub fn is_rejection(&self) -> bool {
        matches!(self, Self::UnsupportedType { .. })
    }
}
