//! Targets of `tests/fuzz.rs`: what one execution does with an input, each as close as it can to
//! what the node does with the same bytes (the module each mirrors is named on its function).
use std::io::Cursor;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use dicom_ul::pdu::{PDataValueType, Pdu, read_pdu};
use petground::dicom::dimse::{Request, Response};
use petground::hl7::ack::{self, AckMeta, Outcome};
use petground::hl7::mllp::{self, FrameLimits, MllpError, MllpReader};
use petground::hl7::oru;

use crate::mutate::{DICOM_TOKENS, HL7_TOKENS, Mutator, PDU_TOKENS, Rng, TOML_TOKENS, fnv1a};
use crate::runner::{Ran, Target};
use crate::seeds::{config_seeds, file_meta, hl7_seeds, mllp_seeds, pdu_seeds, pet_seeds};
use crate::{EXPLICIT_VR_LE, HEAD_BYTES, IMPLICIT_VR_LE, MAX_PDU, PET_STORAGE};

/// PDUs as the association reads them (strict, several back to back, command fragments
/// gathered per message as `dicom::scp` does), as `dicom::accept` peeks the A-ASSOCIATE-RQ
/// (lenient), and the input itself as a command set.
fn pdu_exec(data: &[u8]) -> Ran {
    let _ = read_pdu(data, MAX_PDU, false);
    let mut ran = Ran::Refused;
    let mut buf = data;
    let mut command = Vec::new();
    for _ in 0..=data.len() / 6 {
        let pdu = read_pdu(&mut buf, MAX_PDU, true);
        if let Ok(Some(_)) = pdu {
            ran = Ran::Accepted;
        }
        match pdu {
            Ok(Some(Pdu::PData { data })) => {
                for v in data {
                    if v.value_type != PDataValueType::Command {
                        continue;
                    }
                    command.extend_from_slice(&v.data);
                    if v.is_last {
                        let _ = Request::decode(&command);
                        let _ = Response::decode(&command);
                        command.clear();
                    }
                }
            }
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => break,
        }
    }
    if Request::decode(data).is_ok() | Response::decode(data).is_ok() {
        ran = Ran::Accepted;
    }
    ran
}

/// The receive path of `dicom::scp::receive`: a data set behind the node's own file meta group
/// is walked and, when complete, written as a Part 10 file whose header is read. A whole Part 10
/// input (preamble and DICM) is taken as it is, with the offset and transfer syntax of its meta.
fn walk_target() -> Target {
    let dir = tempfile::tempdir().expect("temporary folder");
    let path = dir.path().join("instance.dcm");
    let heads = [EXPLICIT_VR_LE, IMPLICIT_VR_LE].map(|ts| (node_file_head(ts), ts));
    let check = move |file: &[u8], offset: usize, ts: &str| {
        let explicit = ts != IMPLICIT_VR_LE;
        let walked = petground::walk::check_complete(Cursor::new(file), offset as u64, explicit);
        if walked.is_err() {
            return Ran::Refused;
        }
        std::fs::write(&path, file).expect("temporary file");
        match petground::store::InstanceHeader::read(&path) {
            Ok(_) => Ran::Accepted,
            Err(_) => Ran::Refused,
        }
    };
    let exec = move |data: &[u8]| {
        let _keep = &dir;
        match file_meta(data) {
            Some((offset, ts)) => check(data, offset, &ts),
            None => heads
                .iter()
                .map(|(head, ts)| check(&[head.as_slice(), data].concat(), head.len(), ts))
                .max()
                .unwrap_or(Ran::Refused),
        }
    };
    Target {
        name: "walk",
        mutator: Mutator::new(pet_seeds(), DICOM_TOKENS, false),
        exec: Box::new(exec),
    }
}

/// Preamble, "DICM" and a file meta group as the node writes before a received data set.
pub fn node_file_head(ts: &str) -> Vec<u8> {
    let meta = dicom_object::meta::FileMetaTableBuilder::new()
        .media_storage_sop_class_uid(PET_STORAGE)
        .media_storage_sop_instance_uid("1.2.826.0.1.3680043.10.1434.1")
        .transfer_syntax(ts)
        .implementation_class_uid("1.2.826.0.1.3680043.10.1434.1")
        .implementation_version_name("PETGROUND_FUZZ")
        .source_application_entity_title("STORESCU")
        .build()
        .expect("a complete file meta group");
    let mut head = vec![0u8; 128];
    head.extend_from_slice(b"DICM");
    meta.write(&mut head).expect("writing to memory");
    head
}

/// One message as the listener handles it: parsed, then answered with an ACK built from
/// whatever header parsed. Whether the report was accepted.
fn answer(frame: &[u8]) -> bool {
    let (header, outcome, error) = match oru::parse(frame) {
        Ok(report) => (Some(report.header), Outcome::Accepted, None),
        Err(rejected) => {
            let outcome = if rejected.error.is_rejection() {
                Outcome::Rejected
            } else {
                Outcome::Error
            };
            let error = Some((rejected.error.error_code(), rejected.error.to_string()));
            (rejected.header.map(|h| *h), outcome, error)
        }
    };
    if let Some(code) = ack::response(header.as_ref(), outcome) {
        let meta = AckMeta {
            control_id: "PG1",
            timestamp: "20260114100000+0000",
        };
        let error = error.as_ref().map(|(c, s)| (*c, s.as_str()));
        let _ = mllp::encode_frame(ack::build(header.as_ref(), code, error, meta).as_bytes());
    }
    outcome == Outcome::Accepted
}

