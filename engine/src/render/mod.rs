//! Rendering volumes to images without a GUI: the study montage (four modalities and the label
//! overlay in three planes) written as PNG by `metakd montage`, and the tiny bitmap font it uses.

mod font;
pub mod montage;

pub use font::{draw_text, text_width};
