//! `metakd experiment` end to end at the smallest budget: two methods, one seed, three
//! iterations each on a small phantom set; the comparison table, the strategy logs and the
//! chart are written, a second invocation reuses the trained runs, and an unknown method is
//! refused with the list of known ones.

use engine::data::phantom::{write_dataset, PhantomConfig, PhantomSize};
use integration_tests::metakd_binary;
use std::process::Output;

fn metakd(args: &[&str]) -> Output {
    std::process::Command::new(metakd_binary())
        .args(args)
        .output()
        .expect("run metakd")
}

#[test]
fn experiment_trains_evaluates_and_compares() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let config = PhantomConfig {
        size: PhantomSize::Small,
        ..PhantomConfig::default()
    };
    write_dataset(&data, 6, 4, &config, &|_| {}).unwrap();
    let out = tmp.path().join("exp");
    let args = [
        "experiment",
        "--data",
        data.to_str().unwrap(),
        "--methods",
        "baseline,lckd",
        "--preset",
        "tiny",
        "--iterations",
        "3",
        "--seeds",
        "1",
        "--limit",
        "1",
        "--out",
        out.to_str().unwrap(),
    ];
    let run = metakd(&args);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    let md = std::fs::read_to_string(out.join("comparison.md")).unwrap();
    assert!(
        md.contains("| baseline WT |") && md.contains("| lckd ET |"),
        "{md}"
    );
    assert!(md.contains("| FLAIR+T1+T1ce+T2 |") && md.contains("| **average** |"));
    let csv = std::fs::read_to_string(out.join("comparison.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 2 * 16 * 3);
    let teachers = std::fs::read_to_string(out.join("lckd_teachers.csv")).unwrap();
    assert!(teachers.lines().count() >= 2, "{teachers}");
    let chart = image::open(out.join("dice_by_modalities.png")).unwrap();
    assert_eq!((chart.width(), chart.height()), (900, 540));
    for method in ["baseline", "lckd"] {
        assert!(out.join(format!("runs/{method}-seed1/eval.json")).exists());
    }

    // Given again, the trained runs are reused.
    let again = metakd(&args);
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(again.status.success(), "{stderr}");
    assert_eq!(stderr.matches("trained already").count(), 2, "{stderr}");

    let unknown = metakd(&[
        "experiment",
        "--data",
        data.to_str().unwrap(),
        "--methods",
        "baseline,gmd",
        "--iterations",
        "3",
        "--out",
        out.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&unknown.stderr);
    assert!(!unknown.status.success());
    assert!(
        stderr.contains("unknown method `gmd`") && stderr.contains("baseline, metakd, lckd"),
        "{stderr}"
    );
}
