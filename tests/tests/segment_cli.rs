//! `metakd segment` and `metakd eval` end to end with the bundled model: a label map with the
//! input's grid and geometry, the 15-row table, and clear errors for bad requests.

use engine::phantom::{write_dataset, PhantomConfig, PhantomSize};
use engine::volume::Volume;
use integration_tests::metakd_binary;
use std::path::Path;
use std::process::Output;

fn metakd(args: &[&str]) -> Output {
    std::process::Command::new(metakd_binary())
        .args(args)
        .output()
        .expect("run metakd")
}

fn small_dataset(dir: &Path) {
    let config = PhantomConfig {
        size: PhantomSize::Small,
        ..PhantomConfig::default()
    };
    write_dataset(dir, 3, 21, &config, &|_| {}).unwrap();
}

#[test]
fn segment_writes_labels_on_the_input_grid() {
    let tmp = tempfile::tempdir().unwrap();
    small_dataset(tmp.path());
    let case = tmp.path().join("Phantom_00001");
    let out = tmp.path().join("seg.nii.gz");
    let run = metakd(&[
        "segment",
        "--case",
        case.to_str().unwrap(),
        "--drop",
        "t1ce",
        "--out",
        out.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    assert!(stderr.contains("FLAIR+T1+T2"), "{stderr}");
    let labels = Volume::read(&out).unwrap();
    let flair = Volume::read(&case.join("Phantom_00001_flair.nii.gz")).unwrap();
    assert_eq!(labels.shape, flair.shape);
    assert_eq!(labels.affine, flair.affine);
    assert!(labels.data.iter().all(|v| [0.0, 1.0, 2.0, 4.0].contains(v)));
}

#[test]
fn segment_refuses_bad_requests_with_one_clear_line() {
    let tmp = tempfile::tempdir().unwrap();
    small_dataset(tmp.path());
    let case = tmp.path().join("Phantom_00001");
    let out = tmp.path().join("seg.nii.gz");
    let all = metakd(&[
        "segment",
        "--case",
        case.to_str().unwrap(),
        "--drop",
        "flair,t1,t1ce,t2",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(!all.status.success());
    assert!(String::from_utf8_lossy(&all.stderr).contains("keep at least one"));
    let bogus = tmp.path().join("bogus.metakd");
    std::fs::write(&bogus, b"not a model").unwrap();
    let bad = metakd(&[
        "segment",
        "--case",
        case.to_str().unwrap(),
        "--model",
        bogus.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(!bad.status.success());
    assert!(
        stderr.contains("bogus.metakd") && stderr.contains("not a MetaKD model file"),
        "{stderr}"
    );
    assert!(!out.exists(), "nothing written on failure");
}

#[test]
fn eval_writes_the_fifteen_subset_table() {
    let tmp = tempfile::tempdir().unwrap();
    small_dataset(tmp.path());
    let out = tmp.path().join("eval");
    let run = metakd(&[
        "eval",
        "--data",
        tmp.path().to_str().unwrap(),
        "--split",
        "train",
        "--limit",
        "1",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let csv = std::fs::read_to_string(out.join("eval.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 15 + 1, "{csv}");
    assert!(csv.starts_with("modalities,dice_wt,dice_tc,dice_et,hd95_wt_mm"));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("eval.json")).unwrap()).unwrap();
    assert_eq!(json["rows"].as_array().unwrap().len(), 15);
    assert!(std::fs::read_to_string(out.join("eval.md"))
        .unwrap()
        .contains("| **Average** |"));
}
