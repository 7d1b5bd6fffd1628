//! The C-STORE SCU: sends Part 10 files to one destination AE over one association and says, per
//! file and for the association as a whole, whether a retry could help. The durable outbox, the
//! retry schedule and routing are the delivery loop's; this module keeps no state between calls.
//!
//! It runs on dicom-ul's async client (not the sync client on `spawn_blocking`): the node is a
//! tokio program, so cancellation is dropping the future and every wait is a `tokio::time`
//! timeout, without parking a blocking-pool thread for a whole association. File reading and
//! re-encoding, the only CPU/disk work, do run on `spawn_blocking`.

mod files;
mod wire;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use dicom_ul::association::client::ClientAssociationOptions;
use dicom_ul::pdu::AssociationRJResult;
use tracing::{Instrument, debug, info, info_span, warn};

use super::AeTitle;
use super::dimse::status;
use crate::config::Destination;
use files::FileMeta;

/// Limits of one SCU association. `Default` gives values suited to a LAN PACS.
#[derive(Debug, Clone)]
pub struct ScuOptions {
    /// Largest P-DATA PDU we accept from the peer (our receive limit; what we send is bounded by
    /// the peer's own maximum).
    pub max_pdu_bytes: u32,
    /// TCP connect.
    pub connect_timeout: Duration,
    /// A-ASSOCIATE request → answer, and A-RELEASE request → answer.
    pub acse_timeout: Duration,
    /// Each PDU written and each C-STORE-RSP awaited.
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

/// What a retry loop should do with one C-STORE status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// 0x0000: stored.
    Success,
    /// 0x0001, 0x0107, 0x0116, 0xBxxx: stored with a warning (coercion, elements discarded, data
    /// set does not match SOP class). Delivered; do not resend.
    Warning,
    /// Refused for a reason a resend will not cure (0x0122 SOP class not supported, 0xA9xx,
    /// 0xCxxx, 0x0110 processing failure, anything unknown).
    PermanentFailure,
    /// Refused for now (0xA7xx out of resources, 0x0213 resource limitation, 0x0210 duplicate
    /// invocation, 0xFE00 cancel): resend later.
    TransientFailure,
}

impl Outcome {
    /// Classifies a C-STORE status (PS3.4 B.2.3, PS3.7 Annex C).
    pub fn of_status(code: u16) -> Self {
        match code {
            status::SUCCESS => Self::Success,
            0x0001 | 0x0107 | 0x0116 | 0xB000..=0xBFFF => Self::Warning,
            0xA700..=0xA7FF | 0x0210 | 0x0213 | 0xFE00 => Self::TransientFailure,
            _ => Self::PermanentFailure,
        }
    }

    /// Whether the peer holds the instance (success or warning).
    pub fn is_delivered(self) -> bool {
        matches!(self, Self::Success | Self::Warning)
    }
}

/// The answer for one file of a [`store_files`] call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreResult {
    pub path: PathBuf,
    pub sop_instance_uid: String,
    /// The peer's C-STORE-RSP status, or, when `sent` is false, the status we assign locally
    /// (0x0122 when no presentation context was accepted for the SOP class, 0x0110 when the data
    /// set could not be encoded in the accepted transfer syntax).
    pub status: u16,
    pub class: Outcome,
    /// The peer's ErrorComment (0000,0902), or why the file was not sent.
    pub comment: Option<String>,
    /// Whether a C-STORE-RQ was sent for this file.
    pub sent: bool,
}

/// Why a [`store_files`] call could not complete. [`ScuError::is_transient`] tells a retry loop
/// whether trying again later may succeed.
#[derive(Debug, thiserror::Error)]
pub enum ScuError {
    #[error("reading {path}: {detail}")]
    ReadFile { path: PathBuf, detail: String },
    #[error("{count} presentation contexts would be needed; one association allows 128")]
    TooManyContexts { count: usize },
    #[error("connecting to {dest} at {addr}: {source}")]
    Connect {
        dest: String,
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("{dest}: {stage} timed out after {after:?}")]
    Timeout {
        dest: String,
        stage: &'static str,
        after: Duration,
    },
    #[error("{dest} rejected the association ({}): {reason}", if *.permanent { "permanent" } else { "transient" })]
    Rejected {
        dest: String,
        permanent: bool,
        reason: String,
    },
    #[error("{dest} accepted no presentation context for {sop_classes:?}")]
    NoPresentationContext {
        dest: String,
        sop_classes: Vec<String>,
    },
    #[error("{dest} aborted the association")]
    Aborted { dest: String },
    #[error("{dest}: network error during {stage}: {detail}")]
    Network {
        dest: String,
        stage: &'static str,
        detail: String,
    },
    #[error("{dest}: protocol error: {detail}")]
    Protocol { dest: String, detail: String },
    #[error("internal error: {0}")]
    Internal(String),
    /// The association failed after some files were answered; `completed` holds their results
    /// (the peer has those whose outcome is delivered) and the rest were not acknowledged.
    #[error("{source} (after {} file(s) were answered)", completed.len())]
    Interrupted {
        completed: Vec<StoreResult>,
        source: Box<ScuError>,
    },
}

