//! Lexer for one sentence: words, numbers and single punctuation characters, each with its byte
//! span in the (whitespace-normalised) sentence so that the finding's `text` can cut out exactly
//! the matched numeric spans. Letters and digits always form separate tokens ("T12" is `t` + `12`
//! glued); `glued` records that no space came before, which is how "4R" (a nodal station) or
//! "7.2cm" are told apart from a free-standing value. One pass, linear time, no allocation but
//! the lower-cased word text.

/// What a token is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Kind {
    /// A run of alphabetic characters (lower-cased in `Token::lower`).
    Word,
    /// Digits with at most one decimal point: "7", "7.2", ".9".
    Number {
        value: f64,
        /// Digits before the decimal point (0 for ".9").
        int_digits: usize,
        /// Whether a decimal point was written.
        decimal: bool,
    },
    /// Any other non-space character.
    Punct(char),
}

/// One token and where it sits in the sentence.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub kind: Kind,
    /// Lower-cased text for words; empty for numbers and punctuation.
    pub lower: String,
    /// Byte span in the sentence.
    pub start: usize,
    pub end: usize,
    /// No white space between this token and the previous one.
    pub glued: bool,
}

impl Token {
    /// The word, if this is a word token.
    pub fn word(&self) -> Option<&str> {
        match self.kind {
            Kind::Word => Some(self.lower.as_str()),
            _ => None,
        }
    }

    /// Whether this token is the punctuation character `c`.
    pub fn is_punct(&self, c: char) -> bool {
        self.kind == Kind::Punct(c)
    }

    /// Whether this is a number token.
    pub fn is_number(&self) -> bool {
        matches!(self.kind, Kind::Number { .. })
    }
}

/// Whether the comma at byte `j` is a decimal comma: one or two digits follow it, then no
/// further digit (three would be a thousands group, "1,200 MBq").
fn decimal_comma(bytes: &[u8], j: usize) -> bool {
    let digits = bytes[j + 1..]
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .count();
    (1..=2).contains(&digits)
}

/// Splits a sentence into tokens.
pub(crate) fn lex(s: &str) -> Vec<Token> {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut chars = s.char_indices().peekable();
    let mut glued = false;
    while let Some((i, c)) = chars.next() {
        if c.is_whitespace() {
            glued = false;
            continue;
        }
        let starts_number = c.is_ascii_digit()
            || (c == '.'
                && bytes.get(i + 1).is_some_and(u8::is_ascii_digit)
                && !out
                    .last()
                    .is_some_and(|t: &Token| t.is_number() && t.end == i));
        if starts_number {
            let mut end = i + 1;
            let mut decimal = c == '.';
            let mut int_digits = usize::from(c != '.');
            while let Some(&(j, d)) = chars.peek() {
                let next_is_digit = bytes.get(j + 1).is_some_and(u8::is_ascii_digit);
                if d.is_ascii_digit() {
                    if !decimal {
                        int_digits += 1;
                    }
                } else if d == '.' && !decimal && next_is_digit {
                    decimal = true;
                } else if d == ',' && !decimal && c != '.' && decimal_comma(bytes, j) {
                    // "SUVmax 4,2" (European decimal comma); "1,200" stays a thousands group.
                    decimal = true;
                } else {
                    break;
                }
                end = j + 1;
                chars.next();
            }
            let text = s[i..end].replace(',', ".");
            let value = if text.starts_with('.') {
                format!("0{text}").parse().unwrap_or(0.0)
            } else {
                text.parse().unwrap_or(0.0)
            };
            let kind = Kind::Number {
                value,
                int_digits,
                decimal,
            };
            out.push(token(kind, String::new(), i, end, glued));
        } else if c.is_alphabetic() {
            let mut end = i + c.len_utf8();
            while let Some(&(j, d)) = chars.peek() {
                if !d.is_alphabetic() {
                    break;
                }
                end = j + d.len_utf8();
                chars.next();
            }
            out.push(token(Kind::Word, s[i..end].to_lowercase(), i, end, glued));
        } else {
            let end = i + c.len_utf8();
            out.push(token(Kind::Punct(c), String::new(), i, end, glued));
        }
        glued = true;
    }
    out
}

fn token(kind: Kind, lower: String, start: usize, end: usize, glued: bool) -> Token {
    Token {
        kind,
        lower,
        start,
        end,
        glued,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(s: &str) -> Vec<String> {
        lex(s)
            .iter()
            .map(|t| match t.kind {
                Kind::Word => t.lower.clone(),
                Kind::Number { value, .. } => format!("#{value}"),
                Kind::Punct(c) => c.to_string(),
            })
            .collect()
    }

    #[test]
    fn decimals_and_leading_dot() {
        assert_eq!(
            kinds("SUVmax 7.2, .9 and 7."),
            ["suvmax", "#7.2", ",", "#0.9", "and", "#7", "."]
        );
    }

    #[test]
    fn glued_letters_and_digits_split() {
        let t = lex("T12 4R SUVmax7.2");
        assert_eq!(t.len(), 6);
        assert!(t[1].glued && t[3].glued && t[5].glued);
        assert!(!t[2].glued);
        assert_eq!(
            kinds("T12 4R SUVmax7.2"),
            ["t", "#12", "#4", "r", "suvmax", "#7.2"]
        );
    }

    #[test]
    fn spans_are_byte_offsets() {
        let s = "Nœud SUV 7.2";
        let t = lex(s);
        assert_eq!(&s[t[2].start..t[2].end], "7.2");
    }

    #[test]
    fn version_like_numbers_do_not_merge() {
        assert_eq!(kinds("1.2.3"), ["#1.2", ".", "#3"]);
    }
}
