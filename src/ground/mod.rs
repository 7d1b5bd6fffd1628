//! Grounding with the vision-language model (ConTEXTual Net 3D, PAPER §4): the model-grid
//! pre-processing shared with tools/train (`preprocess`), ONNX Runtime loading, the frozen text
//! encoder and tokenizer, the grounding model and its post-processing (the other files).
pub mod grounder;
pub mod manifest;
pub mod model;
pub mod postprocess;
pub mod preprocess;
pub mod runtime;
pub mod text;
