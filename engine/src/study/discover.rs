//! Finding a case's files, in every layout users have on disk ([`Layout`]): BraTS 2018–2021
//! names (`<case>_flair`, `_t1`, `_t1ce`, `_t2`, `_seg`), 2023+ names (`<case>-t2f`, `-t1n`,
//! `-t1c`, `-t2w`, `-seg`), `.nii` or `.nii.gz`, and the Medical Segmentation Decathlon's
//! Task01 (one 4D image per case in `imagesTr/`, its label map under the same name in
//! `labelsTr/`); and opening a set of files in parallel with the one-grid check and the label
//! convention check.

use super::{labels::LabelSummary, LabelConvention, Modality, Study, StudyError};
use crate::volume::Volume;
use rayon::prelude::*;
use std::path::{Path, PathBuf};

/// How a case is laid out on disk. Shown to the user; the label values follow from it only
/// for MSD Task01, whose values cannot be told from BraTS 2023's by looking at them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub enum Layout {
    /// One file per sequence, `<case>_flair`, `_t1`, `_t1ce`, `_t2`, `_seg`.
    Brats2018,
    /// One file per sequence, `<case>-t2f`, `-t1n`, `-t1c`, `-t2w`, `-seg`.
    Brats2023,
    /// One 4D image per case (frames FLAIR, T1w, t1gd, T2w) in `imagesTr/`, labels in
    /// `labelsTr/` (1 oedema, 2 non-enhancing, 3 enhancing).
    MsdTask01,
    /// Files given one by one, whatever their names.
    #[default]
    Files,
}

impl Layout {
    pub fn name(self) -> &'static str {
        match self {
            Layout::Brats2018 => "BraTS 2018–2021 files",
            Layout::Brats2023 => "BraTS 2023 files",
            Layout::MsdTask01 => "MSD Task01 4D image",
            Layout::Files => "files chosen by hand",
        }
    }

    /// The `.nii.gz` file name of modality `m` (`None`: the label map) of `case` in this
    /// layout's naming; layouts without names of their own use the BraTS 2018–2021 names.
    pub fn file_name(self, case: &str, role: Option<Modality>) -> String {
        let (separator, suffixes) = match self {
            Layout::Brats2023 => ('-', BRATS2023_SUFFIXES),
            _ => ('_', BRATS2018_SUFFIXES),
        };
        let suffix = role.map_or("seg", |m| suffixes[m.index()]);
        format!("{case}{separator}{suffix}.nii.gz")
    }

    /// The layout a file-name suffix belongs to (`None` for suffixes both share, e.g. `seg`).
    fn of_suffix(suffix: &str) -> Option<Layout> {
        if BRATS2018_SUFFIXES.contains(&suffix) {
            Some(Layout::Brats2018)
        } else if BRATS2023_SUFFIXES.contains(&suffix) {
            Some(Layout::Brats2023)
        } else {
            None
        }
    }
}

/// File-name suffixes of FLAIR, T1, T1ce and T2 in BraTS 2018–2021 and in BraTS 2023 names.
const BRATS2018_SUFFIXES: [&str; 4] = ["flair", "t1", "t1ce", "t2"];
const BRATS2023_SUFFIXES: [&str; 4] = ["t2f", "t1n", "t1c", "t2w"];

/// Frames of an MSD Task01 image, in order.
pub const MSD_FRAMES: [Modality; 4] = [Modality::Flair, Modality::T1, Modality::T1ce, Modality::T2];

/// The files of one study, by role. Any subset may be present.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StudyFiles {
    pub name: String,
    /// Paths indexed by `Modality::index()`.
    pub modalities: [Option<PathBuf>; 4],
    pub labels: Option<PathBuf>,
    /// An MSD Task01 4D image holding all four sequences as frames ([`MSD_FRAMES`]); then
    /// `modalities` is empty.
    pub stacked: Option<PathBuf>,
    pub layout: Layout,
}

