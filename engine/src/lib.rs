//! The MetaKD engine: everything between NIfTI files on disk and numbers on screen.
//!
//! * [`volume`]: NIfTI-1/2 reading and writing, voxel↔world geometry, reorientation for display.
//! * [`study`]: a BraTS case (FLAIR, T1, T1ce, T2, optional labels) on one checked grid.
//! * [`data`]: synthetic phantom cases and the training data pipeline.
//! * [`ops`]: 3D convolution as burn custom operations backed by our WGSL kernels (`shaders/`).
//!
//! Modality order everywhere: FLAIR, T1, T1ce, T2 (bits 0..3 of an availability mask).

pub mod data;
pub mod ops;
pub mod study;
pub mod volume;
