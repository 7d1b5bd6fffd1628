//! One C-STORE data set in flight: streamed into a temporary Part 10 file (preamble, our file
//! meta group, then the data set bytes exactly as received), then checked and committed to the
//! store on the blocking pool. Any failure becomes a DIMSE status, never a dropped request.

use std::path::PathBuf;

use dicom_object::meta::FileMetaTableBuilder;
use tokio::io::{AsyncWriteExt, BufWriter};
use tracing::{debug, info, warn};

use super::{ScpContext, quarantine_path};
use crate::dicom::dimse::{Response, status};
use crate::logtext::capped;
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
    sink: Sink,
    /// Where the data set starts (after preamble and file meta).
    dataset_offset: u64,
    written: u64,
    limit: u64,
    /// Set at the first failure; later fragments are read and dropped, then this is answered.
    failure: Option<(u16, String)>,
}

/// Where the Part 10 bytes of the instance in flight go.
enum Sink {
    /// Nothing is kept (the transfer already failed).
    None,
    /// In memory, written to disk in one go when complete: most instances (a CT slice is
    /// ~0.5 MB), and no thread hand-offs while the data set streams in.
    Memory(Vec<u8>),
    /// Spilled to a temporary file once over `SPILL_BYTES`, so that large multi-frame
    /// instances do not hold memory per association.
    File(PathBuf, BufWriter<tokio::fs::File>),
}

/// Instances up to this size are assembled in memory (times `dicom.max_associations` bounds
/// the memory this takes).
const SPILL_BYTES: usize = 4 << 20;

const IMPLEMENTATION_CLASS_UID: &str = "1.2.826.0.1.3680043.10.1434.1";
const IMPLEMENTATION_VERSION: &str = concat!("PETGROUND_", env!("CARGO_PKG_VERSION"));

