//! Unit tests of the whole sentence-to-finding path; the corpus in tests/findings_corpus.rs
//! measures precision and recall, these pin individual rules.
use super::*;

/// (suv_max, slice) of every finding of a text.
fn pairs(s: &str) -> Vec<(Option<f64>, Option<u32>)> {
    findings_from_text(s)
        .iter()
        .map(|f| (f.suv_max, f.slice))
        .collect()
}

#[test]
fn contract_example() {
    let f = findings_from_text("Right hilar lymph node, SUVmax 7.2, image 145.");
    assert_eq!(
        f,
        vec![Finding {
            sentence: "Right hilar lymph node, SUVmax 7.2, image 145.".into(),
            suv_max: Some(7.2),
            slice: Some(145),
            text: "Right hilar lymph node, SUVmax , image .".into(),
            section: Section::Findings,
        }]
    );
}

#[test]
fn several_lesions_cut_only_their_own_numbers() {
    let f = findings_from_text(
        "Right hilar node (SUVmax 7.2, image 145) and left axillary node (SUVmax 4.1, image 98).",
    );
    assert_eq!(f.len(), 2);
    assert_eq!(
        f[0].text,
        "Right hilar node (SUVmax , image ) and left axillary node (SUVmax 4.1, image 98)."
    );
    assert_eq!(
        f[1].text,
        "Right hilar node (SUVmax 7.2, image 145) and left axillary node (SUVmax , image )."
    );
    assert_eq!(f[0].sentence, f[1].sentence);
}

#[test]
fn only_the_matched_span_is_cut_not_equal_substrings() {
    // "145" appears twice; only the image number is cut.
    let f = findings_from_text("Node 145 mm away, SUVmax 7.2, image 145.");
    assert_eq!(f[0].text, "Node 145 mm away, SUVmax , image .");
}

#[test]
fn suv_phrasings() {
    for (s, v) in [
        ("Node SUVmax 7.2.", 7.2),
        ("Node SUV max 7.2.", 7.2),
        ("Node SUV max of 7.2.", 7.2),
        ("Node SUVmax: 7.2.", 7.2),
        ("Node SUV max = 7.2.", 7.2),
        ("Node max SUV 7.2.", 7.2),
        ("Node maximum SUV of 7.2.", 7.2),
        ("Node SUV 7.2.", 7.2),
        ("Node (SUV 7.2).", 7.2),
        ("Node SUVmax 7.2 g/mL.", 7.2),
        ("Node SUVbw 7.2.", 7.2),
        ("Node SUV (max) 7.", 7.0),
        ("Node SUVmax .9.", 0.9),
        ("Node SUVmax of up to 7.2.", 7.2),
        ("Node SUVmax 4.1-7.2.", 7.2),
    ] {
        assert_eq!(pairs(s), vec![(Some(v), None)], "{s}");
    }
}

#[test]
fn slice_phrasings() {
    for s in [
        "Avid node, image 145.",
        "Avid node, slice 145.",
        "Avid node, axial image 145.",
        "Avid node, im 145.",
        "Avid node, img 145.",
        "Avid node (series 4, image 145).",
        "Avid node, image 145 of 300.",
        "Avid node, image 145/300.",
        "Avid node on image 145.",
        "Avid node, image no. 145.",
        "Avid node, series/image 4/145.",
    ] {
        assert_eq!(pairs(s), vec![(None, Some(145))], "{s}");
    }
}

#[test]
fn prior_values_are_never_the_finding_value() {
    for s in [
        "Node SUVmax 7.2 (previously 4.1).",
        "Node SUVmax 7.2, was 5.0.",
        "Node SUVmax 7.2 compared to 6.3 on the prior.",
        "Node SUVmax decreased to 7.2 from 8.2.",
        "Node SUVmax increased from 4.1 to 7.2.",
        "Node previously SUVmax 4.1, now 7.2.",
        "Node SUVmax 7.2 versus 5.0 at baseline.",
    ] {
        assert_eq!(pairs(s), vec![(Some(7.2), None)], "{s}");
    }
    assert!(pairs("Node SUVmax 5.0 on the prior study.").is_empty());
}

