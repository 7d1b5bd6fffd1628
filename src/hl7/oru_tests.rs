//! Unit tests of ORU^R01 parsing (`oru.rs`, `oru_text.rs`). Messages are hand-written in the
//! shape PET/CT reports take from a RIS (one OBX per line, sections in OBX-3).
use proptest::prelude::*;

use super::oru::{OruError, ReportStatus, parse, parse_text};

const MSH: &str = "MSH|^~\\&|RIS|HOSP|PETGROUND|NM|20260127101500||ORU^R01^ORU_R01|MSG0001|P|2.5";

fn msg(segments: &[&str]) -> Vec<u8> {
    segments.join("\r").into_bytes()
}

fn report_segments() -> Vec<&'static str> {
    vec![
        MSH,
        "PID|1||PAT123^^^HOSP^MR~999^^^NAT||DOE^JANE||19600101|F",
        "ORC|RE||ORC77^RIS",
        "OBR|1||FILL42^RIS|PETCT^PET/CT whole body|||20260127083000|||||||||||ACC123|PL2|||||||F",
        "OBX|1|UI|113014^Study Instance UID^DCM||1.2.826.0.1.3680043.8.498.12345||||||F",
        "OBX|2|TX|121070^Findings^DCM||Right hilar lymph node, SUVmax 7.2, image 145.~Liver SUVmean 2.1.||||||F",
        "OBX|3|TX|121073^Impression^DCM||IMPRESSION: Hilar node suspicious\\T\\ FDG avid.||||||F",
    ]
}

#[test]
fn parses_identifiers_status_and_text() {
    let raw = msg(&report_segments());
    let r = parse(&raw).expect("valid report");
    assert_eq!(r.header.control_id, "MSG0001");
    assert_eq!(r.header.message_type, "ORU^R01^ORU_R01");
    assert_eq!(r.header.version, "2.5");
    assert_eq!(r.header.sending_application, "RIS");
    assert_eq!(r.patient_id.as_deref(), Some("PAT123"));
    assert_eq!(r.order.obr18.as_deref(), Some("ACC123"));
    assert_eq!(r.order.obr19.as_deref(), Some("PL2"));
    assert_eq!(r.order.obr3.as_deref(), Some("FILL42"));
    assert_eq!(r.order.orc3.as_deref(), Some("ORC77"));
    assert_eq!(r.accession.as_deref(), Some("ACC123"));
    assert_eq!(
        r.study_uid.as_deref(),
        Some("1.2.826.0.1.3680043.8.498.12345")
    );
    assert_eq!(r.status, ReportStatus::Final);
    assert_eq!(r.observation_datetime.as_deref(), Some("20260127083000"));
    assert_eq!(r.observation_date(), Some("20260127"));
    assert_eq!(
        r.text,
        "FINDINGS:\nRight hilar lymph node, SUVmax 7.2, image 145.\nLiver SUVmean 2.1.\n\
         IMPRESSION: Hilar node suspicious& FDG avid."
    );
    assert_eq!(r.raw, raw);
}

#[test]
fn accession_falls_back_to_obr3_then_orc3() {
    let mut segs = report_segments();
    segs[3] = "OBR|1||FILL42^RIS|PETCT|||20260127||||||||||||||||||P";
    let r = parse(&msg(&segs)).expect("valid");
    assert_eq!(r.accession.as_deref(), Some("FILL42"));
    assert_eq!(r.status, ReportStatus::Preliminary);
    segs[3] = "OBR|1|||PETCT|||20260127||||||||||||||||||C";
    let r = parse(&msg(&segs)).expect("valid");
    assert_eq!(r.accession.as_deref(), Some("ORC77"));
    assert_eq!(r.status, ReportStatus::Corrected);
}

#[test]
fn escapes_and_formatted_text_are_decoded() {
    let mut segs = report_segments();
    segs[5] = "OBX|2|FT|GDT^Report||FINDINGS:\\.br\\A\\F\\B \\S\\ C \\T\\ D \\E\\ E \\R\\ F||||||F";
    let r = parse(&msg(&segs)).expect("valid");
    assert!(
        r.text.starts_with("FINDINGS:\nA|B ^ C & D \\ E ~ F\n"),
        "{:?}",
        r.text
    );
}

#[test]
fn newline_separated_segments_and_blank_lines() {
    let text = report_segments().join("\r\n") + "\r\n\r\n";
    let r = parse(text.as_bytes()).expect("valid");
    assert_eq!(r.accession.as_deref(), Some("ACC123"));
}

#[test]
fn latin1_bytes_are_accepted() {
    let mut raw = msg(&report_segments());
    raw.extend(b"\rOBX|4|TX|GDT^Text||L\xe4sion||||||F");
    let r = parse(&raw).expect("valid");
    assert!(r.text.ends_with("Läsion"), "{:?}", r.text);
}

#[test]
fn status_falls_back_to_obx11() {
    let mut segs = report_segments();
    segs[3] = "OBR|1||FILL42|PETCT|||20260127|||||||||||ACC123";
    assert_eq!(
        parse(&msg(&segs)).expect("valid").status,
        ReportStatus::Final
    );
}

fn error_of(segs: &[&str]) -> OruError {
    parse(&msg(segs)).expect_err("must fail").error
}

#[test]
fn missing_obr_is_an_error_with_header() {
    let segs: Vec<&str> = report_segments()
        .into_iter()
        .filter(|s| !s.starts_with("OBR"))
        .collect();
    let rejected = parse(&msg(&segs)).expect_err("no OBR");
    assert_eq!(rejected.error, OruError::MissingSegment("OBR"));
    assert_eq!(
        rejected.header.map(|h| h.control_id),
        Some("MSG0001".to_owned())
    );
}