/// A store failure as the status it earns: A700 for a full disk, else 0110.
fn store_status(err: crate::store::StoreError) -> (u16, String) {
    let code = if err.is_out_of_space() {
        status::OUT_OF_RESOURCES
    } else {
        status::PROCESSING_FAILURE
    };
    (code, err.to_string())
}

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
            sink: Sink::None,
            dataset_offset: 0,
            written: 0,
            limit: ctx.cfg.max_instance_bytes,
            failure: None,
            expect,
        };
        let e = &me.expect;
        if super::disk_reserve_reached(ctx) {
            // Checked per instance, not only when the association opened: one accepted
            // association can fill the disk.
            me.failure = Some((
                status::OUT_OF_RESOURCES,
                "free disk space is below dicom.min_free_disk_mb".into(),
            ));
        } else if crate::ids::Uid::parse(&e.sop_instance).is_err() {
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
            match me.file_head() {
                Ok(head) => {
                    me.dataset_offset = head.len() as u64;
                    me.sink = Sink::Memory(head);
                }
                Err((code, why)) => me.failure = Some((code, why)),
            }
        }
        me
    }

    /// Preamble, "DICM" and our file meta group for this instance.
    fn file_head(&self) -> Result<Vec<u8>, (u16, String)> {
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
        let mut head = Vec::with_capacity(1 << 20);
        head.resize(128, 0);
        head.extend_from_slice(b"DICM");
        meta.write(&mut head)
            .map_err(|err| (status::PROCESSING_FAILURE, format!("file meta: {err}")))?;
        Ok(head)
    }

    /// Moves the bytes gathered in memory to a temporary file (blocking pool).
    async fn spill(ctx: &ScpContext, buf: Vec<u8>) -> Result<Sink, (u16, String)> {
        let store = ctx.store.clone();
        let made = tokio::task::spawn_blocking(move || {
            use std::io::Write;
            let (path, mut file) = store.incoming_file().map_err(store_status)?;
            match file.write_all(&buf) {
                Ok(()) => Ok((path, file)),
                Err(err) => {
                    let _ = std::fs::remove_file(&path);
                    Err((io_status(&err), format!("write failed: {err}")))
                }
            }
        })
        .await
        .map_err(|join| {
            (
                status::PROCESSING_FAILURE,
                format!("spill task failed: {join}"),
            )
        })??;
        let (path, file) = made;
        Ok(Sink::File(
            path,
            BufWriter::with_capacity(1 << 18, tokio::fs::File::from_std(file)),
        ))
    }

    pub async fn write(&mut self, ctx: &ScpContext, data: &[u8]) {
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
        match &mut self.sink {
            Sink::None => {}
            Sink::Memory(buf) if buf.len() + data.len() <= SPILL_BYTES => {
                buf.extend_from_slice(data)
            }
            Sink::Memory(buf) => {
                let mut buf = std::mem::take(buf);
                buf.extend_from_slice(data);
                match Self::spill(ctx, buf).await {
                    Ok(sink) => self.sink = sink,
                    Err(f) => {
                        self.sink = Sink::None;
                        self.failure = Some(f);
                    }
                }
            }
            Sink::File(_, w) => {
                if let Err(err) = w.write_all(data).await {
                    self.failure = Some((io_status(&err), format!("write failed: {err}")));
                }
            }
        }
    }

    /// Drops a transfer that will never complete (association ended mid-data-set).
    pub async fn discard(mut self) {
        if let Sink::File(path, w) = std::mem::replace(&mut self.sink, Sink::None) {
            drop(w);
            let _ = tokio::fs::remove_file(path).await;
        }
    }

    /// Completes the transfer: the response to send and the bytes stored.
    pub async fn finish(mut self, ctx: &ScpContext) -> (Response, u64) {
        let tmp = match std::mem::replace(&mut self.sink, Sink::None) {
            Sink::Memory(buf) => Some(Payload::Memory(buf)),
            Sink::File(path, mut w) => match w.flush().await {
                Ok(()) => Some(Payload::File(path)),
                Err(err) => {
                    self.failure
                        .get_or_insert((io_status(&err), format!("write failed: {err}")));
                    let _ = tokio::fs::remove_file(&path).await;
                    None
                }
            },
            Sink::None => None,
        };
        let e = &self.expect;
        let rsp = |code| Response::store(e.message_id, &e.sop_class, &e.sop_instance, code);
        if let Some((code, why)) = self.failure.take() {
            if let Some(Payload::File(p)) = tmp {
                let _ = tokio::fs::remove_file(p).await;
            }
            warn!(sop = %capped(&e.sop_instance), status = format!("{code:04X}"), reason = %capped(&why), "C-STORE failed");
            return (rsp(code).with_comment(&why), 0);
        }
        let Some(tmp) = tmp else {
            return (rsp(status::PROCESSING_FAILURE), 0);
        };
        let (code, why) = commit(ctx, tmp, e, self.dataset_offset).await;
        match &why {
            None => debug!(sop = %capped(&e.sop_instance), "stored"),
            Some(w) => {
                warn!(sop = %capped(&e.sop_instance), status = format!("{code:04X}"), reason = %capped(w), "C-STORE failed")
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

/// A completely received instance: Part 10 bytes in memory, or a temporary file.
enum Payload {
    Memory(Vec<u8>),
    File(PathBuf),
}

/// Checks the data set against its command and commits it. Returns the status and, for a
/// failure, the reason.
async fn commit(
    ctx: &ScpContext,
    payload: Payload,
    e: &Expect,
    offset: u64,
) -> (u16, Option<String>) {
    let store = ctx.store.clone();
    let quarantine = quarantine_path(ctx, &e.sop_instance);
    let (want_class, want_inst) = (e.sop_class.clone(), e.sop_instance.clone());
    let ts = e.transfer_syntax.trim_end_matches('\0').to_owned();
    let limit = ctx.cfg.max_instance_bytes;
    let joined = tokio::task::spawn_blocking(move || {
        let (tmp, walked) = match payload {
            Payload::File(path) => (path, None),
            Payload::Memory(buf) => {
                // Walked from memory before it is written: no second read of the file.
                // (Deflated data sets are inflated and walked from the file below.)
                let walked = (ts != dicom_dictionary_std::uids::DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN)
                    .then(|| check_complete_bytes(&buf, offset, &ts));
                let (path, mut file) = store.incoming_file().map_err(store_status)?;
                if let Err(err) = std::io::Write::write_all(&mut file, &buf) {
                    let _ = std::fs::remove_file(&path);
                    return Err((io_status(&err), format!("write failed: {err}")));
                }
                (path, walked)
            }
        };
        let walked = walked.unwrap_or_else(|| check_complete(&tmp, offset, &ts, &store, limit));
        if let Err(why) = walked {
            keep_in_quarantine(&tmp, &quarantine, &why);
            return Err((status::CANNOT_UNDERSTAND, why));
        }
        let header = match InstanceHeader::read_walked(&tmp) {
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
                store_status(err)
            })
    })
    .await;
    match joined {
        Ok(Ok((outcome, events))) => {
            if let StoreOutcome::NewVersion(v) = outcome {
                warn!(sop = %capped(&e.sop_instance), version = v, "same SOP Instance UID with different content: kept as a new version");
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

/// `check_complete` for a (not deflated) data set still in memory.
fn check_complete_bytes(buf: &[u8], offset: u64, ts: &str) -> Result<(), String> {
    let explicit = ts != dicom_dictionary_std::uids::IMPLICIT_VR_LITTLE_ENDIAN;
    crate::walk::check_complete(std::io::Cursor::new(buf), offset, explicit)
        .map_err(|e| e.to_string())
}

/// Refuses a data set that was cut short (see `walk`).
fn check_complete(
    path: &std::path::Path,
    offset: u64,
    ts: &str,
    store: &crate::store::Store,
    limit: u64,
) -> Result<(), String> {
    use dicom_dictionary_std::uids;
    if ts == uids::DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN {
        return check_deflated(path, offset, store, limit);
    }
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let explicit = ts != uids::IMPLICIT_VR_LITTLE_ENDIAN;
    crate::walk::check_complete(file, offset, explicit).map_err(|e| e.to_string())
}

/// A deflated data set is inflated into a temporary file (at most `limit` bytes: a small
/// stream can inflate to gigabytes) and walked there, so that no parser meets its lengths
/// before they are checked against the bytes that are really there.
fn check_deflated(
    path: &std::path::Path,
    offset: u64,
    store: &crate::store::Store,
    limit: u64,
) -> Result<(), String> {
    use std::io::{Read, Seek};
    let mut file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    file.seek(std::io::SeekFrom::Start(offset))
        .map_err(|e| e.to_string())?;
    let (tmp, mut out) = store.incoming_file().map_err(|e| e.to_string())?;
    let inflated = {
        let mut inflate = flate2::read::DeflateDecoder::new(std::io::BufReader::new(file));
        std::io::copy(&mut (&mut inflate).take(limit + 1), &mut out)
    };
    let walked = match inflated {
        Ok(n) if n > limit => Err("inflated data set exceeds dicom.max_instance_mb".to_owned()),
        Ok(_) => std::fs::File::open(&tmp)
            .map_err(|e| e.to_string())
            .and_then(|f| crate::walk::check_complete(f, 0, true).map_err(|e| e.to_string())),
        Err(e) => Err(format!("deflated data set cannot be inflated: {e}")),
    };
    let _ = std::fs::remove_file(&tmp);
    walked
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
