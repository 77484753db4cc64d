//! Opening studies from BraTS case folders and MSD Task01 images: every naming scheme, the
//! one-grid check, the label conventions, and clear errors for folders and files that do not
//! make a study.

use engine::data::cases::CaseList;
use engine::study::{Availability, LabelConvention, Layout, Modality, Region, Study, StudyError};
use engine::volume::{write_f32, write_labels, write_volume, Affine, SpatialHeader, Volume};
use std::path::{Path, PathBuf};

const SHAPE: [usize; 3] = [6, 5, 4];

fn grid(affine: Affine) -> Volume {
    Volume::in_memory(SHAPE, affine, vec![0.0; SHAPE.iter().product()])
}

fn lps() -> Affine {
    Affine([
        [-1.0, 0.0, 0.0, 3.0],
        [0.0, -1.0, 0.0, 2.0],
        [0.0, 0.0, 1.0, 0.0],
        [0.0, 0.0, 0.0, 1.0],
    ])
}

fn labels_with(et: u8) -> Vec<u8> {
    let mut labels = vec![0u8; SHAPE.iter().product()];
    labels[7] = 1;
    labels[8] = 2;
    labels[9] = 2;
    labels[10] = et;
    labels
}

fn write_case(dir: &Path, names: &[&str], seg: Option<(&str, Vec<u8>)>) {
    std::fs::create_dir_all(dir).unwrap();
    let like = grid(lps());
    for (n, name) in names.iter().enumerate() {
        let data: Vec<f32> = (0..like.voxels_per_frame())
            .map(|i| (i * (n + 1)) as f32)
            .collect();
        write_f32(&dir.join(name), &data, &like).unwrap();
    }
    if let Some((name, labels)) = seg {
        write_labels(&dir.join(name), &labels, &like).unwrap();
    }
}

#[test]
fn opens_a_brats_2021_case_with_all_modalities_and_labels() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("BraTS2021_00001");
    write_case(
        &dir,
        &[
            "BraTS2021_00001_flair.nii.gz",
            "BraTS2021_00001_t1.nii.gz",
            "BraTS2021_00001_t1ce.nii.gz",
            "BraTS2021_00001_t2.nii.gz",
        ],
        Some(("BraTS2021_00001_seg.nii.gz", labels_with(4))),
    );
    std::fs::write(dir.join("notes.txt"), "not an image").unwrap();
    let study = Study::open_folder(&dir).unwrap();
    assert_eq!(study.name, "BraTS2021_00001");
    assert_eq!(study.available(), Availability::FULL);
    assert_eq!(study.convention, LabelConvention::Brats2021);
    // Each file went to its role: the T1ce file holds index × 3.
    assert_eq!(study.modality(Modality::T1ce).unwrap().data[5], 15.0);
    let labels = study.labels.as_ref().unwrap();
    let count = |r| {
        study
            .convention
            .region_mask(&labels.data, r)
            .iter()
            .filter(|b| **b)
            .count()
    };
    assert_eq!(
        (count(Region::WT), count(Region::TC), count(Region::ET)),
        (4, 2, 1)
    );
}

#[test]
fn opens_a_brats_2023_case_with_missing_sequences() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("case");
    write_case(
        &dir,
        &[
            "BraTS-GLI-00002-000-t2f.nii.gz",
            "BraTS-GLI-00002-000-t1n.nii",
        ],
        Some(("BraTS-GLI-00002-000-seg.nii.gz", labels_with(3))),
    );
    let study = Study::open_folder(&dir).unwrap();
    assert_eq!(study.name, "BraTS-GLI-00002-000");
    assert_eq!(
        study.available(),
        Availability::from_modalities([Modality::Flair, Modality::T1])
    );
    assert_eq!(study.convention, LabelConvention::Brats2023);
    assert!(study.modality(Modality::T1ce).is_none());
}

