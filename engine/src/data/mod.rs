//! Synthetic phantoms and the training data pipeline (in progress).

pub mod phantom;
