//! ONNX Runtime, loaded once per process from the shared library that `scripts/fetch-onnxruntime`
//! unpacks (ort's `load-dynamic`; nothing is downloaded at build or run time), and the
//! `[model]` settings that choose the library, the execution provider and the thread count.
//! Start-up calls [`init`] once: a missing or too-old library is one clear error there
//! ([`EXIT_CODE`]), not a crash at the first report. Sessions are then built with
//! [`Runtime::session`], which applies the device policy (`cuda` fails loudly, `auto` falls back
//! to CPU with a warning). Which library file is meant is the config's answer
//! (`config::paths`: the file's own path, else the checkout's, else the installed one).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use ort::environment::Environment;
use ort::session::Session;
use ort::session::builder::SessionBuilder;

/// Process exit code for a start-up failure of the model runtime (library or model files).
pub const EXIT_CODE: i32 = 2;

/// Default `[model] onnxruntime` (defined with the `[model]` section in `config`).
pub use crate::config::DEFAULT_ONNXRUNTIME as DEFAULT_LIBRARY;

/// The `[model]` settings and device policy are config types; the names here are kept for the
/// code that loads models with them.
pub use crate::config::{Device, ModelConfig as ModelSettings};

/// Environment variable that overrides `[model] onnxruntime` (ort's own convention).
pub const LIBRARY_ENV: &str = "ORT_DYLIB_PATH";

/// Errors of loading ONNX Runtime and creating sessions.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error(
        "ONNX Runtime library not found at {0} (run scripts/fetch-onnxruntime or scripts/install, or set [model] onnxruntime / ORT_DYLIB_PATH)"
    )]
    LibraryMissing(PathBuf),
    #[error("ONNX Runtime library {path} cannot be used: {message}")]
    Library { path: PathBuf, message: String },
    #[error(
        "ONNX Runtime is already initialised from {loaded}; cannot load {requested} in the same process"
    )]
    AlreadyInitialised { loaded: PathBuf, requested: PathBuf },
    #[error("ONNX Runtime environment: {0}")]
    Environment(String),
    #[error(
        "[model] device = \"cuda\" but this build has no CUDA support (build with --features cuda)"
    )]
    CudaNotBuilt,
    #[error("[model] device = \"cuda\": the CUDA execution provider failed for {what}: {message}")]
    Cuda { what: String, message: String },
    #[error("{what}: cannot create an ONNX Runtime session from {path}: {message}")]
    Session {
        what: String,
        path: PathBuf,
        message: String,
    },
}

impl ModelSettings {
    /// The library to load: `$ORT_DYLIB_PATH` when set and non-empty, else `onnxruntime`.
    pub fn library_path(&self) -> PathBuf {
        match std::env::var_os(LIBRARY_ENV) {
            Some(p) if !p.is_empty() => PathBuf::from(p),
            _ => self.onnxruntime.clone(),
        }
    }
}

/// The loaded ONNX Runtime: one environment per process (an ONNX Runtime rule).
pub struct Runtime {
    env: Environment,
    library: PathBuf,
    device: Device,
    threads: usize,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("library", &self.library)
            .field("device", &self.device)
            .field("threads", &self.threads)
            .finish_non_exhaustive()
    }
}

static RUNTIME: Mutex<Option<Arc<Runtime>>> = Mutex::new(None);

/// Loads ONNX Runtime from `settings` (once per process; later calls with the same library
/// return the same runtime). A failure leaves nothing behind, so the caller may exit with
/// [`EXIT_CODE`] and print the error as its one line.
pub fn init(settings: &ModelSettings) -> Result<Arc<Runtime>, RuntimeError> {
    let requested = absolute(&settings.library_path());
    // A poisoned lock only means another thread panicked while loading; the Option is intact.
    let mut slot = RUNTIME.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(rt) = slot.as_ref() {
        if rt.library != requested {
            return Err(RuntimeError::AlreadyInitialised {
                loaded: rt.library.clone(),
                requested,
            });
        }
        return Ok(Arc::clone(rt));
    }
    // Checked here, not left to dlopen: its message for a missing file is the cryptic one.
    if !requested.is_file() {
        return Err(RuntimeError::LibraryMissing(requested));
    }
    let builder = ort::init_from(&requested).map_err(|e| RuntimeError::Library {
        path: requested.clone(),
        message: e.to_string(),
    })?;
    let env = builder
        .with_name("petground")
        .build()
        .map_err(|e| RuntimeError::Environment(e.to_string()))?;
    tracing::info!(
        library = %requested.display(),
        device = %settings.device,
        threads = settings.threads,
        build = ort::info(),
        "ONNX Runtime loaded"
    );
    let rt = Arc::new(Runtime {
        env,
        library: requested,
        device: settings.device,
        threads: settings.threads,
    });
    *slot = Some(Arc::clone(&rt));
    Ok(rt)
}

