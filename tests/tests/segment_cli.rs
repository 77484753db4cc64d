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
    phantom_dataset(dir, 3);
}

/// `cases` small phantoms in `dir`.
fn phantom_dataset(dir: &Path, cases: usize) {
    let config = PhantomConfig {
        size: PhantomSize::Small,
        ..PhantomConfig::default()
    };
    write_dataset(dir, cases, 21, &config, &|_| {}).unwrap();
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

/// Dice of the region `inside` between two label maps, counted here rather than by the
/// engine's metrics so the check does not trust the code it guards.
fn dice(predicted: &[f32], reference: &[f32], inside: impl Fn(f32) -> bool) -> f64 {
    let (mut both, mut p, mut r) = (0usize, 0usize, 0usize);
    for (&a, &b) in predicted.iter().zip(reference) {
        let (a, b) = (inside(a), inside(b));
        both += usize::from(a && b);
        p += usize::from(a);
        r += usize::from(b);
    }
    2.0 * both as f64 / (p + r) as f64
}

/// Segments the case folder `case` (named `name`) with all four sequences into `out` and
/// returns the Dice of WT, TC and ET of the written label map against the case's own.
fn segment_and_score(case: &Path, name: &str, out: &Path) -> [f64; 3] {
    let run = metakd(&[
        "segment",
        "--case",
        case.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let predicted = Volume::read(out).unwrap().data;
    let reference = Volume::read(&case.join(format!("{name}_seg.nii.gz")))
        .unwrap()
        .data;
    [
        dice(&predicted, &reference, |v| v > 0.0),
        dice(&predicted, &reference, |v| v == 1.0 || v == 4.0),
        dice(&predicted, &reference, |v| v == 4.0),
    ]
}

/// The bundled model on the bundled sample with all four sequences scores what docs/model.md
/// documents (Dice WT 96.7, TC 90.0, ET 88.4 %), less 2 points of margin: an all-background or
/// shifted label map, a broken model file or a wrong label mapping fails here. (Written when
/// the docs said TC 95.6, this test failed at 92.7: `eval` scored the raw TC channel, not the
/// label map; it now scores the label map.)
#[test]
fn segment_scores_the_documented_dice_on_the_sample() {
    let tmp = tempfile::tempdir().unwrap();
    let case = Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/sample/Phantom_00001");
    let scores = segment_and_score(&case, "Phantom_00001", &tmp.path().join("seg.nii.gz"));
    println!("Dice WT, TC, ET on the sample: {scores:?}");
    for ((region, got), documented) in ["WT", "TC", "ET"]
        .iter()
        .zip(scores)
        .zip([0.967, 0.900, 0.884])
    {
        assert!(
            got >= documented - 0.02,
            "{region}: Dice {got:.4}, documented {documented}"
        );
    }
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

/// `metakd eval` writes the 15-subset table, and its numbers are those of the label maps
/// `metakd segment` writes.
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

    // The full-modality row scores what `metakd segment` writes for that case, Dice counted
    // here on the label map; the average row is the mean of the 15 rows.
    let case_name = json["cases"][0].as_str().unwrap();
    let case = tmp.path().join(case_name);
    let counted = segment_and_score(&case, case_name, &tmp.path().join("full.nii.gz"));
    let rows = json["rows"].as_array().unwrap();
    let full = rows.iter().find(|r| r["mask"] == 15).unwrap();
    for (r, counted) in counted.iter().enumerate() {
        let reported = full["dice"][r].as_f64().unwrap();
        assert!(
            (reported - counted).abs() < 1e-9,
            "region {r}: eval says {reported}, the written label map scores {counted}"
        );
        let mean = rows
            .iter()
            .map(|row| row["dice"][r].as_f64().unwrap())
            .sum::<f64>()
            / 15.0;
        let average = json["average_dice"][r].as_f64().unwrap();
        assert!((mean - average).abs() < 1e-9, "average {average} vs {mean}");
    }
}

/// With `--out` each case's results are kept in `cases/` as soon as it is done; `--resume`
/// reuses them (a changed kept number shows in the table, so the case was not segmented
/// again), a run without it segments everything again, and results made under other
/// settings are refused with the kept file's name.
#[test]
fn eval_resumes_from_the_cases_it_kept() {
    let tmp = tempfile::tempdir().unwrap();
    // Six cases put at least two in the train split.
    phantom_dataset(tmp.path(), 6);
    let out = tmp.path().join("eval");
    let eval = |extra: &[&str]| {
        let mut args = vec![
            "eval",
            "--data",
            tmp.path().to_str().unwrap(),
            "--split",
            "train",
            "--limit",
            "2",
            "--subsets",
            "flair+t1ce,t1ce",
            "--out",
            out.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        metakd(&args)
    };
    let table = || -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(out.join("eval.json")).unwrap()).unwrap()
    };
    let first = eval(&[]);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let original = table();
    let cases: Vec<String> = original["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    assert_eq!(cases.len(), 2);
    let kept = out.join("cases").join(format!("{}.json", cases[0]));
    let mut record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&kept).unwrap()).unwrap();
    assert_eq!(record["metrics"].as_array().unwrap().len(), 2);
    record["metrics"][0][0]["dice"] = serde_json::json!(0.123456);
    std::fs::write(&kept, serde_json::to_string(&record).unwrap()).unwrap();

    let resumed = eval(&["--resume"]);
    assert!(
        resumed.status.success(),
        "{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    assert!(String::from_utf8_lossy(&resumed.stderr).contains("kept from"));
    let row = &table()["rows"][0];
    assert_eq!(row["per_case"][0][0]["dice"].as_f64(), Some(0.123456));
    let other_case = original["rows"][0]["per_case"][1][0]["dice"]
        .as_f64()
        .unwrap();
    assert_eq!(row["per_case"][1][0]["dice"].as_f64(), Some(other_case));
    let mean = row["dice"][0].as_f64().unwrap();
    assert!(
        (mean - (0.123456 + other_case) / 2.0).abs() < 1e-12,
        "{mean}"
    );

    let again = eval(&[]);
    assert!(again.status.success());
    assert_eq!(table()["rows"], original["rows"]);

    let other_settings = eval(&["--resume", "--overlap", "0.25"]);
    assert!(!other_settings.status.success());
    let message = String::from_utf8_lossy(&other_settings.stderr);
    assert!(
        message.contains(&format!("{}.json", cases[0])) && message.contains("other settings"),
        "{message}"
    );
}
