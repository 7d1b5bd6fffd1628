//! `send`: push a phantom study to a running node — every file under `pet/` and `ct/` by C-STORE
//! over one association (a presentation context per SOP class, Explicit VR Little Endian), then
//! `report.hl7` over MLLP. Any refused context, failed status or negative ACK is an error.

use anyhow::{Context, Result, bail, ensure};
use dicom_dictionary_std::uids;
use dicom_ul::ClientAssociationOptions;
use dicom_ul::pdu::{PDataValue, PDataValueType, Pdu, PresentationContextResultReason};
use petground::dicom::dimse::{Request, Response, status};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(60);

/// One Part 10 file split into what C-STORE needs.
pub struct Part10 {
    pub sop_class: String,
    pub sop_instance: String,
    pub transfer_syntax: String,
    /// The data set bytes after the file meta group.
    pub dataset: Vec<u8>,
}

fn trim_uid(b: &[u8]) -> String {
    String::from_utf8_lossy(b)
        .trim_end_matches(['\0', ' '])
        .to_owned()
}

/// Reads a Part 10 file's meta group (Explicit VR LE by definition) and keeps the data set bytes.
pub fn read_part10(path: &Path) -> Result<Part10> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    ensure!(
        bytes.get(128..132) == Some(b"DICM"),
        "{} is not a DICOM Part 10 file",
        path.display()
    );
    let (mut pos, mut class, mut inst, mut ts) = (132usize, None, None, None);
    loop {
        let Some(h) = bytes.get(pos..pos + 8) else {
            bail!("{}: meta group cut short", path.display())
        };
        let group = u16::from_le_bytes([h[0], h[1]]);
        if group != 0x0002 {
            break;
        }
        let elem = u16::from_le_bytes([h[2], h[3]]);
        let long = matches!(
            &h[4..6],
            b"OB" | b"OW" | b"UN" | b"SQ" | b"UT" | b"UC" | b"UR"
        );
        let (len, start) = if long {
            let l = bytes
                .get(pos + 8..pos + 12)
                .context("meta element cut short")?;
            (
                u32::from_le_bytes([l[0], l[1], l[2], l[3]]) as usize,
                pos + 12,
            )
        } else {
            (usize::from(u16::from_le_bytes([h[6], h[7]])), pos + 8)
        };
        let value = bytes
            .get(start..start + len)
            .context("meta value cut short")?;
        match elem {
            0x0002 => class = Some(trim_uid(value)),
            0x0003 => inst = Some(trim_uid(value)),
            0x0010 => ts = Some(trim_uid(value)),
            _ => {}
        }
        pos = start + len;
    }
    Ok(Part10 {
        sop_class: class
            .with_context(|| format!("{}: no MediaStorageSOPClassUID", path.display()))?,
        sop_instance: inst
            .with_context(|| format!("{}: no MediaStorageSOPInstanceUID", path.display()))?,
        transfer_syntax: ts.with_context(|| format!("{}: no TransferSyntaxUID", path.display()))?,
        dataset: bytes[pos..].to_vec(),
    })
}

/// The study's DICOM files: `pet/*.dcm` then `ct/*.dcm`, each folder in name order; a missing
/// folder is skipped (a CT-only or PET-only study), no file at all is an error.
pub fn study_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut all = Vec::new();
    for sub in ["pet", "ct"] {
        let d = dir.join(sub);
        if !d.is_dir() {
            continue;
        }
        let mut files: Vec<PathBuf> = std::fs::read_dir(&d)
            .with_context(|| format!("listing {}", d.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "dcm"))
            .collect();
        files.sort();
        all.extend(files);
    }
    ensure!(
        !all.is_empty(),
        "no DICOM files under {}/pet or {}/ct",
        dir.display(),
        dir.display()
    );
    Ok(all)
}

/// C-STOREs every file of the study at `dir` to `addr` (HOST:PORT); returns how many were stored.
pub fn store_study(dir: &Path, addr: &str, calling: &str, called: &str) -> Result<usize> {
    store_files(&study_files(dir)?, addr, calling, called)
}

