//! petground-train: the offline training side (issue 9). `dataset` builds model-grid training
//! pairs from an archive with the node's own code; `fit` runs the PyTorch trainer
//! (tools/train/trainer.py) in its own venv; `evaluate` scores an ONNX model on a split with the
//! paper's metric (PAPER §5). PyTorch is never needed to build or test this crate.
pub mod dataset;
pub mod evaluate;
pub mod metric;
pub mod npy;
pub mod post;
