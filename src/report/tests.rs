//! Unit tests of the whole sentence-to-finding path; the corpus in tests/findings_corpus.rs
//! measures precision and recall, these pin individual rules.
use super::*;

/// (suv_max, slice) of every finding of a text.
fn pairs(s: &str) -> Vec<(Option<f64>, Option<u32>)> {
    findings_from_text(s).iter().map(|f| (f.suv_max, f.slice)).collect()
}

#[test]
fn contract_example() {
    let f = findings_from_text("Right hilar lymph node, SUVmax 7.2, image 145.");
    assert_eq!(f, vec![Finding {
        sentence: "Right hilar lymph node, SUVmax 7.2, image 145.".into(),
        suv_max: Some(7.2),
        slice: Some(145),
        text: "Right hilar lymph node, SUVmax , image .".into(),
    }]);
}