/// ORU parsing as the listener does it, report text and findings as the CLI does it.
fn oru_exec(data: &[u8]) -> Ran {
    let accepted = answer(data);
    let _ = oru::parse_header_bytes(&data[..data.len().min(HEAD_BYTES)]);
    let _ = oru::parse_text(data);
    let _ = petground::report::findings_from_input(data);
    if accepted {
        Ran::Accepted
    } else {
        Ran::Refused
    }
}

/// An in-memory stream handing out its bytes in chunks whose sizes come from the input's
/// hash: always ready, so no timer fires and a run depends on the input only.
struct Chunked<'a> {
    rest: &'a [u8],
    rng: Rng,
}

impl tokio::io::AsyncRead for Chunked<'_> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let want = match self.rng.below(4) {
            0 => 1,
            1 => 1 + self.rng.below(16),
            2 => 1 + self.rng.below(4096),
            _ => usize::MAX,
        };
        let n = want.min(self.rest.len()).min(buf.remaining());
        let rest = self.rest;
        let (now, later) = rest.split_at(n);
        buf.put_slice(now);
        self.rest = later;
        Poll::Ready(Ok(()))
    }
}

/// Frames read as the listener reads them (a frame, then the pipelined ones ready behind it;
/// an oversize frame's head parsed and the rest discarded), each answered; and `unframe`.
fn mllp_target() -> Target {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a tokio runtime");
    let exec = move |data: &[u8]| {
        let _ = oru::looks_like_hl7(mllp::unframe(data));
        let h = fnv1a(data);
        let limits = FrameLimits {
            max_bytes: [1024, 16 * 1024, 4 << 20][(h % 3) as usize],
            read_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(5),
        };
        let stream = Chunked {
            rest: data,
            rng: Rng(h),
        };
        rt.block_on(async {
            let mut reader = MllpReader::new(stream, limits);
            // Every frame takes at least two bytes: more frames than that is a loop.
            let mut frames = 0..=data.len() / 2 + 1;
            let mut ran = Ran::Refused;
            while frames.next().is_some() {
                match reader.next_frame().await {
                    Ok(Some(frame)) => answer(&frame),
                    Ok(None) => return ran,
                    Err(MllpError::Oversize { head, .. }) => {
                        let _ = oru::parse_header_bytes(&head);
                        reader.discard_frame().await;
                        return ran;
                    }
                    Err(_) => return ran,
                };
                ran = Ran::Accepted;
                while let Some(frame) = reader.next_ready_frame().await {
                    answer(&frame);
                    if frames.next().is_none() {
                        break;
                    }
                }
                let _ = reader.take_skipped();
            }
            panic!("MLLP reader returned more frames than the stream can hold");
        })
    };
    Target {
        name: "mllp",
        mutator: Mutator::new(mllp_seeds(), HL7_TOKENS, true),
        exec: Box::new(exec),
    }
}

/// Whether validating `text` would resolve a host name (std resolves a `host:port` whose host
/// is not an IP address), which the fuzzer must not do.
fn resolves_a_name(text: &str) -> bool {
    let Ok(doc) = toml::from_str::<toml::Table>(text) else {
        return false;
    };
    let node = doc.get("node");
    let listen = ["dicom_listen", "hl7_listen"].map(|k| node.and_then(|n| n.get(k)));
    let destinations = doc.get("destinations").and_then(|d| d.as_array());
    let addresses = destinations.into_iter().flatten().map(|d| d.get("address"));
    listen.into_iter().chain(addresses).flatten().any(|v| {
        v.as_str().is_some_and(|s| {
            s.parse::<std::net::SocketAddr>().is_err()
                && s.rsplit_once(':').is_some_and(|(host, port)| {
                    port.parse::<u16>().is_ok() && host.parse::<std::net::IpAddr>().is_err()
                })
        })
    })
}

fn config_exec(data: &[u8]) -> Ran {
    let text = String::from_utf8_lossy(data);
    if resolves_a_name(&text) {
        return Ran::Skipped;
    }
    match petground::config::Config::from_toml(&text) {
        Ok(_) => Ran::Accepted,
        Err(_) => Ran::Refused,
    }
}

pub fn target(name: &str) -> Target {
    let plain = |name, seeds, tokens, text, exec: fn(&[u8]) -> Ran| Target {
        name,
        mutator: Mutator::new(seeds, tokens, text),
        exec: Box::new(exec),
    };
    match name {
        "pdu" => plain("pdu", pdu_seeds(), PDU_TOKENS, false, pdu_exec),
        "walk" => walk_target(),
        "oru" => plain("oru", hl7_seeds(), HL7_TOKENS, true, oru_exec),
        "mllp" => mllp_target(),
        "config" => plain("config", config_seeds(), TOML_TOKENS, true, config_exec),
        other => panic!("no fuzz target {other}"),
    }
}
