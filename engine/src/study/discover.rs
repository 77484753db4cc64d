//! Finding a case's files: BraTS 2018–2021 names (`<case>_flair`, `_t1`, `_t1ce`, `_t2`, `_seg`)
//! and 2023+ names (`<case>-t2f`, `-t1n`, `-t1c`, `-t2w`, `-seg`), `.nii` or `.nii.gz`; and
//! opening a set of files in parallel with the one-grid check.

use super::{labels::LabelSummary, LabelConvention, Modality, Study, StudyError};
use crate::volume::Volume;
use rayon::prelude::*;
use std::path::{Path, PathBuf};

/// The files of one study, by role. Any subset may be present.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StudyFiles {
    pub name: String,
    /// Paths indexed by `Modality::index()`.
    pub modalities: [Option<PathBuf>; 4],
    pub labels: Option<PathBuf>,
}

/// The role a file name suggests: `Some(Some(m))` a modality, `Some(None)` the label map.
pub fn role_from_file_name(path: &Path) -> Option<Option<Modality>> {
    let name = path.file_name()?.to_str()?.to_ascii_lowercase();
    let stem = name
        .strip_suffix(".nii.gz")
        .or_else(|| name.strip_suffix(".nii"))?;
    let suffix = stem.rsplit(['_', '-']).next()?;
    match suffix {
        "seg" | "label" | "labels" => Some(None),
        other => Modality::parse(other).map(Some),
    }
}

/// The case name a file name implies (everything before the role suffix).
fn case_prefix(path: &Path) -> Option<String> {
    let name = path.file_name()?.to_str()?;
    let lower = name.to_ascii_lowercase();
    let stem_len = lower
        .strip_suffix(".nii.gz")
        .or_else(|| lower.strip_suffix(".nii"))?
        .len();
    let cut = name[..stem_len].rfind(['_', '-'])?;
    Some(name[..cut].to_string())
}

/// Lists a BraTS case folder and assigns each recognised file to its role.
pub fn discover_case_files(dir: &Path) -> Result<StudyFiles, StudyError> {
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
    for path in paths {
        let Some(role) = role_from_file_name(&path) else {
            continue;
        };
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
    if jobs.is_empty() {
        return Err(StudyError::Empty);
    }
    let volumes: Vec<(Option<Modality>, Volume)> = jobs
        .par_iter()
        .map(|(role, path)| Volume::read(path).map(|v| (*role, v)))
        .collect::<Result<_, _>>()?;

    let reference = &volumes[0].1;
    for (_, v) in &volumes[1..] {
        check_same_grid(reference, v)?;
    }
    let mut study = Study {
        name: files.name.clone(),
        modalities: [None, None, None, None],
        labels: None,
        convention: LabelConvention::Brats2021,
    };
    for (role, v) in volumes {
        match role {
            Some(m) => study.modalities[m.index()] = Some(v),
            None => {
                let path = v.source.clone().unwrap_or_default();
                if v.frames != 1 {
                    return Err(StudyError::BadLabels {
                        path,
                        reason: format!("it has {} frames; a label map has one", v.frames),
                    });
                }
                let summary = LabelSummary::of(&v.data).map_err(|value| StudyError::BadLabels {
                    path: path.clone(),
                    reason: format!("it holds the non-integer or out-of-range value {value}; label maps hold 0, 1, 2 and 4 (or 3)"),
                })?;
                study.convention = summary.convention;
                study.labels = Some(v);
            }
        }
    }
    Ok(study)
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
