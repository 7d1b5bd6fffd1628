//! Association admission: read the peer's A-ASSOCIATE-RQ without consuming it, decide whether
//! to take it (capacity, disk reserve, AE titles), and build the negotiation options for exactly
//! the abstract syntaxes it proposes that we serve. dicom-ul then performs the negotiation.

use std::net::IpAddr;
use std::time::Duration;

use dicom_dictionary_std::uids;
use dicom_ul::association::server::{AccessControl, DefaultNegotiation, ServerAssociationOptions};
use dicom_ul::pdu::{
    AssociationRJ, AssociationRJResult, AssociationRJServiceProviderPresentationReason,
    AssociationRJServiceUserReason, AssociationRJSource, Pdu, UserIdentity,
};
use tokio::net::TcpStream;

use crate::config::{CallingRule, ScpConfig};

/// Transfer syntaxes we accept, in our order of preference (explicit VR LE first). Each can be
/// decoded by dicom-pixeldata with the features this crate enables.
pub const TRANSFER_SYNTAXES: &[&str] = &[
    uids::EXPLICIT_VR_LITTLE_ENDIAN,
    uids::IMPLICIT_VR_LITTLE_ENDIAN,
    uids::DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN,
    uids::RLE_LOSSLESS,
    uids::JPEG_BASELINE8_BIT,
    uids::JPEG_EXTENDED12_BIT,
    uids::JPEG_LOSSLESS,
    uids::JPEG_LOSSLESS_SV1,
    uids::JPEGLS_LOSSLESS,
    uids::JPEGLS_NEAR_LOSSLESS,
    uids::JPEG2000_LOSSLESS,
    uids::JPEG2000,
];

/// Whether a SOP class is one we accept: Verification, or a standard Storage SOP class.
/// PET, Enhanced PET, CT, Enhanced CT and Segmentation are processed; the rest are only stored.
pub fn is_served_abstract_syntax(uid: &str) -> bool {
    use dicom_core::dictionary::UidDictionary;
    let uid = uid.trim_end_matches(['\0', ' ']);
    if uid == uids::VERIFICATION {
        return true;
    }
    dicom_dictionary_std::sop_class::registry()
        .by_uid(uid)
        .is_some_and(|e| e.name.ends_with("Storage") && uid.starts_with("1.2.840.10008.5.1.4.1.1."))
}

/// Why an association was refused before negotiation (for the log).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    TooManyAssociations,
    DiskReserve,
}

/// Sends a transient A-ASSOCIATE-RJ (PS3.8 §9.3.4: source 3, service-provider presentation)
/// after reading the request, so that the peer retries later.
pub async fn reject_transient(mut socket: TcpStream, why: Refusal, timeout: Duration) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let reason = match why {
        Refusal::TooManyAssociations => {
            AssociationRJServiceProviderPresentationReason::LocalLimitExceeded
        }
        Refusal::DiskReserve => AssociationRJServiceProviderPresentationReason::TemporaryCongestion,
    };
    let pdu = Pdu::AssociationRJ(AssociationRJ {
        result: AssociationRJResult::Transient,
        source: AssociationRJSource::ServiceProviderPresentation(reason),
    });
    let mut buf = Vec::new();
    if dicom_ul::pdu::write_pdu(&mut buf, &pdu).is_err() {
        return;
    }
    // Read (and discard) the request first: some peers treat an answer before their request
    // is fully sent as a connection error rather than a rejection.
    let mut head = [0u8; 6];
    let _ = tokio::time::timeout(timeout, async {
        socket.read_exact(&mut head).await?;
        let len = u32::from_be_bytes([head[2], head[3], head[4], head[5]]) as u64;
        tokio::io::copy(
            &mut (&mut socket).take(len.min(1 << 20)),
            &mut tokio::io::sink(),
        )
        .await?;
        socket.write_all(&buf).await?;
        socket.shutdown().await
    })
    .await;
}

/// Access control with the peer's address: called AE must be ours, calling AE on the allow-list.
#[derive(Debug, Clone)]
pub struct PeerAccess {
    pub rules: Vec<CallingRule>,
    pub peer: IpAddr,
}

impl AccessControl for PeerAccess {
    fn check_access(
        &self,
        this_ae_title: &str,
        calling_ae_title: &str,
        called_ae_title: &str,
        _user_identity: Option<&UserIdentity>,
    ) -> Result<(), AssociationRJServiceUserReason> {
        if called_ae_title.trim() != this_ae_title {
            return Err(AssociationRJServiceUserReason::CalledAETitleNotRecognized);
        }
        if !self
            .rules
            .iter()
            .any(|r| r.allows(calling_ae_title, self.peer))
        {
            return Err(AssociationRJServiceUserReason::CallingAETitleNotRecognized);
        }
        Ok(())
    }
}

pub type Options = ServerAssociationOptions<'static, PeerAccess, DefaultNegotiation>;

