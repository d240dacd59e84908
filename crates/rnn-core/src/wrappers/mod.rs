//! Wrappers: cells around cells. `projection` (TF's `OutputProjectionWrapper`), `multi`
//! (`MultiRNNCell`), `dropout` (`DropoutWrapper`).

pub mod dropout;
pub mod multi;
pub mod projection;
