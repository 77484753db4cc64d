//! One case in every layout users have on disk — BraTS 2018–2021 names, BraTS 2023 names, an MSD
//! Task01 4D image with its label values, and BraTS names holding z-scored floats with a
//! non-zero background — segmented by `metakd segment` with the bundled model: each label map
//! comes back in the case's own convention, and (converted to one convention here, not by the
//! engine) matches the BraTS 2018–2021 case's voxel for voxel.

use engine::phantom::{write_dataset, PhantomConfig, PhantomSize};
use engine::volume::{write_f32, write_labels, write_volume, Volume};
use integration_tests::metakd_binary;
use std::path::{Path, PathBuf};

const CASE: &str = "Phantom_00001";
const SEQUENCES: [&str; 4] = ["flair", "t1", "t1ce", "t2"];

/// The small phantom case in BraTS 2018–2021 names (labels 1 NCR, 2 ED, 4 ET).
fn brats_2021_case(root: &Path) -> PathBuf {
    let config = PhantomConfig {
        size: PhantomSize::Small,
        ..PhantomConfig::default()
    };
    write_dataset(root, 1, 21, &config, &|_| {}).unwrap();
    root.join(CASE)
}

fn read(case: &Path, role: &str) -> Volume {
    Volume::read(&case.join(format!("{CASE}_{role}.nii.gz"))).unwrap()
}

/// Label values mapped through `map` (`(from, to)` pairs; others kept).
fn relabel(labels: &Volume, map: &[(f32, f32)]) -> Vec<u8> {
    labels
        .data
        .iter()
        .map(|v| {
            map.iter()
                .find(|(from, _)| from == v)
                .map_or(*v, |(_, to)| *to) as u8
        })
        .collect()
}

/// The same case with BraTS 2023 names and ET = 3.
fn brats_2023_case(source: &Path, root: &Path) -> PathBuf {
    let dir = root.join("BraTS-GLI-00001-000");
    std::fs::create_dir_all(&dir).unwrap();
    for (sequence, name) in SEQUENCES.iter().zip(["t2f", "t1n", "t1c", "t2w"]) {
        let v = read(source, sequence);
        write_f32(
            &dir.join(format!("BraTS-GLI-00001-000-{name}.nii.gz")),
            &v.data,
            &v,
        )
        .unwrap();
    }
    let seg = read(source, "seg");
    let labels = relabel(&seg, &[(4.0, 3.0)]);
    write_labels(&dir.join("BraTS-GLI-00001-000-seg.nii.gz"), &labels, &seg).unwrap();
    dir
}

/// The same case as an MSD Task01 image (frames FLAIR, T1w, t1gd, T2w) and label map
/// (1 oedema, 2 non-enhancing, 3 enhancing); returns the image.
fn msd_case(source: &Path, root: &Path) -> PathBuf {
    let task = root.join("Task01_BrainTumour");
    for folder in ["imagesTr", "labelsTr"] {
        std::fs::create_dir_all(task.join(folder)).unwrap();
    }
    let mut stacked = read(source, "flair");
    for sequence in &SEQUENCES[1..] {
        stacked.data.extend_from_slice(&read(source, sequence).data);
    }
    stacked.frames = 4;
    let image = task.join("imagesTr/BRATS_001.nii.gz");
    write_volume(&image, &stacked).unwrap();
    let seg = read(source, "seg");
    let labels = relabel(&seg, &[(1.0, 2.0), (2.0, 1.0), (4.0, 3.0)]);
    write_labels(&task.join("labelsTr/BRATS_001.nii.gz"), &labels, &seg).unwrap();
    image
}

