//! The training data pipeline on real NIfTI files: a dataset folder with good and broken cases
//! is loaded with every problem reported, and the good cases flow through the batch loader.

use engine::data::cases::{CaseList, Split, SplitFractions};
use engine::data::dataset::{load_split, Requirements};
use engine::data::error::{DataError, OnBadCase};
use engine::data::loader::{Loader, LoaderConfig};
use engine::data::patches::PatchConfig;
use engine::prepare::{prepare, PreprocessConfig};
use engine::study::{Availability, Study};
use engine::volume::{write_f32, write_labels, Affine, Volume};
use std::path::Path;

/// `[nx, ny, nz]` of the test cases.
const SHAPE: [usize; 3] = [20, 18, 16];

fn grid(shape: [usize; 3]) -> Volume {
    let affine = Affine::from_scales([1.0, 1.0, 1.0]);
    Volume::in_memory(shape, affine, vec![0.0; shape.iter().product()])
}

/// A brain box with modality-dependent values, and a tumour inside it.
fn modality(shape: [usize; 3], m: usize) -> Vec<f32> {
    let [nx, ny, nz] = shape;
    let mut v = Vec::with_capacity(nx * ny * nz);
    for k in 0..nz {
        for j in 0..ny {
            for i in 0..nx {
                let brain = (3..nx - 3).contains(&i)
                    && (2..ny - 2).contains(&j)
                    && (2..nz - 1).contains(&k);
                v.push(if brain {
                    (100 * (m + 1) + i * 3 + j * 2 + k) as f32
                } else {
                    0.0
                });
            }
        }
    }
    v
}

fn labels(shape: [usize; 3]) -> Vec<u8> {
    let [nx, ny, nz] = shape;
    let mut l = vec![0u8; nx * ny * nz];
    for k in 6..9 {
        for j in 7..10 {
            for i in 8..12 {
                l[i + nx * (j + ny * k)] = if i == 8 {
                    4
                } else if i == 9 {
                    1
                } else {
                    2
                };
            }
        }
    }
    l
}

/// Writes a BraTS case folder; `skip` names roles left out, `odd` a role written on another grid.
fn write_case(root: &Path, case: &str, skip: &[&str], odd: Option<&str>) {
    let dir = root.join(case);
    std::fs::create_dir_all(&dir).unwrap();
    for (m, role) in ["flair", "t1", "t1ce", "t2"].into_iter().enumerate() {
        if skip.contains(&role) {
            continue;
        }
        let shape = if odd == Some(role) {
            [20, 18, 15]
        } else {
            SHAPE
        };
        write_f32(
            &dir.join(format!("{case}_{role}.nii.gz")),
            &modality(shape, m),
            &grid(shape),
        )
        .unwrap();
    }
    if !skip.contains(&"seg") {
        write_labels(
            &dir.join(format!("{case}_seg.nii.gz")),
            &labels(SHAPE),
            &grid(SHAPE),
        )
        .unwrap();
    }
}

#[test]
fn loads_good_cases_and_reports_every_bad_one() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    write_case(root, "good1", &[], None);
    write_case(root, "good2", &[], None);
    write_case(root, "no_t2", &["t2"], None);
    write_case(root, "no_seg", &["seg"], None);
    write_case(root, "bad_grid", &[], Some("t1ce"));
    write_case(root, "truncated", &[], None);
    let broken = root.join("truncated/truncated_t1.nii.gz");
    let bytes = std::fs::read(&broken).unwrap();
    std::fs::write(&broken, &bytes[..bytes.len() / 2]).unwrap();
    std::fs::create_dir(root.join("empty_folder")).unwrap();

    let (list, earlier) = CaseList::open(root).unwrap();
    assert_eq!(list.cases.len(), 6, "the empty folder is not a case");
    let prep = PreprocessConfig::default();
    let needs = Requirements::default();
    let ds = load_split(&list, Split::Train, &earlier, needs, &prep, OnBadCase::Skip).unwrap();
    assert_eq!(ds.report.loaded, ["good1", "good2"]);
    let problems: Vec<(&str, String)> = ds
        .report
        .problems
        .iter()
        .map(|p| (p.case.as_str(), p.path.display().to_string()))
        .collect();
    assert_eq!(
        problems.iter().map(|p| p.0).collect::<Vec<_>>(),
        ["bad_grid", "no_seg", "no_t2", "truncated"]
    );
    // Each problem points at the file (or folder) to fix.
    assert!(
        problems[0].1.ends_with("bad_grid_t1ce.nii.gz"),
        "{problems:?}"
    );
    assert!(problems[1].1.ends_with("no_seg"), "{problems:?}");
    assert!(problems[2].1.ends_with("no_t2"), "{problems:?}");
    assert!(
        problems[3].1.ends_with("truncated_t1.nii.gz"),
        "{problems:?}"
    );
    let text = ds.report.to_string();
    assert!(
        text.starts_with("2 of 6 cases loaded; 4 with problems"),
        "{text}"
    );
    for needle in ["grid does not match", "no label map", "no T2 file"] {
        assert!(text.contains(needle), "{needle:?} not in {text}");
    }

    // Stop: the same four problems, as an error.
    let err = load_split(&list, Split::Train, &earlier, needs, &prep, OnBadCase::Stop).unwrap_err();
    match &err {
        DataError::BadCases(report) => assert_eq!(report.problems.len(), 4),
        other => panic!("{other}"),
    }

    // A case read from disk preprocesses exactly like the same study built in memory.
    let from_disk = &ds.cases[0];
    let study = Study::open_folder(&root.join("good1")).unwrap();
    assert_eq!(study.available(), Availability::FULL);
    assert_eq!(**from_disk, prepare(&study, &prep).unwrap());
    assert_eq!(from_disk.source_shape, [16, 18, 20]);
    assert_eq!(from_disk.foreground.len(), 3 * 3 * 4);

    // The good cases feed the loader.
    let cfg = LoaderConfig {
        batch_size: 2,
        workers: 2,
        patch: PatchConfig::cube(12),
        batches: Some(3),
        ..LoaderConfig::default()
    };
    let batches: Vec<_> = Loader::spawn(ds.cases.clone(), cfg).unwrap().collect();
    assert_eq!(batches.len(), 3);
    for b in batches {
        let b = b.unwrap();
        assert_eq!(b.images.len(), 2 * 4 * 12 * 12 * 12);
        assert!(b.availability.iter().all(|a| !a.is_empty()));
    }
}

#[test]
fn a_csv_split_round_trips_and_an_empty_dataset_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    assert!(matches!(
        CaseList::open(root),
        Err(DataError::NoCases { .. })
    ));
    for i in 0..10 {
        std::fs::create_dir(root.join(format!("case{i}"))).unwrap();
        std::fs::write(root.join(format!("case{i}/case{i}_flair.nii.gz")), b"").unwrap();
    }
    let (mut list, _) = CaseList::open(root).unwrap();
    list.resplit(
        SplitFractions {
            train: 0.6,
            val: 0.2,
            test: 0.2,
        },
        1,
    )
    .unwrap();
    std::fs::write(root.join("cases.csv"), list.to_csv()).unwrap();
    let (again, problems) = CaseList::open(root).unwrap();
    assert!(problems.is_empty());
    assert_eq!(again, list);
    assert_eq!(again.counts(), [6, 2, 2]);
}