#[test]
fn non_oru_is_a_rejection() {
    let e = error_of(&[
        "MSH|^~\\&|ADT|H|PG|NM|20260127||ADT^A01|X1|P|2.5",
        "PID|1||P1",
    ]);
    assert!(e.is_rejection());
    assert_eq!(e.error_code().code, 200);
    let e = error_of(&["MSH|^~\\&|ADT|H|PG|NM|20260127||ORU^R30|X1|P|2.5"]);
    assert_eq!(e.error_code().code, 201);
}

#[test]
fn required_fields() {
    let mut segs = report_segments();
    segs[0] = "MSH|^~\\&|RIS|HOSP|PG|NM|20260127||ORU^R01|||2.5";
    assert_eq!(error_of(&segs), OruError::MissingField("MSH-10"));
    let mut segs = report_segments();
    segs[3] = "OBR|1||FILL42|PETCT|||20260127|||||||||||ACC123|||||||R";
    assert!(matches!(
        error_of(&segs),
        OruError::UnsupportedStatus { .. }
    ));
    let mut segs = report_segments();
    segs[4] = "OBX|1|UI|113014^Study Instance UID^DCM||1.2.abc||||||F";
    assert_eq!(error_of(&segs), OruError::BadStudyUid);
    let segs = [
        MSH,
        "OBR|1|||PETCT|||20260127||||||||||||||||||F",
        "OBX|1|TX|GDT||text||||||F",
    ];
    assert_eq!(error_of(&segs), OruError::NoIdentifier);
    let segs = [
        MSH,
        "PID|1||P1",
        "OBR|1||A1|PETCT|||20260127||||||||||||||||||F",
    ];
    assert_eq!(error_of(&segs), OruError::NoText);
}

#[test]
fn broken_input() {
    assert_eq!(parse(b"").expect_err("empty").error, OruError::Empty);
    assert_eq!(
        parse(b"hello world").expect_err("no MSH").error,
        OruError::NoMsh
    );
    assert_eq!(
        parse(b"MSH|^^^^|x").expect_err("enc").error,
        OruError::BadEncodingCharacters
    );
    let e = parse(&msg(&[MSH, "PID|1||P1", "not a segment", "OBR|1"])).expect_err("syntax");
    assert_eq!(e.error, OruError::Syntax { segment: 3 });
    assert!(e.header.is_some());
}

#[test]
fn study_uid_by_text_name() {
    let mut segs = report_segments();
    segs[4] = "OBX|1|ST|SUID^Study Instance UID||1.2.3.4||||||F";
    assert_eq!(
        parse(&msg(&segs)).expect("valid").study_uid.as_deref(),
        Some("1.2.3.4")
    );
}

#[test]
fn custom_encoding_characters() {
    let segs = [
        "MSH#!@/$#RIS#H#PG#NM#20260127##ORU!R01#C1#P#2.5",
        "PID#1##P9",
        "OBR#1##F1#PETCT###20260127##################F",
        "OBX#1#TX#GDT##a/F/b@second line######F",
    ];
    let r = parse(&msg(&segs)).expect("valid");
    assert_eq!(r.accession.as_deref(), Some("F1"));
    assert_eq!(r.text, "a#b\nsecond line");
}

#[test]
fn v27_truncation_character_is_ignored() {
    let mut segs = report_segments();
    segs[0] = "MSH|^~\\&#|RIS|HOSP|PG|NM|20260127||ORU^R01|T27|P|2.7";
    let r = parse(&msg(&segs)).expect("valid");
    assert_eq!(r.header.sending_application, "RIS");
    assert_eq!(r.header.control_id, "T27");
    assert_eq!(r.header.encoding_characters, "|^~\\&");
}

#[test]
fn text_only_parse_accepts_framed_files_without_identifiers() {
    let file =
        format!("\x0b{MSH}\nOBR|1\nOBX|1|TX|121073^Impression^DCM||Node\\T\\ liver\n\x1c\x0d\n");
    assert_eq!(
        parse_text(file.as_bytes()).expect("text"),
        "IMPRESSION:\nNode& liver"
    );
    assert_eq!(parse_text(b"plain text"), Err(OruError::NoMsh));
}

#[test]
fn cancelled_report_needs_no_text() {
    let segs = [
        MSH,
        "PID|1||P1",
        "OBR|1||A1|PETCT|||20260127||||||||||||||||||X",
    ];
    assert_eq!(
        parse(&msg(&segs)).expect("valid").status,
        ReportStatus::Cancelled
    );
}

proptest! {
    /// No input makes the parser panic (hl7-parser is not trusted with outside data blindly).
    #[test]
    fn never_panics(body in "[A-Z0-9|^~&\\\\\r\n .é]{0,300}") {
        let _ = parse(format!("MSH|^~\\&|{body}").as_bytes());
        let _ = parse(body.as_bytes());
    }

    #[test]
    fn never_panics_on_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let mut raw = b"MSH|^~\\&|R|H|P|N|2026||ORU^R01|C1|P|2.5\r".to_vec();
        raw.extend(bytes);
        let _ = parse(&raw);
    }

    #[test]
    fn never_panics_on_segments(
        segs in proptest::collection::vec(
            ("(PID|ORC|OBR|OBX)", "[A-Za-z0-9|^~&\\\\ .é\u{1F600}]{0,60}"), 0..8)
    ) {
        let mut text = MSH.to_owned();
        for (name, body) in segs {
            text.push('\r');
            text.push_str(&name);
            text.push('|');
            text.push_str(&body);
        }
        let _ = parse(text.as_bytes());
    }
}
