//! The only orchestrator: decides which job runs when. A job exists for every active report
//! matched to a study with a complete PET series (created idempotently in the store, in either
//! arrival order); jobs run one at a time on the blocking pool; a finished job's SEG (and, with
//! `[results] sr`, its SR) is written durably and queued for every destination — the SEG first,
//! then the SR — in the same commit that marks the job done.
//! Interrupted jobs (a crash) run again after restart; failures are recorded, not retried forever.

pub mod ground;
pub mod picture;
pub mod restate;
pub mod results;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Notify, broadcast};
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, info, info_span, warn};

use crate::ground::grounder::{Grounder, GroundingMode};
use crate::label::LabelParams;
use crate::store::{
    DeliveryState, Event, JobRecord, JobState, OutboxItem, OutboxKind, ReportState, Store,
    StoreError, unix_now,
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
        let jobs = tokio::task::spawn_blocking(move || {
            s.create_ready_jobs(unix_now())?;
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
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = events.recv() => {}
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
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
    let now = unix_now();
    let report = store.report(job.report)?;
    let skip = match &report {
        None => Some("its report is missing".to_owned()),
        Some(r) => match &r.state {
            ReportState::Active => None,
            ReportState::Superseded { by } => Some(format!("report superseded by report {by}")),
            ReportState::Cancelled => Some("report cancelled".to_owned()),
        },
    };
    if let Some(reason) = skip {
        job.state = JobState::Skipped { reason };
        job.finished_unix = Some(now);
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
    let text = report.map(|r| r.text).unwrap_or_default();
    let files = series_files(store, &job.pet_series)?;
    // The CT for the model's second channel: the study's fullest CT series, if any.
    let ct_series = store
        .study_series(&job.study)?
        .into_iter()
        .filter(|(_, s)| s.modality == "CT")
        .max_by_key(|(_, s)| s.instances);
    let ct_files = match &ct_series {
        Some((uid, _)) if cfg.grounder.is_some() => series_files(store, uid)?,
        _ => Vec::new(),
    };
    let started = std::time::Instant::now();
    let findings = crate::report::findings_from_text(&text);
    let inputs = ground::Inputs {
        pet: &files,
        ct: &ct_files,
    };
    let methods = ground::Methods {
        label: &cfg.label,
        model: cfg.grounder.as_deref(),
        mode: cfg.mode,
    };
    let outputs = ground::Outputs {
        series_number: cfg.seg_series_number,
        sr: cfg.sr,
    };
    let grounded = match ground::ground_study(&inputs, &findings, &methods, &outputs) {
        Ok(g) => g,
        Err(e) => {
            warn!(error = %e, "job failed");
            job.state = JobState::Failed {
                reason: e.to_string(),
            };
            job.finished_unix = Some(unix_now());
            store.put_job(key, &job)?;
            return Ok(job.state);
        }
    };
    job.findings = grounded.findings;
    for f in &job.findings {
        match &f.method {
            Some(m) => info!(segment = f.segment, method = %m, "finding grounded"),
            None => info!(reason = %f.detail, "finding not grounded"),
        }
    }
    let mut files = Vec::new();
    if let Some(seg) = &grounded.seg {
        let sop = crate::seg::sop_instance_uid(seg);
        files.push((
            OutboxKind::Seg,
            write_durably(store.data_dir(), &sop, seg)?,
            sop.clone(),
        ));
        job.seg = Some(sop);
    }
    if let Some(sr) = &grounded.sr {
        let sop = crate::seg::sop_instance_uid(sr);
        files.push((
            OutboxKind::Sr,
            write_durably(store.data_dir(), &sop, sr)?,
            sop.clone(),
        ));
        job.sr = Some(sop);
    }
    // Per destination the SEG, then its SR: the outbox keeps that order (store::jobs).
    let mut deliveries = Vec::new();
    for dest in &cfg.send_seg_to {
        for (kind, rel, sop) in &files {
            deliveries.push(OutboxItem {
                path: rel.clone(),
                kind: *kind,
                sop_instance: sop.clone(),
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

fn series_files(store: &Store, series: &str) -> Result<Vec<PathBuf>, StoreError> {
    let mut files: Vec<PathBuf> = store
        .series_instances(series)?
        .into_iter()
        .map(|(_, r)| store.absolute(&r.path))
        .collect();
    files.sort();
    Ok(files)
}

/// Writes a SEG or SR to `data_dir/outbox/<sop>.dcm` (temp file, fsync, rename, fsync folder)
/// and returns its path relative to the data dir.
fn write_durably(
    data_dir: &Path,
    sop: &str,
    obj: &crate::seg::SegObject,
) -> Result<String, StoreError> {
    let dir = data_dir.join("outbox");
    std::fs::create_dir_all(&dir).map_err(StoreError::io("create folder", &dir))?;
    let bytes = crate::seg::seg_to_bytes(obj).map_err(|e| StoreError::Io {
        op: "encode",
        path: dir.clone(),
        source: std::io::Error::other(e.to_string()),
    })?;
    let tmp = dir.join(format!("{sop}.tmp"));
    let dest = dir.join(format!("{sop}.dcm"));
    std::fs::write(&tmp, &bytes).map_err(StoreError::io("write", &tmp))?;
    std::fs::File::open(&tmp)
        .and_then(|f| f.sync_all())
        .map_err(StoreError::io("fsync", &tmp))?;
    std::fs::rename(&tmp, &dest).map_err(StoreError::io("rename into", &dest))?;
    std::fs::File::open(&dir)
        .and_then(|d| d.sync_all())
        .map_err(StoreError::io("fsync folder", &dir))?;
    Ok(format!("outbox/{sop}.dcm"))
}
