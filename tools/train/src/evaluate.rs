//! Scoring half of `petground-train evaluate`: reads the probability maps that `infer` wrote
//! for one split, post-processes them as the node does (`post`), and scores the model, the
//! same model with empty text (vision only) and the hottest-component baseline with the paper's
//! metric (`metric`), overall and by tracer, site, lesion size and uptake; renders markdown.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ndarray::{Array3, Ix3};
use petground::volume::Geometry;

use crate::dataset::{DatasetError, Pair, read_manifest};
use crate::figures::{self, FigureError};
use crate::infer;
use crate::metric::{Counts, MetricError, score};
use crate::npy::{self, NpyError};
use crate::post::{PostError, hottest_component, prob_to_pet_mask, squeeze};

#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error(transparent)]
    Dataset(#[from] DatasetError),
    #[error(transparent)]
    Npy(#[from] NpyError),
    #[error(transparent)]
    Post(#[from] PostError),
    #[error(transparent)]
    Metric(#[from] MetricError),
    #[error(transparent)]
    Figure(#[from] FigureError),
    #[error("{path}: {why}")]
    Input { path: PathBuf, why: String },
}

/// The three methods compared.
pub const METHODS: [&str; 3] = [
    "model (text)",
    "vision only (empty text)",
    "hottest component",
];

/// Pooled counts per method, overall and per group ("tracer=fdg", "size=<2 mL", …).
#[derive(Debug, Default)]
pub struct Evaluation {
    pub overall: [Counts; 3],
    pub groups: BTreeMap<String, [Counts; 3]>,
    /// Sentences whose model mask differs from the vision-only mask (text changed the answer).
    pub text_changed: usize,
    /// Per method: sentences whose prediction overlaps the truth at all (the TP rule without
    /// its SUVmax condition), to tell "wrong place" from "right place, wrong extent".
    pub overlap: [usize; 3],
    /// Laterality check on one-sided sentences (those with a `-swapped` map): how many there
    /// were, how many the model got right (TP), and how many it still "got right" with left and
    /// right exchanged in the text — low when the side word steers the answer.
    pub one_sided: usize,
    pub one_sided_tp: usize,
    pub swapped_tp: usize,
    /// Where the model's misses (not TP) went: (truth site, where the prediction landed) ->
    /// count.
    pub misses: BTreeMap<(String, Landing), usize>,
    /// The pair ids scored, in inference order.
    pub pairs: Vec<String>,
}

/// Where a missed prediction landed.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Landing {
    /// On another reported lesion of the same study (its site): the text picked the wrong one.
    Lesion(String),
    /// On no reported lesion.
    Elsewhere,
    /// The mask is empty.
    Nothing,
}

impl std::fmt::Display for Landing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Landing::Lesion(site) => f.write_str(site),
            Landing::Elsewhere => f.write_str("elsewhere"),
            Landing::Nothing => f.write_str("nothing"),
        }
    }
}

/// Where one missed prediction landed: the site of the first other pair of the same study
/// whose truth it overlaps, elsewhere, or nothing.
fn landing(
    data: &Path,
    pred: &Array3<bool>,
    pair: &Pair,
    study_pairs: &[&Pair],
) -> Result<Landing, EvalError> {
    if !pred.iter().any(|&v| v) {
        return Ok(Landing::Nothing);
    }
    for other in study_pairs.iter().filter(|o| o.id != pair.id) {
        let truth = npy::read_dim::<u8, Ix3>(&data.join(&other.label_pet))?;
        if truth.shape() == pred.shape() && pred.iter().zip(truth.iter()).any(|(&p, &t)| p && t > 0)
        {
            return Ok(Landing::Lesion(other.site.clone()));
        }
    }
    Ok(Landing::Elsewhere)
}

/// Size group of a lesion by MTV (mL).
pub fn size_group(mtv_ml: f64) -> &'static str {
    if mtv_ml < 2.0 {
        "<2 mL"
    } else if mtv_ml < 5.0 {
        "2-5 mL"
    } else {
        ">=5 mL"
    }
}

/// Uptake group by the label's SUVmax.
pub fn uptake_group(suv_max: f64) -> &'static str {
    if suv_max < 5.0 {
        "SUVmax <5"
    } else if suv_max < 10.0 {
        "SUVmax 5-10"
    } else {
        "SUVmax >=10"
    }
}