#[test]
fn reference_uptake_gives_nothing() {
    for s in [
        "Physiologic uptake in the liver (SUVmax 2.8).",
        "Mediastinal blood pool SUVmax 1.9.",
        "Liver SUVmax 2.6.",
        "Background liver activity, SUVmax 2.2.",
        "SUVmax of 2.1 in the mediastinal blood pool.",
        "Physiologic bowel activity, SUVmax 6.0.",
    ] {
        assert!(pairs(s).is_empty(), "{s}");
    }
    // A lesion in a reference organ is a lesion.
    assert_eq!(
        pairs("Hypermetabolic focus in the liver (SUVmax 9.1)."),
        vec![(Some(9.1), None)]
    );
}

#[test]
fn sizes_dates_stations_and_counts_are_not_values() {
    assert!(
        pairs("Node measuring 1.5 cm on 01/02/2023 at station 4R, 3 nodes in total.").is_empty()
    );
    assert_eq!(
        pairs("T12 lesion, SUVmax 4.9, image 188."),
        vec![(Some(4.9), Some(188))]
    );
    assert!(pairs("SUVmean 3.1 and SUVpeak 4.0 in the node.").is_empty());
}

/// The decision documented on the module: an image number alone is a finding only with an
/// uptake word and no negation or reference.
#[test]
fn slice_only_findings() {
    assert_eq!(
        pairs("Left axillary node, image 98, is hypermetabolic."),
        vec![(None, Some(98))]
    );
    assert_eq!(
        pairs("PSMA-positive right iliac node (image 230)."),
        vec![(None, Some(230))]
    );
    assert!(pairs("A 5 mm nodule on image 88.").is_empty());
    assert!(pairs("Non-avid nodule on image 88.").is_empty());
    assert!(pairs("Node on image 88 without significant uptake.").is_empty());
    assert!(pairs("Physiologic activity in the ureter on image 235.").is_empty());
    assert!(pairs("Node on image 150, previously SUVmax 5.0, has resolved.").is_empty());
}

#[test]
fn negated_uptake_with_a_value_gives_nothing() {
    assert!(pairs("Subcentimetre node without significant uptake (SUVmax 1.8).").is_empty());
    // "No significant change" is not a negation of uptake.
    assert_eq!(
        pairs("No significant change in the hilar node, SUVmax 7.2."),
        vec![(Some(7.2), None)]
    );
}

#[test]
fn respectively_lists_zip() {
    assert_eq!(
        pairs("Hilar nodes, SUVmax 3.4 and 3.1 (images 140 and 142, respectively)."),
        vec![(Some(3.4), Some(140)), (Some(3.1), Some(142))]
    );
}

#[test]
fn hl7_input_and_plain_input_agree() {
    let text = "FINDINGS: Right hilar lymph node, SUVmax 7.2, image 145.";
    let oru = format!("MSH|^~\\&|A|B|C|D|1||ORU^R01|1|P|2.5\rOBX|1|TX|F||{text}||||||F\r");
    assert_eq!(
        findings_from_input(oru.as_bytes()).expect("valid ORU"),
        findings_from_text(text)
    );
    assert_eq!(
        findings_from_input(text.as_bytes()).expect("plain text"),
        findings_from_text(text)
    );
}

#[test]
fn human_readable_lines() {
    let f = findings_from_text("Avid node, image 98. Node SUVmax 7.2.");
    let mut out = Vec::new();
    write_findings_text(&f, &mut out).expect("write to Vec");
    assert_eq!(
        String::from_utf8(out).expect("utf8"),
        "-\t98\tAvid node, image 98.\n7.2\t-\tNode SUVmax 7.2.\n"
    );
}

#[test]
fn carriage_returns_are_line_breaks() {
    let crlf =
        "HISTORY: SUVmax 9.0 before.\r\nFINDINGS:\r\nNode SUVmax 7.2\r\nLeft node SUVmax 4.1";
    assert_eq!(pairs(crlf), vec![(Some(7.2), None), (Some(4.1), None)]);
    assert_eq!(pairs(&crlf.replace("\r\n", "\r")), pairs(crlf));
}

#[test]
fn physiologic_after_the_value() {
    assert!(pairs("Coeliac ganglion uptake, SUVmax 3.1, is physiological.").is_empty());
    assert_eq!(
        pairs("Focus in the sigmoid colon, SUVmax 12.4, likely physiologic."),
        vec![(Some(12.4), None)]
    );
}
