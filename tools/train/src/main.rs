//! The `petground-train` command line: `dataset`, `fit`, `evaluate`. All work is in the library
//! except starting the Python scripts.

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use petground_train::{dataset, evaluate};
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
    /// Score an ONNX model on a split (paper's metric) against two baselines; writes report.md.
    Evaluate {
        #[arg(long)]
        data: PathBuf,
        #[arg(long)]
        model: PathBuf,
        /// Where the probability maps and report.md go (default: DATA/eval-SPLIT).
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
        } => {
            let out = out.unwrap_or_else(|| data.join(format!("eval-{split}")));
            if !skip_inference {
                let args = [
                    "--data",
                    &data.display().to_string(),
                    "--model",
                    &model.display().to_string(),
                    "--out",
                    &out.display().to_string(),
                    "--split",
                    &split,
                    "--max-studies",
                    &max_studies.to_string(),
                ]
                .map(str::to_owned);
                run_python("evaluate.py", &args)?;
            }
            let ev = evaluate::evaluate(&data, &out)?;
            let title = format!("{} on {} ({split} split)", model.display(), data.display());
            let md = evaluate::render(&ev, &title);
            let report = out.join("report.md");
            std::fs::write(&report, &md).with_context(|| report.display().to_string())?;
            print!("{md}");
            eprintln!("wrote {}", report.display());
        }
    }
    Ok(())
}
