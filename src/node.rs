//! A running node: wires the listeners that `main` bound to the services behind them (DICOM SCP,
//! HL7 listener, series-completeness watcher, pipeline, delivery, retention, local control socket,
//! web page), gives
//! each its own part of the config, and supervises them under one shutdown token. No socket is
//! bound here.
//!
//! Supervision: every service runs as a task of one [`TaskTracker`]. A service that panics,
//! returns an error or ends by itself stops the whole node — logged as "service NAME failed:
//! …; stopping the node" — and [`run`] returns that failure (`main` exits 1). On shutdown the
//! services drain on their own deadlines (SCP: `dicom.shutdown_grace_seconds`, HL7:
//! `hl7.read_timeout_seconds`); the node waits [`drain_deadline`] for them and aborts any still
//! running then.

mod services;

use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, UnixListener};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::config::Config;
use crate::dicom::scp::{self, ScpContext};
use crate::ground::grounder::Grounder;
use crate::label::LabelParams;
use crate::pipeline::PipelineConfig;
use crate::store::{Event, ReportIntake, Store};

pub use services::NodeError;
use services::Services;

/// Sockets bound by `main`.
pub struct Listeners {
    pub dicom: TcpListener,
    pub hl7: TcpListener,
    /// `data_dir/petground.sock`: `petground status`, `resend` and `reprocess` reach the node
    /// through it while the node holds the index open (`control`).
    pub control: UnixListener,
    /// `web.listen`, unless the page is turned off (`listen = ""`).
    pub web: Option<TcpListener>,
}

/// How much longer than the services' own drain deadlines the node waits before aborting them.
const DRAIN_MARGIN: Duration = Duration::from_secs(5);

/// How long the node waits for its services after shutdown began: the longer of the SCP's
/// grace and the HL7 listener's deadline, plus a margin for them to act on their own.
pub fn drain_deadline(cfg: &Config) -> Duration {
    cfg.scp.shutdown_grace.max(cfg.hl7.read_timeout) + DRAIN_MARGIN
}

/// Runs the node until `shutdown` is cancelled, then drains; `Err` names the service whose
/// failure stopped the node.
pub async fn run(
    cfg: Config,
    store: Arc<Store>,
    grounder: Option<Arc<std::sync::Mutex<Grounder>>>,
    listeners: Listeners,
    shutdown: CancellationToken,
) -> Result<(), NodeError> {
    let deadline = drain_deadline(&cfg);
    let mut services = Services::new(shutdown.clone());
    let pipeline_cfg = pipeline_config(&cfg, grounder);
    let (events, _) = broadcast::channel::<Event>(1024);
    let scp_ctx = Arc::new(ScpContext {
        cfg: cfg.scp,
        store: store.clone(),
        events: events.clone(),
    });
    services.start(
        "dicom-scp",
        scp::run(listeners.dicom, shutdown.clone(), scp_ctx),
    );
    store.set_match_patient_and_date(cfg.hl7.match_patient_and_date);
    let intake = Arc::new(ReportIntake {
        store: store.clone(),
        events: events.clone(),
    });
    let hl7 = crate::hl7::run(listeners.hl7, shutdown.clone(), intake, cfg.hl7);
    services.start("hl7-listener", hl7);
    let watcher = crate::pipeline::series::watch(
        store.clone(),
        cfg.series.stable,
        events.clone(),
        shutdown.clone(),
    );
    services.start("series-watcher", watcher);
    let wake_delivery = Arc::new(tokio::sync::Notify::new());
    let pipeline = crate::pipeline::run(
        store.clone(),
        pipeline_cfg,
        events.subscribe(),
        wake_delivery.clone(),
        shutdown.clone(),
    );
    services.start("pipeline", pipeline);
    let delivery = crate::delivery::run(
        store.clone(),
        cfg.delivery,
        wake_delivery.clone(),
        shutdown.clone(),
    );
    services.start("delivery", delivery);
    let retention =
        crate::pipeline::retention::run(store.clone(), cfg.retention.keep, shutdown.clone());
    services.start("retention", retention);
    if let Some(web) = listeners.web {
        let page = crate::web::run(web, shutdown.clone(), store.clone(), cfg.web);
        services.start("web", page);
    }
    let control = Arc::new(crate::control::server::Control {
        store,
        wake_delivery: wake_delivery.clone(),
    });
    services.start(
        "control-socket",
        crate::control::server::run(listeners.control, control, shutdown),
    );
    let stopped = services.wait(deadline).await;
    info!("node stopped");
    stopped
}

/// The pipeline's part: `[routing]`, `[weak_label]`, `[results]`, `[grounding]` and the model.
fn pipeline_config(
    cfg: &Config,
    grounder: Option<Arc<std::sync::Mutex<Grounder>>>,
) -> PipelineConfig {
    PipelineConfig {
        send_seg_to: cfg.routing.send_seg_to.clone(),
        label: LabelParams::for_config(&cfg.weak_label),
        seg_series_number: cfg.results.seg_series_number,
        sr: cfg.results.sr,
        grounder,
        mode: cfg.grounding.mode,
        ct_wait: cfg.grounding.ct_wait,
    }
}
