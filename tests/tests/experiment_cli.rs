//! `metakd experiment` end to end at the smallest budget: four arms (GMD with two subsets per
//! step, MetaKD with the one-step look-ahead) on the Dynamic Sharing backbone, one seed, three
//! iterations each on a small phantom set, two arms trained first as a shard (`--only-seed`).
//! `--collect-only` then tabulates those two without training the others. The full call writes
//! the comparison table, the strategy logs, the iteration costs and the chart; a second
//! invocation reuses the trained and evaluated runs; one with another budget is refused rather
//! than mixing runs (or, with `--retrain-stale`, moved aside and trained again); a run whose
//! model file is truncated is treated the same way; and an unknown method is refused with the
//! list of known ones.

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
    let shard: Vec<String> = with_methods("gmd,metakd-lookahead")
        .into_iter()
        .chain(["--only-seed".to_string(), "1".to_string()])
        .collect();
    let run = metakd(&shard.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let args = with_methods("baseline,lckd,gmd,metakd-lookahead");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();

    // Collecting only tabulates the finished runs and names the others, training nothing.
    let collect: Vec<&str> = args.iter().copied().chain(["--collect-only"]).collect();
    let collected = metakd(&collect);
    let stderr = String::from_utf8_lossy(&collected.stderr);
    assert!(collected.status.success(), "{stderr}");
    assert!(
        stderr.contains("baseline-seed1: not trained yet; left out")
            && stderr.contains("lckd-seed1: not trained yet; left out"),
        "{stderr}"
    );
    assert!(!out.join("runs/baseline-seed1").exists());
    let md = std::fs::read_to_string(out.join("comparison.md")).unwrap();
    assert!(
        md.contains("| gmd WT |") && !md.contains("| baseline WT |"),
        "{md}"
    );
    let nothing = tmp.path().join("empty");
    let args_empty: Vec<String> = with_methods("baseline")
        .into_iter()
        .map(|a| {
            if a == out.to_str().unwrap() {
                nothing.to_str().unwrap().to_string()
            } else {
                a
            }
        })
        .chain(["--collect-only".to_string()])
        .collect();
    let empty = metakd(&args_empty.iter().map(String::as_str).collect::<Vec<_>>());
    let stderr = String::from_utf8_lossy(&empty.stderr);
    assert!(
        !empty.status.success() && stderr.contains("no run of this experiment"),
        "{stderr}"
    );

    let run = metakd(&args);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    assert_eq!(stderr.matches("trained already").count(), 2, "{stderr}");
    assert_eq!(stderr.matches("evaluated already").count(), 2, "{stderr}");
    let md = std::fs::read_to_string(out.join("comparison.md")).unwrap();
    assert!(
        md.contains("| baseline WT |")
            && md.contains("| lckd ET |")
            && md.contains("| gmd TC |")
            && md.contains("| metakd-lookahead WT |"),
        "{md}"
    );
    assert!(md.contains("| FLAIR+T1+T1ce+T2 |") && md.contains("| **average** |"));
    assert!(md.contains("### Significant differences"), "{md}");
    let csv = std::fs::read_to_string(out.join("comparison.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 4 * 16 * 3);
    // Statistics for each of the 6 pairs × Dice and HD95 × 3 regions.
    let stats = std::fs::read_to_string(out.join("stats.csv")).unwrap();
    assert_eq!(stats.lines().count(), 1 + 6 * 2 * 3, "{stats}");
    let stats_md = std::fs::read_to_string(out.join("stats.md")).unwrap();
    assert!(
        stats_md.contains("| baseline − lckd | WT | Dice (points) |"),
        "{stats_md}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("stats.json")).unwrap()).unwrap();
    assert_eq!(json["rows"].as_array().unwrap().len(), 36);
    let costs = std::fs::read_to_string(out.join("iteration_costs.md")).unwrap();
    assert!(
        costs.contains("| gmd | 3 |") && costs.contains("| lckd | 3 |"),
        "{costs}"
    );
    let teachers = std::fs::read_to_string(out.join("lckd_teachers.csv")).unwrap();
    assert!(teachers.lines().count() >= 2, "{teachers}");
    let weights = std::fs::read_to_string(out.join("metakd_weights.csv")).unwrap();
    assert!(weights.contains("\nmetakd-lookahead,1,0,"), "{weights}");
    let lookahead = std::fs::read_to_string(out.join("runs/metakd-lookahead-seed1/run.toml"));
    assert!(lookahead
        .unwrap()
        .contains("meta_update = \"one_step_lookahead\""));
    let chart = image::open(out.join("dice_by_modalities.png")).unwrap();
    assert_eq!((chart.width(), chart.height()), (900, 540));
    for method in ["baseline", "lckd", "gmd", "metakd-lookahead"] {
        assert!(out.join(format!("runs/{method}-seed1/eval.json")).exists());
    }

    // Given again, the trained runs are reused.
    let again = metakd(&args);
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(again.status.success(), "{stderr}");
    assert_eq!(stderr.matches("trained already").count(), 4, "{stderr}");
    assert_eq!(stderr.matches("evaluated already").count(), 4, "{stderr}");

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

    // Asked to, it moves the stale run aside (nothing deleted) and trains it again.
    let retrain: Vec<String> = longer
        .iter()
        .map(|a| {
            if a == "baseline,lckd,gmd,metakd-lookahead" {
                "baseline".to_string()
            } else {
                a.clone()
            }
        })
        .chain(["--retrain-stale".to_string()])
        .collect();
    let retrained = metakd(&retrain.iter().map(String::as_str).collect::<Vec<_>>());
    let stderr = String::from_utf8_lossy(&retrained.stderr);
    assert!(retrained.status.success(), "{stderr}");
    assert!(
        stderr.contains("baseline-seed1.stale-1 and training it again"),
        "{stderr}"
    );
    let recorded = |run: &str| std::fs::read_to_string(out.join("runs").join(run).join("run.toml"));
    assert!(recorded("baseline-seed1.stale-1")
        .unwrap()
        .contains("iterations = 3\n"));
    assert!(recorded("baseline-seed1")
        .unwrap()
        .contains("iterations = 4\n"));

    // A model file that cannot be read is stale too: refused with what to do, or retrained.
    let gmd_model = out.join("runs/gmd-seed1/model.metakd");
    let bytes = std::fs::read(&gmd_model).unwrap();
    std::fs::write(&gmd_model, &bytes[..bytes.len() / 2]).unwrap();
    let gmd_only: Vec<String> = with_methods("gmd");
    let gmd_only: Vec<&str> = gmd_only.iter().map(String::as_str).collect();
    let refused = metakd(&gmd_only);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "{stderr}");
    assert!(
        stderr.contains("gmd-seed1: its model cannot be used")
            && stderr.contains("--retrain-stale"),
        "{stderr}"
    );
    let gmd_again: Vec<&str> = gmd_only
        .iter()
        .copied()
        .chain(["--retrain-stale"])
        .collect();
    let retrained = metakd(&gmd_again);
    let stderr = String::from_utf8_lossy(&retrained.stderr);
    assert!(retrained.status.success(), "{stderr}");
    assert!(out.join("runs/gmd-seed1.stale-1/model.metakd").exists());
    // The same network again, so a model file of the same size, whole this time.
    assert_eq!(std::fs::read(&gmd_model).unwrap().len(), bytes.len());

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
        stderr.contains("unknown method `hemis`")
            && stderr.contains("baseline, lckd, gmd, metakd, metakd-lookahead"),
        "{stderr}"
    );
}
