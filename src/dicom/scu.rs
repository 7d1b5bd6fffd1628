//! The C-STORE SCU: sends Part 10 files to one destination AE over one association and says, per
//! file and for the association as a whole, whether a retry could help. The durable outbox, the
//! retry schedule and routing are the delivery loop's; this module keeps no state between calls.
//!
//! It runs on dicom-ul's async client (not the sync client on `spawn_blocking`): the node is a
//! tokio program, so cancellation is dropping the future and every wait is a `tokio::time`
//! timeout, without parking a blocking-pool thread for a whole association. File reading and
//! re-encoding, the only CPU/disk work, do run on `spawn_blocking`.

mod files;
mod outcome;
mod wire;

pub use outcome::{Outcome, ScuError, StoreResult, delivered};

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use dicom_ul::association::client::ClientAssociationOptions;
use dicom_ul::pdu::AssociationRJResult;
use tracing::{Instrument, debug, info, info_span, warn};

use super::dimse::status;
use crate::config::Destination;
use crate::ids::AeTitle;
use files::FileMeta;

/// Limits of one SCU association. `Default` gives values suited to a LAN PACS.
#[derive(Debug, Clone)]
pub struct ScuOptions {
    /// Largest PDU we accept from the peer (our receive limit; what we send is bounded by the
    /// peer's own maximum, and by 1 MiB per fragment).
    pub max_pdu_bytes: u32,
    /// TCP connect.
    pub connect_timeout: Duration,
    /// A-ASSOCIATE request → answer, and A-RELEASE request → answer.
    pub acse_timeout: Duration,
    /// Each PDU written and each response (C-STORE-RSP, C-ECHO-RSP) awaited.
    pub dimse_timeout: Duration,
}

impl Default for ScuOptions {
    fn default() -> Self {
        Self {
            max_pdu_bytes: 64 * 1024,
            connect_timeout: Duration::from_secs(10),
            acse_timeout: Duration::from_secs(30),
            dimse_timeout: Duration::from_secs(60),
        }
    }
}

/// Sends `files` (DICOM Part 10) to `dest` as `calling`, over one association, in order.
///
/// Each SOP class gets one presentation context offering the file's own transfer syntax first,
/// then explicit and implicit VR little endian (when the file's is not encapsulated, since only
/// native pixel data can be re-encoded). A data set goes out byte for byte when the file's own
/// transfer syntax is accepted, otherwise re-encoded by dicom-object. Every C-STORE-RSP must
/// answer the MessageID just sent. The association is released at the end; dropping the future
/// closes the connection without A-ABORT, which peers treat as an abort.
pub async fn store_files(
    dest: &Destination,
    calling: &AeTitle,
    files: &[PathBuf],
    opts: &ScuOptions,
) -> Result<Vec<StoreResult>, ScuError> {
    let span = info_span!("scu", dest = %dest.name, called = %dest.ae_title, addr = %dest.address);
    run(dest, calling, files, opts).instrument(span).await
}

async fn run(
    dest: &Destination,
    calling: &AeTitle,
    files: &[PathBuf],
    opts: &ScuOptions,
) -> Result<Vec<StoreResult>, ScuError> {
    if files.is_empty() {
        return Ok(Vec::new());
    }
    let paths = files.to_vec();
    let metas = tokio::task::spawn_blocking(move || {
        paths
            .iter()
            .map(|p| files::read_meta(p))
            .collect::<Result<Vec<_>, _>>()
    })
    .await
    .map_err(|e| ScuError::Internal(format!("file meta task: {e}")))??;
    let proposals = files::proposals(&metas)?;
    let mut assoc = associate(dest, calling, &proposals, opts).await?;
    // Command and data PDUs are small writes followed by a wait for the answer: Nagle would
    // hold each last fragment back for a delayed ACK. (dicom-ul connects the socket itself; the
    // A-ASSOCIATE-RQ before this point is one write, which Nagle does not delay.)
    if let Err(e) = assoc.inner_stream().set_nodelay(true) {
        debug!(error = %e, "TCP_NODELAY not set");
    }
    let contexts = assoc.presentation_contexts().to_vec();
    info!(
        files = metas.len(),
        accepted_contexts = contexts.len(),
        max_pdu = assoc.acceptor_max_pdu_length(),
        "association established"
    );
    let mut results = Vec::with_capacity(metas.len());
    let mut message_id: u16 = 0;
    for meta in &metas {
        match store_one(&mut assoc, &contexts, meta, &mut message_id, dest, opts).await {
            Ok(result) => results.push(result),
            Err(e) => {
                warn!(error = %e, answered = results.len(), "association failed; aborting");
                let _ = tokio::time::timeout(Duration::from_secs(1), assoc.abort()).await;
                return Err(match results.is_empty() {
                    true => e,
                    false => ScuError::Interrupted {
                        completed: results,
                        source: Box::new(e),
                    },
                });
            }
        }
    }
    match tokio::time::timeout(opts.acse_timeout, assoc.release()).await {
        Ok(Ok(())) => debug!("association released"),
        // Every store was answered already; a failed release loses nothing.
        Ok(Err(e)) => warn!(error = %e, "association release failed"),
        Err(_) => warn!("association release timed out"),
    }
    Ok(results)
}

