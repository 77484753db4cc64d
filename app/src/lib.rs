//! The MetaKD desktop viewer as a library, so that the binary, the headless screenshot and the
//! UI tests all drive the same code.
//!
//! * [`viewer`]: the application (menus, panels, keys, view area).
//! * [`slice_view`]: one slice view (composition, crosshair, mouse input).
//! * [`bench`]: frame-time and memory benchmark.
//! * [`assign`]: the dialog that assigns roles to opened files.
//! * [`state`]: plain view state; [`loading`]: background study opening;
//!   [`recent`]: recent studies; [`screenshot`]: headless rendering to PNG;
//!   [`segmenting`]: background segmentation of the open study; [`segment_panel`]: the side
//!   panel's Segment section.
//! * [`compare`]: comparison across modality dropouts (job and table);
//!   [`compare_panel`]: its window.
//! * [`training`]: a training run driven from the viewer; [`train_panel`]: its window.

pub mod assign;
pub mod bench;
pub mod compare;
pub mod compare_panel;
pub mod loading;
pub mod recent;
pub mod screenshot;
pub mod segment_panel;
pub mod segmenting;
pub mod slice_view;
pub mod state;
pub mod train_panel;
pub mod training;
pub mod viewer;
