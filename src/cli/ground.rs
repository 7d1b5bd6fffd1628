//! `petground ground`: the whole pipeline on a folder of DICOM files and one report, offline;
//! the SEG, its SR and the MIP picture are written into `--out`.

use std::path::Path;

use anyhow::Context;

use super::{Failure, load, runtime, usage, warn_line, write_out};

pub(super) fn ground(
    study: &Path,
    report: &Path,
    out: &Path,
    config: Option<&Path>,
) -> Result<(), Failure> {
    use petground::pipeline::{ground, segmentation, study as prepared};
    let (settings, mode, weak_label, results) = match config {
        Some(p) => {
            let c = load(p)?;
            (c.model, c.grounding.mode, c.weak_label, c.results)
        }
        None => Default::default(),
    };
    let bytes = std::fs::read(report)
        .with_context(|| format!("reading report {}", report.display()))
        .map_err(runtime)?;
    let findings = petground::report::findings_from_input(&bytes)
        .with_context(|| format!("report {}", report.display()))
        .map_err(runtime)?;
    let series = prepared::series_in(study)
        .with_context(|| format!("looking for a PET series in {}", study.display()))
        .map_err(runtime)?;
    let grounder = grounder_for(&settings, mode)?;
    let params = petground::label::LabelParams::for_config(&weak_label);
    let methods = ground::Methods {
        label: &params,
        model: grounder.as_ref(),
        mode,
    };
    let outputs = segmentation::Outputs {
        series_number: results.seg_series_number,
        sr: results.sr,
    };
    let grounded = prepared::prepare(&series.pet, &series.ct)
        .and_then(|s| segmentation::ground_study(s, &findings, &methods, &outputs))
        .with_context(|| format!("grounding {}", study.display()))
        .map_err(runtime)?;
    print_outcomes(&findings, &grounded)?;
    match &grounded.seg {
        Some(seg) => write_ground_outputs(out, seg, &findings, &grounded),
        None => outln!("no finding was grounded: no SEG written"),
    }
}

/// The model for `petground ground`, when the mode uses one and it loads. Without a usable
/// model the weak-label-first mode still grounds by weak labels.
fn grounder_for(
    settings: &petground::ground::runtime::ModelSettings,
    mode: petground::ground::grounder::GroundingMode,
) -> Result<Option<std::sync::Mutex<petground::ground::grounder::Grounder>>, Failure> {
    use petground::ground::grounder::{GroundingMode, startup};
    if !mode.uses_model() {
        return Ok(None);
    }
    match startup(settings, mode) {
        Ok(g) if g.has_model() => Ok(Some(std::sync::Mutex::new(g))),
        Ok(_) => Ok(None),
        Err(e) if mode == GroundingMode::WeakLabelFirst => {
            warn_line(&format!(
                "petground: model grounding unavailable ({e}); using weak labels only"
            ));
            Ok(None)
        }
        Err(e) => Err(usage(e)),
    }
}

/// One line per finding: its segment and measurements, the segment it restates, or why it was
/// not grounded.
fn print_outcomes(
    findings: &[petground::report::Finding],
    grounded: &petground::pipeline::segmentation::Grounded,
) -> Result<(), Failure> {
    for (finding, o) in findings.iter().zip(&grounded.findings) {
        let f = petground::pipeline::record::finding_record(finding, o);
        let agree = f.agreement.map(|a| format!(" [{a}]")).unwrap_or_default();
        let measured = o.grounding().map(|g| &g.measurements);
        match (&f.method, f.segment, f.restatement_of, measured) {
            (Some(_), Some(n), Some(by), _) => outln!(
                "restates\tsegment {n} (finding {by})\t{}{agree}\t{}",
                f.detail,
                f.sentence
            ),
            (Some(m), Some(n), None, Some(q)) => outln!(
                "segment {n}\t{m}\tSUVmax {:.2}\tSUVpeak {:.2}\tSUVmean {:.2}\tMTV {:.2} mL\tTLG {:.1}\t{}{agree}\t{}",
                q.suv_max,
                q.suv_peak,
                q.suv_mean,
                q.mtv_ml,
                q.tlg,
                f.detail,
                f.sentence
            ),
            _ => outln!("not grounded\t{}\t{}", f.detail, f.sentence),
        }?;
    }
    Ok(())
}

/// The SEG, the SR beside it (when built) and the MIP picture with the segments' outlines.
fn write_ground_outputs(
    out: &Path,
    seg: &petground::seg::SegObject,
    findings: &[petground::report::Finding],
    grounded: &petground::pipeline::segmentation::Grounded,
) -> Result<(), Failure> {
    std::fs::create_dir_all(out)
        .with_context(|| format!("creating {}", out.display()))
        .map_err(runtime)?;
    let path = out.join(format!("{}.dcm", petground::seg::sop_instance_uid(seg)));
    petground::seg::write_seg(seg, &path)
        .with_context(|| format!("writing {}", path.display()))
        .map_err(runtime)?;
    outln!("SEG written: {}", path.display())?;
    if let Some(sr) = &grounded.sr {
        let sr_path = path.with_extension("sr.dcm");
        petground::seg::write_seg(sr, &sr_path)
            .with_context(|| format!("writing {}", sr_path.display()))
            .map_err(runtime)?;
        outln!(
            "SR written: {} ({})",
            sr_path.display(),
            petground::seg::sop_instance_uid(sr)
        )?;
    }
    let png = path.with_extension("png");
    let bytes = petground::pipeline::picture::grounded_png(grounded, findings);
    std::fs::write(&png, bytes)
        .with_context(|| format!("writing {}", png.display()))
        .map_err(runtime)?;
    outln!("picture written: {}", png.display())
}
