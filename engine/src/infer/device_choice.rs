//! Which compute device segments faster on this machine, measured once and remembered.
//!
//! Without a GPU, wgpu runs on Mesa's lavapipe, and whether that or the CPU path is faster
//! depends on the machine (on the 2-core development machine the CPU path is, since the CPU
//! convolutions; on a GPU, wgpu by far). [`load_or_measure`] times one window batch of the
//! model on each device after a batch that compiles its kernels, keeps the result in a small
//! JSON file keyed by the machine (CPU model, cores, the wgpu adapter), and reads it back on
//! later starts; delete the file to measure again (e.g. after a driver update).

use crate::atomic_file;
use crate::compute::Compute;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// One measurement: seconds per window batch on each device (`None`: it could not run).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceChoice {
    /// What the measurement is valid for ([`machine_key`]).
    pub machine: String,
    pub cpu_seconds: Option<f64>,
    pub wgpu_seconds: Option<f64>,
}

impl DeviceChoice {
    /// The device that was faster (the CPU when wgpu could not run, wgpu when neither could:
    /// its error message then says what is missing).
    pub fn fastest(&self) -> Compute {
        match (self.cpu_seconds, self.wgpu_seconds) {
            (Some(cpu), Some(wgpu)) if wgpu < cpu => Compute::Wgpu,
            (Some(_), _) => Compute::Cpu,
            (None, _) => Compute::Wgpu,
        }
    }

    /// One line for the user, e.g. `measured per batch of windows: CPU 0.41 s, wgpu 0.80 s`.
    pub fn describe(&self) -> String {
        let time = |s: Option<f64>| s.map_or("could not run".to_string(), |s| format!("{s:.2} s"));
        format!(
            "measured per batch of windows: CPU {}, wgpu {}",
            time(self.cpu_seconds),
            time(self.wgpu_seconds)
        )
    }
}

/// What a measurement is valid for: the CPU's model and core count and the wgpu adapter's
/// name (`wgpu_adapter`: `None` when wgpu does not start).
pub fn machine_key(wgpu_adapter: Option<&str>) -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    format!(
        "{cpu}, {cores} cores, wgpu: {}",
        wgpu_adapter.unwrap_or("none")
    )
}

/// Where the measurement is kept: `$METAKD_CACHE/device-choice.json`, else
/// `~/.cache/metakd/device-choice.json` (`None` without a cache folder).
pub fn default_cache_file() -> Option<PathBuf> {
    let base = match std::env::var_os("METAKD_CACHE") {
        Some(dir) => PathBuf::from(dir),
        None => dirs::cache_dir()?.join("metakd"),
    };
    Some(base.join("device-choice.json"))
}

/// The kept measurement for `machine` from `cache` when there is one, else a new one from
/// `measure` (seconds per batch on a device, or why it could not run), kept in `cache` (a
/// failure to write it only costs measuring again next time).
pub fn load_or_measure(
    cache: Option<&Path>,
    machine: &str,
    measure: impl Fn(Compute) -> Result<f64, String>,
) -> DeviceChoice {
    if let Some(kept) = cache.and_then(read_kept) {
        if kept.machine == machine {
            return kept;
        }
    }
    let choice = DeviceChoice {
        machine: machine.to_string(),
        cpu_seconds: measure(Compute::Cpu).ok(),
        wgpu_seconds: measure(Compute::Wgpu).ok(),
    };
    if let (Some(path), Ok(json)) = (cache, serde_json::to_vec_pretty(&choice)) {
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let _ = atomic_file::write(path, &json);
    }
    choice
}

fn read_kept(path: &Path) -> Option<DeviceChoice> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[test]
    fn the_faster_device_wins_and_a_device_that_cannot_run_loses() {
        let choice = |cpu, wgpu| DeviceChoice {
            machine: String::new(),
            cpu_seconds: cpu,
            wgpu_seconds: wgpu,
        };
        assert_eq!(choice(Some(1.0), Some(2.0)).fastest(), Compute::Cpu);
        assert_eq!(choice(Some(2.0), Some(1.0)).fastest(), Compute::Wgpu);
        assert_eq!(choice(Some(1.0), None).fastest(), Compute::Cpu);
        assert_eq!(choice(None, Some(1.0)).fastest(), Compute::Wgpu);
    }

    #[test]
    fn a_kept_measurement_is_reused_on_the_same_machine_only() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("sub").join("device-choice.json");
        let calls = Cell::new(0);
        let measure = |compute: Compute| {
            calls.set(calls.get() + 1);
            match compute {
                Compute::Cpu => Ok(0.5),
                Compute::Wgpu => Err("no Vulkan driver".to_string()),
            }
        };
        let first = load_or_measure(Some(&cache), "machine A", measure);
        assert_eq!((first.cpu_seconds, first.wgpu_seconds), (Some(0.5), None));
        assert_eq!(calls.get(), 2);
        assert_eq!(load_or_measure(Some(&cache), "machine A", measure), first);
        assert_eq!(
            calls.get(),
            2,
            "the kept measurement is read back, not redone"
        );
        let other = load_or_measure(Some(&cache), "machine B", measure);
        assert_eq!(other.machine, "machine B");
        assert_eq!(calls.get(), 4, "another machine measures again");
        std::fs::write(&cache, b"not json").unwrap();
        load_or_measure(Some(&cache), "machine B", measure);
        assert_eq!(calls.get(), 6, "an unreadable file measures again");
    }
}
