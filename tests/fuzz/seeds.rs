//! Seeds of `tests/fuzz.rs`, from the repository: the vendor PET files of `tests/fixtures/pet`
//! (whole, and their data sets alone), the report corpus of `tests/reports` (as plain text, as
//! ORU^R01 messages and MLLP streams), `conf/petground.toml`, PDUs built with dicom-ul, and kept
//! inputs under `tests/fuzz/<target>/`.
use std::path::{Path, PathBuf};

use dicom_ul::pdu::{self, Pdu};
use petground::dicom::dimse::{Request, Response};
use petground::hl7::mllp;

use crate::{EXPLICIT_VR_LE, IMPLICIT_VR_LE, PET_STORAGE};

pub fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// Files below `dir` whose name ends with `ext`, sorted (so that runs are reproducible).
pub fn files(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut out = crate::common::files_below(dir);
    out.retain(|p| p.to_string_lossy().ends_with(ext));
    out
}

pub fn read(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("seed {}: {e}", p.display()))
}

/// Kept reproducers of a target (`tests/fuzz/<target>/`), replayed as seeds.
fn kept(target: &str) -> Vec<Vec<u8>> {
    files(&repo("tests/fuzz").join(target), "")
        .iter()
        .map(|p| read(p))
        .collect()
}

fn pdu_bytes(pdu: &Pdu) -> Vec<u8> {
    let mut out = Vec::new();
    pdu::write_pdu(&mut out, pdu).expect("seed PDUs are valid");
    out
}

pub fn pdu_seeds() -> Vec<Vec<u8>> {
    use dicom_ul::pdu::*;
    let rq = AssociationRQ {
        protocol_version: 1,
        calling_ae_title: "STORESCU".into(),
        called_ae_title: "PETGROUND".into(),
        application_context_name: "1.2.840.10008.3.1.1.1".into(),
        presentation_contexts: vec![
            PresentationContextProposed {
                id: 1,
                abstract_syntax: "1.2.840.10008.1.1".into(),
                transfer_syntaxes: vec![EXPLICIT_VR_LE.into(), IMPLICIT_VR_LE.into()],
            },
            PresentationContextProposed {
                id: 3,
                abstract_syntax: PET_STORAGE.into(),
                transfer_syntaxes: vec![IMPLICIT_VR_LE.into()],
            },
        ],
        user_variables: vec![
            UserVariableItem::MaxLength(16384),
            UserVariableItem::ImplementationClassUID("1.2.3.4".into()),
            UserVariableItem::ImplementationVersionName("FUZZ_1".into()),
            UserVariableItem::ScuScpRoleSelectionSubItem(
                PET_STORAGE.into(),
                RequestorRoles {
                    scu: true,
                    scp: false,
                },
            ),
            UserVariableItem::SopClassExtendedNegotiationSubItem(PET_STORAGE.into(), vec![1, 0]),
            UserVariableItem::UserIdentityItem(UserIdentity::new(
                true,
                UserIdentityType::UsernamePassword,
                b"user".to_vec(),
                b"secret".to_vec(),
            )),
        ],
    };
    let ac = AssociationAC {
        protocol_version: 1,
        calling_ae_title: "STORESCU".into(),
        called_ae_title: "PETGROUND".into(),
        application_context_name: "1.2.840.10008.3.1.1.1".into(),
        presentation_contexts: vec![PresentationContextResult {
            id: 1,
            reason: PresentationContextResultReason::Acceptance,
            transfer_syntax: EXPLICIT_VR_LE.into(),
        }],
        user_variables: vec![UserVariableItem::MaxLength(1 << 20)],
    };
    let echo = Request::Echo {
        message_id: 1,
        sop_class_uid: "1.2.840.10008.1.1".into(),
    };
    let store = Request::Store {
        message_id: 7,
        sop_class_uid: PET_STORAGE.into(),
        sop_instance_uid: "1.2.826.0.1.3680043.10.1434.77".into(),
        has_dataset: true,
    };
    let pdv = |pc, value_type, is_last, data| PDataValue {
        presentation_context_id: pc,
        value_type,
        is_last,
        data,
    };
    let p_echo = Pdu::PData {
        data: vec![pdv(1, PDataValueType::Command, true, echo.encode())],
    };
    let command = store.encode();
    let (first, rest) = command.split_at(command.len() / 2);
    let p_store = Pdu::PData {
        data: vec![
            pdv(3, PDataValueType::Command, false, first.to_vec()),
            pdv(3, PDataValueType::Command, true, rest.to_vec()),
            pdv(
                3,
                PDataValueType::Data,
                true,
                vec![0x08, 0, 0x60, 0, 2, 0, 0, 0, b'P', b'T'],
            ),
        ],
    };
    let rj = Pdu::AssociationRJ(AssociationRJ {
        result: AssociationRJResult::Transient,
        source: AssociationRJSource::ServiceUser(AssociationRJServiceUserReason::NoReasonGiven),
    });
    let abort = Pdu::AbortRQ {
        source: AbortRQSource::ServiceProvider(AbortRQServiceProviderReason::UnexpectedPdu),
    };
    let mut seeds: Vec<Vec<u8>> = [Pdu::AssociationRQ(rq), Pdu::AssociationAC(ac), rj, abort]
        .iter()
        .chain([&p_echo, &p_store, &Pdu::ReleaseRQ, &Pdu::ReleaseRP])
        .map(pdu_bytes)
        .collect();
    // An association's worth of PDUs back to back, and bare command sets.
    seeds.push([&p_echo, &p_store, &Pdu::ReleaseRQ].map(pdu_bytes).concat());
    seeds.push(echo.encode());
    seeds.push(command);
    seeds.push(
        Response::store(7, PET_STORAGE, "1.2.3", 0xA900)
            .with_comment("no")
            .encode(),
    );
    seeds.extend(kept("pdu"));
    seeds
}