#[test]
fn rejects_mismatched_grids_naming_both_files() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("case");
    write_case(&dir, &["c_flair.nii.gz"], None);
    let mut shifted = grid(lps());
    shifted.affine.0[0][3] += 2.0;
    shifted.spatial = SpatialHeader::from_affine(&shifted.affine);
    write_f32(
        &dir.join("c_t1.nii.gz"),
        &vec![1.0; shifted.voxels_per_frame()],
        &shifted,
    )
    .unwrap();
    let message = Study::open_folder(&dir).unwrap_err().to_string();
    assert!(
        message.contains("c_t1.nii.gz")
            && message.contains("c_flair.nii.gz")
            && message.contains("affine"),
        "{message}"
    );
}

#[test]
fn rejects_labels_that_are_not_integers() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("case");
    write_case(&dir, &["c_flair.nii.gz"], None);
    let like = grid(lps());
    let mut values = vec![0.0f32; like.voxels_per_frame()];
    values[3] = 1.5;
    write_f32(&dir.join("c_seg.nii.gz"), &values, &like).unwrap();
    let err = Study::open_folder(&dir).unwrap_err();
    assert!(matches!(err, StudyError::BadLabels { .. }), "{err}");
    assert!(
        err.to_string().contains("c_seg.nii.gz") && err.to_string().contains("1.5"),
        "{err}"
    );
}

#[test]
fn empty_folder_and_duplicate_roles_are_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let empty = tmp.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let message = Study::open_folder(&empty).unwrap_err().to_string();
    assert!(
        message.contains("empty") && message.contains("no MRI files"),
        "{message}"
    );

    let dup = tmp.path().join("dup");
    write_case(&dup, &["a_flair.nii.gz", "b_flair.nii.gz"], None);
    let message = Study::open_folder(&dup).unwrap_err().to_string();
    assert!(
        message.contains("FLAIR")
            && message.contains("a_flair.nii.gz")
            && message.contains("b_flair.nii.gz"),
        "{message}"
    );

    let missing = tmp.path().join("does-not-exist");
    assert!(Study::open_folder(&missing)
        .unwrap_err()
        .to_string()
        .contains("does-not-exist"));
}

#[test]
fn a_broken_file_is_named_in_the_error() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("case");
    write_case(&dir, &["c_flair.nii.gz"], None);
    std::fs::write(dir.join("c_t2.nii.gz"), b"definitely not gzip").unwrap();
    let message = Study::open_folder(&dir).unwrap_err().to_string();
    assert!(message.contains("c_t2.nii.gz"), "{message}");
}

/// Writes an MSD Task01 case: `task/imagesTr/<name>` with `frames` frames (frame `t` holds
/// `t + 1` everywhere but the first voxel), and `task/labelsTr/<name>` when labels are given.
fn write_msd_case(task: &Path, name: &str, frames: usize, labels: Option<Vec<u8>>) -> PathBuf {
    let like = grid(lps());
    let n = like.voxels_per_frame();
    let mut stacked = like.clone();
    stacked.frames = frames;
    stacked.data = (0..frames)
        .flat_map(|t| (0..n).map(move |i| if i == 0 { 0.0 } else { (t + 1) as f32 }))
        .collect();
    std::fs::create_dir_all(task.join("imagesTr")).unwrap();
    let image = task.join("imagesTr").join(name);
    write_volume(&image, &stacked).unwrap();
    if let Some(labels) = labels {
        std::fs::create_dir_all(task.join("labelsTr")).unwrap();
        write_labels(&task.join("labelsTr").join(name), &labels, &like).unwrap();
    }
    image
}