fn absolute(p: &Path) -> PathBuf {
    if p.is_absolute() {
        return p.to_path_buf();
    }
    // Config paths arrive absolute; `$ORT_DYLIB_PATH` and hand-built settings may be relative,
    // and ort would otherwise look beside the executable first (target/debug/...).
    std::env::current_dir()
        .map(|d| d.join(p))
        .unwrap_or_else(|_| p.to_path_buf())
}

impl Runtime {
    /// The library actually loaded.
    pub fn library(&self) -> &Path {
        &self.library
    }

    /// The configured device policy.
    pub fn device(&self) -> Device {
        self.device
    }

    /// A session for the ONNX file at `path` (`what` names it in errors and logs), on the
    /// configured device. Returns the device it really runs on (`Cpu` or `Cuda`).
    pub fn session(&self, path: &Path, what: &str) -> Result<(Session, Device), RuntimeError> {
        self.session_on(path, what, self.device)
    }

    /// As [`Runtime::session`] with an explicit device policy (GPU checks compare devices).
    pub fn session_on(
        &self,
        path: &Path,
        what: &str,
        device: Device,
    ) -> Result<(Session, Device), RuntimeError> {
        match device {
            Device::Cpu => {
                let s = self.commit(self.builder(what, path)?, path, what)?;
                Ok((s, Device::Cpu))
            }
            // Registration failure (no CUDA provider library, no GPU) is `Cuda`; a model that
            // cannot be built is a `Session` error, as on CPU.
            Device::Cuda => {
                let b = self.with_cuda(self.builder(what, path)?, what)?;
                Ok((self.commit(b, path, what)?, Device::Cuda))
            }
            // Any CUDA failure, at registration or when the session initialises the provider
            // (no device, missing cuBLAS), falls back to CPU; a broken model then fails there.
            Device::Auto => {
                let cuda = self
                    .with_cuda(self.builder(what, path)?, what)
                    .and_then(|b| self.commit(b, path, what));
                match cuda {
                    Ok(s) => Ok((s, Device::Cuda)),
                    Err(e) => {
                        if cfg!(feature = "cuda") {
                            tracing::warn!(model = what, error = %e, "CUDA unavailable; running on CPU");
                        }
                        let s = self.commit(self.builder(what, path)?, path, what)?;
                        Ok((s, Device::Cpu))
                    }
                }
            }
        }
    }

    fn builder(&self, what: &str, path: &Path) -> Result<SessionBuilder, RuntimeError> {
        let err = |message: String| RuntimeError::Session {
            what: what.to_string(),
            path: path.to_path_buf(),
            message,
        };
        let b = Session::builder(&self.env).map_err(|e| err(e.to_string()))?;
        if self.threads > 0 {
            return b
                .with_intra_threads(self.threads)
                .map_err(|e| err(e.to_string()));
        }
        Ok(b)
    }

    fn commit(
        &self,
        mut b: SessionBuilder,
        path: &Path,
        what: &str,
    ) -> Result<Session, RuntimeError> {
        b.commit_from_file(path).map_err(|e| RuntimeError::Session {
            what: what.to_string(),
            path: path.to_path_buf(),
            message: e.to_string(),
        })
    }

    #[cfg(feature = "cuda")]
    fn with_cuda(&self, b: SessionBuilder, what: &str) -> Result<SessionBuilder, RuntimeError> {
        b.with_execution_providers([ort::ep::CUDA::default().build().error_on_failure()])
            .map_err(|e| RuntimeError::Cuda {
                what: what.to_string(),
                message: e.to_string(),
            })
    }

    #[cfg(not(feature = "cuda"))]
    fn with_cuda(&self, _b: SessionBuilder, _what: &str) -> Result<SessionBuilder, RuntimeError> {
        Err(RuntimeError::CudaNotBuilt)
    }
}