/// Where the data set of a Part 10 file starts, and its transfer syntax, read by walking the
/// explicit-VR group 0002 elements after the preamble.
pub fn file_meta(d: &[u8]) -> Option<(usize, String)> {
    if d.get(128..132) != Some(b"DICM".as_slice()) {
        return None;
    }
    let (mut pos, mut ts) = (132, String::new());
    while let Some(h) = d.get(pos..pos + 8) {
        if u16::from_le_bytes([h[0], h[1]]) != 0x0002 {
            break;
        }
        let long = matches!(
            &h[4..6],
            b"OB" | b"OW" | b"UN" | b"SQ" | b"UT" | b"UC" | b"UR"
        );
        let (head, len) = match (long, d.get(pos + 8..pos + 12)) {
            (false, _) => (8, usize::from(u16::from_le_bytes([h[6], h[7]]))),
            (true, Some(l)) => (12, u32::from_le_bytes([l[0], l[1], l[2], l[3]]) as usize),
            (true, None) => return None,
        };
        let value = d.get(pos + head..(pos + head).checked_add(len)?)?;
        if u16::from_le_bytes([h[2], h[3]]) == 0x0010 {
            ts = String::from_utf8_lossy(value)
                .trim_end_matches(['\0', ' '])
                .to_owned();
        }
        pos += head + len;
    }
    Some((pos, ts))
}

pub fn pet_seeds() -> Vec<Vec<u8>> {
    let whole: Vec<Vec<u8>> = files(&repo("tests/fixtures/pet"), ".dcm")
        .iter()
        .map(|p| read(p))
        .collect();
    let slices = whole
        .iter()
        .filter_map(|f| Some(f[file_meta(f)?.0..].to_vec()));
    let mut seeds: Vec<Vec<u8>> = slices.collect();
    seeds.extend(whole);
    seeds.extend(kept("walk"));
    seeds
}

/// HL7 escaping of a report line (field, component, repetition, escape, subcomponent).
fn hl7_escape(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '|' => "\\F\\".to_owned(),
            '^' => "\\S\\".to_owned(),
            '~' => "\\R\\".to_owned(),
            '\\' => "\\E\\".to_owned(),
            '&' => "\\T\\".to_owned(),
            c => c.to_string(),
        })
        .collect()
}