fn read_prob(path: &Path) -> Result<Array3<f32>, EvalError> {
    let a = npy::read::<f32>(path)?;
    squeeze(a.view())
        .map(|v| v.to_owned())
        .ok_or_else(|| EvalError::Input {
            path: path.to_owned(),
            why: "not a [Z, Y, X] probability map".to_owned(),
        })
}

/// Per study: its name, the SUV and the two text-independent masks (vision only, hottest).
type StudyMasks = (String, Array3<f32>, Array3<bool>, Array3<bool>);

/// Scores every pair listed in `preds/../inference.json` (`eval_dir`).
pub fn evaluate(data: &Path, eval_dir: &Path) -> Result<Evaluation, EvalError> {
    let info_path = eval_dir.join("inference.json");
    let info: serde_json::Value = std::fs::read_to_string(&info_path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .ok_or_else(|| EvalError::Input {
            path: info_path.clone(),
            why: "missing or unreadable (run evaluate without --skip-inference first)".to_owned(),
        })?;
    let ids: Vec<String> = info["pairs"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let manifest: BTreeMap<String, Pair> = read_manifest(data)?
        .into_iter()
        .map(|p| (p.id.clone(), p))
        .collect();
    let mut ev = Evaluation {
        pairs: ids.clone(),
        ..Evaluation::default()
    };
    let mut by_study: BTreeMap<&str, Vec<&Pair>> = BTreeMap::new();
    for p in manifest.values() {
        by_study.entry(p.study.as_str()).or_default().push(p);
    }
    let mut study_cache: Option<StudyMasks> = None;
    for id in &ids {
        let p = manifest.get(id).ok_or_else(|| EvalError::Input {
            path: data.join("manifest.jsonl"),
            why: format!("no pair {id}"),
        })?;
        let pet: Geometry = p.pet_grid.clone();
        let model: Geometry = p.model_grid.clone();
        if study_cache.as_ref().map(|c| c.0 != p.study).unwrap_or(true) {
            let suv = npy::read_dim::<f32, Ix3>(&data.join(&p.suv))?;
            let empty = read_prob(
                &eval_dir
                    .join("preds")
                    .join(format!("{}-empty.npy", p.study)),
            )?;
            let vision = prob_to_pet_mask(empty.view(), &model, &pet)?;
            let hottest = hottest_component(suv.view())?;
            study_cache = Some((p.study.clone(), suv, vision, hottest));
        }
        let Some((_, suv, vision, hottest)) = study_cache.as_ref() else {
            continue;
        };
        let truth = npy::read_dim::<u8, Ix3>(&data.join(&p.label_pet))?.mapv(|v| v > 0);
        let prob = read_prob(&eval_dir.join("preds").join(format!("{id}.npy")))?;
        let pred = prob_to_pet_mask(prob.view(), &model, &pet)?;
        if pred != *vision {
            ev.text_changed += 1;
        }
        let swapped = eval_dir.join("preds").join(format!("{id}-swapped.npy"));
        if swapped.is_file() {
            let sw = read_prob(&swapped)?;
            let sw = prob_to_pet_mask(sw.view(), &model, &pet)?;
            ev.one_sided += 1;
            ev.one_sided_tp += score(truth.view(), pred.view(), suv.view())?.tp;
            ev.swapped_tp += score(truth.view(), sw.view(), suv.view())?.tp;
        }
        let scores = [
            score(truth.view(), pred.view(), suv.view())?,
            score(truth.view(), vision.view(), suv.view())?,
            score(truth.view(), hottest.view(), suv.view())?,
        ];
        if scores[0].tp == 0 {
            let study_pairs = by_study
                .get(p.study.as_str())
                .map_or(&[][..], Vec::as_slice);
            let to = landing(data, &pred, p, study_pairs)?;
            *ev.misses.entry((p.site.clone(), to)).or_default() += 1;
        }
        let keys = [
            format!("tracer={}", p.tracer),
            format!("site={}", p.site),
            format!("size={}", size_group(p.mtv_ml)),
            format!("uptake={}", uptake_group(p.label_suv_max)),
        ];
        for (m, s) in scores.iter().enumerate() {
            ev.overall[m].add(s);
            ev.overlap[m] += usize::from(s.dice > 0.0);
            for k in &keys {
                ev.groups.entry(k.clone()).or_default()[m].add(s);
            }
        }
    }
    Ok(ev)
}

/// The evaluation as markdown: the overall table, then F1 per group for each method.
pub fn render(ev: &Evaluation, title: &str) -> String {
    let mut s = format!("## {title}\n\n");
    s.push_str(
        "| method | sentences | TP | FP | FN | precision | recall | F1 | mean Dice | any overlap |\n",
    );
    s.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for ((m, c), o) in METHODS.iter().zip(&ev.overall).zip(ev.overlap) {
        s.push_str(&format!(
            "| {m} | {} | {} | {} | {} | {:.3} | {:.3} | {:.3} | {:.3} | {o} |\n",
            c.sentences,
            c.tp,
            c.fp,
            c.fn_,
            c.precision(),
            c.recall(),
            c.f1(),
            c.mean_dice()
        ));
    }
    let n = ev.overall[0].sentences;
    s.push_str(&format!(
        "\nText changed the predicted mask (vs empty text) for {} of {n} sentences.\n\n",
        ev.text_changed
    ));
    if ev.one_sided > 0 {
        s.push_str(&format!(
            "Laterality: of {} one-sided sentences the model grounds {} correctly (TP); with \
             \"left\" and \"right\" exchanged in the text, {} still land on the described \
             lesion (the fewer, the more the side word steers the answer).\n\n",
            ev.one_sided, ev.one_sided_tp, ev.swapped_tp
        ));
    }
    if !ev.misses.is_empty() {
        let total: usize = ev.misses.values().sum();
        let count = |kind: &Landing| -> usize {
            ev.misses
                .iter()
                .filter(|((_, to), _)| to == kind)
                .map(|(_, n)| n)
                .sum()
        };
        let (elsewhere, nothing) = (count(&Landing::Elsewhere), count(&Landing::Nothing));
        s.push_str(&format!(
            "Misses: of the model's {total} sentences without a TP, {} land on another reported \
             lesion of the same study (the text picked the wrong one of the study's lesions), \
             {elsewhere} on no reported lesion, {nothing} predict nothing. Truth site -> where \
             the prediction landed:\n\n| miss | n |\n|---|---:|\n",
            total - elsewhere - nothing
        ));
        let mut rows: Vec<_> = ev
            .misses
            .iter()
            .map(|((site, to), n)| (format!("{site} -> {to}"), n))
            .collect();
        rows.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(&b.0)));
        for (miss, n) in rows {
            s.push_str(&format!("| {miss} | {n} |\n"));
        }
        s.push('\n');
    }
    s.push_str(
        "| group | n | F1 model | F1 vision only | F1 hottest |\n|---|---:|---:|---:|---:|\n",
    );
    for (k, c) in &ev.groups {
        s.push_str(&format!(
            "| {k} | {} | {:.3} | {:.3} | {:.3} |\n",
            c[0].sentences,
            c[0].f1(),
            c[1].f1(),
            c[2].f1()
        ));
    }
    s
}

