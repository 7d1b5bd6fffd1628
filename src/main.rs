//! The `petground` command line (CONTRACT §1). The only place that uses anyhow, reads signals
//! and binds sockets; everything else lives in the library.
//!
//! Exit codes: 0 success, 1 runtime failure, 2 bad usage or bad configuration. A reader that
//! closes our standard output early (`petground check-config | head -1`) ends the command
//! quietly with exit 0, as for ripgrep: the reader asked for no more (see [`write_out`]).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use petground::config::Config;
use petground::control::Op;
use petground::node;
use petground::status::Filter;
use petground::store::{Layout, Store};

#[derive(Parser)]
#[command(name = "petground", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the node (DICOM SCP, series tracking) until SIGINT/SIGTERM, then drain and exit 0.
    Serve {
        #[arg(long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
    },
    /// Validate the config and print the effective settings; exit 2 naming the key on error.
    CheckConfig {
        #[arg(long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
    },
    /// Extract findings from a report (plain text or HL7 ORU, framed or not; `-` reads stdin)
    /// and print one JSON object per finding per line (CONTRACT §4).
    Findings {
        /// Accepted for compatibility: the output is always JSON lines.
        #[arg(long)]
        json: bool,
        file: PathBuf,
    },
    /// Print, per PET file, the SUVbw scale factor, decay-corrected dose, times and rule used;
    /// exit 1 naming the missing attribute when SUV cannot be computed.
    Suv {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Offline: run the whole pipeline on a folder of DICOM files and one report (text or HL7);
    /// write the SEG (and, with [results] sr, its SR as <seg>.sr.dcm) into --out and print one
    /// line per finding with its outcome.
    Ground {
        #[arg(long)]
        study: PathBuf,
        #[arg(long)]
        report: PathBuf,
        #[arg(long)]
        out: PathBuf,
        /// Take [model], [grounding], [weak_label] and [results] from this config (default:
        /// built-in defaults: models/ and vendor/onnxruntime/ below the working directory,
        /// else those installed beside the binary in <prefix>/share/petground/).
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Print what the node knows, newest first, with times: a summary; every item with --all;
    /// one study's items with --study or --accession; the status document with --json.
    Status {
        #[arg(long, default_value = "conf/petground.toml")]
        config: PathBuf,
        #[arg(long)]
        json: bool,
        /// List every study, series, report, job, delivery and the newest events.
        #[arg(long)]
        all: bool,
        #[arg(long, conflicts_with = "accession")]
        study: Option<String>,
        #[arg(long)]
        accession: Option<String>,
    },
    /// C-ECHO the destination named DEST in the config; exit 0 when it answers success.
    Echo {
        dest: String,
        #[arg(long, default_value = "conf/petground.toml")]
        config: PathBuf,
    },
    /// Queue a delivered or failed SEG (and its SR) again, through the running node.
    Resend {
        seg_uid: String,
        /// A destination name from the config (default: where it was queued for before).
        #[arg(long)]
        to: Option<String>,
        #[arg(long, default_value = "conf/petground.toml")]
        config: PathBuf,
    },
    /// Run the study's job again (a new job version, a new SEG and SR), through the running node.
    #[command(group(clap::ArgGroup::new("which").required(true).args(["study", "accession"])))]
    Reprocess {
        #[arg(long)]
        study: Option<String>,
        #[arg(long)]
        accession: Option<String>,
        #[arg(long, default_value = "conf/petground.toml")]
        config: PathBuf,
    },
}

/// A failure with the exit code it earns.
struct Failure(u8, anyhow::Error);

/// Standard output was closed by its reader (EPIPE): not an error to report.
#[derive(Debug, thiserror::Error)]
#[error("standard output is closed")]
struct StdoutClosed;

/// Writes command output to stdout. Every command prints through this (or [`outln!`]) rather
/// than `println!`, which panics when the reader has gone away; a closed stdout becomes a
/// [`StdoutClosed`] failure that `main` ends quietly with exit 0.
fn write_out(args: std::fmt::Arguments) -> Result<(), Failure> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    out.write_fmt(args)
        .and_then(|()| out.flush())
        .map_err(stdout_error)
}

