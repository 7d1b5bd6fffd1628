//! Peer-supplied text fit for the log: printable characters only, at most [`LOG_TEXT_MAX`]
//! characters. Every value a peer chose (AE titles, control IDs, accession numbers, UIDs, error
//! texts that quote its bytes) goes through [`capped`] before it is logged, so that a hostile
//! peer cannot write megabytes per log line or control characters into it.

/// Longest peer-supplied text written to the log (characters).
pub const LOG_TEXT_MAX: usize = 200;

/// `s` with control characters replaced by spaces, cut at [`LOG_TEXT_MAX`] characters ("..."
/// marks a cut).
pub fn capped(s: &str) -> String {
    let mut out: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(LOG_TEXT_MAX)
        .collect();
    if s.chars().nth(LOG_TEXT_MAX).is_some() {
        out.push_str("...");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_text_in_logs_is_capped_and_printable() {
        let long = "A".repeat(5000) + "\n\u{0}";
        let c = capped(&long);
        assert_eq!(c.chars().count(), LOG_TEXT_MAX + 3);
        assert!(!c.chars().any(char::is_control));
        assert_eq!(capped("ACC\r1"), "ACC 1");
    }
}
