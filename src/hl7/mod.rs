//! HL7 v2 report intake (CONTRACT §3): MLLP framing, ORU^R01 parsing, original-mode ACKs, the
//! report↔study matching rule and the TCP listener that ties them together.
//!
//! The listener owns no storage: it hands each parsed report to a [`ReportSink`] and answers `AA`
//! only after the sink says the report is durable. The store's `ReportIntake` is the durable sink
//! (implemented in `sink`: hl7 depends on the store, not the reverse; the matching rule itself
//! lives in `store::matching`, which `matching` re-exports). The CLI binds the socket and owns
//! the shutdown token. Everything except `listener` and `sink` is pure code.
pub mod ack;
mod er7;
pub mod error;
pub mod escape;
pub mod listener;
pub mod matching;
pub mod mllp;
pub mod oru;
#[cfg(test)]
mod oru_tests;
mod oru_text;
pub mod sink;
mod slots;

/// The `[hl7]` section, which is all the listener receives of the config.
pub use crate::config::Hl7Config;
pub use listener::{ListenerError, run};
pub use oru::{OruReport, ReportStatus};
pub use sink::{MemorySink, ReportSink, SinkError};