/// C-ECHO to `dest` (Verification SOP Class, implicit VR LE): whether the destination is
/// reachable and accepts us, for a configuration check before anything is queued. Returns the
/// C-ECHO-RSP status (0x0000 when all is well).
pub async fn echo(
    dest: &Destination,
    calling: &AeTitle,
    opts: &ScuOptions,
) -> Result<u16, ScuError> {
    let span =
        info_span!("scu-echo", dest = %dest.name, called = %dest.ae_title, addr = %dest.address);
    async {
        let proposal = files::Proposal {
            abstract_syntax: VERIFICATION.to_owned(),
            transfer_syntaxes: vec![dicom_dictionary_std::uids::IMPLICIT_VR_LITTLE_ENDIAN.into()],
        };
        let mut assoc = associate(dest, calling, std::slice::from_ref(&proposal), opts).await?;
        let pc = assoc.presentation_contexts().first().map(|pc| pc.id);
        let pc = pc.ok_or_else(|| ScuError::NoPresentationContext {
            dest: dest.name.clone(),
            sop_classes: vec![VERIFICATION.to_owned()],
        })?;
        let exchange = wire::Exchange {
            dest: &dest.name,
            pc,
            message_id: 1,
            opts,
        };
        let answer = exchange.echo(&mut assoc, VERIFICATION).await;
        let _ = tokio::time::timeout(opts.acse_timeout, assoc.release()).await;
        let status = answer?.status;
        info!(status, "C-ECHO answered");
        Ok(status)
    }
    .instrument(span)
    .await
}

const VERIFICATION: &str = dicom_dictionary_std::uids::VERIFICATION;

/// One file: its result, or the error that ends the association.
async fn store_one(
    assoc: &mut Assoc,
    contexts: &[dicom_ul::pdu::PresentationContextNegotiated],
    meta: &FileMeta,
    message_id: &mut u16,
    dest: &Destination,
    opts: &ScuOptions,
) -> Result<StoreResult, ScuError> {
    let Some(pc) = files::choose_context(contexts, meta) else {
        warn!(sop = %meta.sop_instance, class = %meta.sop_class, "no accepted presentation context");
        return Ok(not_sent(
            meta,
            status::SOP_CLASS_NOT_SUPPORTED,
            "not sent: no presentation context accepted for the SOP class",
        ));
    };
    let data = match dataset_in(meta, &pc.transfer_syntax).await {
        Ok(data) => data,
        Err(why) => {
            warn!(sop = %meta.sop_instance, error = %why, "data set not encodable");
            return Ok(not_sent(meta, status::PROCESSING_FAILURE, &why));
        }
    };
    // MessageID 0 is legal but some peers treat it as unset; wrap past it.
    *message_id = message_id.checked_add(1).unwrap_or(1);
    let exchange = wire::Exchange {
        dest: &dest.name,
        pc: pc.id,
        message_id: *message_id,
        opts,
    };
    let rsp = exchange.store(assoc, meta, &data).await?;
    let class = Outcome::of_status(rsp.status);
    info!(sop = %meta.sop_instance, status = rsp.status, ?class, "C-STORE answered");
    Ok(StoreResult {
        path: meta.path.clone(),
        sop_instance_uid: meta.sop_instance.clone(),
        status: rsp.status,
        class,
        comment: rsp.error_comment.filter(|c| !c.is_empty()),
        sent: true,
    })
}

fn not_sent(meta: &FileMeta, code: u16, why: &str) -> StoreResult {
    StoreResult {
        path: meta.path.clone(),
        sop_instance_uid: meta.sop_instance.clone(),
        status: code,
        class: Outcome::PermanentFailure,
        comment: Some(why.to_owned()),
        sent: false,
    }
}

/// The data set bytes of `meta`'s file in `ts`, read (and re-encoded if needed) off the runtime.
async fn dataset_in(meta: &FileMeta, ts: &str) -> Result<Vec<u8>, String> {
    let meta = meta.clone();
    let ts = ts.to_owned();
    tokio::task::spawn_blocking(move || files::dataset_in(&meta, &ts))
        .await
        .map_err(|e| format!("not sent: encoding task: {e}"))?
        .map_err(|e| format!("not sent: {e}"))
}

type Assoc = dicom_ul::association::client::AsyncClientAssociation<tokio::net::TcpStream>;