/// The same case z-scored per sequence over its brain voxels with the background z-scored too
/// (a constant negative value), as re-shared copies of BraTS often are.
fn z_scored_case(source: &Path, root: &Path) -> PathBuf {
    let dir = root.join("zscored").join(CASE);
    std::fs::create_dir_all(&dir).unwrap();
    for sequence in SEQUENCES {
        let v = read(source, sequence);
        let brain: Vec<f64> = v
            .data
            .iter()
            .filter(|x| **x != 0.0)
            .map(|x| f64::from(*x))
            .collect();
        let mean = brain.iter().sum::<f64>() / brain.len() as f64;
        let std =
            (brain.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / brain.len() as f64).sqrt();
        let z: Vec<f32> = v
            .data
            .iter()
            .map(|x| ((f64::from(*x) - mean) / std) as f32)
            .collect();
        assert!(z[0] < -0.1, "the background is a negative constant");
        write_f32(&dir.join(format!("{CASE}_{sequence}.nii.gz")), &z, &v).unwrap();
    }
    std::fs::copy(
        source.join(format!("{CASE}_seg.nii.gz")),
        dir.join(format!("{CASE}_seg.nii.gz")),
    )
    .unwrap();
    dir
}

/// `metakd segment --case CASE --out OUT --no-postprocess`; the written label map. (On this
/// small grid the post-processing turns the enhancing core into necrosis; without it every
/// class is there to check.)
fn segment(case: &Path, out: &Path) -> Volume {
    let run = std::process::Command::new(metakd_binary())
        .args([
            "segment",
            "--case",
            case.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--no-postprocess",
        ])
        .output()
        .expect("run metakd");
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    Volume::read(out).unwrap()
}

/// Fraction of voxels where `a`, mapped through `map`, equals `b`.
fn agreement(a: &Volume, map: &[(f32, f32)], b: &Volume) -> f64 {
    let mapped = relabel(a, map);
    let same = mapped
        .iter()
        .zip(&b.data)
        .filter(|(x, y)| f32::from(**x) == **y)
        .count();
    same as f64 / b.data.len() as f64
}

fn values(v: &Volume) -> Vec<u8> {
    let mut seen: Vec<u8> = v.data.iter().map(|x| *x as u8).collect();
    seen.sort_unstable();
    seen.dedup();
    seen
}

#[test]
fn every_layout_segments_and_saves_in_its_own_convention() {
    let tmp = tempfile::tempdir().unwrap();
    let source = brats_2021_case(&tmp.path().join("brats2021"));
    let reference = segment(&source, &tmp.path().join("reference.nii.gz"));
    assert_eq!(
        values(&reference),
        [0, 1, 2, 4],
        "the reference finds every class"
    );

    let modern = segment(
        &brats_2023_case(&source, tmp.path()),
        &tmp.path().join("2023.nii.gz"),
    );
    assert_eq!(values(&modern), [0, 1, 2, 3], "BraTS 2023 writes ET as 3");
    assert_eq!(agreement(&modern, &[(3.0, 4.0)], &reference), 1.0);

    let msd = segment(
        &msd_case(&source, tmp.path()),
        &tmp.path().join("msd.nii.gz"),
    );
    assert_eq!(values(&msd), [0, 1, 2, 3]);
    assert_eq!(msd.shape, reference.shape);
    assert_eq!(msd.affine, reference.affine);
    // MSD → BraTS 2021: oedema 1 → 2, non-enhancing 2 → 1, enhancing 3 → 4.
    let to_2021 = [(1.0, 2.0), (2.0, 1.0), (3.0, 4.0)];
    assert_eq!(agreement(&msd, &to_2021, &reference), 1.0);

    let z = segment(
        &z_scored_case(&source, tmp.path()),
        &tmp.path().join("z.nii.gz"),
    );
    assert_eq!(values(&z), [0, 1, 2, 4]);
    // Normalised again over the same brain voxels, the network sees the same input up to
    // rounding; a brain mask that took the background for brain would crop, clip and
    // normalise differently and disagree on many voxels.
    let same = agreement(&z, &[], &reference);
    assert!(
        same > 0.999,
        "z-scored input agrees on {same:.5} of the voxels"
    );
}
