//! petground: a DICOM network node that grounds PET/CT report findings in the PET volume and
//! returns a DICOM SEG. This crate root only names the modules; `main.rs` owns the process.
pub mod config;
pub mod control;
pub mod delivery;
pub mod dicom;
pub mod ground;
pub mod hl7;
pub mod ids;
pub mod label;
pub mod listen;
pub mod logtext;
pub mod node;
pub mod pipeline;
pub mod report;
pub mod seg;
pub mod sr;
pub mod status;
pub mod store;
pub mod volume;
pub mod walk;
pub mod web;