/// The whole report: scores `eval_dir`'s maps, writes the plots and `eval_dir/report.md`
/// (tables, inference paragraph, plots with their legends); returns the markdown.
pub fn report(
    data: &Path,
    eval_dir: &Path,
    loss_csv: Option<&Path>,
    title: &str,
) -> Result<String, EvalError> {
    let ev = evaluate(data, eval_dir)?;
    let mut md = render(&ev, title);
    // An inference.json from before the Rust path (evaluate.py) lacks these fields.
    if let Ok(info) = infer::read_info(eval_dir) {
        md.push('\n');
        md.push_str(&infer::summary(&info));
    }
    md.push_str(&figures::write_all(
        data, eval_dir, &ev, &ev.pairs, loss_csv,
    )?);
    let path = eval_dir.join("report.md");
    std::fs::write(&path, &md).map_err(|e| EvalError::Input {
        path,
        why: e.to_string(),
    })?;
    Ok(md)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_have_fixed_edges() {
        assert_eq!(size_group(1.99), "<2 mL");
        assert_eq!(size_group(2.0), "2-5 mL");
        assert_eq!(size_group(5.0), ">=5 mL");
        assert_eq!(uptake_group(4.9), "SUVmax <5");
        assert_eq!(uptake_group(5.0), "SUVmax 5-10");
        assert_eq!(uptake_group(12.0), "SUVmax >=10");
    }
}