async fn associate(
    dest: &Destination,
    calling: &AeTitle,
    proposals: &[files::Proposal],
    opts: &ScuOptions,
) -> Result<Assoc, ScuError> {
    let mut o = ClientAssociationOptions::new()
        .calling_ae_title(calling.as_str())
        .called_ae_title(dest.ae_title.as_str())
        .max_pdu_length(opts.max_pdu_bytes)
        .connection_timeout(opts.connect_timeout)
        // Bounds the A-ASSOCIATE (and A-RELEASE) answers. It stays on the association and so
        // also bounds each later read; the DIMSE wait tolerates that (see `wire`).
        .read_timeout(opts.acse_timeout);
    for p in proposals {
        o = o.with_presentation_context(
            p.abstract_syntax.as_str(),
            p.transfer_syntaxes.iter().map(String::as_str).collect(),
        );
    }
    let addrs = resolve(dest, opts).await?;
    // A backstop for a peer that trickles bytes and so never trips the read timeout.
    let limit = opts.connect_timeout + opts.acse_timeout;
    match tokio::time::timeout(limit, o.establish_async(addrs.as_slice())).await {
        Ok(Ok(assoc)) => Ok(assoc),
        Ok(Err(e)) => Err(establish_error(e, dest, proposals, opts)),
        Err(_) => Err(ScuError::Timeout {
            dest: dest.name.clone(),
            stage: "association negotiation",
            after: limit,
        }),
    }
}

/// The destination's addresses, looked up at every attempt: a PACS host name may not resolve
/// while DNS is down and its address may change while the node runs. Bounded by the connect
/// timeout (the system resolver has no timeout of its own to rely on).
async fn resolve(dest: &Destination, opts: &ScuOptions) -> Result<Vec<SocketAddr>, ScuError> {
    let address = &dest.address;
    let failed = |detail: String| ScuError::Resolve {
        dest: dest.name.clone(),
        address: address.to_string(),
        detail,
    };
    let lookup = tokio::net::lookup_host((address.host(), address.port()));
    match tokio::time::timeout(opts.connect_timeout, lookup).await {
        Ok(Ok(found)) => {
            let addrs: Vec<SocketAddr> = found.collect();
            match addrs.is_empty() {
                true => Err(failed("the name has no address".to_owned())),
                false => Ok(addrs),
            }
        }
        Ok(Err(e)) => Err(failed(e.to_string())),
        Err(_) => Err(failed(format!(
            "no answer within {:?}",
            opts.connect_timeout
        ))),
    }
}

fn establish_error(
    e: dicom_ul::association::Error,
    dest: &Destination,
    proposals: &[files::Proposal],
    opts: &ScuOptions,
) -> ScuError {
    use dicom_ul::association::Error as E;
    let name = dest.name.clone();
    match e {
        E::Connect { source, .. } => ScuError::Connect {
            dest: name,
            addr: dest.address.to_string(),
            source,
        },
        // dicom-ul reports a connect timeout and an unanswered A-ASSOCIATE-RQ alike.
        E::Timeout { .. } => ScuError::Timeout {
            dest: name,
            stage: "connect or association negotiation",
            after: opts.connect_timeout.max(opts.acse_timeout),
        },
        E::Rejected { association_rj, .. } => ScuError::Rejected {
            dest: name,
            permanent: association_rj.result == AssociationRJResult::Permanent,
            reason: association_rj.source.to_string(),
        },
        E::NoAcceptedPresentationContexts { .. } => ScuError::NoPresentationContext {
            dest: name,
            sop_classes: proposals
                .iter()
                .map(|p| p.abstract_syntax.clone())
                .collect(),
        },
        E::Aborted { .. } => ScuError::Aborted { dest: name },
        other => ScuError::Network {
            dest: name,
            stage: "association negotiation",
            detail: error_chain(&other),
        },
    }
}

/// An error and its sources, joined: dicom-ul's top-level messages alone are vague.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        out.push_str(": ");
        out.push_str(&s.to_string());
        cur = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dest(address: &str) -> Destination {
        Destination {
            name: "pacs".to_owned(),
            ae_title: AeTitle::parse("PACS").expect("valid AE"),
            address: crate::config::PeerAddress::parse(address).expect("host:port"),
        }
    }

    /// A host name is resolved when the association is attempted; a name that does not resolve
    /// (`.invalid` never does, RFC 2606) is a transient error naming the address.
    #[tokio::test]
    async fn host_names_resolve_at_connect_time() {
        let opts = ScuOptions {
            connect_timeout: Duration::from_secs(3),
            ..ScuOptions::default()
        };
        let calling = AeTitle::parse("PETGROUND").expect("valid AE");
        let e = echo(&dest("pacs.petground.invalid:104"), &calling, &opts)
            .await
            .expect_err("does not resolve");
        assert!(matches!(e, ScuError::Resolve { .. }), "{e}");
        assert!(e.is_transient());
        assert!(e.to_string().contains("pacs.petground.invalid:104"), "{e}");
        // A listener that is gone: `localhost` resolves, and the connection is refused.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let e = echo(&dest(&format!("localhost:{port}")), &calling, &opts)
            .await
            .expect_err("nothing listens");
        assert!(matches!(e, ScuError::Connect { .. }), "{e}");
    }
}