impl StudyFiles {
    /// Whether the files hold modality `m`.
    pub fn has(&self, m: Modality) -> bool {
        self.stacked.is_some() || self.modalities[m.index()].is_some()
    }
}

/// The lower-case role token of a NIfTI file name: what follows the last `_` or `-`.
fn suffix(path: &Path) -> Option<String> {
    let stem = nifti_stem(path)?.to_ascii_lowercase();
    stem.rsplit(['_', '-']).next().map(str::to_string)
}

/// The role a file name suggests: `Some(Some(m))` a modality, `Some(None)` the label map.
pub fn role_from_file_name(path: &Path) -> Option<Option<Modality>> {
    role_of_suffix(&suffix(path)?)
}

fn role_of_suffix(suffix: &str) -> Option<Option<Modality>> {
    match suffix {
        "seg" | "label" | "labels" => Some(None),
        other => Modality::parse(other).map(Some),
    }
}

/// The case name a file name implies (everything before the role suffix).
fn case_prefix(path: &Path) -> Option<String> {
    let stem = nifti_stem(path)?;
    let cut = stem.rfind(['_', '-'])?;
    Some(stem[..cut].to_string())
}

/// The name of a NIfTI file without `.nii.gz` or `.nii`, if it has one of them.
fn nifti_stem(path: &Path) -> Option<String> {
    let name = path.file_name()?.to_str()?;
    let lower = name.to_ascii_lowercase();
    let stem_len = lower
        .strip_suffix(".nii.gz")
        .or_else(|| lower.strip_suffix(".nii"))?
        .len();
    Some(name[..stem_len].to_string())
}

/// The files of one case: a BraTS case folder, or an MSD Task01 image file (see the module
/// docs).
pub fn discover_case_files(path: &Path) -> Result<StudyFiles, StudyError> {
    if path.is_file() {
        discover_msd_case(path)
    } else {
        discover_case_folder(path)
    }
}

/// An MSD Task01 case from its 4D image (`…/imagesTr/BRATS_001.nii.gz`): the label map is
/// `…/labelsTr/BRATS_001.nii.gz` when it exists.
fn discover_msd_case(image: &Path) -> Result<StudyFiles, StudyError> {
    let not_nifti = || StudyError::NoFiles {
        dir: image.to_path_buf(),
    };
    let name = nifti_stem(image).ok_or_else(not_nifti)?;
    let file_name = image.file_name().ok_or_else(not_nifti)?;
    let labels = image
        .parent()
        .and_then(Path::parent)
        .map(|task| task.join("labelsTr").join(file_name))
        .filter(|p| p.is_file());
    Ok(StudyFiles {
        name,
        labels,
        stacked: Some(image.to_path_buf()),
        layout: Layout::MsdTask01,
        ..StudyFiles::default()
    })
}

/// The images of an MSD Task folder (`DIR/imagesTr/*.nii.gz`, sorted, macOS `._` files
/// skipped), or `None` when `dir` has no `imagesTr` folder.
pub fn msd_images(dir: &Path) -> Option<std::io::Result<Vec<PathBuf>>> {
    let images = dir.join("imagesTr");
    if !images.is_dir() {
        return None;
    }
    let list = || -> std::io::Result<Vec<PathBuf>> {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(&images)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file() && nifti_stem(p).is_some_and(|s| !s.starts_with('.')))
            .collect();
        paths.sort();
        Ok(paths)
    };
    Some(list())
}