#[test]
fn opens_an_msd_task01_case_from_its_4d_image() {
    let tmp = tempfile::tempdir().unwrap();
    let task = tmp.path().join("Task01_BrainTumour");
    // MSD values: 1 oedema, 2 non-enhancing, 3 enhancing.
    let mut labels = vec![0u8; SHAPE.iter().product()];
    labels[7] = 1;
    labels[8] = 2;
    labels[9] = 3;
    let image = write_msd_case(&task, "BRATS_001.nii.gz", 4, Some(labels));
    // macOS copies of the archive carry `._` files next to the images: not cases.
    std::fs::write(task.join("imagesTr/._BRATS_001.nii.gz"), b"resource fork").unwrap();

    let study = Study::open_folder(&image).unwrap();
    assert_eq!(study.name, "BRATS_001");
    assert_eq!(study.layout, Layout::MsdTask01);
    assert_eq!(study.convention, LabelConvention::MsdTask01);
    assert_eq!(study.available(), Availability::FULL);
    for (t, m) in [Modality::Flair, Modality::T1, Modality::T1ce, Modality::T2]
        .into_iter()
        .enumerate()
    {
        let v = study.modality(m).unwrap();
        assert_eq!((v.frames, v.data[1]), (1, (t + 1) as f32), "{m:?}");
    }
    let labels = study.labels.as_ref().unwrap();
    let wt = study.convention.region_mask(&labels.data, Region::WT);
    let tc = study.convention.region_mask(&labels.data, Region::TC);
    let et = study.convention.region_mask(&labels.data, Region::ET);
    assert_eq!([wt[7], wt[8], wt[9]], [true, true, true]);
    assert_eq!(
        [tc[7], tc[8], tc[9]],
        [false, true, true],
        "oedema is not core"
    );
    assert_eq!([et[7], et[8], et[9]], [false, false, true]);

    let (list, problems) = CaseList::open(&task).unwrap();
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(list.cases.len(), 1, "{:?}", list.cases);
    assert_eq!(list.cases[0].name, "BRATS_001");
}

#[test]
fn bad_layouts_are_refused_naming_the_file_and_the_fix() {
    let tmp = tempfile::tempdir().unwrap();
    let task = tmp.path().join("Task01");
    let three = write_msd_case(&task, "BRATS_002.nii.gz", 3, None);
    let err = Study::open_folder(&three).unwrap_err();
    assert!(matches!(err, StudyError::Frames { frames: 3, .. }), "{err}");
    assert!(
        err.to_string().contains("BRATS_002.nii.gz") && err.to_string().contains("has 4"),
        "{err}"
    );

    let with_4 = write_msd_case(&task, "BRATS_003.nii.gz", 4, Some(labels_with(4)));
    let err = Study::open_folder(&with_4).unwrap_err();
    assert!(matches!(err, StudyError::MixedConventions { .. }), "{err}");
    assert!(
        err.to_string().contains("labelsTr/BRATS_003.nii.gz"),
        "{err}"
    );

    let named_2023 = tmp.path().join("modern");
    write_case(
        &named_2023,
        &["BraTS-GLI-00001-000-t2f.nii.gz"],
        Some(("BraTS-GLI-00001-000-seg.nii.gz", labels_with(4))),
    );
    let err = Study::open_folder(&named_2023).unwrap_err();
    assert!(matches!(err, StudyError::MixedConventions { .. }), "{err}");

    let mixed = tmp.path().join("mixed");
    write_case(&mixed, &["c_flair.nii.gz", "c-t1c.nii.gz"], None);
    let err = Study::open_folder(&mixed).unwrap_err();
    assert!(matches!(err, StudyError::MixedLayouts { .. }), "{err}");
    assert!(
        err.to_string().contains("c_flair.nii.gz") && err.to_string().contains("c-t1c.nii.gz"),
        "{err}"
    );

    let unknown = tmp.path().join("unknown");
    let mut labels = labels_with(4);
    labels[11] = 7;
    write_case(
        &unknown,
        &["u_flair.nii.gz"],
        Some(("u_seg.nii.gz", labels)),
    );
    let err = Study::open_folder(&unknown).unwrap_err();
    assert!(matches!(err, StudyError::BadLabels { .. }), "{err}");
    assert!(
        err.to_string().contains("u_seg.nii.gz") && err.to_string().contains("value 7"),
        "{err}"
    );
}

#[test]
fn brats_2015_labels_count_non_enhancing_tumour_as_core() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("old");
    let mut labels = labels_with(4);
    labels[12] = 3;
    write_case(&dir, &["o_flair.nii.gz"], Some(("o_seg.nii.gz", labels)));
    let study = Study::open_folder(&dir).unwrap();
    assert_eq!(study.convention, LabelConvention::Brats2015);
    let tc = study
        .convention
        .region_mask(&study.labels.as_ref().unwrap().data, Region::TC);
    assert!(tc[7] && tc[10] && tc[12] && !tc[8]);
}
