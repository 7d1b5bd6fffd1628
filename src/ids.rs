//! Identifiers checked once at the edge and carried typed everywhere after: AE titles and UIDs.
//! A leaf module: it imports nothing of the crate, so config, store and network code can share it.
use std::fmt;

/// An application entity title: 1–16 characters of printable ASCII without backslash, not all
/// spaces; leading/trailing spaces are not significant (PS3.5 AE VR) and are trimmed here.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
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
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "String")]
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

impl TryFrom<String> for AeTitle {
    type Error = IdError;
    fn try_from(s: String) -> Result<Self, IdError> {
        Self::parse(&s)
    }
}

impl From<AeTitle> for String {
    fn from(ae: AeTitle) -> String {
        ae.0
    }
}

impl TryFrom<String> for Uid {
    type Error = IdError;
    fn try_from(s: String) -> Result<Self, IdError> {
        Self::parse(&s)
    }
}

impl From<Uid> for String {
    fn from(uid: Uid) -> String {
        uid.0
    }
}

/// A checked UID reads as the text it is (for keys, paths and printing).
impl std::ops::Deref for Uid {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Uid {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// Whether `s` is a UID exactly as written, without the padding `Uid::parse` trims: the check for
/// values this node is about to encode.
pub fn is_uid(s: &str) -> bool {
    Uid::parse(s).is_ok_and(|u| u.as_str() == s)
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
        for good in ["1.2.840.10008.5.1.4.1.1.66.4", "2.25.0"] {
            assert!(Uid::parse(good).is_ok(), "{good:?} is a UID");
        }
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
