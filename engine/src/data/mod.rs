//! What feeds training: case lists and train/val/test splits (`cases`), loading a data set
//! with per-case problem reports (`dataset`, `error`), patch sampling with foreground
//! oversampling (`patches`), augmentation (`augment`), availability-subset sampling
//! (`subsets`) and the seeded multi-threaded batch loader (`loader`).
//!
//! Cropping and normalisation, which inference and evaluation share with training, live in
//! [`crate::prepare`]; the synthetic study generator in [`crate::phantom`].
pub mod augment;
pub mod cases;
pub mod dataset;
pub mod error;
pub mod loader;
pub mod patches;
pub mod prepared;
pub mod source;
pub mod subsets;
