//! The only orchestrator: decides which job runs when (`jobs.rs`: which report gets a job on
//! which series; `series.rs`: when a series is complete). A job exists for every active report
//! matched to a study with a complete PET series (created idempotently in the store, in either
//! arrival order); jobs run one at a time on the blocking pool; a finished job's SEG (and, with
//! `[results] sr`, its SR) is written durably and queued for every destination — the SEG first,
//! then the SR — in the same commit that marks the job done.
//! Interrupted jobs (a crash) run again after restart; failures are recorded, not retried forever.
//! Each report version's SEG and SR get their own series (`versions.rs`); a cancelled report's
//! delivered SEGs and SRs are withdrawn by an IOCM rejection note (`reject.rs`), queued after
//! the jobs of each round.

pub mod ground;
pub mod jobs;
pub mod picture;
pub mod record;
pub mod reject;
pub mod restate;
pub mod retention;
pub mod segmentation;
pub mod series;
pub mod study;
pub mod versions;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Notify, broadcast};
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, info, info_span, warn};

use crate::ground::grounder::{Grounder, GroundingMode};
use crate::ids::Uid;
use crate::label::LabelParams;
use crate::store::{
    DeliveryState, Event, FindingOutcome, JobRecord, JobState, Layout, OutboxItem, OutboxKind,
    ReportRecord, ReportState, ReportStatus, Store, StoreError, unix_now,
};

/// A job interrupted this many times (crash while running) is failed, not retried again.
pub const MAX_ATTEMPTS: u32 = 3;

#[derive(Debug, Clone)]
pub struct PipelineConfig {
    /// Destination names (`routing.send_seg_to`).
    pub send_seg_to: Vec<String>,
    pub label: LabelParams,
    /// SeriesNumber of the SEGs we write (the SRs get the next one).
    pub seg_series_number: i32,
    /// Whether every SEG is followed by its quantitative SR (`[results] sr`).
    pub sr: bool,
    /// The grounding model, when one is loaded (shared with nothing else; one job at a time).
    pub grounder: Option<Arc<Mutex<Grounder>>>,
    pub mode: GroundingMode,
    /// How long a job that uses the model waits for a complete CT series (`pipeline::jobs`).
    pub ct_wait: Duration,
}

