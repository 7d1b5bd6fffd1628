//! PET/CT volumes: geometry, assembly of a series into a volume, SUV, resampling.
//! Pure synchronous code: views in, values out.
pub mod geometry;

pub use geometry::{Geometry, SliceRef, Volume};
