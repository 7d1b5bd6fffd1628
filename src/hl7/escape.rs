//! HL7 v2 escape sequences (v2.5 §2.7) decoded into plain text.
//!
//! Our own decoder rather than hl7-parser's `Separators::decode`: that one slices the value by
//! character index as if it were a byte index (wrong, and a panic, after any non-ASCII letter),
//! turns `\.br\` into `\r` and prints unknown sequences such as `\H\` as their letters.
use hl7_parser::message::Separators;

/// Decode the escape sequences of one field value:
/// `\F\ \S\ \T\ \R\ \E\` → the separators; `\.br\` and `\X0A\`/`\X0D\` → a line break;
/// `\.sp N\` → N line breaks; `\Xhh…\` → those bytes (UTF-8 when valid, else Latin-1);
/// highlighting (`\H\ \N\`), other formatting commands (`\.in\ \.ti\ \.sk\ \.ce\ \.fi\ \.nf\`)
/// and character-set switches (`\C…\ \M…\ \Z…\`) are dropped. An unterminated escape is kept
/// literally, so no input text is lost.
pub fn decode(value: &str, seps: &Separators) -> String {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(start) = rest.find(seps.escape) {
        out.push_str(&rest[..start]);
        let after = &rest[start + seps.escape.len_utf8()..];
        match after.find(seps.escape) {
            Some(end) => {
                decode_sequence(&after[..end], seps, &mut out);
                rest = &after[end + seps.escape.len_utf8()..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// One sequence between two escape characters.
fn decode_sequence(seq: &str, seps: &Separators, out: &mut String) {
    match seq {
        "F" => out.push(seps.field),
        "S" => out.push(seps.component),
        "T" => out.push(seps.subcomponent),
        "R" => out.push(seps.repetition),
        "E" => out.push(seps.escape),
        ".br" => out.push('\n'),
        _ if seq.starts_with(".sp") => {
            let n = seq[3..]
                .trim()
                .trim_start_matches('+')
                .parse::<usize>()
                .unwrap_or(1);
            // A bound: `\.sp999999\` must not allocate a megabyte of line breaks.
            out.extend(std::iter::repeat_n('\n', n.min(10)));
        }
        _ if seq.starts_with('X') => decode_hex(&seq[1..], out),
        _ => {} // highlighting, formatting and character-set commands carry no text.
    }
}

/// `\Xhhhh\`: hexadecimal bytes. CR and LF become line breaks.
fn decode_hex(hex: &str, out: &mut String) {
    if !hex.len().is_multiple_of(2) || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return;
    }
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .filter_map(|i| u8::from_str_radix(&hex[i..i + 2], 16).ok())
        .map(|b| if b == b'\r' { b'\n' } else { b })
        .collect();
    match std::str::from_utf8(&bytes) {
        Ok(s) => out.push_str(s),
        Err(_) => out.extend(bytes.iter().map(|&b| char::from(b))),
    }
}

/// Escape text for an outgoing field (our ACKs): separators and line breaks become sequences.
pub fn encode(value: &str, seps: &Separators) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        let code = match c {
            _ if c == seps.field => "F",
            _ if c == seps.component => "S",
            _ if c == seps.subcomponent => "T",
            _ if c == seps.repetition => "R",
            _ if c == seps.escape => "E",
            '\r' | '\n' => ".br",
            _ => {
                out.push(c);
                continue;
            }
        };
        out.push(seps.escape);
        out.push_str(code);
        out.push(seps.escape);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(s: &str) -> String {
        decode(s, &Separators::default())
    }

    #[test]
    fn separator_escapes() {
        // HL7 v2.5 §2.7.1 example: "Pierre DuRho\S\ne \T\ Cie" is "Pierre DuRho^ne & Cie".
        assert_eq!(d(r"Pierre DuRho\S\ne \T\ Cie"), "Pierre DuRho^ne & Cie");
        assert_eq!(d(r"a\F\b\R\c\E\d"), r"a|b~c\d");
    }

    #[test]
    fn line_breaks_and_formatting() {
        assert_eq!(
            d(r"FINDINGS:\.br\Liver normal."),
            "FINDINGS:\nLiver normal."
        );
        assert_eq!(d(r"a\.sp2\b"), "a\n\nb");
        assert_eq!(d(r"a\.sp\b"), "a\nb");
        assert_eq!(d(r"\H\IMPRESSION\N\: x"), "IMPRESSION: x");
        assert_eq!(d(r"a\.in+4\b"), "ab");
    }

    #[test]
    fn hex_bytes() {
        assert_eq!(d(r"a\X0D0A\b"), "a\n\nb");
        assert_eq!(d(r"caf\XC3A9\"), "café");
        assert_eq!(d(r"\XE9\"), "é"); // Latin-1 fallback
        assert_eq!(d(r"\XZZ\"), "");
    }

    #[test]
    fn non_ascii_text_around_escapes() {
        // hl7-parser 0.3's own decoder panics on this input (char vs byte index).
        assert_eq!(d(r"Läsion\T\Herd 4 cm"), "Läsion&Herd 4 cm");
    }

    #[test]
    fn unterminated_escape_is_kept() {
        assert_eq!(d(r"SUV 5\F"), r"SUV 5\F");
    }

    #[test]
    fn custom_separators() {
        let seps = Separators {
            field: '#',
            component: '!',
            subcomponent: '$',
            repetition: '@',
            escape: '/',
            lenient_newlines: false,
        };
        assert_eq!(decode("a/F/b/S/c/E/", &seps), "a#b!c/");
    }

    proptest! {
        #[test]
        fn encode_then_decode_is_identity(s in "[^\r\n]{0,80}") {
            let seps = Separators::default();
            prop_assert_eq!(decode(&encode(&s, &seps), &seps), s);
        }
    }
}
