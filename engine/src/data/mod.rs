//! Synthetic phantoms and the training data pipeline (in progress).
pub mod augment;
pub mod cases;
pub mod dataset;
pub mod error;
pub mod loader;
pub mod patches;
pub mod phantom;
pub mod preprocess;
pub mod subsets;
