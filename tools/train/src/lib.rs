//! petground-train: the offline training side (issue 9). `dataset` builds model-grid training
//! pairs from an archive with the node's own code; `fit` runs the PyTorch trainer
//! (tools/train/trainer.py) in its own venv; `evaluate` runs an ONNX model on a split through the
//! node's own Rust inference (`infer`) and scores it with the paper's metric (PAPER §5),
//! writing report.md and PNG plots (`figures`). PyTorch is never needed to build or test this
//! crate, nor to evaluate.
pub mod dataset;
pub mod evaluate;
pub mod figures;
pub mod infer;
pub mod metric;
pub mod npy;
pub mod plots;
pub mod post;
