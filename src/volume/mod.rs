//! PET/CT volumes: geometry, assembly of a series into a volume, SUV, resampling.
//! Pure synchronous code: views in, values out.
pub mod assemble;
mod attrs;
pub mod error;
pub mod geometry;
pub mod resample;
pub mod suv;

pub use assemble::{AssembledSeries, SeriesIdentity, assemble_files, assemble_objects};
pub use attrs::DateTime;
pub use error::VolumeError;
pub use geometry::{Geometry, SliceRef, Volume};
