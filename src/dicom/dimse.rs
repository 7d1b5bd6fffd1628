//! DIMSE command sets (PS3.7 §9–10): typed C-ECHO / C-STORE requests and responses, their
//! encoding as group-0000 Implicit VR Little Endian data sets, and the status codes we answer.
//! Command sets are flat (no sequences), so a small dedicated codec is clearer than a general
//! DICOM object; data sets themselves are never decoded here.

/// DIMSE status codes (PS3.7 Annex C and the Storage Service Class, PS3.4 B.2.3).
pub mod status {
    pub const SUCCESS: u16 = 0x0000;
    /// Refused: SOP Class not supported.
    pub const SOP_CLASS_NOT_SUPPORTED: u16 = 0x0122;
    /// Failure: processing failure (e.g. the disk write failed).
    pub const PROCESSING_FAILURE: u16 = 0x0110;
    /// Refused: out of resources (disk reserve reached, instance over the size limit).
    pub const OUT_OF_RESOURCES: u16 = 0xA700;
    /// Error: data set does not match SOP Class (UIDs in the data set contradict the command).
    pub const DATASET_DOES_NOT_MATCH: u16 = 0xA900;
    /// Error: cannot understand (the data set cannot be parsed).
    pub const CANNOT_UNDERSTAND: u16 = 0xC000;
    /// Failure: unrecognized operation.
    pub const UNRECOGNIZED_OPERATION: u16 = 0x0211;
}

pub const C_STORE_RQ: u16 = 0x0001;
pub const C_STORE_RSP: u16 = 0x8001;
pub const C_ECHO_RQ: u16 = 0x0030;
pub const C_ECHO_RSP: u16 = 0x8030;
/// CommandDataSetType value meaning "no data set follows".
pub const NO_DATASET: u16 = 0x0101;
/// Any other value (we write 0x0000) means "a data set follows".
pub const HAS_DATASET: u16 = 0x0000;

const AFFECTED_SOP_CLASS_UID: (u16, u16) = (0x0000, 0x0002);
const COMMAND_FIELD: (u16, u16) = (0x0000, 0x0100);
const MESSAGE_ID: (u16, u16) = (0x0000, 0x0110);
const MESSAGE_ID_RESPONDED: (u16, u16) = (0x0000, 0x0120);
const PRIORITY: (u16, u16) = (0x0000, 0x0700);
const COMMAND_DATA_SET_TYPE: (u16, u16) = (0x0000, 0x0800);
const STATUS: (u16, u16) = (0x0000, 0x0900);
const ERROR_COMMENT: (u16, u16) = (0x0000, 0x0902);
const AFFECTED_SOP_INSTANCE_UID: (u16, u16) = (0x0000, 0x1000);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DimseError {
    #[error("command set truncated at byte {0}")]
    Truncated(usize),
    #[error("command set element ({0:04X},{1:04X}) is outside group 0000")]
    NotCommandGroup(u16, u16),
    #[error("command set lacks {0}")]
    Missing(&'static str),
    #[error("command field 0x{0:04X} is not a request we serve")]
    Unsupported(u16),
}

/// A request received from a peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Echo {
        message_id: u16,
        sop_class_uid: String,
    },
    Store {
        message_id: u16,
        sop_class_uid: String,
        sop_instance_uid: String,
        has_dataset: bool,
    },
}

/// A response we send (or, for an SCU, receive).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub command_field: u16,
    pub message_id_responded: u16,
    pub sop_class_uid: String,
    pub sop_instance_uid: Option<String>,
    pub status: u16,
    /// Free text sent in ErrorComment (0000,0902) with failure statuses, ≤ 64 chars.
    pub error_comment: Option<String>,
}

impl Response {
    pub fn echo(message_id: u16, sop_class_uid: &str) -> Self {
        Self {
            command_field: C_ECHO_RSP,
            message_id_responded: message_id,
            sop_class_uid: sop_class_uid.to_owned(),
            sop_instance_uid: None,
            status: status::SUCCESS,
            error_comment: None,
        }
    }

    pub fn store(message_id: u16, sop_class: &str, sop_instance: &str, status: u16) -> Self {
        Self {
            command_field: C_STORE_RSP,
            message_id_responded: message_id,
            sop_class_uid: sop_class.to_owned(),
            sop_instance_uid: Some(sop_instance.to_owned()),
            status,
            error_comment: None,
        }
    }

    pub fn with_comment(mut self, comment: &str) -> Self {
        // LO: at most 64 characters, no backslash or control characters.
        let clean: String = comment
            .chars()
            .filter(|c| !c.is_control() && *c != '\\' && c.is_ascii())
            .take(64)
            .collect();
        self.error_comment = Some(clean);
        self
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut e = Elements::default();
        e.uid(AFFECTED_SOP_CLASS_UID, &self.sop_class_uid);
        e.us(COMMAND_FIELD, self.command_field);
        e.us(MESSAGE_ID_RESPONDED, self.message_id_responded);
        e.us(COMMAND_DATA_SET_TYPE, NO_DATASET);
        e.us(STATUS, self.status);
        if let Some(c) = &self.error_comment {
            e.text(ERROR_COMMENT, c);
        }
        if let Some(uid) = &self.sop_instance_uid {
            e.uid(AFFECTED_SOP_INSTANCE_UID, uid);
        }
        e.finish()
    }

