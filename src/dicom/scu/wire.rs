//! One DIMSE exchange (C-STORE or C-ECHO) on an established association: the command set and
//! any data set as P-DATA fragments no larger than the peer allows, then the response, which
//! must be of the right kind and answer the MessageID just sent. Command sets go through `dimse`'s
//! codec; every wait is bounded.

use dicom_ul::association::Error as UlError;
use dicom_ul::pdu::{PDataValue, PDataValueType, Pdu};

use super::files::FileMeta;
use super::{Assoc, ScuError, ScuOptions, error_chain};
use crate::dicom::dimse::{C_ECHO_RSP, C_STORE_RSP, Request, Response};
use tokio::time::Instant;

/// PDV item overhead inside a P-DATA-TF PDU: item length (4), context ID (1), control header (1).
const PDV_OVERHEAD: u32 = 6;
/// Our own cap on one fragment, whatever the peer allows, to bound the PDU buffer.
const MAX_FRAGMENT: u32 = 1 << 20;

/// The fixed parts of one exchange.
pub struct Exchange<'a> {
    pub dest: &'a str,
    pub pc: u8,
    pub message_id: u16,
    pub opts: &'a ScuOptions,
}

impl Exchange<'_> {
    /// Sends C-STORE-RQ with `data` and returns the peer's answer.
    pub async fn store(
        &self,
        assoc: &mut Assoc,
        meta: &FileMeta,
        data: &[u8],
    ) -> Result<Response, ScuError> {
        let cmd = Request::Store {
            message_id: self.message_id,
            sop_class_uid: meta.sop_class.clone(),
            sop_instance_uid: meta.sop_instance.clone(),
            has_dataset: true,
        };
        self.request(assoc, &cmd, Some(data), C_STORE_RSP).await
    }

    /// Sends C-ECHO-RQ and returns the peer's answer.
    pub async fn echo(&self, assoc: &mut Assoc, sop_class: &str) -> Result<Response, ScuError> {
        let cmd = Request::Echo {
            message_id: self.message_id,
            sop_class_uid: sop_class.to_owned(),
        };
        self.request(assoc, &cmd, None, C_ECHO_RSP).await
    }

    /// Sends `cmd` (and its data set) and reads the response, which must be `expect` and answer
    /// this exchange's MessageID.
    async fn request(
        &self,
        assoc: &mut Assoc,
        cmd: &Request,
        data: Option<&[u8]>,
        expect: u16,
    ) -> Result<Response, ScuError> {
        self.send(assoc, PDataValueType::Command, &cmd.encode())
            .await?;
        if let Some(data) = data {
            self.send(assoc, PDataValueType::Data, data).await?;
        }
        let rsp = self.response(assoc).await?;
        if rsp.command_field != expect {
            return Err(self.protocol(format!(
                "expected response command 0x{expect:04X}, got 0x{:04X}",
                rsp.command_field
            )));
        }
        if rsp.message_id_responded != self.message_id {
            return Err(self.protocol(format!(
                "response answers message {} but {} was sent",
                rsp.message_id_responded, self.message_id
            )));
        }
        Ok(rsp)
    }

    /// Writes `bytes` as one message of `kind`, split into PDUs within the peer's maximum.
    async fn send(
        &self,
        assoc: &mut Assoc,
        kind: PDataValueType,
        bytes: &[u8],
    ) -> Result<(), ScuError> {
        let peer_max = assoc.acceptor_max_pdu_length();
        let fragment = peer_max.saturating_sub(PDV_OVERHEAD).clamp(1, MAX_FRAGMENT) as usize;
        // An empty message still needs one (last) fragment.
        let chunks: Vec<&[u8]> = match bytes.is_empty() {
            true => vec![bytes],
            false => bytes.chunks(fragment).collect(),
        };
        let count = chunks.len();
        for (i, chunk) in chunks.into_iter().enumerate() {
            let pdu = Pdu::PData {
                data: vec![PDataValue {
                    presentation_context_id: self.pc,
                    value_type: kind.clone(),
                    is_last: i + 1 == count,
                    data: chunk.to_vec(),
                }],
            };
            self.bounded("sending a request", assoc.send(&pdu)).await?;
        }
        Ok(())
    }

    /// Reads PDUs until a complete command set arrives and decodes it.
    async fn response(&self, assoc: &mut Assoc) -> Result<Response, ScuError> {
        const STAGE: &str = "waiting for the response";
        let deadline = Instant::now() + self.opts.dimse_timeout;
        let mut command = Vec::new();
        loop {
            let pdu = match tokio::time::timeout_at(deadline, assoc.receive()).await {
                Ok(Ok(pdu)) => pdu,
                // The association's own read timeout is the (shorter) ACSE one. receive() is
                // cancel-safe (bytes read stay in its buffer), so keep waiting to our deadline.
                Ok(Err(UlError::Timeout { .. })) if Instant::now() < deadline => continue,
                Ok(Err(e)) => return Err(self.failed(STAGE, e)),
                Err(_) => return Err(self.timed_out(STAGE)),
            };
            match pdu {
                Pdu::PData { data } => {
                    for pdv in data {
                        if pdv.value_type != PDataValueType::Command {
                            return Err(self.protocol("response with a data set".into()));
                        }
                        command.extend_from_slice(&pdv.data);
                        if pdv.is_last {
                            return Response::decode(&command)
                                .map_err(|e| self.protocol(format!("response command set: {e}")));
                        }
                    }
                }
                Pdu::AbortRQ { .. } => {
                    return Err(ScuError::Aborted {
                        dest: self.dest.to_owned(),
                    });
                }
                other => {
                    return Err(self.protocol(format!(
                        "unexpected {} while waiting for the response",
                        other.short_description()
                    )));
                }
            }
        }
    }

    /// Runs one PDU write under the DIMSE timeout.
    async fn bounded(
        &self,
        stage: &'static str,
        io: impl Future<Output = Result<(), UlError>>,
    ) -> Result<(), ScuError> {
        match tokio::time::timeout(self.opts.dimse_timeout, io).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(self.failed(stage, e)),
            Err(_) => Err(self.timed_out(stage)),
        }
    }

    fn failed(&self, stage: &'static str, e: UlError) -> ScuError {
        let dest = self.dest.to_owned();
        match e {
            UlError::Aborted { .. } => ScuError::Aborted { dest },
            e => ScuError::Network {
                dest,
                stage,
                detail: error_chain(&e),
            },
        }
    }

    fn timed_out(&self, stage: &'static str) -> ScuError {
        ScuError::Timeout {
            dest: self.dest.to_owned(),
            stage,
            after: self.opts.dimse_timeout,
        }
    }

    fn protocol(&self, detail: String) -> ScuError {
        ScuError::Protocol {
            dest: self.dest.to_owned(),
            detail,
        }
    }
}