/// Runs until `shutdown`. Wakes on store events and once a second.
pub async fn run(
    store: Arc<Store>,
    cfg: PipelineConfig,
    mut events: broadcast::Receiver<Event>,
    delivery: Arc<Notify>,
    shutdown: CancellationToken,
) {
    loop {
        let s = store.clone();
        // The CT matters only to a job that will run the model.
        let ct_wait = cfg.grounder.is_some().then_some(cfg.ct_wait);
        let jobs = tokio::task::spawn_blocking(move || {
            let now = unix_now();
            s.create_ready_jobs(now, |r, series| jobs::plan_job(r, series, now, ct_wait))?;
            s.runnable_jobs()
        })
        .await;
        match jobs {
            Ok(Ok(jobs)) => {
                for (key, job) in jobs {
                    if shutdown.is_cancelled() {
                        return;
                    }
                    let span = info_span!("job", %key);
                    run_job(&store, &cfg, key, job, &delivery)
                        .instrument(span)
                        .await;
                }
            }
            Ok(Err(e)) => warn!(error = %e, "pipeline: store error"),
            Err(e) => warn!(error = %e, "pipeline task failed"),
        }
        reject_round(&store, &cfg, &delivery).await;
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = events.recv() => {}
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}

/// Queues the rejection notes of settled cancels (after the round's jobs, so none of their jobs
/// runs meanwhile).
async fn reject_round(store: &Arc<Store>, cfg: &PipelineConfig, delivery: &Notify) {
    let s = store.clone();
    let base = cfg.seg_series_number;
    match tokio::task::spawn_blocking(move || reject::reject_cancelled(&s, base)).await {
        Ok(Ok(0)) => {}
        Ok(Ok(_)) => delivery.notify_one(),
        Ok(Err(e)) => warn!(error = %e, "rejection notes could not be recorded"),
        Err(e) => warn!(error = %e, "rejection task failed"),
    }
}

async fn run_job(
    store: &Arc<Store>,
    cfg: &PipelineConfig,
    key: String,
    job: JobRecord,
    delivery: &Notify,
) {
    let s = store.clone();
    let c = cfg.clone();
    let k = key.clone();
    let result = tokio::task::spawn_blocking(move || execute(&s, &c, &k, job)).await;
    match result {
        Ok(Ok(state)) => {
            if matches!(state, JobState::Done) {
                delivery.notify_one();
            }
        }
        Ok(Err(e)) => warn!(error = %e, "job could not be recorded"),
        Err(e) => warn!(error = %e, "job task panicked or was cancelled"),
    }
}

/// Runs one job to its recorded end state.
fn execute(
    store: &Store,
    cfg: &PipelineConfig,
    key: &str,
    mut job: JobRecord,
) -> Result<JobState, StoreError> {
    let report = store.report(job.report)?;
    if let Some(reason) = skip_reason(report.as_ref()) {
        job.state = JobState::Skipped { reason };
        job.finished_unix = Some(unix_now());
        store.put_job(key, &job)?;
        return Ok(job.state);
    }
    if job.attempts >= MAX_ATTEMPTS {
        job.state = JobState::Failed {
            reason: format!("interrupted {} times; not retried", job.attempts),
        };
        store.put_job(key, &job)?;
        return Ok(job.state);
    }
    job.attempts += 1;
    job.state = JobState::Running;
    store.put_job(key, &job)?;
    let corrected = report.as_ref().map(|r| r.status) == Some(ReportStatus::Corrected);
    let text = report.map(|r| r.text).unwrap_or_default();
    let version = store.report_version(job.report)?;
    let names = versions::series_names(cfg.seg_series_number, version, corrected, job.version);
    let (pet, ct) = job_files(store, cfg, &job)?;
    let started = std::time::Instant::now();
    match run_core(cfg, &pet, &ct, &text, &names) {
        Ok(products) => record_done(store, cfg, key, job, products, started),
        Err(reason) => {
            warn!(error = %reason, "job failed");
            job.state = JobState::Failed { reason };
            job.finished_unix = Some(unix_now());
            store.put_job(key, &job)?;
            Ok(job.state)
        }
    }
}

/// Why a job is not run: its report is gone, superseded or cancelled.
fn skip_reason(report: Option<&ReportRecord>) -> Option<String> {
    match report {
        None => Some("its report is missing".to_owned()),
        Some(r) => match &r.state {
            ReportState::Active => None,
            ReportState::Superseded { by } => Some(format!("report superseded by report {by}")),
            ReportState::Cancelled => Some("report cancelled".to_owned()),
        },
    }
}

/// The job's PET files and, when a model may use it, the study's fullest CT series.
fn job_files(
    store: &Store,
    cfg: &PipelineConfig,
    job: &JobRecord,
) -> Result<(Vec<PathBuf>, Vec<PathBuf>), StoreError> {
    let pet = series_files(store, &job.pet_series)?;
    if cfg.grounder.is_none() {
        return Ok((pet, Vec::new()));
    }
    let ct_series = store
        .study_series(&job.study)?
        .into_iter()
        .filter(|(_, s)| s.modality == "CT")
        .max_by_key(|(_, s)| s.instances);
    let ct = match &ct_series {
        Some((uid, _)) => series_files(store, uid)?,
        None => Vec::new(),
    };
    Ok((pet, ct))
}

/// What a job made: the finding records, the encoded SEG and SR (SOP Instance UID, bytes) and
/// the MIP picture with the segments outlined (PNG; for the web page).
struct Products {
    findings: Vec<FindingOutcome>,
    seg: Option<(Uid, Vec<u8>)>,
    sr: Option<(Uid, Vec<u8>)>,
    picture: Vec<u8>,
    /// What the job record should say about how it ran.
    notes: Vec<String>,
}

/// The job core on the job's files, with its objects encoded. An error here fails the job (it
/// would fail again on a retry); an error writing the results does not.
fn run_core(
    cfg: &PipelineConfig,
    pet: &[PathBuf],
    ct: &[PathBuf],
    text: &str,
    names: &versions::SeriesNames,
) -> Result<Products, String> {
    let findings = crate::report::findings_from_text(text);
    let study = study::prepare(pet, ct).map_err(|e| e.to_string())?;
    let methods = ground::Methods {
        label: &cfg.label,
        model: cfg.grounder.as_deref(),
        mode: cfg.mode,
    };
    let grounded = segmentation::ground_study_named(study, &findings, &methods, cfg.sr, names)
        .map_err(|e| e.to_string())?;
    let encode = |obj: &crate::seg::SegObject| {
        crate::seg::seg_to_bytes(obj)
            .map_err(|e| e.to_string())
            .and_then(|bytes| {
                let sop = Uid::parse(&crate::seg::sop_instance_uid(obj));
                Ok((sop.map_err(|e| e.to_string())?, bytes))
            })
    };
    Ok(Products {
        findings: record::finding_records(&findings, &grounded.findings),
        seg: grounded.seg.as_ref().map(encode).transpose()?,
        sr: grounded.sr.as_ref().map(encode).transpose()?,
        picture: picture::grounded_png(&grounded, &findings),
        notes: grounded
            .ct_unused
            .iter()
            .map(|why| format!("CT not usable for the model, grounded on the PET alone: {why}"))
            .collect(),
    })
}

/// Writes the SEG and SR durably and, in one commit, marks the job done and queues them for
/// every destination: per destination the SEG, then its SR (the outbox keeps that order).
fn record_done(
    store: &Store,
    cfg: &PipelineConfig,
    key: &str,
    mut job: JobRecord,
    products: Products,
    started: std::time::Instant,
) -> Result<JobState, StoreError> {
    for f in &products.findings {
        match &f.method {
            Some(m) => info!(segment = f.segment, method = %m, "finding grounded"),
            None => info!(reason = %f.detail, "finding not grounded"),
        }
    }
    let mut files = Vec::new();
    for (kind, object) in [
        (OutboxKind::Seg, &products.seg),
        (OutboxKind::Sr, &products.sr),
    ] {
        if let Some((sop, bytes)) = object {
            files.push((kind, write_to_outbox(store, sop, bytes)?, sop));
        }
    }
    job.findings = products.findings;
    job.notes.extend(products.notes);
    job.seg = products.seg.as_ref().map(|(sop, _)| sop.clone());
    job.sr = products.sr.as_ref().map(|(sop, _)| sop.clone());
    write_picture(store, key, &products.picture);
    let deliveries = outbox_items(cfg, key, &files);
    job.state = JobState::Done;
    job.finished_unix = Some(unix_now());
    let grounded_n = job.findings.iter().filter(|f| f.method.is_some()).count();
    info!(
        findings = job.findings.len(),
        grounded = grounded_n,
        seg = job.seg.as_deref().unwrap_or("-"),
        sr = job.sr.as_deref().unwrap_or("-"),
        secs = started.elapsed().as_secs_f64(),
        "job done"
    );
    store.finish_job(key, &job, &deliveries)?;
    Ok(job.state)
}

/// One outbox item per destination and file, the SEG before its SR.
fn outbox_items(
    cfg: &PipelineConfig,
    key: &str,
    files: &[(OutboxKind, String, &Uid)],
) -> Vec<OutboxItem> {
    let mut deliveries = Vec::new();
    for dest in &cfg.send_seg_to {
        for (kind, rel, sop) in files {
            deliveries.push(OutboxItem {
                path: rel.clone(),
                kind: *kind,
                sop_instance: (*sop).clone(),
                destination: dest.clone(),
                job: key.to_owned(),
                state: DeliveryState::Pending {
                    next_try_unix: 0,
                    last_error: None,
                },
                attempts: 0,
                created_unix: unix_now(),
            });
        }
    }
    deliveries
}

fn series_files(store: &Store, series: &str) -> Result<Vec<PathBuf>, StoreError> {
    let mut files: Vec<PathBuf> = store
        .series_instances(series)?
        .into_iter()
        .map(|(_, r)| store.absolute(&r.path))
        .collect();
    files.sort();
    Ok(files)
}

/// Writes the job's picture durably before the job is marked done (so a done job's picture is
/// there). Only the web page shows it: a failure is logged and the job goes on.
fn write_picture(store: &Store, key: &str, png: &[u8]) {
    let path = store.layout().absolute(Layout::picture_rel(key));
    if let Err(e) = crate::store::write_durably(&path, png) {
        warn!(error = %e, "job picture not written");
    }
}

/// Writes an encoded SEG or SR durably to the outbox and returns its path relative to the
/// data dir.
fn write_to_outbox(store: &Store, sop: &str, bytes: &[u8]) -> Result<String, StoreError> {
    let rel = Layout::outbox_rel(sop);
    crate::store::write_durably(&store.layout().absolute(&rel), bytes)?;
    Ok(rel)
}