    /// Decodes a response command set (used by the SCU and by tests).
    pub fn decode(bytes: &[u8]) -> Result<Self, DimseError> {
        let set = parse(bytes)?;
        Ok(Self {
            command_field: set
                .us(COMMAND_FIELD)
                .ok_or(DimseError::Missing("CommandField"))?,
            message_id_responded: set
                .us(MESSAGE_ID_RESPONDED)
                .ok_or(DimseError::Missing("MessageIDBeingRespondedTo"))?,
            sop_class_uid: set.uid(AFFECTED_SOP_CLASS_UID).unwrap_or_default(),
            sop_instance_uid: set.uid(AFFECTED_SOP_INSTANCE_UID),
            status: set.us(STATUS).ok_or(DimseError::Missing("Status"))?,
            error_comment: set.text(ERROR_COMMENT),
        })
    }
}

impl Request {
    pub fn decode(bytes: &[u8]) -> Result<Self, DimseError> {
        let set = parse(bytes)?;
        let field = set
            .us(COMMAND_FIELD)
            .ok_or(DimseError::Missing("CommandField"))?;
        let message_id = set.us(MESSAGE_ID).ok_or(DimseError::Missing("MessageID"))?;
        let sop_class_uid = set
            .uid(AFFECTED_SOP_CLASS_UID)
            .ok_or(DimseError::Missing("AffectedSOPClassUID"))?;
        match field {
            C_ECHO_RQ => Ok(Self::Echo {
                message_id,
                sop_class_uid,
            }),
            C_STORE_RQ => Ok(Self::Store {
                message_id,
                sop_class_uid,
                // Absent, empty, blank or NUL: kept empty, so that the SCP answers this
                // request with a failure status instead of aborting the association.
                sop_instance_uid: set.uid(AFFECTED_SOP_INSTANCE_UID).unwrap_or_default(),
                has_dataset: set.us(COMMAND_DATA_SET_TYPE) != Some(NO_DATASET),
            }),
            other => Err(DimseError::Unsupported(other)),
        }
    }

    /// Encodes a request (used by the SCU and by tests).
    pub fn encode(&self) -> Vec<u8> {
        let mut e = Elements::default();
        match self {
            Self::Echo {
                message_id,
                sop_class_uid,
            } => {
                e.uid(AFFECTED_SOP_CLASS_UID, sop_class_uid);
                e.us(COMMAND_FIELD, C_ECHO_RQ);
                e.us(MESSAGE_ID, *message_id);
                e.us(COMMAND_DATA_SET_TYPE, NO_DATASET);
            }
            Self::Store {
                message_id,
                sop_class_uid,
                sop_instance_uid,
                has_dataset,
            } => {
                e.uid(AFFECTED_SOP_CLASS_UID, sop_class_uid);
                e.us(COMMAND_FIELD, C_STORE_RQ);
                e.us(MESSAGE_ID, *message_id);
                e.us(PRIORITY, 0);
                e.us(
                    COMMAND_DATA_SET_TYPE,
                    if *has_dataset {
                        HAS_DATASET
                    } else {
                        NO_DATASET
                    },
                );
                e.uid(AFFECTED_SOP_INSTANCE_UID, sop_instance_uid);
            }
        }
        e.finish()
    }

    pub fn message_id(&self) -> u16 {
        match self {
            Self::Echo { message_id, .. } | Self::Store { message_id, .. } => *message_id,
        }
    }
}

/// Elements of a command set under construction, in ascending tag order as written.
#[derive(Default)]
struct Elements(Vec<u8>);

impl Elements {
    fn raw(&mut self, (g, e): (u16, u16), value: &[u8]) {
        self.0.extend_from_slice(&g.to_le_bytes());
        self.0.extend_from_slice(&e.to_le_bytes());
        self.0
            .extend_from_slice(&(value.len() as u32).to_le_bytes());
        self.0.extend_from_slice(value);
    }
    fn us(&mut self, tag: (u16, u16), v: u16) {
        self.raw(tag, &v.to_le_bytes());
    }
    /// UI values are padded to even length with NUL.
    fn uid(&mut self, tag: (u16, u16), v: &str) {
        let mut b = v.as_bytes().to_vec();
        if b.len() % 2 == 1 {
            b.push(0);
        }
        self.raw(tag, &b);
    }
    /// Text values are padded to even length with a space.
    fn text(&mut self, tag: (u16, u16), v: &str) {
        let mut b = v.as_bytes().to_vec();
        if b.len() % 2 == 1 {
            b.push(b' ');
        }
        self.raw(tag, &b);
    }
    /// Prepends CommandGroupLength (0000,0000), the byte count of everything after it.
    fn finish(self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.0.len() + 12);
        out.extend_from_slice(&[0, 0, 0, 0, 4, 0, 0, 0]);
        out.extend_from_slice(&(self.0.len() as u32).to_le_bytes());
        out.extend_from_slice(&self.0);
        out
    }
}

