//! Supervision of the node's services: each runs as a task of one [`TaskTracker`], watched by a
//! second task that turns its end into the node's fate. A panic, an error or an end before
//! shutdown is a failure: it is logged with the service's name, recorded (the first one wins)
//! and cancels the shutdown token, so the other services drain. [`Services::wait`] then waits
//! for them up to a deadline and aborts whatever still runs.

use std::fmt::Display;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::task::{AbortHandle, JoinError};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{error, warn};

/// Why the node stopped other than by being asked to.
#[derive(Debug, Clone, thiserror::Error)]
pub enum NodeError {
    #[error("service {service} failed: {reason}")]
    ServiceFailed {
        service: &'static str,
        reason: String,
    },
}

/// What a service's task ended with: nothing (it only ends at shutdown) or a `Result`.
pub trait ServiceEnd {
    /// The failure this end means, if any.
    fn failure(self) -> Option<String>;
}

impl ServiceEnd for () {
    fn failure(self) -> Option<String> {
        None
    }
}

impl<E: Display> ServiceEnd for Result<(), E> {
    fn failure(self) -> Option<String> {
        self.err().map(|e| e.to_string())
    }
}

/// The running services of one node.
pub struct Services {
    tracker: TaskTracker,
    shutdown: CancellationToken,
    running: Vec<(&'static str, AbortHandle)>,
    failure: Arc<OnceLock<NodeError>>,
}

impl Services {
    pub fn new(shutdown: CancellationToken) -> Self {
        Self {
            tracker: TaskTracker::new(),
            shutdown,
            running: Vec::new(),
            failure: Arc::new(OnceLock::new()),
        }
    }

    /// Starts `service` under `name` (the name its failure is logged and returned with).
    pub fn start<F>(&mut self, name: &'static str, service: F)
    where
        F: Future + Send + 'static,
        F::Output: ServiceEnd + Send + 'static,
    {
        let handle = self.tracker.spawn(service);
        self.running.push((name, handle.abort_handle()));
        let shutdown = self.shutdown.clone();
        let failure = self.failure.clone();
        self.tracker.spawn(async move {
            let reason = match handle.await {
                Ok(end) => match end.failure() {
                    Some(reason) => reason,
                    None if shutdown.is_cancelled() => return,
                    None => "it stopped before the node was asked to stop".to_owned(),
                },
                Err(e) if e.is_panic() => format!("panicked: {}", panic_text(e)),
                // Aborted by `wait` at the drain deadline: already logged there.
                Err(_) => return,
            };
            error!(
                service = name,
                "service {name} failed: {reason}; stopping the node"
            );
            let _ = failure.set(NodeError::ServiceFailed {
                service: name,
                reason,
            });
            shutdown.cancel();
        });
    }

    /// Waits for shutdown (asked for, or caused by a failing service), then up to `deadline`
    /// for every service to end; aborts those still running then. `Err` is the first failure.
    pub async fn wait(self, deadline: Duration) -> Result<(), NodeError> {
        self.shutdown.cancelled().await;
        self.tracker.close();
        if tokio::time::timeout(deadline, self.tracker.wait())
            .await
            .is_err()
        {
            let left: Vec<&str> = (self.running.iter())
                .filter(|(_, h)| !h.is_finished())
                .map(|(name, _)| *name)
                .collect();
            warn!(
                services = ?left,
                secs = deadline.as_secs(),
                "services still running at the drain deadline; aborting them"
            );
            for (_, handle) in &self.running {
                handle.abort();
            }
            self.tracker.wait().await;
        }
        match self.failure.get() {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }
}

/// A panic's message, when it has one.
fn panic_text(e: JoinError) -> String {
    let payload = e.into_panic();
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(no message)".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deadline() -> Duration {
        Duration::from_secs(5)
    }

    #[tokio::test]
    async fn a_panicking_service_stops_the_others_and_is_named() {
        let shutdown = CancellationToken::new();
        let mut services = Services::new(shutdown.clone());
        let stop = shutdown.clone();
        services.start("steady", async move { stop.cancelled().await });
        services.start("fragile", async {
            if true {
                panic!("boom");
            }
        });
        let err = services.wait(deadline()).await.expect_err("a failure");
        assert_eq!(err.to_string(), "service fragile failed: panicked: boom");
        assert!(shutdown.is_cancelled());
    }

    #[tokio::test]
    async fn an_error_or_an_early_end_is_a_failure_and_shutdown_is_not() {
        let shutdown = CancellationToken::new();
        let mut services = Services::new(shutdown.clone());
        services.start("broken", async { Err::<(), _>("socket gone") });
        let err = services.wait(deadline()).await.expect_err("a failure");
        assert_eq!(err.to_string(), "service broken failed: socket gone");

        let mut services = Services::new(CancellationToken::new());
        services.start("quitter", async {});
        let err = services.wait(deadline()).await.expect_err("a failure");
        assert!(
            err.to_string().starts_with("service quitter failed"),
            "{err}"
        );

        let shutdown = CancellationToken::new();
        let mut services = Services::new(shutdown.clone());
        let stop = shutdown.clone();
        services.start("calm", async move {
            stop.cancelled().await;
            Ok::<(), String>(())
        });
        shutdown.cancel();
        services.wait(deadline()).await.expect("a clean stop");
    }

    #[tokio::test(start_paused = true)]
    async fn a_service_still_running_at_the_deadline_is_aborted() {
        let shutdown = CancellationToken::new();
        let mut services = Services::new(shutdown.clone());
        services.start("stubborn", std::future::pending::<()>());
        shutdown.cancel();
        let started = tokio::time::Instant::now();
        services
            .wait(deadline())
            .await
            .expect("aborting is no failure");
        assert_eq!(started.elapsed(), deadline());
    }
}
