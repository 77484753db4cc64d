//! Synthetic phantoms and the training data pipeline (in progress).
pub mod cases;
pub mod error;
pub mod preprocess;
pub mod subsets;