/// A parsed command set: (element number, value) pairs of group 0000.
struct CommandSet<'a>(Vec<(u16, &'a [u8])>);

impl CommandSet<'_> {
    fn get(&self, (_, e): (u16, u16)) -> Option<&[u8]> {
        self.0.iter().find(|(el, _)| *el == e).map(|(_, v)| *v)
    }
    fn us(&self, tag: (u16, u16)) -> Option<u16> {
        let v = self.get(tag)?;
        Some(u16::from_le_bytes([*v.first()?, *v.get(1)?]))
    }
    fn text(&self, tag: (u16, u16)) -> Option<String> {
        let v = self.get(tag)?;
        let s = String::from_utf8_lossy(v);
        Some(s.trim_end_matches(['\0', ' ']).to_owned())
    }
    fn uid(&self, tag: (u16, u16)) -> Option<String> {
        self.text(tag).filter(|s| !s.is_empty())
    }
}

fn parse(bytes: &[u8]) -> Result<CommandSet<'_>, DimseError> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < bytes.len() {
        let head = bytes.get(pos..pos + 8).ok_or(DimseError::Truncated(pos))?;
        let group = u16::from_le_bytes([head[0], head[1]]);
        let elem = u16::from_le_bytes([head[2], head[3]]);
        let len = u32::from_le_bytes([head[4], head[5], head[6], head[7]]) as usize;
        if group != 0 {
            return Err(DimseError::NotCommandGroup(group, elem));
        }
        let value = bytes
            .get(pos + 8..pos.saturating_add(8).saturating_add(len))
            .ok_or(DimseError::Truncated(pos))?;
        out.push((elem, value));
        pos += 8 + len;
    }
    Ok(CommandSet(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn echo_response_bytes_are_standard() {
        // Verification SOP Class, message 7, success: hand-checked against PS3.7 Table 9.3-13.
        let bytes = Response::echo(7, "1.2.840.10008.1.1").encode();
        assert_eq!(&bytes[..8], &[0, 0, 0, 0, 4, 0, 0, 0]);
        let group_len = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize;
        assert_eq!(group_len, bytes.len() - 12);
        // UID "1.2.840.10008.1.1" has 17 chars: padded with one NUL to 18.
        assert_eq!(&bytes[12..20], &[0, 0, 2, 0, 18, 0, 0, 0]);
        let back = Response::decode(&bytes).expect("decodes");
        assert_eq!(back.status, status::SUCCESS);
        assert_eq!(back.command_field, C_ECHO_RSP);
        assert_eq!(back.sop_class_uid, "1.2.840.10008.1.1");
    }

    #[test]
    fn truncated_and_foreign_sets_are_errors() {
        let bytes = Request::Echo {
            message_id: 1,
            sop_class_uid: "1.2.840.10008.1.1".into(),
        }
        .encode();
        assert!(matches!(
            Request::decode(&bytes[..bytes.len() - 3]),
            Err(DimseError::Truncated(_))
        ));
        let mut foreign = bytes.clone();
        foreign[12] = 8; // group 0008 in the second element
        assert!(matches!(
            Request::decode(&foreign),
            Err(DimseError::NotCommandGroup(8, _))
        ));
        let mut find = Elements::default();
        find.uid(AFFECTED_SOP_CLASS_UID, "1.2.840.10008.5.1.4.1.2.2.1");
        find.us(COMMAND_FIELD, 0x0020);
        find.us(MESSAGE_ID, 3);
        assert_eq!(
            Request::decode(&find.finish()),
            Err(DimseError::Unsupported(0x0020))
        );
    }

    proptest! {
        #[test]
        fn store_request_round_trips(id: u16, class in "[0-9.]{1,64}", inst in "[0-9.]{1,64}", ds: bool) {
            let rq = Request::Store { message_id: id, sop_class_uid: class, sop_instance_uid: inst, has_dataset: ds };
            prop_assert_eq!(Request::decode(&rq.encode()), Ok(rq));
        }

        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = Request::decode(&bytes);
            let _ = Response::decode(&bytes);
        }

        #[test]
        fn store_response_round_trips(id: u16, status: u16, comment in "[ -~]{0,80}") {
            let rsp = Response::store(id, "1.2.3", "4.5.6", status).with_comment(&comment);
            let back = Response::decode(&rsp.encode()).expect("decodes");
            prop_assert_eq!(back.status, status);
            prop_assert_eq!(back.message_id_responded, id);
            prop_assert_eq!(back.sop_instance_uid.as_deref(), Some("4.5.6"));
            let want: String = comment.chars().filter(|c| *c != '\\').take(64).collect();
            prop_assert_eq!(back.error_comment.unwrap_or_default(), want.trim_end().to_owned());
        }
    }
}
