//! Unit tests of `ack.rs`: codes per MSH-15 and the exact ACK text.
use super::*;
use crate::hl7::oru::parse_header_bytes;

fn header(msh: &str) -> MessageHeader {
    parse_header_bytes(msh.as_bytes()).expect("header")
}

const META: AckMeta<'static> = AckMeta {
    control_id: "PG1",
    timestamp: "20260127101501+0000",
};

#[test]
fn aa_swaps_sender_and_receiver_and_echoes_control_id() {
    let h = header(
        "MSH|^~\\&|RIS^1.2.3^ISO|HOSP|PETGROUND|NM|20260127||ORU^R01^ORU_R01|MSG\\F\\7|P|2.5",
    );
    let ack = build(Some(&h), AckCode::AA, None, META);
    assert_eq!(
        ack,
        "MSH|^~\\&|PETGROUND|NM|RIS^1.2.3^ISO|HOSP|20260127101501+0000||ACK^R01^ACK|PG1|P|2.5\r\
         MSA|AA|MSG\\F\\7\r"
    );
}

#[test]
fn ae_carries_reason_in_msa3_and_err() {
    let h = header("MSH|^~\\&|RIS|HOSP|PG|NM|20260127||ORU^R01|C9|T|2.3");
    let ack = build(
        Some(&h),
        AckCode::AE,
        Some((
            ErrorCode::SEGMENT_SEQUENCE,
            "required segment OBR is missing",
        )),
        META,
    );
    let segs: Vec<&str> = ack.trim_end_matches('\r').split('\r').collect();
    assert_eq!(
        segs[0],
        "MSH|^~\\&|PG|NM|RIS|HOSP|20260127101501+0000||ACK^R01^ACK|PG1|T|2.3"
    );
    assert_eq!(segs[1], "MSA|AE|C9|required segment OBR is missing");
    assert_eq!(
        segs[2],
        "ERR|||100^Segment sequence error^HL70357|E||||required segment OBR is missing"
    );
}

#[test]
fn reason_is_escaped_with_senders_separators() {
    let h = header("MSH#!@/$#RIS#H#PG#NM#20260127##ADT!A01#Z1#P#2.5");
    let ack = build(
        Some(&h),
        AckCode::AR,
        Some((ErrorCode::UNSUPPORTED_MESSAGE_TYPE, "type ADT!A01 # no")),
        META,
    );
    assert!(ack.starts_with("MSH#!@/$#PG#NM#RIS#H#"), "{ack}");
    assert!(ack.contains("ACK!A01!ACK#PG1#P#2.5\r"), "{ack}");
    assert!(ack.contains("MSA#AR#Z1#type ADT/S/A01 /F/ no\r"), "{ack}");
}

#[test]
fn broken_message_gets_empty_msa2() {
    let ack = build(
        None,
        AckCode::AE,
        Some((
            ErrorCode::DATA_TYPE,
            "message does not start with an MSH segment",
        )),
        META,
    );
    assert!(
        ack.starts_with("MSH|^~\\&|||||20260127101501+0000||ACK^R01^ACK|PG1|P|2.5\r"),
        "{ack}"
    );
    assert!(ack.contains("\rMSA|AE||message does not start"), "{ack}");
}

#[test]
fn original_mode_always_answers() {
    let h = header("MSH|^~\\&|RIS|HOSP|PG|NM|20260127||ORU^R01|C1|P|2.5||||AL");
    assert_eq!(h.application_ack, "AL");
    assert_eq!(response(Some(&h), Outcome::Accepted), Some(AckCode::AA));
    assert_eq!(response(Some(&h), Outcome::Error), Some(AckCode::AE));
    assert_eq!(response(None, Outcome::Rejected), Some(AckCode::AR));
}

#[test]
fn enhanced_mode_follows_msh15() {
    let with = |accept: &str| {
        header(&format!(
            "MSH|^~\\&|R|H|P|N|2026||ORU^R01|C1|P|2.5|||{accept}|NE"
        ))
    };
    let al = with("AL");
    assert_eq!(response(Some(&al), Outcome::Accepted), Some(AckCode::CA));
    assert_eq!(response(Some(&al), Outcome::Rejected), Some(AckCode::CR));
    let ne = with("NE");
    assert_eq!(response(Some(&ne), Outcome::Error), None);
    let er = with("ER");
    assert_eq!(response(Some(&er), Outcome::Accepted), None);
    assert_eq!(response(Some(&er), Outcome::Error), Some(AckCode::CE));
    let su = with("SU");
    assert_eq!(response(Some(&su), Outcome::Accepted), Some(AckCode::CA));
    assert_eq!(response(Some(&su), Outcome::Error), None);
}

#[test]
fn timestamp_is_utc_calendar_time() {
    // 1769509812 s after the epoch is 2026-01-27 10:30:12 UTC (checked with `date -u -d @1769509812`).
    let t = UNIX_EPOCH + std::time::Duration::from_secs(1_769_509_812);
    assert_eq!(hl7_timestamp(t), "20260127103012+0000");
    assert_eq!(hl7_timestamp(UNIX_EPOCH), "19700101000000+0000");
}
