//! The `petground-train` command line: `dataset`, `fit`, `evaluate`. All work is in the library
//! except starting the Python trainer (`fit`).

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use petground_train::{dataset, evaluate, infer};
use std::path::{Path, PathBuf};
use std::process::Command;

#[derive(Parser)]
#[command(
    name = "petground-train",
    version,
    about = "Dataset, training and evaluation of the grounding model"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Build model-grid sentence→label pairs from an archive of study folders.
    Dataset {
        #[arg(long)]
        archive: PathBuf,
        #[arg(long)]
        out: PathBuf,
        /// Seed of the patient split.
        #[arg(long, default_value_t = 17)]
        seed: u64,
    },
    /// Train with PyTorch (tools/train/trainer.py) and export ONNX.
    Fit {
        #[arg(long)]
        data: PathBuf,
        #[arg(long)]
        out: PathBuf,
        #[arg(long)]
        steps: Option<u64>,
        #[arg(long)]
        resume: bool,
        /// Extra arguments passed to trainer.py as they are.
        #[arg(last = true)]
        extra: Vec<String>,
    },
    /// Run an ONNX model on a split through the node's Rust inference, score it (paper's
    /// metric) against two baselines; writes report.md and PNG plots.
    Evaluate {
        #[arg(long)]
        data: PathBuf,
        /// The grounding model (.onnx) to evaluate; it need not be in models/manifest.json.
        #[arg(long)]
        model: PathBuf,
        /// Where the probability maps, report.md and the plots go (default: DATA/eval-SPLIT).
        #[arg(long)]
        out: Option<PathBuf>,
        #[arg(long, default_value = "test")]
        split: String,
        /// Only the first N studies of the split (0 = all).
        #[arg(long, default_value_t = 0)]
        max_studies: usize,
        /// Score existing probability maps in OUT without running inference again.
        #[arg(long)]
        skip_inference: bool,
        /// Folder with manifest.json, tokenizer.json, text_encoder.onnx [default: the repo's models/].
        #[arg(long)]
        models_dir: Option<PathBuf>,
        /// ONNX Runtime library ($ORT_DYLIB_PATH overrides it) [default: the repo's
        /// vendor/onnxruntime/libonnxruntime.so, from scripts/fetch-onnxruntime].
        #[arg(long)]
        onnxruntime: Option<PathBuf>,
        /// Intra-op threads of each ONNX Runtime session.
        #[arg(long, default_value_t = 2)]
        threads: usize,
        /// The trainer's loss.csv: adds a training-curves plot to the report.
        #[arg(long)]
        loss_csv: Option<PathBuf>,
    },
}

fn train_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_owned()
}

/// The trainer venv's Python, or the error that tells how to make it.
fn venv_python() -> Result<PathBuf> {
    let py = train_dir().join(".venv/bin/python");
    if !py.is_file() {
        bail!(
            "{} is missing: run tools/train/setup-env first (it installs PyTorch, onnxruntime and tokenizers)",
            py.display()
        );
    }
    Ok(py)
}

fn run_python(script: &str, args: &[String]) -> Result<()> {
    let py = venv_python()?;
    let status = Command::new(&py)
        .arg(train_dir().join(script))
        .args(args)
        .status()
        .with_context(|| format!("starting {}", py.display()))?;
    if !status.success() {
        bail!("{script} failed ({status})");
    }
    Ok(())
}

fn main() -> Result<()> {
    match Cli::parse().cmd {
        Cmd::Dataset { archive, out, seed } => {
            let opts = dataset::Options {
                seed,
                ..dataset::Options::default()
            };
            let funnel = dataset::build(&archive, &out, &opts)?;
            print!("{}", funnel.render());
        }
        Cmd::Fit {
            data,
            out,
            steps,
            resume,
            extra,
        } => {
            let mut args = vec![
                "--data".to_owned(),
                data.display().to_string(),
                "--out".to_owned(),
                out.display().to_string(),
            ];
            if let Some(n) = steps {
                args.extend(["--steps".to_owned(), n.to_string()]);
            }
            if resume {
                args.push("--resume".to_owned());
            }
            args.extend(extra);
            run_python("trainer.py", &args)?;
        }
        Cmd::Evaluate {
            data,
            model,
            out,
            split,
            max_studies,
            skip_inference,
            models_dir,
            onnxruntime,
            threads,
            loss_csv,
        } => {
            let out = out.unwrap_or_else(|| data.join(format!("eval-{split}")));
            if !skip_inference {
                let defaults = infer::Options::default();
                let opts = infer::Options {
                    split: split.clone(),
                    max_studies,
                    models_dir: models_dir.unwrap_or(defaults.models_dir),
                    onnxruntime: onnxruntime.unwrap_or(defaults.onnxruntime),
                    threads,
                };
                // Its summary (forward times, model sha256) goes into the report.
                infer::run(&data, &model, &out, &opts)?;
            }
            let md = evaluate::report(
                &data,
                &out,
                loss_csv.as_deref(),
                &format!("{} on {} ({split} split)", model.display(), data.display()),
            )?;
            print!("{md}");
            eprintln!("wrote {}", out.join("report.md").display());
        }
    }
    Ok(())
}