/// An ORU^R01 carrying `text` one line per TX OBX: UTF-8, or ISO-8859-1 with MSH-18 `8859/1`
/// when the text is not ASCII but fits Latin-1.
pub fn oru_seed(n: usize, text: &str, sep: &str) -> Vec<u8> {
    let latin1 = !text.is_ascii() && text.chars().all(|c| u32::from(c) < 0x100);
    let charset = match (text.is_ascii(), latin1) {
        (true, _) => "",
        (false, true) => "8859/1",
        (false, false) => "UNICODE UTF-8",
    };
    let (acc, order) = (format!("ACC{n}"), format!("ORD{n}"));
    let mut obr = vec![""; 26];
    for (i, v) in [
        (0, "OBR"),
        (1, "1"),
        (2, order.as_str()),
        (3, acc.as_str()),
        (4, "PETCT^PET/CT"),
        (7, "20260114093000"),
        (18, acc.as_str()),
        (25, "F"),
    ] {
        obr[i] = v;
    }
    let mut segs = vec![
        format!(
            "MSH|^~\\&|RIS|HOSP|PETGROUND|NM|20260114100000||ORU^R01^ORU_R01|CTL{n}|P|2.5.1\
             ||||||{charset}"
        ),
        format!("PID|1||PAT{n}^^^HOSP||Doe^Jane||19600101|F"),
        format!("ORC|RE|{order}|{acc}"),
        obr.join("|"),
        format!("OBX|1|ST|113014^DICOM Study^DCM||1.2.826.0.1.3680043.10.1434.{n}||||||F"),
    ];
    for (i, line) in text.lines().enumerate() {
        let line = hl7_escape(line);
        segs.push(format!(
            "OBX|{}|TX|59776-5^Findings^LN||{line}||||||F",
            i + 2
        ));
    }
    let msg = segs.join(sep) + sep;
    if latin1 {
        msg.chars().map(|c| u32::from(c) as u8).collect()
    } else {
        msg.into_bytes()
    }
}

pub fn report_texts() -> Vec<String> {
    files(&repo("tests/reports"), ".txt")
        .iter()
        .map(|p| String::from_utf8_lossy(&read(p)).into_owned())
        .collect()
}

/// Plain reports, ORUs with `\r` and with `\n` segment separators, and framed ORUs.
pub fn hl7_seeds() -> Vec<Vec<u8>> {
    let mut seeds = Vec::new();
    for (n, text) in report_texts().iter().enumerate() {
        let sep = if n % 2 == 0 { "\r" } else { "\n" };
        let msg = oru_seed(n, text, sep);
        seeds.push(mllp::encode_frame(&msg));
        seeds.push(msg);
        seeds.push(text.clone().into_bytes());
    }
    seeds.extend(kept("oru"));
    seeds
}

/// Streams as a listener sees them: one to three frames, garbage before and between frames, a
/// frame without its 0x0D, one over the smallest frame limit used.
pub fn mllp_seeds() -> Vec<Vec<u8>> {
    let texts = report_texts();
    let msg = |n: usize| oru_seed(n, &texts[n % texts.len()], "\r");
    let frame = |n| mllp::encode_frame(&msg(n));
    let mut seeds = vec![
        frame(0),
        [frame(1), frame(2), frame(3)].concat(),
        [b"\r\n garbage".to_vec(), frame(4), b"\n".to_vec(), frame(5)].concat(),
        [
            frame(6),
            vec![mllp::START_BLOCK],
            msg(7),
            vec![mllp::END_BLOCK],
        ]
        .concat(),
        mllp::encode_frame(&msg(8).repeat(1 + 20_000 / msg(8).len())),
    ];
    seeds.extend(kept("mllp"));
    seeds
}

pub fn config_seeds() -> Vec<Vec<u8>> {
    let shipped = read(&repo("conf/petground.toml"));
    let minimal = b"[node]\nae_title = \"PG\"\ndicom_listen = \"127.0.0.1:0\"\n\
                    hl7_listen = \"[::1]:0\"\ndata_dir = \"var\"\n"
        .to_vec();
    let mut seeds = vec![shipped, minimal];
    seeds.extend(kept("config"));
    seeds
}
