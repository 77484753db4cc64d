//! The MetaKD engine: everything between NIfTI files on disk and numbers on screen.
//!
//! * [`volume`]: NIfTI-1/2 reading and writing, voxel↔world geometry, reorientation for display.
//! * [`study`]: a BraTS case (FLAIR, T1, T1ce, T2, optional labels) on one checked grid.
//! * [`prepare`]: brain crop and normalisation of a study, shared by training, inference and
//!   evaluation.
//! * [`phantom`]: synthetic BraTS-like studies.
//! * [`data`]: what feeds training (case lists, splits, patches, augmentation, the loader).
//! * [`render`]: images of studies without a GUI (the montage PNG).
//! * [`model`], [`train`], [`infer`], [`metrics`]: the network, its training strategies,
//!   whole-volume segmentation and the 15-subset evaluation; [`experiment`]: the methods'
//!   comparison over seeds.
//! * [`ops`]: 3D convolution and the fused norm as burn custom operations backed by our WGSL
//!   kernels (`shaders/`) and by our CPU path; [`allocator`]: the allocator settings that path
//!   wants.
//!
//! Modality order everywhere: FLAIR, T1, T1ce, T2 (bits 0..3 of an availability mask).

pub mod allocator;
pub mod atomic_file;
pub mod compute;
pub mod data;
pub mod experiment;
pub mod infer;
pub mod metrics;
pub mod model;
pub mod ops;
pub mod phantom;
pub mod prepare;
pub mod render;
pub mod study;
pub mod train;
pub mod volume;
