//! A zero-copy view of an HL7 v2 message in ER7 (pipe) encoding: segments are the message's
//! lines, fields, repetitions and components are slices of them, found when asked for. Nothing
//! is built per field, so reading a message costs memory in proportion to what is kept (a
//! 4 MB ORU of 30,000 OBX segments once cost ~250 MB through a full parse tree; a message of
//! nothing but separators would have cost gigabytes).
//!
//! Values are raw (still escaped); `escape::decode` decodes them.

use hl7_parser::message::Separators;

use super::escape::decode;

/// Why a line is not a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotASegment;

/// One segment: its three-character name and its line.
#[derive(Debug, Clone, Copy)]
pub struct Segment<'m> {
    pub name: &'m str,
    line: &'m str,
    seps: Separators,
}

impl<'m> Segment<'m> {
    /// A segment line: three ASCII letters or digits, then the field separator (or nothing).
    pub fn parse(line: &'m str, seps: Separators) -> Result<Self, NotASegment> {
        let name = line.get(..3).ok_or(NotASegment)?;
        if !name.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(NotASegment);
        }
        match line[3..].chars().next() {
            None => {}
            Some(c) if c == seps.field => {}
            Some(_) => return Err(NotASegment),
        }
        Ok(Self { name, line, seps })
    }

    /// Field `n` (1-based, HL7 numbering) as sent, `None` when the segment is shorter. In MSH,
    /// MSH-1 is the field separator itself and MSH-2 the encoding characters.
    pub fn field(&self, n: usize) -> Option<&'m str> {
        if n == 0 {
            return None;
        }
        let mut pieces = self.line.split(self.seps.field);
        if self.name == "MSH" {
            if n == 1 {
                return self.line.get(3..3 + self.seps.field.len_utf8());
            }
            pieces.nth(n - 1)
        } else {
            pieces.nth(n)
        }
    }

    /// The repetitions of field `n`, in order (none when the field is absent).
    pub fn repetitions(&self, n: usize) -> impl Iterator<Item = &'m str> + use<'m> {
        let rep = self.seps.repetition;
        self.field(n).into_iter().flat_map(move |f| f.split(rep))
    }

    /// Component `c` (1-based) of the first repetition of field `n`, as sent.
    pub fn component(&self, n: usize, c: usize) -> Option<&'m str> {
        let first = self.repetitions(n).next()?;
        first.split(self.seps.component).nth(c.checked_sub(1)?)
    }
}

/// The separators of a message whose MSH-1/MSH-2 are `encoding` (validated by the caller:
/// five distinct characters).
pub fn separators(encoding: &str) -> Separators {
    let c: Vec<char> = encoding.chars().collect();
    match c[..] {
        [field, component, repetition, escape, subcomponent, ..] => Separators {
            field,
            component,
            subcomponent,
            repetition,
            escape,
            lenient_newlines: false,
        },
        _ => Separators::default(),
    }
}

/// The segments of a message whose lines are separated by `\r` (see `oru::normalise`), with
/// the 1-based number of the first line that is not a segment as the error.
pub fn segments(
    text: &str,
    seps: Separators,
) -> impl Iterator<Item = Result<Segment<'_>, usize>> + '_ {
    text.split('\r')
        .enumerate()
        .map(move |(i, line)| Segment::parse(line, seps).map_err(|_| i + 1))
}

/// A field's raw value, empty when absent.
pub(crate) fn raw_field<'m>(seg: &Segment<'m>, n: usize) -> &'m str {
    seg.field(n).unwrap_or_default()
}

/// A component of a field's first repetition, decoded and trimmed; `None` when empty or the
/// HL7 explicit null `""`.
pub(crate) fn component(
    seg: &Segment<'_>,
    n: usize,
    c: usize,
    seps: &Separators,
) -> Option<String> {
    let raw = seg.component(n, c)?;
    let value = decode(raw, seps).trim().to_owned();
    (!value.is_empty() && value != "\"\"").then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seps() -> Separators {
        separators("|^~\\&")
    }

    #[test]
    fn fields_components_and_repetitions_follow_hl7_numbering() {
        let msh =
            Segment::parse("MSH|^~\\&|RIS|HOSP|||20261203||ORU^R01|42|P|2.5", seps()).expect("MSH");
        assert_eq!(msh.field(1), Some("|"));
        assert_eq!(msh.field(2), Some("^~\\&"));
        assert_eq!(msh.field(3), Some("RIS"));
        assert_eq!(msh.component(9, 2), Some("R01"));
        assert_eq!(msh.field(10), Some("42"));
        assert_eq!(msh.field(13), None);
        let obx = Segment::parse("OBX|1|TX|^FINDINGS||line one~line two", seps()).expect("OBX");
        assert_eq!(obx.name, "OBX");
        assert_eq!(obx.component(3, 2), Some("FINDINGS"));
        assert_eq!(obx.component(3, 1), Some(""));
        assert_eq!(obx.component(3, 0), None);
        assert_eq!(
            obx.repetitions(5).collect::<Vec<_>>(),
            ["line one", "line two"]
        );
        assert_eq!(obx.repetitions(9).count(), 0);
    }

    #[test]
    fn a_line_that_is_not_a_segment_is_named_by_number() {
        let text = "MSH|^~\\&|A\rPID|1\rnot a segment\rOBR|1";
        let found: Vec<_> = segments(text, seps()).map(|s| s.map(|s| s.name)).collect();
        assert_eq!(found, [Ok("MSH"), Ok("PID"), Err(3), Ok("OBR")]);
        assert!(Segment::parse("PI", seps()).is_err());
        assert!(Segment::parse("PID", seps()).is_ok());
        assert!(Segment::parse("PIDX|1", seps()).is_err());
        assert!(Segment::parse("Ä|1", seps()).is_err());
    }
}