impl ScuError {
    /// Whether a later retry may succeed: network trouble, timeouts, aborts, transient
    /// rejections. Protocol errors count as transient because the retry limit bounds them and a
    /// misbehaving peer is more often restarted than permanently broken.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Connect { .. }
            | Self::Timeout { .. }
            | Self::Aborted { .. }
            | Self::Network { .. }
            | Self::Protocol { .. } => true,
            Self::Rejected { permanent, .. } => !permanent,
            Self::Interrupted { source, .. } => source.is_transient(),
            Self::ReadFile { .. }
            | Self::TooManyContexts { .. }
            | Self::NoPresentationContext { .. }
            | Self::Internal(_) => false,
        }
    }

    /// Results of the files answered before the failure (empty for most variants).
    pub fn completed(&self) -> &[StoreResult] {
        match self {
            Self::Interrupted { completed, .. } => completed,
            _ => &[],
        }
    }
}

/// Sends `files` (DICOM Part 10) to `dest` as `calling`, over one association, in order.
///
/// Each SOP class gets one presentation context offering the file's own transfer syntax first,
/// then explicit and implicit VR little endian (when the file's is not encapsulated, since only
/// native pixel data can be re-encoded). A data set goes out byte for byte when the file's own
/// transfer syntax is accepted, otherwise re-encoded by dicom-object. Every C-STORE-RSP must
/// answer the MessageID just sent. The association is released at the end.
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
    // hold each last fragment back for a delayed ACK.
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
    // A backstop for a peer that trickles bytes and so never trips the read timeout.
    let limit = opts.connect_timeout + opts.acse_timeout;
    match tokio::time::timeout(limit, o.establish_async(dest.address)).await {
        Ok(Ok(assoc)) => Ok(assoc),
        Ok(Err(e)) => Err(establish_error(e, dest, proposals, opts)),
        Err(_) => Err(ScuError::Timeout {
            dest: dest.name.clone(),
            stage: "association negotiation",
            after: limit,
        }),
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
            addr: dest.address,
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

/// Paths of the files in `results` that the peer holds (success or warning).
pub fn delivered(results: &[StoreResult]) -> Vec<&Path> {
    results
        .iter()
        .filter(|r| r.class.is_delivered())
        .map(|r| r.path.as_path())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_classified_for_a_retry_loop() {
        // Codes from PS3.4 Table B.2-1 (Storage) and PS3.7 Annex C (general statuses).
        let cases = [
            (0x0000, Outcome::Success),
            (0xB000, Outcome::Warning), // coercion of data elements
            (0xB007, Outcome::Warning), // data set does not match SOP class (warning)
            (0xB006, Outcome::Warning), // elements discarded
            (0x0107, Outcome::Warning), // attribute list error
            (0xA700, Outcome::TransientFailure), // out of resources
            (0xA7FF, Outcome::TransientFailure),
            (0x0213, Outcome::TransientFailure), // resource limitation
            (0x0122, Outcome::PermanentFailure), // SOP class not supported
            (0x0110, Outcome::PermanentFailure), // processing failure
            (0x0124, Outcome::PermanentFailure), // not authorized
            (0xA900, Outcome::PermanentFailure), // data set does not match SOP class
            (0xA9FF, Outcome::PermanentFailure),
            (0xC000, Outcome::PermanentFailure), // cannot understand
            (0xCFFF, Outcome::PermanentFailure),
            (0xA800, Outcome::PermanentFailure), // not a storage status: unknown
            (0xFF00, Outcome::PermanentFailure), // pending is not a C-STORE answer
        ];
        for (code, want) in cases {
            assert_eq!(Outcome::of_status(code), want, "status 0x{code:04X}");
        }
        assert!(Outcome::Warning.is_delivered());
        assert!(!Outcome::TransientFailure.is_delivered());
    }

    #[test]
    fn errors_say_whether_to_retry() {
        let d = || "pacs".to_owned();
        assert!(
            ScuError::Rejected {
                dest: d(),
                permanent: false,
                reason: "temporary congestion".into()
            }
            .is_transient()
        );
        assert!(
            !ScuError::Rejected {
                dest: d(),
                permanent: true,
                reason: "called AE title not recognized".into()
            }
            .is_transient()
        );
        let inner = ScuError::Aborted { dest: d() };
        let wrapped = ScuError::Interrupted {
            completed: vec![],
            source: Box::new(inner),
        };
        assert!(wrapped.is_transient());
        assert!(
            !ScuError::NoPresentationContext {
                dest: d(),
                sop_classes: vec![]
            }
            .is_transient()
        );
    }
}