/// Lists a BraTS case folder and assigns each recognised file to its role.
fn discover_case_folder(dir: &Path) -> Result<StudyFiles, StudyError> {
    let entries = std::fs::read_dir(dir).map_err(|source| StudyError::Folder {
        dir: dir.to_path_buf(),
        source,
    })?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    paths.sort();
    let mut files = StudyFiles {
        name: folder_name(dir),
        ..StudyFiles::default()
    };
    let mut any = false;
    let mut layout_file: Option<(Layout, PathBuf)> = None;
    for path in paths {
        let Some(token) = suffix(&path) else {
            continue;
        };
        let Some(role) = role_of_suffix(&token) else {
            continue;
        };
        if let Some(layout) = Layout::of_suffix(&token) {
            match &layout_file {
                Some((first, first_path)) if *first != layout => {
                    return Err(StudyError::MixedLayouts {
                        dir: dir.to_path_buf(),
                        first: first_path.clone(),
                        second: path,
                    })
                }
                Some(_) => {}
                None => layout_file = Some((layout, path.clone())),
            }
        }
        let (slot, role_name) = match role {
            Some(m) => (&mut files.modalities[m.index()], m.name().to_string()),
            None => (&mut files.labels, "the label map".to_string()),
        };
        if let Some(first) = slot {
            return Err(StudyError::Ambiguous {
                dir: dir.to_path_buf(),
                role: role_name,
                first: first.clone(),
                second: path,
            });
        }
        if !any {
            if let Some(prefix) = case_prefix(&path) {
                files.name = prefix;
            }
        }
        *slot = Some(path);
        any = true;
    }
    if !any {
        return Err(StudyError::NoFiles {
            dir: dir.to_path_buf(),
        });
    }
    files.layout = layout_file.map_or(Layout::Brats2018, |(layout, _)| layout);
    Ok(files)
}

fn folder_name(dir: &Path) -> String {
    dir.file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("study")
        .to_string()
}

/// Largest affine difference (mm) still counted as the same grid.
const AFFINE_TOLERANCE_MM: f64 = 1e-3;

/// Opens the files in parallel and checks that every volume shares the first one's grid.
pub(crate) fn open_files(files: &StudyFiles) -> Result<Study, StudyError> {
    let mut jobs: Vec<(Option<Modality>, &PathBuf)> = Vec::new();
    for m in Modality::ALL {
        if let Some(p) = &files.modalities[m.index()] {
            jobs.push((Some(m), p));
        }
    }
    if let Some(p) = &files.labels {
        jobs.push((None, p));
    }
    if jobs.is_empty() && files.stacked.is_none() {
        return Err(StudyError::Empty);
    }
    let (stacked, volumes) = rayon::join(
        || files.stacked.as_deref().map(read_stacked).transpose(),
        || {
            jobs.par_iter()
                .map(|(role, path)| Volume::read(path).map(|v| (*role, v)))
                .collect::<Result<Vec<_>, _>>()
        },
    );
    let mut volumes = volumes?;
    if let Some(frames) = stacked? {
        volumes.splice(0..0, frames);
    }
    let reference = &volumes[0].1;
    for (_, v) in &volumes[1..] {
        check_same_grid(reference, v)?;
    }
    let mut study = Study {
        name: files.name.clone(),
        modalities: [None, None, None, None],
        labels: None,
        convention: LabelConvention::Brats2021,
        layout: files.layout,
    };
    for (role, v) in volumes {
        match role {
            Some(m) => study.modalities[m.index()] = Some(v),
            None => {
                study.convention = label_convention(&v, files.layout)?;
                study.labels = Some(v);
            }
        }
    }
    Ok(study)
}

/// Reads an MSD Task01 4D image and splits it into its four sequences ([`MSD_FRAMES`]).
fn read_stacked(path: &Path) -> Result<Vec<(Option<Modality>, Volume)>, StudyError> {
    let volume = Volume::read(path)?;
    if volume.frames != MSD_FRAMES.len() {
        return Err(StudyError::Frames {
            path: path.to_path_buf(),
            frames: volume.frames,
        });
    }
    Ok(MSD_FRAMES
        .iter()
        .enumerate()
        .map(|(t, m)| {
            let mut frame = volume.like(volume.frame(t).to_vec());
            frame.datatype = volume.datatype;
            frame.source = Some(path.to_path_buf());
            (Some(*m), frame)
        })
        .collect())
}

