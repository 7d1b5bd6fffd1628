//! DICOM networking: identifiers checked at the edge, DIMSE messages, the C-ECHO/C-STORE SCP and
//! (with the delivery issue) the C-STORE SCU. Object building and pixel decoding live elsewhere.
pub mod accept;
pub mod dimse;
pub mod scp;
pub mod scu;
pub mod walk;

use std::fmt;

/// An application entity title: 1–16 characters of printable ASCII without backslash, not all
/// spaces; leading/trailing spaces are not significant (PS3.5 AE VR) and are trimmed here.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AeTitle(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IdError {
    #[error("AE title `{0}` must be 1 to 16 printable ASCII characters without `\\`")]
    AeTitle(String),
    #[error("UID `{0}` must be 1 to 64 characters of digits and dots, with no empty component")]
    Uid(String),
}

impl AeTitle {
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let t = s.trim_matches(|c| c == ' ' || c == '\0');
        let ok = !t.is_empty()
            && t.len() <= 16
            && t.bytes().all(|b| (0x20..0x7f).contains(&b) && b != b'\\');
        if ok {
            Ok(Self(t.to_owned()))
        } else {
            Err(IdError::AeTitle(s.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AeTitle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A DICOM UID checked once at the edge: 1–64 characters of `[0-9.]`, no empty component and
/// no leading zero in a multi-digit component (PS3.5 §9.1). Safe to use as a file name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Uid(String);

impl Uid {
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let t = s.trim_end_matches(['\0', ' ']).trim_start();
        let ok = !t.is_empty()
            && t.len() <= 64
            && t.split('.').all(|c| {
                !c.is_empty()
                    && c.bytes().all(|b| b.is_ascii_digit())
                    && !(c.len() > 1 && c.starts_with('0'))
            });
        if ok {
            Ok(Self(t.to_owned()))
        } else {
            Err(IdError::Uid(s.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Uid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ae_titles() {
        assert_eq!(AeTitle::parse(" PACS ").expect("valid").as_str(), "PACS");
        assert!(AeTitle::parse("").is_err());
        assert!(AeTitle::parse("    ").is_err());
        assert!(AeTitle::parse("A\\B").is_err());
        assert!(AeTitle::parse("ABCDEFGHIJKLMNOPQ").is_err());
    }

    #[test]
    fn uids() {
        assert_eq!(
            Uid::parse("1.2.840.10008.1.1\0").expect("valid").as_str(),
            "1.2.840.10008.1.1"
        );
        for bad in [
            "",
            "1..2",
            "1.2.",
            "../etc",
            "1.02",
            "1.2a",
            &"1.".repeat(40),
        ] {
            assert!(Uid::parse(bad).is_err(), "{bad:?} must be refused");
        }
    }

    proptest! {
        #[test]
        fn parsed_uids_are_safe_file_names(s in ".{0,80}") {
            if let Ok(uid) = Uid::parse(&s) {
                prop_assert!(!uid.as_str().contains('/'));
                prop_assert!(uid.as_str() != "." && uid.as_str() != "..");
                prop_assert!(uid.as_str().len() <= 64);
            }
        }
    }
}
