//! Writes the evaluation's PNG plots (`plots`) next to report.md and the markdown that links
//! them with the legend of every colour: training curves (when a loss.csv is given), F1 by group
//! and example overlays of the first test pairs (PET model input, truth and predicted outline;
//! the prediction is the node's component selection on the model grid,
//! `ground::postprocess::select_component`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ndarray::{Array3, Axis, Ix3, Ix4, Slice};
use petground::ground::postprocess::select_component;

use crate::dataset::{DatasetError, Pair, read_manifest};
use crate::evaluate::{Evaluation, METHODS};
use crate::npy::{self, NpyError};
use crate::plots::{self, PlotError, Rgb};

/// Example overlays drawn (the first pairs of the evaluation).
pub const EXAMPLES: usize = 6;
/// Pixels per model-grid voxel in the overlays (8 mm voxels → 2 mm pixels).
pub const OVERLAY_SCALE: usize = 4;
/// Moving-average window of the train loss, in steps.
pub const SMOOTH_STEPS: usize = 50;

#[derive(Debug, thiserror::Error)]
pub enum FigureError {
    #[error(transparent)]
    Plot(#[from] PlotError),
    #[error(transparent)]
    Npy(#[from] NpyError),
    #[error(transparent)]
    Dataset(#[from] DatasetError),
    #[error("post-processing: {0}")]
    Post(#[from] petground::ground::postprocess::PostprocessError),
    #[error("{path}: {why}")]
    Input { path: PathBuf, why: String },
}

fn write(img: &Rgb, path: &Path) -> Result<(), FigureError> {
    let bytes = img.to_png()?;
    std::fs::write(path, bytes).map_err(|e| FigureError::Input {
        path: path.to_owned(),
        why: e.to_string(),
    })
}

fn crop(a: Array3<f32>, dims: [usize; 3]) -> Array3<f32> {
    a.slice_each_axis(|ax| Slice::from(0..dims[ax.axis.index()]))
        .to_owned()
}

/// The overlay of one evaluated pair (its prediction read from `eval_dir/preds`).
pub fn pair_overlay(data: &Path, eval_dir: &Path, p: &Pair) -> Result<Rgb, FigureError> {
    let dims = p.model_grid.dims;
    let image = npy::read_dim::<f32, Ix4>(&data.join(&p.image))?;
    let pet = crop(image.index_axis(Axis(0), 0).to_owned(), dims);
    let truth = npy::read_dim::<u8, Ix3>(&data.join(&p.label))?
        .slice_each_axis(|ax| Slice::from(0..dims[ax.axis.index()]))
        .mapv(|v| v > 0);
    let prob = crop(
        npy::read_dim::<f32, Ix3>(&eval_dir.join("preds").join(format!("{}.npy", p.id)))?,
        dims,
    );
    let pred =
        select_component(prob.view())?.unwrap_or_else(|| Array3::from_elem(prob.dim(), false));
    Ok(plots::overlay(
        pet.view(),
        truth.view(),
        pred.view(),
        OVERLAY_SCALE,
    ))
}

/// Writes the PNGs into `eval_dir` for the pairs `ids` (evaluation order) and returns the
/// report section that links them.
pub fn write_all(
    data: &Path,
    eval_dir: &Path,
    ev: &Evaluation,
    ids: &[String],
    loss_csv: Option<&Path>,
) -> Result<String, FigureError> {
    let mut md = String::from("\n## Plots\n\n");
    if let Some(csv) = loss_csv {
        let text = std::fs::read_to_string(csv).map_err(|e| FigureError::Input {
            path: csv.to_owned(),
            why: e.to_string(),
        })?;
        let rows = plots::parse_loss_csv(&text)?;
        write(
            &plots::curves(&rows, SMOOTH_STEPS, 640, 320),
            &eval_dir.join("curves.png"),
        )?;
        md.push_str(&format!(
            "![training curves](curves.png)\n\nTraining curves from {} ({} steps): blue = train loss \
             (moving average over {SMOOTH_STEPS} steps), orange = validation loss (dots at each \
             validation); x = step, y = loss from 0 (bottom axis) to the largest plotted value, \
             grey lines at quarters of it.\n\n",
            csv.display(),
            rows.len()
        ));
    }
    let groups: Vec<(String, [f64; 3])> = ev
        .groups
        .iter()
        .map(|(k, c)| (k.clone(), [c[0].f1(), c[1].f1(), c[2].f1()]))
        .collect();
    write(
        &plots::f1_bars(&groups, 6, 200),
        &eval_dir.join("f1_by_group.png"),
    )?;
    md.push_str(&format!(
        "![F1 by group](f1_by_group.png)\n\nF1 by group, three bars per group: blue = {}, orange = \
         {}, grey = {}; bar height = F1 (grey lines at 0.25, 0.5, 0.75, 1). Groups left to right: \
         {}.\n\n",
        METHODS[0],
        METHODS[1],
        METHODS[2],
        groups
            .iter()
            .map(|g| g.0.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    ));
    let manifest: BTreeMap<String, Pair> = read_manifest(data)?
        .into_iter()
        .map(|p| (p.id.clone(), p))
        .collect();
    md.push_str(
        "Example overlays (coronal MIP of the PET model input on the 8 mm model grid, hot = dark, \
         top row = last slice): green = truth outline (the training label), red = the model's \
         prediction outline (the node's selected component, text input), yellow = both.\n\n",
    );
    for id in ids.iter().take(EXAMPLES) {
        let Some(p) = manifest.get(id) else {
            continue;
        };
        let name = format!("overlay-{id}.png");
        write(&pair_overlay(data, eval_dir, p)?, &eval_dir.join(&name))?;
        md.push_str(&format!("- ![{id}]({name}) `{id}`: {}\n", p.sentence));
    }
    Ok(md)
}