/// An error writing stdout: [`StdoutClosed`] for a broken pipe, else a runtime failure.
fn stdout_error(e: std::io::Error) -> Failure {
    match e.kind() {
        std::io::ErrorKind::BrokenPipe => runtime(StdoutClosed),
        _ => runtime(anyhow::Error::new(e).context("writing to standard output")),
    }
}

/// `println!` through [`write_out`]: `outln!("x = {x}")?`.
macro_rules! outln {
    ($($arg:tt)*) => {
        write_out(format_args!("{}\n", format_args!($($arg)*)))
    };
}

#[path = "cli/ground.rs"]
mod ground_cmd;
#[path = "cli/ops.rs"]
mod ops;

/// Prints `text` on stderr; a closed stderr loses it rather than panicking.
fn warn_line(text: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{text}");
}

/// An error and its causes on one line, each cause once: a cause whose text its wrapper
/// already quotes (`"cannot create X: Permission denied"` over `"Permission denied"`) is left out.
fn one_line(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain().map(ToString::to_string) {
        if !line.contains(&cause) {
            if !line.is_empty() {
                line.push_str(": ");
            }
            line.push_str(&cause);
        }
    }
    line
}

fn usage(e: impl Into<anyhow::Error>) -> Failure {
    Failure(2, e.into())
}

fn runtime(e: impl Into<anyhow::Error>) -> Failure {
    Failure(1, e.into())
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let result = match cli.command {
        Command::Serve { config } => serve(&config),
        Command::CheckConfig { config } => check_config(&config),
        Command::Status {
            config,
            json,
            all,
            study,
            accession,
        } => ops::status(&config, json, all, Filter { study, accession }),
        Command::Echo { dest, config } => ops::echo(&config, &dest),
        Command::Resend {
            seg_uid,
            to,
            config,
        } => ops::resend(&config, seg_uid, to),
        Command::Reprocess {
            study,
            accession,
            config,
        } => ops::ask(&config, Op::Reprocess { study, accession }),
        Command::Findings { json: _, file } => findings(&file),
        Command::Suv { files } => suv(&files),
        Command::Ground {
            study,
            report,
            out,
            config,
        } => ground_cmd::ground(&study, &report, &out, config.as_deref()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure(_, e)) if e.is::<StdoutClosed>() => ExitCode::SUCCESS,
        Err(Failure(code, e)) => {
            warn_line(&format!("petground: {}", one_line(&e)));
            ExitCode::from(code)
        }
    }
}

/// The `--config` default, relative to the working directory as CONTRACT §1 says.
const DEFAULT_CONFIG: &str = "conf/petground.toml";

/// The config file meant by `--config`: the default `conf/petground.toml`, when the working
/// directory has none, falls back to the installed `<prefix>/etc/petground.toml`.
fn config_path(path: &Path) -> PathBuf {
    match petground::config::paths::installed_config() {
        Some(p) if path == Path::new(DEFAULT_CONFIG) && !path.exists() => p,
        _ => path.to_path_buf(),
    }
}

fn load(path: &Path) -> Result<Config, Failure> {
    Config::load(&config_path(path)).map_err(usage)
}

/// Validates the config (and that `node.data_dir`, when it exists, is writable) and prints the effective
/// configuration as TOML: every key, defaults included, paths resolved, in the file's section
/// order. The output is itself a valid config file.
fn check_config(path: &Path) -> Result<(), Failure> {
    let cfg = load(path)?;
    cfg.check_data_dir(false).map_err(usage)?;
    let text = cfg.to_toml().map_err(usage)?;
    outln!(
        "# {} is valid. The effective configuration, defaults included:",
        config_path(path).display()
    )?;
    write_out(format_args!("{text}"))
}

fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
}

