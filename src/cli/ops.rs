//! The operator commands: `status`, `echo`, `resend` and `reprocess` (CONTRACT §1). They
//! print through [`super::write_out`]; `resend` and `reprocess` ask the running node through
//! its control socket.

use std::path::Path;

use anyhow::Context;
use petground::control::{self, ErrorKind, Op, Reply};
use petground::status::Filter;
use petground::store::Layout;

use super::{Failure, load, runtime, usage, write_out};

pub(super) fn status(path: &Path, json: bool, all: bool, filter: Filter) -> Result<(), Failure> {
    let cfg = load(path)?;
    let whole = all || !filter.is_empty();
    let dir = &cfg.node.data_dir;
    let doc = control::status_document(dir, filter.clone()).map_err(runtime)?;
    let Some(doc) = doc.or_else(|| json.then(|| petground::status::empty(dir, &filter))) else {
        return outln!("no data yet in {}", cfg.node.data_dir.display());
    };
    if json {
        let text = serde_json::to_string_pretty(&doc).context("status document");
        outln!("{}", text.map_err(runtime)?)?;
    } else if whole {
        write_out(format_args!("{}", petground::status::text::full(&doc)))?;
    } else {
        write_out(format_args!("{}", petground::status::text::summary(&doc)))?;
    }
    Ok(())
}

/// C-ECHO to a configured destination: 0 success, 1 no answer or another status, 2 no such name.
pub(super) fn echo(path: &Path, name: &str) -> Result<(), Failure> {
    let cfg = load(path)?;
    let dests = &cfg.delivery.destinations;
    let Some(dest) = dests.iter().find(|d| d.name == name) else {
        let known: Vec<&str> = dests.iter().map(|d| d.name.as_str()).collect();
        let e = anyhow::anyhow!("no destination named `{name}` (configured: {known:?})");
        return Err(usage(e));
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
        .map_err(runtime)?;
    let opts = petground::dicom::scu::ScuOptions::default();
    let calling = &cfg.delivery.calling;
    let who = format!("{name} ({}@{})", dest.ae_title, dest.address);
    match rt.block_on(petground::dicom::scu::echo(dest, calling, &opts)) {
        Ok(0) => outln!("C-ECHO {who}: success"),
        Ok(status) => Err(runtime(anyhow::anyhow!(
            "C-ECHO {who}: status {status:04X}"
        ))),
        Err(e) => Err(runtime(anyhow::anyhow!("C-ECHO {who}: {e}"))),
    }
}

/// `resend`: `--to` must name a configured destination (exit 2 otherwise).
pub(super) fn resend(path: &Path, seg: String, to: Option<String>) -> Result<(), Failure> {
    let cfg = load(path)?;
    if let Some(t) = &to
        && !cfg.delivery.destinations.iter().any(|d| &d.name == t)
    {
        return Err(usage(anyhow::anyhow!("--to: no destination named `{t}`")));
    }
    ask(path, Op::Resend { seg, to })
}

/// Sends a request to the running node and prints its answer; exit 1 when the node is not
/// running or refuses, 2 when it calls the request malformed.
pub(super) fn ask(path: &Path, op: Op) -> Result<(), Failure> {
    let cfg = load(path)?;
    let sock = Layout::new(&cfg.node.data_dir).control_socket();
    let reply = control::request(&sock, op).map_err(runtime)?;
    match reply {
        Reply::Resent { seg, deliveries } => {
            outln!("SEG {seg} queued again: outbox entries {deliveries:?}")?;
        }
        Reply::Reprocessing {
            study,
            job,
            version,
        } => outln!("study {study}: job {job} (version {version}) queued")?,
        Reply::Error {
            kind: ErrorKind::BadRequest,
            message,
        } => return Err(usage(anyhow::anyhow!(message))),
        other => return Err(runtime(control::refused(other))),
    }
    Ok(())
}
