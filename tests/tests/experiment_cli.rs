//! `metakd experiment` end to end at the smallest budget: three methods (GMD with two subsets
//! per step) on the Dynamic Sharing backbone, one seed, three iterations each on a small
//! phantom set, one method trained first as a shard (`--only-seed`); the comparison table, the
//! strategy logs, the iteration costs and the chart are written, a second invocation reuses
//! the trained and evaluated runs, one with another budget is refused rather than mixing runs,
//! and an unknown method is refused with the list of known ones.

use engine::phantom::{write_dataset, PhantomConfig, PhantomSize};
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
    let with_methods = |methods: &'static str| {
        vec![
            "experiment".to_string(),
            "--data".into(),
            data.to_str().unwrap().into(),
            "--methods".into(),
            methods.into(),
            "--backbone".into(),
            "dynamic-sharing".into(),
            "--gmd-subsets".into(),
            "2".into(),
            "--preset".into(),
            "tiny".into(),
            "--iterations".into(),
            "3".into(),
            "--seeds".into(),
            "1".into(),
            "--limit".into(),
            "1".into(),
            "--out".into(),
            out.to_str().unwrap().into(),
        ]
    };
    let shard: Vec<String> = with_methods("gmd")
        .into_iter()
        .chain(["--only-seed".to_string(), "1".to_string()])
        .collect();
    let run = metakd(&shard.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let args = with_methods("baseline,lckd,gmd");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = metakd(&args);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    assert_eq!(stderr.matches("trained already").count(), 1, "{stderr}");
    assert_eq!(stderr.matches("evaluated already").count(), 1, "{stderr}");
    let md = std::fs::read_to_string(out.join("comparison.md")).unwrap();
    assert!(
        md.contains("| baseline WT |") && md.contains("| lckd ET |") && md.contains("| gmd TC |"),
        "{md}"
    );
    assert!(md.contains("| FLAIR+T1+T1ce+T2 |") && md.contains("| **average** |"));
    let csv = std::fs::read_to_string(out.join("comparison.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 3 * 16 * 3);
    let costs = std::fs::read_to_string(out.join("iteration_costs.md")).unwrap();
    assert!(
        costs.contains("| gmd | 3 |") && costs.contains("| lckd | 3 |"),
        "{costs}"
    );
    let teachers = std::fs::read_to_string(out.join("lckd_teachers.csv")).unwrap();
    assert!(teachers.lines().count() >= 2, "{teachers}");
    let chart = image::open(out.join("dice_by_modalities.png")).unwrap();
    assert_eq!((chart.width(), chart.height()), (900, 540));
    for method in ["baseline", "lckd", "gmd"] {
        assert!(out.join(format!("runs/{method}-seed1/eval.json")).exists());
    }

    // Given again, the trained runs are reused.
    let again = metakd(&args);
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(again.status.success(), "{stderr}");
    assert_eq!(stderr.matches("trained already").count(), 3, "{stderr}");
    assert_eq!(stderr.matches("evaluated already").count(), 3, "{stderr}");

    // With another budget, the existing runs are not mixed in: the first is refused, named
    // with the setting that differs, and nothing is retrained.
    let longer: Vec<String> = args
        .iter()
        .map(|a| {
            if *a == "3" {
                "4".to_string()
            } else {
                a.to_string()
            }
        })
        .collect();
    let mixed = metakd(&longer.iter().map(String::as_str).collect::<Vec<_>>());
    let stderr = String::from_utf8_lossy(&mixed.stderr);
    assert!(!mixed.status.success(), "{stderr}");
    assert!(
        stderr.contains("baseline-seed1") && stderr.contains("iterations: asked 4, recorded 3"),
        "{stderr}"
    );

    let unknown = metakd(&[
        "experiment",
        "--data",
        data.to_str().unwrap(),
        "--methods",
        "baseline,hemis",
        "--iterations",
        "3",
        "--out",
        out.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&unknown.stderr);
    assert!(!unknown.status.success());
    assert!(
        stderr.contains("unknown method `hemis`") && stderr.contains("baseline, metakd, lckd, gmd"),
        "{stderr}"
    );
}
