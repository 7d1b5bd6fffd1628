//! One C-STORE data set in flight: streamed into a temporary Part 10 file (preamble, our file
//! meta group, then the data set bytes exactly as received), then checked and committed to the
//! store on the blocking pool. Any failure becomes a DIMSE status, never a dropped request.

use std::path::PathBuf;

use dicom_object::meta::FileMetaTableBuilder;
use tokio::io::{AsyncWriteExt, BufWriter};
use tracing::{debug, info, warn};

use super::{ScpContext, quarantine_path};
use crate::dicom::dimse::{Response, status};
use crate::store::{InstanceHeader, StoreOutcome, unix_now};

/// What the command promised about the data set that follows.
pub struct Expect {
    pub pc: u8,
    pub message_id: u16,
    pub sop_class: String,
    pub sop_instance: String,
    pub transfer_syntax: String,
    pub abstract_syntax: String,
    pub calling: String,
}

pub struct Incoming {
    pub pc: u8,
    expect: Expect,
    tmp: Option<(PathBuf, BufWriter<tokio::fs::File>)>,
    /// Where the data set starts in the temporary file (after preamble and file meta).
    dataset_offset: u64,
    written: u64,
    limit: u64,
    /// Set at the first failure; later fragments are read and dropped, then this is answered.
    failure: Option<(u16, String)>,
}

const IMPLEMENTATION_CLASS_UID: &str = "1.2.826.0.1.3680043.10.1434.1";
const IMPLEMENTATION_VERSION: &str = concat!("PETGROUND_", env!("CARGO_PKG_VERSION"));

fn io_status(e: &std::io::Error) -> u16 {
    if e.raw_os_error() == Some(28) {
        status::OUT_OF_RESOURCES // ENOSPC
    } else {
        status::PROCESSING_FAILURE
    }
}

impl Incoming {
    pub async fn start(ctx: &ScpContext, expect: Expect) -> Self {
        let mut me = Self {
            pc: expect.pc,
            tmp: None,
            dataset_offset: 0,
            written: 0,
            limit: ctx.cfg.max_instance_bytes,
            failure: None,
            expect,
        };
        let e = &me.expect;
        if crate::dicom::Uid::parse(&e.sop_instance).is_err() {
            me.failure = Some((
                status::CANNOT_UNDERSTAND,
                "invalid AffectedSOPInstanceUID".into(),
            ));
        } else if e.sop_class.trim_end_matches('\0') != e.abstract_syntax.trim_end_matches('\0') {
            me.failure = Some((
                status::DATASET_DOES_NOT_MATCH,
                "SOP class differs from the presentation context".into(),
            ));
        } else {
            match me.open(ctx).await {
                Ok((path, w, offset)) => {
                    me.tmp = Some((path, w));
                    me.dataset_offset = offset;
                }
                Err((code, why)) => me.failure = Some((code, why)),
            }
        }
        me
    }

    async fn open(
        &self,
        ctx: &ScpContext,
    ) -> Result<(PathBuf, BufWriter<tokio::fs::File>, u64), (u16, String)> {
        let e = &self.expect;
        let meta = FileMetaTableBuilder::new()
            .media_storage_sop_class_uid(e.sop_class.trim_end_matches('\0'))
            .media_storage_sop_instance_uid(e.sop_instance.trim_end_matches('\0'))
            .transfer_syntax(e.transfer_syntax.trim_end_matches('\0'))
            .implementation_class_uid(IMPLEMENTATION_CLASS_UID)
            .implementation_version_name(IMPLEMENTATION_VERSION)
            .source_application_entity_title(e.calling.as_str())
            .build()
            .map_err(|err| (status::PROCESSING_FAILURE, format!("file meta: {err}")))?;
        let mut head = vec![0u8; 128];
        head.extend_from_slice(b"DICM");
        meta.write(&mut head)
            .map_err(|err| (status::PROCESSING_FAILURE, format!("file meta: {err}")))?;
        let (path, file) = ctx
            .store
            .incoming_file()
            .map_err(|err| (status::PROCESSING_FAILURE, err.to_string()))?;
        let mut w = BufWriter::with_capacity(1 << 18, tokio::fs::File::from_std(file));
        w.write_all(&head)
            .await
            .map_err(|err| (io_status(&err), err.to_string()))?;
        Ok((path, w, head.len() as u64))
    }

    pub async fn write(&mut self, data: &[u8]) {
        if self.failure.is_some() {
            return;
        }
        self.written += data.len() as u64;
        if self.written > self.limit {
            self.failure = Some((
                status::OUT_OF_RESOURCES,
                "instance exceeds dicom.max_instance_mb".into(),
            ));
            return;
        }
        if let Some((_, w)) = &mut self.tmp
            && let Err(err) = w.write_all(data).await
        {
            self.failure = Some((io_status(&err), format!("write failed: {err}")));
        }
    }

    /// Drops a transfer that will never complete (association ended mid-data-set).
    pub async fn discard(mut self) {
        if let Some((path, w)) = self.tmp.take() {
            drop(w);
            let _ = tokio::fs::remove_file(path).await;
        }
    }