/// C-STOREs the given Part 10 files (Explicit VR Little Endian) over one association, in order.
pub fn store_files(files: &[PathBuf], addr: &str, calling: &str, called: &str) -> Result<usize> {
    ensure!(!files.is_empty(), "nothing to send");
    let mut classes: Vec<String> = Vec::new();
    let mut parts = Vec::with_capacity(files.len());
    for f in files {
        let p = read_part10(f)?;
        ensure!(
            p.transfer_syntax == uids::EXPLICIT_VR_LITTLE_ENDIAN,
            "{}: transfer syntax {} (send only handles Explicit VR Little Endian)",
            f.display(),
            p.transfer_syntax
        );
        if !classes.contains(&p.sop_class) {
            classes.push(p.sop_class.clone());
        }
        parts.push((f, p));
    }
    let mut opts = ClientAssociationOptions::new()
        .calling_ae_title(calling)
        .called_ae_title(called)
        .read_timeout(TIMEOUT)
        .write_timeout(TIMEOUT);
    for c in &classes {
        opts = opts.with_presentation_context(c.as_str(), vec![uids::EXPLICIT_VR_LITTLE_ENDIAN]);
    }
    let mut assoc = opts
        .establish(addr)
        .with_context(|| format!("associating with {called}@{addr}"))?;
    // Command and data set go out as separate small writes; without TCP_NODELAY, Nagle plus the
    // peer's delayed ACK costs ~80 ms per instance.
    assoc
        .inner_stream()
        .set_nodelay(true)
        .context("setting TCP_NODELAY")?;
    let mut ctx = Vec::new();
    for c in &classes {
        let pc = assoc
            .presentation_contexts()
            .iter()
            .find(|pc| {
                &pc.abstract_syntax == c && pc.reason == PresentationContextResultReason::Acceptance
            })
            .with_context(|| format!("{called}@{addr} refused SOP class {c}"))?;
        ctx.push((c.clone(), pc.id));
    }
    for (n, (f, p)) in parts.iter().enumerate() {
        let message_id = (n % 0xFFFF + 1) as u16;
        let pc = ctx
            .iter()
            .find(|(c, _)| *c == p.sop_class)
            .map(|(_, id)| *id)
            .context("context vanished")?;
        let cmd = Request::Store {
            message_id,
            sop_class_uid: p.sop_class.clone(),
            sop_instance_uid: p.sop_instance.clone(),
            has_dataset: true,
        };
        let rsp = store_one(&mut assoc, pc, &cmd.encode(), &p.dataset)
            .with_context(|| format!("storing {}", f.display()))?;
        ensure!(
            rsp.status == status::SUCCESS || (rsp.status & 0xF000) == 0xB000,
            "{}: C-STORE status 0x{:04X} {}",
            f.display(),
            rsp.status,
            rsp.error_comment.unwrap_or_default()
        );
        ensure!(
            rsp.message_id_responded == message_id,
            "response to message {} not {message_id}",
            rsp.message_id_responded
        );
    }
    assoc.release().context("releasing the association")?;
    Ok(parts.len())
}

fn store_one(
    assoc: &mut dicom_ul::ClientAssociation<TcpStream>,
    pc: u8,
    cmd: &[u8],
    data: &[u8],
) -> Result<Response> {
    assoc
        .send(&Pdu::PData {
            data: vec![PDataValue {
                presentation_context_id: pc,
                value_type: PDataValueType::Command,
                is_last: true,
                data: cmd.to_vec(),
            }],
        })
        .context("sending the C-STORE command")?;
    {
        let mut w = assoc.send_pdata(pc);
        w.write_all(data).context("sending the data set")?;
        w.finish().context("finishing the data set")?;
    }
    let mut command = Vec::new();
    loop {
        match assoc
            .receive()
            .context("waiting for the C-STORE response")?
        {
            Pdu::PData { data } => {
                let mut last = false;
                for v in data {
                    ensure!(
                        v.value_type == PDataValueType::Command,
                        "peer sent a data set in a C-STORE response"
                    );
                    command.extend_from_slice(&v.data);
                    last |= v.is_last;
                }
                if last {
                    return Response::decode(&command).context("decoding the C-STORE response");
                }
            }
            other => bail!("peer answered with {other:?} instead of a C-STORE response"),
        }
    }
}

/// Sends an HL7 message file over MLLP to `addr` and returns the ACK (without framing). Fails
/// unless MSA-1 is AA or CA.
pub fn send_report(path: &Path, addr: &str) -> Result<String> {
    let msg = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let mut s = TcpStream::connect(addr).with_context(|| format!("connecting to {addr}"))?;
    s.set_read_timeout(Some(TIMEOUT))?;
    s.set_write_timeout(Some(TIMEOUT))?;
    let mut framed = Vec::with_capacity(msg.len() + 3);
    framed.push(0x0B);
    framed.extend_from_slice(&msg);
    framed.extend_from_slice(&[0x1C, 0x0D]);
    s.write_all(&framed).context("sending the report")?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !buf.ends_with(&[0x1C, 0x0D]) {
        let n = s.read(&mut chunk).context("reading the ACK")?;
        ensure!(n > 0, "{addr} closed the connection before a complete ACK");
        buf.extend_from_slice(&chunk[..n]);
        ensure!(buf.len() < 1 << 20, "ACK larger than 1 MiB");
    }
    let start = buf.iter().position(|b| *b == 0x0B).map_or(0, |p| p + 1);
    let ack = String::from_utf8_lossy(&buf[start..buf.len() - 2]).into_owned();
    let code = ack
        .split(['\r', '\n'])
        .find(|seg| seg.starts_with("MSA|"))
        .and_then(|seg| seg.split('|').nth(1))
        .unwrap_or("");
    ensure!(
        matches!(code, "AA" | "CA"),
        "report not accepted (MSA-1 {code:?}): {}",
        ack.replace('\r', " | ")
    );
    Ok(ack)
}
