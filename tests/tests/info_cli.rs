//! The `metakd info` contract, checked against what nibabel reads from the fixtures:
//!
//! ```text
//! metakd info <file> [--json] [--labels] [--at i,j,k[,t]]...
//! ```
//!
//! * `--json` prints one object: `shape` (`[nx, ny, nz]`, or `[nx, ny, nz, nt]` for several
//!   frames), `datatype` (`uint8` … `float64`), `scl_slope`, `scl_inter` (`null` for NaN),
//!   `affine` (4×4, rows), `affine_source` (`sform` | `qform` | `pixdim`), `axcodes` (`"LPS"`),
//!   `voxel_sizes`, `stats` {`min`, `max`, `mean`, `sum` ignoring NaN, `nan_count`,
//!   `voxel_count` over all voxels of all frames}, `labels` [{`value`, `count`, `volume_ml`}]
//!   only with `--labels`, and `probes` [{`index`, `value`, `world_mm`}] with `--at` (`i,j,k`
//!   reads frame 0, `i,j,k,t` frame `t`; NaN values are `null`). `--at` may be repeated.
//! * A file that cannot be read: exit status 2 and exactly one line on stderr naming the file
//!   and the reason.
//!
//! Tolerances are those of the reader's conformance test (`integration_tests::tolerance`).

use integration_tests::expected::{self, Accepted, Probe, Stats};
use integration_tests::metakd_binary;
use integration_tests::tolerance::{self, compare_matrix, AFFINE_ABS};
use serde_json::Value;
use std::path::Path;
use std::process::Output;

fn metakd(args: &[&str]) -> Output {
    std::process::Command::new(metakd_binary())
        .args(args)
        .output()
        .expect("run metakd")
}

