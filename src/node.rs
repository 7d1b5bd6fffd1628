//! A running node: wires the listeners that `main` bound to the services behind them (DICOM SCP,
//! series-completeness watcher, local status socket) under one shutdown token, and waits for
//! them to drain. No socket is bound here.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::config::Config;
use crate::delivery::DeliveryConfig;
use crate::dicom::scp::{self, ScpContext};
use crate::dicom::scu::ScuOptions;
use crate::ground::grounder::Grounder;
use crate::hl7::Hl7Config;
use crate::label::LabelParams;
use crate::pipeline::PipelineConfig;
use crate::store::{Event, ReportIntake, Store, unix_now};

/// Sockets bound by `main`.
pub struct Listeners {
    pub dicom: TcpListener,
    pub hl7: TcpListener,
    /// `data_dir/petground.sock`: `petground status` reads the node's state through it while the
    /// node holds the index open.
    pub control: UnixListener,
}

/// The file name of the status socket inside the data dir.
pub const CONTROL_SOCKET: &str = "petground.sock";

/// Runs the node until `shutdown` is cancelled, then drains.
pub async fn run(
    cfg: Config,
    store: Arc<Store>,
    grounder: Option<Arc<std::sync::Mutex<Grounder>>>,
    listeners: Listeners,
    shutdown: CancellationToken,
) {
    let (events, _) = broadcast::channel::<Event>(1024);
    let scp_ctx = Arc::new(ScpContext {
        cfg: cfg.scp.clone(),
        store: store.clone(),
        events: events.clone(),
    });
    let scp = tokio::spawn(scp::run(listeners.dicom, shutdown.clone(), scp_ctx));
    store.set_match_patient_and_date(cfg.hl7.match_patient_and_date);
    let intake = Arc::new(ReportIntake {
        store: store.clone(),
        events: events.clone(),
    });
    let hl7_cfg = Hl7Config {
        max_message_bytes: cfg.hl7.max_message_bytes,
        read_timeout: cfg.hl7.read_timeout,
        max_connections: cfg.hl7.max_connections,
        idle_timeout: cfg.hl7.idle_timeout,
    };
    let hl7 = tokio::spawn(crate::hl7::run(
        listeners.hl7,
        shutdown.clone(),
        intake,
        hl7_cfg,
    ));
    let watcher = tokio::spawn(watch_series(
        store.clone(),
        cfg.series.stable,
        events.clone(),
        shutdown.clone(),
    ));
    let wake_delivery = Arc::new(tokio::sync::Notify::new());
    let pipeline_cfg = PipelineConfig {
        send_seg_to: cfg.send_seg_to.clone(),
        label: LabelParams {
            slice_tolerance: cfg.slice_tolerance,
            ..LabelParams::default()
        },
        seg_series_number: 9901,
        sr: cfg.results.sr,
        grounder,
        mode: cfg.grounding_mode,
    };
    let pipeline = tokio::spawn(crate::pipeline::run(
        store.clone(),
        pipeline_cfg,
        events.subscribe(),
        wake_delivery.clone(),
        shutdown.clone(),
    ));
    let delivery_cfg = DeliveryConfig {
        calling: cfg.node.ae_title.clone(),
        destinations: cfg.destinations.clone(),
        max_attempts: cfg.delivery.max_attempts,
        retry_initial: cfg.delivery.retry_initial,
        retry_max: cfg.delivery.retry_max,
        scu: ScuOptions::default(),
    };
    let delivery = tokio::spawn(crate::delivery::run(
        store.clone(),
        delivery_cfg,
        wake_delivery,
        shutdown.clone(),
    ));
    let control = tokio::spawn(serve_status(listeners.control, store, shutdown.clone()));
    let _ = tokio::join!(scp, hl7, watcher, pipeline, delivery, control);
    info!("node stopped");
}

/// Marks series complete once they have been quiet for `stable`; state is in the store, so a
/// series that went quiet while the node was down completes at the first tick after restart.
async fn watch_series(
    store: Arc<Store>,
    stable: Duration,
    events: broadcast::Sender<Event>,
    shutdown: CancellationToken,
) {
    let tick = (stable / 4).clamp(Duration::from_millis(200), Duration::from_secs(1));
    let mut interval = tokio::time::interval(tick);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = interval.tick() => {}
        }
        let s = store.clone();
        let secs = stable.as_secs();
        let work = move || {
            // Bounds how much an unclean stop leaves for start-up reconciliation to re-index.
            s.sync_index()?;
            s.complete_stable_series(unix_now(), secs)
        };
        match tokio::task::spawn_blocking(work).await {
            Ok(Ok(done)) => {
                for ev in done {
                    info!(event = ?ev.kind, "series complete");
                    let _ = events.send(ev);
                }
            }
            Ok(Err(e)) => warn!(error = %e, "series watcher: store error"),
            Err(e) => warn!(error = %e, "series watcher task failed"),
        }
    }
}

/// Answers every connection on the control socket with the status text, then closes it.
async fn serve_status(listener: UnixListener, store: Arc<Store>, shutdown: CancellationToken) {
    loop {
        let mut conn = tokio::select! {
            _ = shutdown.cancelled() => return,
            c = listener.accept() => match c {
                Ok((conn, _)) => conn,
                Err(e) => {
                    warn!(error = %e, "status socket accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let s = store.clone();
        let text = match tokio::task::spawn_blocking(move || s.status_text()).await {
            Ok(Ok(t)) => t,
            Ok(Err(e)) => format!("error: {e}\n"),
            Err(e) => format!("error: {e}\n"),
        };
        let _ = conn.write_all(text.as_bytes()).await;
    }
}