/// Negotiation options for one connection, accepting exactly the proposed abstract syntaxes
/// that we serve (Verification is always listed so that the options are never empty).
pub fn options(cfg: &ScpConfig, peer: IpAddr, proposed: &[String]) -> Options {
    let mut opts = ServerAssociationOptions::new()
        .ae_access_control(PeerAccess {
            rules: cfg.calling_ae_titles.clone(),
            peer,
        })
        .ae_title(cfg.ae_title.as_str().to_owned())
        .max_pdu_length(cfg.max_pdu_bytes)
        .read_timeout(cfg.dimse_timeout)
        .with_abstract_syntax(uids::VERIFICATION);
    for uid in proposed.iter().filter(|u| is_served_abstract_syntax(u)) {
        opts = opts.with_abstract_syntax(uid.trim_end_matches(['\0', ' ']).to_owned());
    }
    for ts in TRANSFER_SYNTAXES {
        opts = opts.with_transfer_syntax(*ts);
    }
    opts
}

/// What the peer asked for, read with `peek` so that dicom-ul can still read the request.
#[derive(Debug, Clone)]
pub struct Proposal {
    pub calling_ae: String,
    pub called_ae: String,
    pub abstract_syntaxes: Vec<String>,
}

/// What the first bytes of a connection are.
#[derive(Debug, Clone)]
pub enum Peeked {
    /// A well-formed A-ASSOCIATE-RQ.
    Request(Proposal),
    /// Something else (the negotiation that follows answers it as dicom-ul does: abort or
    /// reject).
    Other,
    /// A request that stopped arriving before it was complete: the peer half-closed or went
    /// silent mid-request, or the request is larger than the socket buffer holds (thousands of
    /// presentation contexts; at most 128 are valid). `want` is its declared size.
    Stalled { want: usize },
}

/// Peeks at the A-ASSOCIATE-RQ; [`Peeked::Stalled`] once no new byte of an incomplete request
/// has arrived for `stall`.
pub async fn peek_request(
    socket: &TcpStream,
    max_len: usize,
    stall: Duration,
) -> std::io::Result<Peeked> {
    let mut buf = vec![0u8; 4096];
    let (mut seen, mut since) = (0, tokio::time::Instant::now());
    loop {
        let n = socket.peek(&mut buf).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let mut want = 6;
        if n >= 6 {
            if buf[0] != 0x01 {
                return Ok(Peeked::Other);
            }
            want = 6 + u32::from_be_bytes([buf[2], buf[3], buf[4], buf[5]]) as usize;
            if want > max_len {
                return Ok(Peeked::Other);
            }
            if n >= want {
                return Ok(parse_request(&buf[..want]).map_or(Peeked::Other, Peeked::Request));
            }
            if buf.len() < want {
                buf.resize(want, 0);
                continue;
            }
        }
        if n > seen {
            (seen, since) = (n, tokio::time::Instant::now());
        } else if since.elapsed() >= stall {
            return Ok(Peeked::Stalled { want });
        }
        // Part of the request is still in flight: peek would return at once, so wait a little.
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Answers a [`Peeked::Stalled`] request: reads what more of it comes (while it keeps coming
/// within `stall`), then sends a permanent A-ASSOCIATE-RJ if the whole request arrived (it was
/// too large to negotiate) or an A-ABORT if not (it was cut short), and closes.
pub async fn refuse_stalled(mut socket: TcpStream, want: usize, stall: Duration) {
    use dicom_ul::pdu::{AbortRQServiceProviderReason, AbortRQSource};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut left = want;
    let mut buf = vec![0u8; 64 * 1024];
    while left > 0 {
        let chunk = left.min(buf.len());
        match tokio::time::timeout(stall, socket.read(&mut buf[..chunk])).await {
            Ok(Ok(n)) if n > 0 => left -= n,
            _ => break,
        }
    }
    let pdu = if left == 0 {
        Pdu::AssociationRJ(AssociationRJ {
            result: AssociationRJResult::Permanent,
            source: AssociationRJSource::ServiceUser(AssociationRJServiceUserReason::NoReasonGiven),
        })
    } else {
        Pdu::AbortRQ {
            source: AbortRQSource::ServiceProvider(
                AbortRQServiceProviderReason::InvalidPduParameter,
            ),
        }
    };
    let mut out = Vec::new();
    if dicom_ul::pdu::write_pdu(&mut out, &pdu).is_ok() {
        let _ = tokio::time::timeout(stall, socket.write_all(&out)).await;
    }
    let _ = socket.shutdown().await;
}

fn parse_request(bytes: &[u8]) -> Option<Proposal> {
    match dicom_ul::pdu::read_pdu(bytes, 1 << 20, false).ok()?? {
        Pdu::AssociationRQ(rq) => Some(Proposal {
            calling_ae: rq.calling_ae_title.trim().to_owned(),
            called_ae: rq.called_ae_title.trim().to_owned(),
            abstract_syntaxes: rq
                .presentation_contexts
                .into_iter()
                .map(|pc| pc.abstract_syntax)
                .collect(),
        }),
        _ => None,
    }
}
