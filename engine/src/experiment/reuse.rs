//! Whether an existing run folder may stand in an experiment: its recorded settings
//! (`run.toml`) must be the ones the experiment asks for, so that a comparison never mixes
//! runs trained with different budgets, schedules, networks or data.
//!
//! Compared: every training setting except those that change how fast a run goes but not
//! what it learns (`compute`, `data.workers`); the data folder is compared as a canonical
//! path, so `data` and `./data` are the same folder. A run that cannot stand is either refused
//! or, when the user asks for it, moved aside ([`set_aside`]) and trained again.

use crate::train::TrainConfig;
use serde_json::Value;
use std::path::Path;

/// Settings that may differ between a recorded run and the request.
const IGNORED: &[&str] = &["compute", "data.workers", "data_dir"];

/// The settings (dotted names, with both values) in which `recorded` differs from
/// `requested`; empty when the run may be reused.
pub fn differing_settings(requested: &TrainConfig, recorded: &TrainConfig) -> Vec<String> {
    let mut out = Vec::new();
    let (a, b) = (to_value(requested), to_value(recorded));
    diff("", &a, &b, &mut out);
    if !same_folder(requested.data_dir.as_deref(), recorded.data_dir.as_deref()) {
        out.push(format!(
            "data_dir: asked {}, recorded {}",
            shown(requested.data_dir.as_deref()),
            shown(recorded.data_dir.as_deref())
        ));
    }
    out
}

fn to_value(config: &TrainConfig) -> Value {
    serde_json::to_value(config).expect("training configurations serialise")
}

/// Appends to `out` every leaf under `prefix` where `a` and `b` differ.
fn diff(prefix: &str, a: &Value, b: &Value, out: &mut Vec<String>) {
    if IGNORED.contains(&prefix) {
        return;
    }
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for key in keys {
                let name = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                let missing = Value::Null;
                diff(
                    &name,
                    x.get(key).unwrap_or(&missing),
                    y.get(key).unwrap_or(&missing),
                    out,
                );
            }
        }
        _ if a != b => out.push(format!("{prefix}: asked {a}, recorded {b}")),
        _ => {}
    }
}

fn same_folder(a: Option<&Path>, b: Option<&Path>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => {
            a == b
                || matches!(
                    (a.canonicalize(), b.canonicalize()),
                    (Ok(x), Ok(y)) if x == y
                )
        }
        (a, b) => a == b,
    }
}

fn shown(path: Option<&Path>) -> String {
    path.map_or_else(|| "none".into(), |p| p.display().to_string())
}

/// Moves a stale run folder aside, to `<run>.stale-<k>` with the smallest free `k`, so that it
/// can be trained again without losing what it holds. Returns the new path.
pub fn set_aside(run_dir: &Path) -> std::io::Result<std::path::PathBuf> {
    let name = run_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let free = (1..=u32::MAX)
        .map(|k| run_dir.with_file_name(format!("{name}.stale-{k}")))
        .find(|p| !p.exists())
        .ok_or_else(|| std::io::Error::other("every .stale-<k> name is taken"))?;
    std::fs::rename(run_dir, &free)?;
    Ok(free)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Preset;
    use crate::train::config::Method;
    use crate::train::Compute;

    #[test]
    fn names_each_differing_setting_and_ignores_speed_only_ones() {
        let requested = TrainConfig::new(Method::Metakd, Preset::Tiny);
        let mut recorded = requested.clone();
        assert!(differing_settings(&requested, &recorded).is_empty());
        recorded.compute = Compute::Wgpu;
        recorded.data.workers += 3;
        assert!(differing_settings(&requested, &recorded).is_empty());
        recorded.iterations += 1;
        recorded.metakd.kd_weight *= 2.0;
        recorded.model.channels.push(64);
        let names: Vec<String> = differing_settings(&requested, &recorded)
            .into_iter()
            .map(|d| d.split(':').next().unwrap().to_string())
            .collect();
        assert_eq!(names, ["iterations", "metakd.kd_weight", "model.channels"]);
    }

    #[test]
    fn compares_data_folders_as_folders() {
        let dir = tempfile::tempdir().unwrap();
        let mut requested = TrainConfig::new(Method::Baseline, Preset::Tiny);
        let mut recorded = requested.clone();
        requested.data_dir = Some(dir.path().to_path_buf());
        recorded.data_dir = Some(dir.path().join("."));
        assert!(differing_settings(&requested, &recorded).is_empty());
        recorded.data_dir = Some(dir.path().join("other"));
        let found = differing_settings(&requested, &recorded);
        assert_eq!(found.len(), 1);
        assert!(found[0].starts_with("data_dir: asked"), "{found:?}");
    }
}
