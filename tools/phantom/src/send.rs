//! `send`: push a phantom study to a running node — every file under `pet/` and `ct/` by C-STORE
//! over one association, then `report.hl7` over MLLP. Any file not stored (refused context,
//! failed status) or a negative ACK is an error.
//!
//! The protocol work is the node's own: the C-STORE SCU of `petground::dicom::scu` (the one the
//! node delivers SEGs with) and the MLLP framing of `petground::hl7::mllp`. This module only
//! finds the files, names the peer and decides what counts as failure. Async: the binary runs it
//! on a tokio runtime.

use anyhow::{Context, Result, ensure};
use petground::config::Destination;
use petground::dicom::dimse::status;
use petground::dicom::scu::{self, ScuError, ScuOptions, StoreResult};
use petground::hl7::mllp::{self, FrameLimits};
use petground::ids::AeTitle;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::net::TcpStream;

/// Bound on the MLLP connect, the report's write and the wait for its ACK.
const TIMEOUT: Duration = Duration::from_secs(60);
/// The largest ACK accepted.
const MAX_ACK_BYTES: usize = 1 << 20;

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
pub async fn store_study(dir: &Path, addr: &str, calling: &str, called: &str) -> Result<usize> {
    store_files(&study_files(dir)?, addr, calling, called).await
}

/// C-STOREs the given Part 10 files over one association, in order, with the library's SCU.
/// Success and warning statuses 0xBxxx count as stored; anything else fails the call.
pub async fn store_files(
    files: &[PathBuf],
    addr: &str,
    calling: &str,
    called: &str,
) -> Result<usize> {
    ensure!(!files.is_empty(), "nothing to send");
    let calling = AeTitle::parse(calling).context("--aet")?;
    let called = AeTitle::parse(called).context("--aec")?;
    let peer = format!("{called}@{addr}");
    let addresses: Vec<SocketAddr> = tokio::net::lookup_host(addr)
        .await
        .with_context(|| format!("associating with {peer}: resolving {addr}"))?
        .collect();
    let results = store_on_first_reachable(files, &addresses, &calling, &called)
        .await
        .with_context(|| format!("associating with {peer}: {addr} resolves to no address"))?
        .map_err(|e| match e.completed().len() {
            0 => anyhow::Error::new(e).context(format!("associating with {peer}")),
            n => anyhow::Error::new(e).context(format!("storing to {peer} after {n} instances")),
        })?;
    for r in &results {
        ensure!(
            stored(r),
            "{}: C-STORE status 0x{:04X} {}",
            r.path.display(),
            r.status,
            r.comment.as_deref().unwrap_or_default()
        );
    }
    Ok(results.len())
}

/// What `send` has always accepted as stored: success, or a 0xBxxx warning.
fn stored(r: &StoreResult) -> bool {
    r.status == status::SUCCESS || (r.status & 0xF000) == 0xB000
}

/// Stores on the first of `addresses` that accepts a connection, as a plain TCP connect to a
/// host name would; `None` when there is no address.
async fn store_on_first_reachable(
    files: &[PathBuf],
    addresses: &[SocketAddr],
    calling: &AeTitle,
    called: &AeTitle,
) -> Option<Result<Vec<StoreResult>, ScuError>> {
    let mut outcome = None;
    for &address in addresses {
        let dest = Destination {
            name: called.to_string(),
            ae_title: called.clone(),
            address: address.into(),
        };
        let r = scu::store_files(&dest, calling, files, &ScuOptions::default()).await;
        let refused = matches!(r, Err(ScuError::Connect { .. }));
        outcome = Some(r);
        if !refused {
            break;
        }
    }
    outcome
}

/// Sends an HL7 message file over MLLP to `addr` and returns the ACK (without framing). Fails
/// unless MSA-1 is AA or CA.
pub async fn send_report(path: &Path, addr: &str) -> Result<String> {
    let msg = tokio::fs::read(path)
        .await
        .with_context(|| format!("reading {}", path.display()))?;
    let mut s = tokio::time::timeout(TIMEOUT, TcpStream::connect(addr))
        .await
        .with_context(|| format!("connecting to {addr}: timed out"))?
        .with_context(|| format!("connecting to {addr}"))?;
    let limits = FrameLimits {
        max_bytes: MAX_ACK_BYTES,
        read_timeout: TIMEOUT,
        idle_timeout: TIMEOUT,
    };
    let ack = mllp::exchange(&mut s, &msg, limits)
        .await
        .with_context(|| format!("sending the report to {addr}"))?;
    let ack = String::from_utf8_lossy(&ack).into_owned();
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
