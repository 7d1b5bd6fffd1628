//! The `petground-phantom` command line: generate one study, an archive of studies, or send a
//! study and its report to a running node. All work is in the library.

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use petground_phantom::{Options, Tracer, Vendor, send};
use std::path::{Path, PathBuf};

#[derive(Parser)]
#[command(
    name = "petground-phantom",
    version,
    about = "Synthetic whole-body PET/CT studies with reports and truth"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Write one study: DIR/pet/*.dcm, DIR/ct/*.dcm, report.txt, report.hl7, truth.json, truth_labels.u8.
    Generate {
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// 64×64 PET at 8 mm with 16 mm slices and a 128×128 CT (< 5 MB).
        #[arg(long)]
        small: bool,
        #[arg(long, value_enum)]
        tracer: Option<Tracer>,
        /// Number of lesions (default: 3–8 from the seed).
        #[arg(long)]
        lesions: Option<usize>,
        #[arg(long, value_enum, default_value = "plain")]
        vendor: Vendor,
        /// Allow lesions that a threshold cannot separate from hot neighbours.
        #[arg(long)]
        hard: bool,
        /// Full-size PET matrix (default: 168–200 from the seed).
        #[arg(long, value_parser = clap::value_parser!(u16).range(32..=512))]
        matrix: Option<u16>,
    },
    /// Write COUNT studies (seeds SEED, SEED+1, …) into OUT/study-XXXX/.
    Archive {
        #[arg(long)]
        out: PathBuf,
        #[arg(long)]
        count: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[arg(long)]
        small: bool,
        /// Vendor SUV conventions, used in turn study by study (repeat or comma-separate).
        #[arg(long, value_enum, value_delimiter = ',', default_value = "plain")]
        vendor: Vec<Vendor>,
        /// Let lesions sit next to hot physiological uptake (harder cases).
        #[arg(long)]
        hard: bool,
        /// Range of the lesions' target SUV.
        #[arg(long, default_value_t = 2.0)]
        min_suv: f64,
        #[arg(long, default_value_t = 25.0)]
        max_suv: f64,
    },
    /// C-STORE a study's pet/ and ct/ files to a node, then send report.hl7 over MLLP.
    Send {
        /// DICOM peer as HOST:PORT.
        #[arg(long)]
        dicom: String,
        #[arg(long, default_value = "PETGROUND")]
        aec: String,
        #[arg(long, default_value = "PHANTOM")]
        aet: String,
        /// HL7 MLLP peer as HOST:PORT; the report is not sent without it.
        #[arg(long)]
        hl7: Option<String>,
        /// Send the report before the images (the node must accept either order).
        #[arg(long, requires = "hl7")]
        report_first: bool,
        /// Study folder written by `generate`.
        dir: PathBuf,
    },
}

fn main() -> Result<()> {
    match Cli::parse().cmd {
        Cmd::Generate {
            out,
            seed,
            small,
            tracer,
            lesions,
            vendor,
            hard,
            matrix,
        } => {
            let opts = Options {
                small,
                tracer,
                lesions,
                vendor,
                groundable: !hard,
                pet_matrix: matrix.map(usize::from),
                ..Options::new(seed)
            };
            let t = petground_phantom::generate(&opts, &out)?;
            println!(
                "{}: {} {} slices, {} lesions, study {}",
                out.display(),
                t.tracer,
                t.pet_grid.dims[0],
                t.lesions.len(),
                t.study_instance_uid
            );
        }
        Cmd::Archive {
            out,
            count,
            seed,
            small,
            vendor,
            hard,
            min_suv,
            max_suv,
        } => {
            anyhow::ensure!(
                0.0 < min_suv && min_suv <= max_suv,
                "--min-suv must be positive and not above --max-suv"
            );
            let settings = petground_phantom::ArchiveSettings {
                small,
                vendors: vendor,
                groundable: !hard,
                min_suv,
                max_suv,
            };
            for dir in petground_phantom::archive_with(&out, count, seed, &settings)? {
                println!("{}", dir.display());
            }
        }
        Cmd::Send {
            dicom,
            aec,
            aet,
            hl7,
            report_first,
            dir,
        } => {
            // The node's SCU and MLLP code are async; nothing else in this binary is.
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("starting the tokio runtime")?;
            rt.block_on(send_study(
                &dir,
                &dicom,
                &aet,
                &aec,
                hl7.as_deref(),
                report_first,
            ))?;
        }
    }
    Ok(())
}

/// `send`: the images, and the report before or after them; prints the ACK and a summary.
async fn send_study(
    dir: &Path,
    dicom: &str,
    aet: &str,
    aec: &str,
    hl7: Option<&str>,
    report_first: bool,
) -> Result<()> {
    let report = async |addr: &str| -> Result<()> {
        let ack = send::send_report(&dir.join("report.hl7"), addr).await?;
        println!("{}", ack.replace('\r', "\n").trim_end());
        Ok(())
    };
    if let (true, Some(addr)) = (report_first, hl7) {
        report(addr).await?;
    }
    let n = send::store_study(dir, dicom, aet, aec).await?;
    println!("stored {n} instances to {aec}@{dicom}");
    if let (false, Some(addr)) = (report_first, hl7) {
        report(addr).await?;
    }
    Ok(())
}
