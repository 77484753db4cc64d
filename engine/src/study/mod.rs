//! `engine::study` owns a case: FLAIR, T1, T1ce and T2 (any subset present) plus an optional
//! label map, all checked to lie on one grid; finding its files in every BraTS-family layout
//! (2018–2021 and 2023+ names, MSD Task01 4D images); the label convention (BraTS 2021, 2023,
//! 2015, MSD) and the WT/TC/ET region masks; availability subsets.

mod availability;
mod discover;
mod error;
mod labels;

pub use availability::Availability;
pub use discover::{
    check_same_grid, discover_case_files, msd_images, role_from_file_name, Layout, StudyFiles,
    MSD_FRAMES,
};
pub use error::StudyError;
pub use labels::{label_value, LabelConvention, LabelSummary, Region, TumourTissue};

use crate::volume::Volume;
use std::path::Path;

/// The four MRI sequences, in the engine's fixed order (bit `index()` of an availability mask).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub enum Modality {
    Flair,
    T1,
    T1ce,
    T2,
}

impl Modality {
    pub const ALL: [Modality; 4] = [Modality::Flair, Modality::T1, Modality::T1ce, Modality::T2];

    /// Position in the fixed order (and bit in an availability mask).
    pub fn index(self) -> usize {
        self as usize
    }

    /// Display name: `FLAIR`, `T1`, `T1ce`, `T2`.
    pub fn name(self) -> &'static str {
        match self {
            Modality::Flair => "FLAIR",
            Modality::T1 => "T1",
            Modality::T1ce => "T1ce",
            Modality::T2 => "T2",
        }
    }

    /// Parses a user-typed name (`flair`, `t1`, `t1ce`, `t1c`, `t2`, `t2f`, `t1n`, `t2w`).
    pub fn parse(name: &str) -> Option<Modality> {
        match name.trim().to_ascii_lowercase().as_str() {
            "flair" | "t2f" => Some(Modality::Flair),
            "t1" | "t1n" => Some(Modality::T1),
            "t1ce" | "t1c" | "t1gd" => Some(Modality::T1ce),
            "t2" | "t2w" => Some(Modality::T2),
            _ => None,
        }
    }
}

/// A case on one grid. At least one modality or the label map is present.
#[derive(Debug, Clone)]
pub struct Study {
    /// Case name (folder name or common file-name prefix).
    pub name: String,
    /// Volumes indexed by `Modality::index()`.
    pub modalities: [Option<Volume>; 4],
    /// The tumour label map, if the case has one.
    pub labels: Option<Volume>,
    /// Detected label convention (or the one the user chose); label maps are written back in it.
    pub convention: LabelConvention,
    /// How the case was laid out on disk.
    pub layout: Layout,
}

impl Study {
    /// Opens a case: a BraTS case folder (2018–2021 or 2023+ names) or an MSD Task01 image
    /// file, reading the files in parallel.
    pub fn open_folder(dir: &Path) -> Result<Study, StudyError> {
        let files = discover_case_files(dir)?;
        Study::open_files(&files)
    }

    /// Opens explicitly named files and checks that they share one grid.
    pub fn open_files(files: &StudyFiles) -> Result<Study, StudyError> {
        discover::open_files(files)
    }

    /// A modality's volume, if present.
    pub fn modality(&self, m: Modality) -> Option<&Volume> {
        self.modalities[m.index()].as_ref()
    }

    /// The modalities present, as an availability mask.
    pub fn available(&self) -> Availability {
        Availability::from_flags(self.modalities.each_ref().map(Option::is_some))
    }

    /// The volume that defines the study's grid: the first modality present, else the labels.
    pub fn reference(&self) -> &Volume {
        self.modalities
            .iter()
            .flatten()
            .next()
            .or(self.labels.as_ref())
            .expect("a Study always holds at least one volume (checked when opened)")
    }
}
