//! A small, self-contained reader for the report text of an HL7 v2 ORU message: enough to turn
//! a message (framed in MLLP or not, segments separated by `\r`, `\n` or `\r\n`) into report
//! lines. It does not validate, acknowledge or match messages; that is the `hl7` listener's job.
//!
//! The report text is OBX-5 of every OBX whose value type (OBX-2) is TX, FT or ST, in order;
//! each OBX is one line and each repetition ("~") of OBX-5 is one line. HL7 escapes are decoded
//! with the delimiters that MSH declares: `\F\ \S\ \T\ \R\ \E\` give the delimiter back,
//! `\.br\` and `\.sp\` give a line break, `\Xhh..\` gives the bytes (UTF-8, lossy), and other
//! formatting escapes (`\H\ \N\ \.in\ \.ti\ \.ce\ \.fi\ \.nf\ \.sk\ ...`) are dropped.

/// Start of an MLLP block.
const MLLP_START: u8 = 0x0B;
/// End of an MLLP block (followed by 0x0D).
const MLLP_END: u8 = 0x1C;

/// Why an HL7 message gave no report text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Hl7TextError {
    /// MSH is too short to declare its delimiters.
    #[error("HL7 message has a malformed MSH segment (cannot read its delimiters)")]
    BadMsh,
    /// No TX, FT or ST OBX segment carries text.
    #[error("HL7 message has no OBX segment with TX, FT or ST text")]
    NoText,
}

/// The delimiters declared in MSH-1 and MSH-2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Delims {
    field: char,
    component: char,
    repetition: char,
    escape: char,
    subcomponent: char,
}

/// Strips MLLP framing bytes: the message is what lies between 0x0B and 0x1C when framed.
pub(crate) fn unframe(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|&b| b == MLLP_START)
        .map_or(0, |i| i + 1);
    let rest = &bytes[start..];
    let end = rest
        .iter()
        .position(|&b| b == MLLP_END)
        .unwrap_or(rest.len());
    &rest[..end]
}

/// Whether the (unframed, decoded) text is an HL7 v2 message: it starts with "MSH" and a
/// non-alphanumeric field separator.
pub(crate) fn looks_like_hl7(text: &str) -> bool {
    let t = text.trim_start_matches(|c: char| c.is_whitespace() || c == '\u{feff}');
    t.starts_with("MSH")
        && t[3..]
            .chars()
            .next()
            .is_some_and(|c| !c.is_alphanumeric() && !c.is_whitespace())
}

/// The report lines of an ORU message, one per OBX (and per repetition).
pub fn report_lines(text: &str) -> Result<Vec<String>, Hl7TextError> {
    let t = text.trim_start_matches(|c: char| c.is_whitespace() || c == '\u{feff}');
    let d = delimiters(t).ok_or(Hl7TextError::BadMsh)?;
    let mut lines = Vec::new();
    let mut any_text_obx = false;
    for seg in t.split(['\r', '\n']) {
        let mut fields = seg.split(d.field);
        if fields.next() != Some("OBX") {
            continue;
        }
        let fields: Vec<&str> = fields.collect();
        // fields[0] is OBX-1, fields[1] OBX-2 (value type), fields[4] OBX-5.
        let vtype = fields
            .get(1)
            .map(|v| v.split(d.component).next().unwrap_or("").trim());
        if !matches!(vtype, Some(v) if v.eq_ignore_ascii_case("TX") || v.eq_ignore_ascii_case("FT") || v.eq_ignore_ascii_case("ST"))
        {
            continue;
        }
        // The Study Instance UID OBX (CONTRACT §3) is an identifier, not report text.
        let ident = fields
            .get(2)
            .map(|v| v.split(d.component).next().unwrap_or("").trim());
        if ident == Some("113014") {
            continue;
        }
        any_text_obx = true;
        let value = fields.get(4).copied().unwrap_or("");
        for rep in value.split(d.repetition) {
            lines.push(unescape(rep, &d));
        }
    }
    if any_text_obx {
        Ok(lines)
    } else {
        Err(Hl7TextError::NoText)
    }
}