fn info_json(path: &Path, extra: &[String]) -> Result<Value, String> {
    let mut args = vec![
        "info".to_string(),
        path.display().to_string(),
        "--json".into(),
    ];
    args.extend(extra.iter().cloned());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = metakd(&args);
    if !out.status.success() {
        return Err(format!(
            "`metakd {}` exited with {}: {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| {
        format!(
            "stdout of `metakd {}` is not JSON ({e}): {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

fn at_args(probes: &[Probe]) -> Vec<String> {
    probes
        .iter()
        .flat_map(|p| {
            let index: Vec<String> = p.index.iter().map(usize::to_string).collect();
            ["--at".to_string(), index.join(",")]
        })
        .collect()
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Null => Some(f64::NAN),
        other => other.as_f64(),
    }
}

fn numbers<const N: usize>(v: &Value) -> Option<[f64; N]> {
    let a = v.as_array()?;
    if a.len() != N {
        return None;
    }
    let mut out = [0.0; N];
    for (slot, x) in out.iter_mut().zip(a) {
        *slot = x.as_f64()?;
    }
    Some(out)
}

fn matrix4(v: &Value) -> Option<[[f64; 4]; 4]> {
    let rows = v.as_array()?;
    if rows.len() != 4 {
        return None;
    }
    let mut out = [[0.0; 4]; 4];
    for (slot, row) in out.iter_mut().zip(rows) {
        *slot = numbers::<4>(row)?;
    }
    Some(out)
}

fn stats(v: &Value) -> Option<Stats> {
    Some(Stats {
        min: number(v.get("min")?)?,
        max: number(v.get("max")?)?,
        mean: number(v.get("mean")?)?,
        sum: number(v.get("sum")?)?,
        nan_count: v.get("nan_count")?.as_u64()? as usize,
        voxel_count: v.get("voxel_count")?.as_u64()? as usize,
    })
}

fn check(out: &mut Vec<String>, ok: bool, what: String) {
    if !ok {
        out.push(what);
    }
}

/// Both absent/NaN, or equal as f32 (the header stores f32 in NIfTI-1).
fn same_scaling(got: &Value, want: Option<f64>) -> bool {
    match (number(got), want) {
        (Some(g), None) => g.is_nan(),
        (Some(g), Some(w)) => g as f32 == w as f32,
        (None, _) => false,
    }
}

/// Every difference between `metakd info --json --at …` and nibabel for one fixture.
fn json_mismatches(fx: &Accepted, json: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let field = |key: &str| json.get(key).unwrap_or(&Value::Null);

    let shape: Option<Vec<usize>> = field("shape").as_array().and_then(|a| {
        a.iter()
            .map(|x| x.as_u64().map(|n| n as usize))
            .collect::<Option<Vec<_>>>()
    });
    check(
        &mut out,
        shape.as_ref().is_some_and(|s| fx.cli_shapes().contains(s)),
        format!(
            "shape {} (expected {:?})",
            field("shape"),
            fx.cli_shapes()[0]
        ),
    );
    check(
        &mut out,
        field("datatype").as_str() == Some(fx.datatype.as_str()),
        format!("datatype {} (expected {})", field("datatype"), fx.datatype),
    );
    check(
        &mut out,
        same_scaling(field("scl_slope"), fx.scl_slope),
        format!(
            "scl_slope {} (expected {:?})",
            field("scl_slope"),
            fx.scl_slope
        ),
    );
    check(
        &mut out,
        same_scaling(field("scl_inter"), fx.scl_inter),
        format!(
            "scl_inter {} (expected {:?})",
            field("scl_inter"),
            fx.scl_inter
        ),
    );
    match matrix4(field("affine")) {
        Some(a) => {
            if let Some(diff) = compare_matrix(&a, &fx.affine, AFFINE_ABS) {
                out.push(format!("affine: {diff}"));
            }
        }
        None => out.push(format!("affine {} is not a 4x4 array", field("affine"))),
    }
    check(
        &mut out,
        field("affine_source").as_str() == Some(fx.affine_source.as_str()),
        format!(
            "affine_source {} (expected {})",
            field("affine_source"),
            fx.affine_source
        ),
    );
    check(
        &mut out,
        field("axcodes").as_str() == Some(fx.axcodes.as_str()),
        format!("axcodes {} (expected {:?})", field("axcodes"), fx.axcodes),
    );
    match numbers::<3>(field("voxel_sizes")) {
        Some(s) => {
            if let Some(diff) = compare_matrix(&[s], &[fx.voxel_sizes], AFFINE_ABS) {
                out.push(format!("voxel_sizes: {diff}"));
            }
        }
        None => out.push(format!(
            "voxel_sizes {} is not 3 numbers",
            field("voxel_sizes")
        )),
    }
    match stats(field("stats")) {
        Some(s) => out.extend(tolerance::stats_mismatches(&s, &fx.stats, fx)),
        None => out.push(format!("stats {} lacks a field", field("stats"))),
    }
    check(
        &mut out,
        field("labels").is_null(),
        format!("labels {} without --labels", field("labels")),
    );

    let probes = field("probes").as_array().cloned().unwrap_or_default();
    check(
        &mut out,
        probes.len() == fx.probes.len(),
        format!(
            "{} probes for {} --at (probes: {})",
            probes.len(),
            fx.probes.len(),
            field("probes")
        ),
    );
    for (got, want) in probes.iter().zip(&fx.probes) {
        let index: Option<Vec<usize>> = got
            .get("index")
            .and_then(Value::as_array)
            .and_then(|a| a.iter().map(|x| x.as_u64().map(|n| n as usize)).collect());
        // `i,j,k` may be echoed as `[i, j, k]` or `[i, j, k, 0]`.
        let index_ok = index.as_ref().is_some_and(|i| {
            *i == want.index || (want.index.len() == 3 && *i == [&want.index[..], &[0]].concat())
        });
        check(
            &mut out,
            index_ok,
            format!(
                "probe index {:?} (expected {:?})",
                got.get("index"),
                want.index
            ),
        );
        let value = got.get("value").and_then(number);
        check(
            &mut out,
            value.is_some_and(|v| tolerance::value_ok(want.value, v, fx)),
            format!(
                "probe {:?} value {:?} (expected {:?})",
                want.index,
                got.get("value"),
                want.value
            ),
        );
        match got.get("world_mm").and_then(numbers::<3>) {
            Some(w) => {
                if let Some(diff) = compare_matrix(&[w], &[want.world_mm], AFFINE_ABS) {
                    out.push(format!("probe {:?} world_mm: {diff}", want.index));
                }
            }
            None => out.push(format!("probe {:?} lacks world_mm", want.index)),
        }
    }
    out
}

#[test]
fn json_matches_nibabel_for_every_accepted_fixture() {
    let expected = expected::load();
    let mut failures = Vec::new();
    for fx in &expected.accepted {
        match info_json(&fx.path(), &at_args(&fx.probes)) {
            Ok(json) => {
                for m in json_mismatches(fx, &json) {
                    failures.push(format!("{} ({}): {m}", fx.file, fx.covers));
                }
            }
            Err(e) => failures.push(format!("{}: {e}", fx.file)),
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn labels_flag_counts_voxels_and_millilitres_per_label() {
    let expected = expected::load();
    let fx = expected
        .accepted
        .iter()
        .find(|a| a.labels.is_some())
        .expect("a label-map fixture");
    let json = info_json(&fx.path(), &["--labels".to_string()]).unwrap_or_else(|e| panic!("{e}"));
    let got = json["labels"]
        .as_array()
        .unwrap_or_else(|| panic!("labels is not an array: {}", json["labels"]));
    let want = fx.labels.as_ref().unwrap();
    for label in want {
        let entry = got
            .iter()
            .find(|e| e["value"].as_f64() == Some(label.value as f64));
        match entry {
            // Background may be left out.
            None if label.value == 0 => {}
            None => panic!("label {} missing from {got:?}", label.value),
            Some(e) => {
                assert_eq!(
                    e["count"].as_u64(),
                    Some(label.count as u64),
                    "label {}",
                    label.value
                );
                let ml = e["volume_ml"].as_f64().unwrap_or(f64::NAN);
                assert!(
                    (ml - label.volume_ml).abs() <= 1e-6 * label.volume_ml,
                    "label {}: {ml} mL (expected {})",
                    label.value,
                    label.volume_ml
                );
            }
        }
    }
    for e in got {
        assert!(
            want.iter()
                .any(|l| e["value"].as_f64() == Some(l.value as f64)),
            "label {} is not in the file",
            e["value"]
        );
    }
}

/// `--at i,j,k,t` reads frame `t`; `--at i,j,k` frame 0.
#[test]
fn at_reads_the_requested_frame_of_a_4d_file() {
    let expected = expected::load();
    let fx = expected
        .accepted
        .iter()
        .find(|a| a.file == "4d_int16.nii.gz")
        .expect("4D fixture");
    let [nx, ny, nz] = fx.spatial_shape;
    let (i, j, k) = (3, 2, 1);
    let mut args = vec!["--at".to_string(), format!("{i},{j},{k}")];
    for t in 0..fx.frames {
        args.extend(["--at".to_string(), format!("{i},{j},{k},{t}")]);
    }
    let json = info_json(&fx.path(), &args).unwrap_or_else(|e| panic!("{e}"));
    let probes = json["probes"].as_array().expect("probes");
    assert_eq!(probes.len(), fx.frames + 1, "{probes:?}");
    let value_at = |t: usize| fx.values[i + nx * (j + ny * (k + nz * t))];
    let value = |n: usize| number(&probes[n]["value"]).unwrap_or(f64::NAN);
    assert!(
        tolerance::value_ok(value_at(0), value(0), fx),
        "frame 0 by default"
    );
    for t in 0..fx.frames {
        assert!(
            tolerance::value_ok(value_at(t), value(t + 1), fx),
            "frame {t}: {} (expected {:?})",
            value(t + 1),
            value_at(t)
        );
    }
}

fn check_rejection(args: &[&str], names: &[String], check: impl Fn(&str) -> Result<(), String>) {
    let out = metakd(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(
        out.status.code(),
        Some(2),
        "`metakd {}` exit status (stderr: {stderr})",
        args.join(" ")
    );
    assert_eq!(
        lines.len(),
        1,
        "`metakd {}` must print exactly one line on stderr, printed: {stderr:?}",
        args.join(" ")
    );
    if let Err(why) = check(lines[0]) {
        panic!("`metakd {}`: {why} (names {names:?})", args.join(" "));
    }
}

#[test]
fn rejected_files_exit_2_with_one_line_naming_the_file_and_the_reason() {
    let expected = expected::load();
    let mut failures = Vec::new();
    for fx in &expected.rejected {
        let path = fx.path().display().to_string();
        for json in [false, true] {
            let mut args = vec!["info", path.as_str()];
            if json {
                args.push("--json");
            }
            let result = std::panic::catch_unwind(|| {
                check_rejection(&args, &fx.names, |line| fx.check_message(line))
            });
            if let Err(panic) = result {
                let msg = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .unwrap_or_else(|| "panic".into());
                failures.push(format!("{}: {msg}", fx.file));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn a_missing_file_exits_2_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no_such_scan.nii.gz");
    let path = path.display().to_string();
    let names = vec!["no_such_scan.nii.gz".to_string()];
    check_rejection(&["info", &path, "--json"], &names, |line| {
        if line.contains("no_such_scan.nii.gz") {
            Ok(())
        } else {
            Err(format!("{line:?} does not name the file"))
        }
    });
}

#[test]
fn text_output_succeeds_and_is_not_empty() {
    let expected = expected::load();
    for name in ["dtype_int16.nii", "4d_int16.nii.gz", "labels_u8.nii.gz"] {
        let fx = expected.accepted.iter().find(|a| a.file == name).unwrap();
        let path = fx.path().display().to_string();
        let out = metakd(&["info", &path]);
        assert!(
            out.status.success(),
            "`metakd info {path}`: {} {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            !String::from_utf8_lossy(&out.stdout).trim().is_empty(),
            "`metakd info {path}` printed nothing"
        );
    }
}

#[test]
fn a_case_folder_is_summarised_as_a_study() {
    let case = integration_tests::workspace_root().join("assets/sample/Phantom_00001");
    let out = metakd(&["info", case.to_str().unwrap(), "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["case"], "Phantom_00001");
    let modalities: Vec<&str> = json["modalities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["modality"].as_str().unwrap())
        .collect();
    assert_eq!(modalities, ["FLAIR", "T1", "T1ce", "T2"]);
    assert_eq!(json["missing"].as_array().unwrap().len(), 0);
    assert_eq!(json["shape"], serde_json::json!([240, 240, 155]));
    assert_eq!(json["axcodes"], "LPS");
    assert_eq!(json["layout"], "BraTS 2018–2021 files");
    assert!(json["label_convention"]
        .as_str()
        .unwrap()
        .starts_with("BraTS 2021"));
    // Regions nest: WT ⊇ TC ⊇ ET, all present in the sample.
    let ml: Vec<f64> = json["regions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["volume_ml"].as_f64().unwrap())
        .collect();
    assert!(ml[0] > ml[1] && ml[1] > ml[2] && ml[2] > 0.0, "{ml:?}");

    // A folder without any MRI file is refused with exit status 2 and one line.
    let empty = tempfile::tempdir().unwrap();
    let out = metakd(&["info", empty.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("no MRI files"), "{stderr}");
}