/// The convention of a label map, checked against the case's layout: one frame, integer
/// values that some convention uses, and no value the layout's convention never writes.
fn label_convention(labels: &Volume, layout: Layout) -> Result<LabelConvention, StudyError> {
    let path = labels.source.clone().unwrap_or_default();
    let bad = |reason: String| StudyError::BadLabels {
        path: path.clone(),
        reason,
    };
    if labels.frames != 1 {
        return Err(bad(format!(
            "it has {} frames; a label map has one",
            labels.frames
        )));
    }
    let summary = LabelSummary::of(&labels.data).map_err(|value| {
        bad(format!(
            "it holds the non-integer or out-of-range value {value}; label maps hold 0, 1, 2 \
             and 4 (or 3)"
        ))
    })?;
    if let Some(value) = summary.unexpected.first() {
        return Err(bad(format!(
            "it holds the value {value}, which no known convention uses (BraTS: 0, 1, 2, 4 or \
             0, 1, 2, 3; MSD Task01: 0–3); relabel it to a tumour class or 0"
        )));
    }
    let has_4 = summary.counts.iter().any(|(v, _)| *v == 4);
    match layout {
        Layout::MsdTask01 | Layout::Brats2023 if has_4 => Err(StudyError::MixedConventions {
            path,
            layout: layout.name(),
        }),
        Layout::MsdTask01 => Ok(LabelConvention::MsdTask01),
        _ => Ok(summary.convention),
    }
}

/// Same shape and (within [`AFFINE_TOLERANCE_MM`]) the same voxel→world affine.
pub fn check_same_grid(reference: &Volume, other: &Volume) -> Result<(), StudyError> {
    let path = other.source.clone().unwrap_or_default();
    let reference_path = reference.source.clone().unwrap_or_default();
    if other.shape != reference.shape {
        return Err(StudyError::GridMismatch {
            path,
            reference: reference_path,
            reason: format!("shape {:?} differs from {:?}", other.shape, reference.shape),
        });
    }
    let diff = other.affine.max_abs_diff(&reference.affine);
    if diff > AFFINE_TOLERANCE_MM {
        return Err(StudyError::GridMismatch {
            path,
            reference: reference_path,
            reason: format!("voxel-to-world affine differs by up to {diff:.4} mm; resample it onto the reference grid first"),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_both_brats_naming_schemes() {
        let cases = [
            ("BraTS2021_00001_flair.nii.gz", Some(Some(Modality::Flair))),
            ("BraTS2021_00001_t1.nii.gz", Some(Some(Modality::T1))),
            ("BraTS2021_00001_t1ce.nii", Some(Some(Modality::T1ce))),
            ("BraTS2021_00001_t2.nii.gz", Some(Some(Modality::T2))),
            ("BraTS2021_00001_seg.nii.gz", Some(None)),
            (
                "BraTS-GLI-00000-000-t2f.nii.gz",
                Some(Some(Modality::Flair)),
            ),
            ("BraTS-GLI-00000-000-t1n.nii.gz", Some(Some(Modality::T1))),
            ("BraTS-GLI-00000-000-t1c.nii.gz", Some(Some(Modality::T1ce))),
            ("BraTS-GLI-00000-000-t2w.nii.gz", Some(Some(Modality::T2))),
            ("BraTS-GLI-00000-000-seg.nii.gz", Some(None)),
            ("notes.txt", None),
            ("brain_mask.nii.gz", None),
        ];
        for (name, expected) in cases {
            assert_eq!(role_from_file_name(Path::new(name)), expected, "{name}");
        }
        assert_eq!(
            case_prefix(Path::new("BraTS-GLI-00000-000-t2f.nii.gz")).as_deref(),
            Some("BraTS-GLI-00000-000")
        );
        assert_eq!(
            case_prefix(Path::new("BraTS2021_00001_t1ce.nii")).as_deref(),
            Some("BraTS2021_00001")
        );
    }
}