fn serve(path: &Path) -> Result<(), Failure> {
    let cfg = load(path)?;
    init_tracing();
    // Models and ONNX Runtime load before any socket is bound: a bad model fails fast (exit 2).
    let grounder = if cfg.grounding.mode.uses_model() {
        let g =
            petground::ground::grounder::startup(&cfg.model, cfg.grounding.mode).map_err(usage)?;
        g.has_model().then(|| Arc::new(std::sync::Mutex::new(g)))
    } else {
        None
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
        .map_err(runtime)?;
    cfg.check_data_dir(true).map_err(usage)?;
    rt.block_on(async move {
        let store = Store::open(&cfg.node.data_dir).map_err(runtime)?;
        let dicom = tokio::net::TcpListener::bind(cfg.node.dicom_listen)
            .await
            .with_context(|| format!("binding node.dicom_listen {}", cfg.node.dicom_listen))
            .map_err(runtime)?;
        let hl7 = tokio::net::TcpListener::bind(cfg.node.hl7_listen)
            .await
            .with_context(|| format!("binding node.hl7_listen {}", cfg.node.hl7_listen))
            .map_err(runtime)?;
        let web = match cfg.web.listen {
            Some(addr) => Some(
                tokio::net::TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("binding web.listen {addr}"))
                    .map_err(runtime)?,
            ),
            None => None,
        };
        let sock = Layout::new(&cfg.node.data_dir).control_socket();
        // The store lock guarantees no other node uses this data dir: a socket file left here
        // is stale.
        let _ = std::fs::remove_file(&sock);
        let control = tokio::net::UnixListener::bind(&sock)
            .with_context(|| format!("binding status socket {}", sock.display()))
            .map_err(runtime)?;
        tracing::info!(
            ae_title = %cfg.node.ae_title,
            dicom = %dicom.local_addr().map(|a| a.to_string()).unwrap_or_default(),
            hl7 = %hl7.local_addr().map(|a| a.to_string()).unwrap_or_default(),
            data_dir = %cfg.node.data_dir.display(),
            "petground listening"
        );
        let shutdown = tokio_util::sync::CancellationToken::new();
        tokio::spawn(on_signal(shutdown.clone()));
        let listeners = node::Listeners {
            dicom,
            hl7,
            control,
            web,
        };
        // A failed service stops the node: exit 1 with its name (CONTRACT §1).
        let stopped = node::run(cfg, Arc::new(store), grounder, listeners, shutdown).await;
        let _ = std::fs::remove_file(&sock);
        stopped.map_err(runtime)
    })
}

async fn on_signal(shutdown: tokio_util::sync::CancellationToken) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::error!("cannot install signal handlers; stop the node with kill -9");
        return;
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: draining"),
        _ = int.recv() => tracing::info!("SIGINT: draining"),
    }
    shutdown.cancel();
}

fn suv(files: &[PathBuf]) -> Result<(), Failure> {
    let mut failed = 0;
    for f in files {
        match petground::volume::suv::suv_report(f) {
            Ok(r) => outln!("{r}")?,
            Err(e) => {
                warn_line(&format!("petground: {}: {e}", f.display()));
                failed += 1;
            }
        }
    }
    if failed > 0 {
        return Err(runtime(anyhow::anyhow!(
            "SUV could not be computed for {failed} of {} file(s)",
            files.len()
        )));
    }
    Ok(())
}

fn findings(path: &Path) -> Result<(), Failure> {
    use std::io::{Read, Write};
    let mut bytes = Vec::new();
    if path.as_os_str() == "-" {
        std::io::stdin()
            .read_to_end(&mut bytes)
            .context("reading the report from stdin")
            .map_err(runtime)?;
    } else {
        bytes = std::fs::read(path)
            .with_context(|| format!("reading {}", path.display()))
            .map_err(runtime)?;
    }
    let found = petground::report::findings_from_input(&bytes)
        .with_context(|| format!("{}", path.display()))
        .map_err(runtime)?;
    let mut out = std::io::stdout().lock();
    petground::report::write_findings_json(&found, &mut out)
        .and_then(|()| out.flush())
        .map_err(stdout_error)
}