/// Reads MSH-1 (field separator) and MSH-2 (encoding characters, defaults where short).
fn delimiters(t: &str) -> Option<Delims> {
    let mut chars = t.strip_prefix("MSH")?.chars();
    let field = chars.next()?;
    if field.is_alphanumeric() || field.is_whitespace() {
        return None;
    }
    let enc: Vec<char> = chars
        .take_while(|&c| c != field && c != '\r' && c != '\n')
        .take(4)
        .collect();
    if enc.len() < 2 {
        return None;
    }
    Some(Delims {
        field,
        component: enc[0],
        repetition: enc[1],
        escape: enc.get(2).copied().unwrap_or('\\'),
        subcomponent: enc.get(3).copied().unwrap_or('&'),
    })
}

/// Decodes HL7 escape sequences in one field value.
fn unescape(v: &str, d: &Delims) -> String {
    let mut out = String::with_capacity(v.len());
    let mut rest = v;
    while let Some(pos) = rest.find(d.escape) {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + d.escape.len_utf8()..];
        let Some(close) = after.find(d.escape) else {
            // Unterminated: keep the rest as written.
            out.push_str(&rest[pos..]);
            return out;
        };
        let code = &after[..close];
        match code {
            "F" => out.push(d.field),
            "S" => out.push(d.component),
            "T" => out.push(d.subcomponent),
            "R" => out.push(d.repetition),
            "E" => out.push(d.escape),
            ".br" => out.push('\n'),
            c if c.starts_with(".sp") => out.push('\n'),
            c if c.starts_with('X') && c.len() > 1 => out.push_str(&hex_text(&c[1..])),
            _ => {}
        }
        rest = &after[close + d.escape.len_utf8()..];
    }
    out.push_str(rest);
    out
}

/// `\Xhhhh\`: hexadecimal bytes, decoded as UTF-8 (lossy).
fn hex_text(hex: &str) -> String {
    let bytes: Vec<u8> = hex
        .as_bytes()
        .chunks(2)
        .filter_map(|p| {
            std::str::from_utf8(p)
                .ok()
                .and_then(|s| u8::from_str_radix(s, 16).ok())
        })
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORU: &str = "MSH|^~\\&|RIS|HOSP|PETGROUND|NM|202401021200||ORU^R01|MSG1|P|2.5\r\
        PID|1||123^^^HOSP||DOE^JANE\r\
        OBR|1||ACC1|PET^PETCT\r\
        OBX|1|ST|113014^Study Instance UID^DCM||1.2.3.4||||||F\r\
        OBX|2|TX|FIND^Findings||Right hilar node, SUVmax 7.2, image 145.~Liver normal.||||||F\r\
        OBX|3|NM|SUV||7.2||||||F\r\
        OBX|4|FT|IMP^Impression||A \\T\\ B \\F\\ C \\S\\ D\\.br\\E \\E\\ end||||||F\r";

    #[test]
    fn reads_text_obx_in_order_with_escapes() {
        let lines = report_lines(ORU).expect("valid ORU");
        assert_eq!(
            lines,
            vec![
                "Right hilar node, SUVmax 7.2, image 145.".to_string(),
                "Liver normal.".to_string(),
                "A & B | C ^ D\nE \\ end".to_string(),
            ]
        );
    }

    #[test]
    fn newline_separators_and_mllp_framing() {
        let framed = format!("\x0b{}\x1c\r", ORU.replace('\r', "\n"));
        let inner = std::str::from_utf8(unframe(framed.as_bytes())).expect("utf8");
        assert!(looks_like_hl7(inner));
        assert_eq!(report_lines(inner).expect("valid").len(), 3);
    }

    #[test]
    fn custom_delimiters_are_honoured() {
        let m = "MSH#$*!@#x\rOBX#1#TX#F##one!F!two*three\r";
        assert_eq!(
            report_lines(m).expect("valid"),
            vec!["one#two".to_string(), "three".to_string()]
        );
    }

    #[test]
    fn errors_are_clear() {
        assert_eq!(report_lines("MSH|"), Err(Hl7TextError::BadMsh));
        assert_eq!(
            report_lines("MSH|^~\\&|A\rPID|1"),
            Err(Hl7TextError::NoText)
        );
        assert!(!looks_like_hl7("Right hilar node"));
        assert!(!looks_like_hl7("MSHA"));
    }

    #[test]
    fn hex_and_unterminated_escapes() {
        let d = delimiters("MSH|^~\\&").expect("delims");
        assert_eq!(unescape("caf\\XC3A9\\ ok", &d), "café ok");
        assert_eq!(unescape("a \\F b", &d), "a \\F b");
    }
}
