//! Cancelled reports → IHE IOCM rejection notes. When the RIS cancels a report (OBR-25 `X`), the
//! SEGs and SRs the node delivered for that accession's earlier reports (every version: the
//! original and its corrections) are withdrawn by a Key Object Selection Document titled
//! "Rejected for Patient Safety Reasons" (`sr::kos`), sent through the outbox to the
//! destinations that received them. A destination gets one note naming exactly what it
//! received (destinations that received the same objects share one note).
//!
//! The note waits while the outcome is open (a job of the accession still queued, or one of its
//! files still pending delivery), so it names what was really delivered and arrives after it.
//! Notes are written durably, then queued, the jobs recorded as rejected and the cancel taken
//! off the store's queue in one commit (`Store::finish_rejection`): a crash before that commit
//! builds the note again (nothing was queued), after it nothing is sent twice.
//!
//! A superseded report's objects are not rejected when its correction arrives: a correction is
//! no patient-safety withdrawal, the PACS keeps both versions apart by series number and
//! description (`versions`), and a later cancel withdraws all of them.

use std::collections::BTreeMap;

use dicom_dictionary_std::tags;
use dicom_object::{InMemDicomObject, OpenFileOptions};
use tracing::{info, warn};

use super::versions::{REJECTION_DESCRIPTION, rejection_series_number};
use crate::ids::Uid;
use crate::sr::{RejectedObject, RejectionNoteBuilder};
use crate::store::{
    Cancellation, DeliveryState, OutboxItem, OutboxKind, RejectionRecord, Store, StoreError,
    unix_now,
};

/// A delivered object: which job made it, its SOP Instance UID and file.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Delivered {
    job: String,
    sop: Uid,
    path: String,
}

/// Queues the rejection notes of every settled cancel; returns how many notes were queued.
pub fn reject_cancelled(store: &Store, base_series_number: i32) -> Result<usize, StoreError> {
    let mut queued = 0;
    for c in store.pending_cancellations()? {
        if c.unsettled() {
            continue;
        }
        match notes_for(store, &c, base_series_number) {
            Ok(notes) => {
                queued += notes.len();
                record(store, &c, notes)?;
            }
            // The files are the node's own: unreadable means a damaged data dir. The cancel
            // stays queued and is tried again on the next round.
            Err(reason) => warn!(cancel = c.cancel, %reason, "rejection note not built"),
        }
    }
    Ok(queued)
}

/// One built note: its SOP Instance UID, where it lies, what it names, who gets it.
struct Note {
    sop: Uid,
    path: String,
    objects: Vec<Delivered>,
    destinations: Vec<String>,
}

/// For each distinct set of delivered objects, the destinations that received exactly it.
fn by_destination(c: &Cancellation) -> Vec<(Vec<Delivered>, Vec<String>)> {
    let mut per_dest: BTreeMap<&str, Vec<Delivered>> = BTreeMap::new();
    for (key, _, items) in &c.jobs {
        for i in items {
            let sent = matches!(i.state, DeliveryState::Sent { .. });
            if sent && matches!(i.kind, OutboxKind::Seg | OutboxKind::Sr) {
                per_dest.entry(&i.destination).or_default().push(Delivered {
                    job: key.clone(),
                    sop: i.sop_instance.clone(),
                    path: i.path.clone(),
                });
            }
        }
    }
    let mut groups: Vec<(Vec<Delivered>, Vec<String>)> = Vec::new();
    for (dest, mut objects) in per_dest {
        objects.sort();
        objects.dedup();
        match groups.iter_mut().find(|(o, _)| *o == objects) {
            Some((_, dests)) => dests.push(dest.to_owned()),
            None => groups.push((objects, vec![dest.to_owned()])),
        }
    }
    groups
}

/// Builds and durably writes the notes of one cancel (none when nothing was delivered).
fn notes_for(store: &Store, c: &Cancellation, base: i32) -> Result<Vec<Note>, String> {
    let mut notes = Vec::new();
    for (objects, destinations) in by_destination(c) {
        let mut header = None;
        let mut rejected = Vec::new();
        for o in &objects {
            let (obj, r) = read_object(&store.absolute(&o.path))?;
            header.get_or_insert(obj);
            rejected.push(r);
        }
        let Some(header) = header else { continue };
        let accession = c.accession.as_deref().unwrap_or("-");
        let mut builder = RejectionNoteBuilder::new(&header, rejection_series_number(base))
            .series_description(REJECTION_DESCRIPTION)
            .description(&format!(
                "The report of accession {accession} was cancelled by the RIS (OBR-25 X): \
                 petground withdraws the segmentations and measurement reports it derived from it."
            ));
        for r in rejected {
            builder = builder.reject(r);
        }
        let note = builder.build().map_err(|e| e.to_string())?;
        let sop = Uid::parse(&crate::seg::sop_instance_uid(&note)).map_err(|e| e.to_string())?;
        let bytes = crate::seg::seg_to_bytes(&note).map_err(|e| e.to_string())?;
        let path = super::write_to_outbox(store, &sop, &bytes).map_err(|e| e.to_string())?;
        notes.push(Note {
            sop,
            path,
            objects,
            destinations,
        });
    }
    Ok(notes)
}

/// A delivered file's data set (without pixel data) and its reference in a note.
fn read_object(path: &std::path::Path) -> Result<(InMemDicomObject, RejectedObject), String> {
    let obj = OpenFileOptions::new()
        .read_until(tags::PIXEL_DATA)
        .open_file(path)
        .map_err(|e| format!("{}: {e}", path.display()))?
        .into_inner();
    let get = |tag| {
        obj.get(tag)
            .and_then(|e| e.value().to_str().ok())
            .map(|s| s.trim_end_matches(['\0', ' ']).to_owned())
            .ok_or_else(|| format!("{}: no {tag}", path.display()))
    };
    let r = RejectedObject {
        sop_class_uid: get(tags::SOP_CLASS_UID)?,
        sop_instance_uid: get(tags::SOP_INSTANCE_UID)?,
        series_instance_uid: get(tags::SERIES_INSTANCE_UID)?,
    };
    Ok((obj, r))
}

/// Queues the notes, records every job of the cancel as rejected, in one commit.
fn record(store: &Store, c: &Cancellation, notes: Vec<Note>) -> Result<(), StoreError> {
    let now = unix_now();
    let job = format!("reject/{}", c.cancel);
    let mut items = Vec::new();
    for n in &notes {
        for dest in &n.destinations {
            items.push(OutboxItem {
                path: n.path.clone(),
                kind: OutboxKind::Kos,
                sop_instance: n.sop.clone(),
                destination: dest.clone(),
                job: job.clone(),
                state: DeliveryState::Pending {
                    next_try_unix: 0,
                    last_error: None,
                },
                attempts: 0,
                created_unix: now,
            });
        }
        info!(cancel = c.cancel, kos = %n.sop, objects = n.objects.len(), destinations = n.destinations.len(), "rejection note queued");
    }
    let jobs: Vec<(String, RejectionRecord)> = c
        .jobs
        .iter()
        .map(|(key, _, _)| {
            let names = |n: &&Note| n.objects.iter().any(|o| &o.job == key);
            let rec = RejectionRecord {
                cancel: c.cancel,
                notes: notes.iter().filter(names).map(|n| n.sop.clone()).collect(),
                unix: now,
            };
            (key.clone(), rec)
        })
        .collect();
    if notes.is_empty() {
        info!(
            cancel = c.cancel,
            jobs = jobs.len(),
            "cancel: nothing delivered to withdraw"
        );
    }
    store.finish_rejection(c.cancel, &jobs, &items)
}