    /// Completes the transfer: the response to send and the bytes stored.
    pub async fn finish(mut self, ctx: &ScpContext) -> (Response, u64) {
        let tmp = match self.tmp.take() {
            Some((path, mut w)) => match w.flush().await {
                Ok(()) => Some(path),
                Err(err) => {
                    self.failure
                        .get_or_insert((io_status(&err), format!("write failed: {err}")));
                    let _ = tokio::fs::remove_file(&path).await;
                    None
                }
            },
            None => None,
        };
        let e = &self.expect;
        let rsp = |code| Response::store(e.message_id, &e.sop_class, &e.sop_instance, code);
        if let Some((code, why)) = self.failure.take() {
            if let Some(p) = tmp {
                let _ = tokio::fs::remove_file(p).await;
            }
            warn!(sop = %e.sop_instance, status = format!("{code:04X}"), reason = %why, "C-STORE failed");
            return (rsp(code).with_comment(&why), 0);
        }
        let Some(tmp) = tmp else {
            return (rsp(status::PROCESSING_FAILURE), 0);
        };
        let (code, why) = commit(ctx, tmp, e, self.dataset_offset).await;
        match &why {
            None => debug!(sop = %e.sop_instance, "stored"),
            Some(w) => {
                warn!(sop = %e.sop_instance, status = format!("{code:04X}"), reason = %w, "C-STORE failed")
            }
        }
        let r = rsp(code);
        let r = match why {
            Some(w) => r.with_comment(&w),
            None => r,
        };
        (r, self.written)
    }
}

/// Checks the data set against its command and commits it. Returns the status and, for a
/// failure, the reason.
async fn commit(ctx: &ScpContext, tmp: PathBuf, e: &Expect, offset: u64) -> (u16, Option<String>) {
    let store = ctx.store.clone();
    let quarantine = quarantine_path(ctx, &e.sop_instance);
    let (want_class, want_inst) = (e.sop_class.clone(), e.sop_instance.clone());
    let ts = e.transfer_syntax.trim_end_matches('\0').to_owned();
    let joined = tokio::task::spawn_blocking(move || {
        if let Err(why) = check_complete(&tmp, offset, &ts) {
            keep_in_quarantine(&tmp, &quarantine, &why);
            return Err((status::CANNOT_UNDERSTAND, why));
        }
        let header = match InstanceHeader::read(&tmp) {
            Ok(h) => h,
            Err(err) => {
                let why = err.to_string();
                keep_in_quarantine(&tmp, &quarantine, &why);
                return Err((status::CANNOT_UNDERSTAND, why));
            }
        };
        if header.sop_instance.as_str() != want_inst.trim_end_matches('\0') {
            let _ = std::fs::remove_file(&tmp);
            return Err((
                status::DATASET_DOES_NOT_MATCH,
                "SOPInstanceUID differs from the command".into(),
            ));
        }
        if header.sop_class != want_class.trim_end_matches('\0') {
            let _ = std::fs::remove_file(&tmp);
            return Err((
                status::DATASET_DOES_NOT_MATCH,
                "SOPClassUID differs from the command".into(),
            ));
        }
        store
            .commit_instance(&tmp, &header, unix_now())
            .map_err(|err| {
                let _ = std::fs::remove_file(&tmp);
                (status::PROCESSING_FAILURE, err.to_string())
            })
    })
    .await;
    match joined {
        Ok(Ok((outcome, events))) => {
            if let StoreOutcome::NewVersion(v) = outcome {
                warn!(sop = %e.sop_instance, version = v, "same SOP Instance UID with different content: kept as a new version");
            }
            for ev in events {
                info!(event = ?ev.kind, "store event");
                let _ = ctx.events.send(ev);
            }
            (status::SUCCESS, None)
        }
        Ok(Err((code, why))) => (code, Some(why)),
        Err(join) => (
            status::PROCESSING_FAILURE,
            Some(format!("store task failed: {join}")),
        ),
    }
}

/// Refuses a data set that was cut short (see `dicom::walk`).
fn check_complete(path: &std::path::Path, offset: u64, ts: &str) -> Result<(), String> {
    use dicom_dictionary_std::uids;
    if ts == uids::DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN {
        // Deflated data sets cannot be walked without inflating: parse them whole.
        return dicom_object::open_file(path)
            .map(|_| ())
            .map_err(|e| e.to_string());
    }
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let explicit = ts != uids::IMPLICIT_VR_LITTLE_ENDIAN;
    crate::dicom::walk::check_complete(file, offset, explicit).map_err(|e| e.to_string())
}

fn keep_in_quarantine(tmp: &std::path::Path, dest: &std::path::Path, why: &str) {
    let ok = dest
        .parent()
        .is_some_and(|d| std::fs::create_dir_all(d).is_ok())
        && std::fs::rename(tmp, dest).is_ok()
        && std::fs::write(dest.with_extension("reason.txt"), why).is_ok();
    if !ok {
        let _ = std::fs::remove_file(tmp);
    }
}
