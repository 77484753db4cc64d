//! Helpers shared by the cross-crate tests in `tests/tests/`.
//!
//! * [`expected`]: the typed contents of `fixtures/nifti/expected.json`, what nibabel reads from
//!   each fixture (written by `fixtures/make_nifti_fixtures.py`).
//! * [`tolerance`]: how closely the engine must agree with nibabel, in one place.
//! * [`metakd_binary`]: the path of the `metakd` CLI, built on demand.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The workspace root (the parent of this crate).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests crate sits inside the workspace")
        .to_path_buf()
}

/// `tests/fixtures/nifti/`.
pub fn nifti_fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join("nifti")
}

pub mod expected {
    //! `expected.json`: one entry per fixture; see the generator's docstring for each field.
    use serde::Deserialize;
    use std::path::PathBuf;

    #[derive(Debug, Deserialize)]
    pub struct Expected {
        pub nibabel_version: String,
        pub accepted: Vec<Accepted>,
        pub rejected: Vec<Rejected>,
    }

    #[derive(Debug, Clone, Deserialize)]
    pub struct Accepted {
        pub file: String,
        pub covers: String,
        pub version: u8,
        pub endian: String,
        pub vox_offset: f64,
        /// nibabel's `img.shape` (2 to 4 entries).
        pub shape: Vec<usize>,
        pub spatial_shape: [usize; 3],
        pub frames: usize,
        pub datatype: String,
        /// `None` when stored as NaN.
        pub scl_slope: Option<f64>,
        pub scl_inter: Option<f64>,
        pub affine: [[f64; 4]; 4],
        pub affine_source: String,
        pub affine_nibabel: [[f64; 4]; 4],
        pub axcodes: String,
        pub voxel_sizes: [f64; 3],
        pub zooms: Vec<f64>,
        pub spatial: Spatial,
        /// Integer datatype without effective scaling: values must match exactly (as f32).
        pub integer_exact: bool,
        pub stats: Stats,
        pub probes: Vec<Probe>,
        /// Every scaled voxel, i fastest, then j, k, t; `None` for NaN.
        pub values: Vec<Option<f64>>,
        #[serde(default)]
        pub labels: Option<Vec<Label>>,
    }

    impl Accepted {
        pub fn path(&self) -> PathBuf {
            super::nifti_fixtures_dir().join(&self.file)
        }

        /// The intercept that applies (0 when the slope is 0 or not finite: no scaling).
        pub fn effective_inter(&self) -> f64 {
            match self.scl_slope {
                Some(s) if s != 0.0 && s.is_finite() => self.scl_inter.unwrap_or(0.0),
                _ => 0.0,
            }
        }

        /// The shapes `metakd info` may report: `[nx, ny, nz]` for one frame, else
        /// `[nx, ny, nz, nt]`; nibabel's own shape (`[5, 4]` for 2D, `[5, 4, 3, 1]` for a 4D
        /// file with one frame) is accepted too.
        pub fn cli_shapes(&self) -> Vec<Vec<usize>> {
            let mut engine = self.spatial_shape.to_vec();
            if self.frames > 1 {
                engine.push(self.frames);
            }
            let mut out = vec![engine];
            if !out.contains(&self.shape) {
                out.push(self.shape.clone());
            }
            out
        }
    }

    #[derive(Debug, Clone, PartialEq, Deserialize)]
    pub struct Spatial {
        pub pixdim: [f64; 8],
        pub qform_code: i32,
        pub sform_code: i32,
        pub quatern: [f64; 3],
        pub qoffset: [f64; 3],
        pub srow: [[f64; 4]; 3],
        pub xyzt_units: i32,
    }

    #[derive(Debug, Clone, PartialEq, Deserialize)]
    pub struct Stats {
        pub min: f64,
        pub max: f64,
        pub mean: f64,
        pub sum: f64,
        pub nan_count: usize,
        pub voxel_count: usize,
    }

    #[derive(Debug, Clone, Deserialize)]
    pub struct Probe {
        /// `[i, j, k]` (frame 0) or `[i, j, k, t]`.
        pub index: Vec<usize>,
        pub value: Option<f64>,
        pub world_mm: [f64; 3],
    }

    #[derive(Debug, Clone, Deserialize)]
    pub struct Label {
        pub value: i64,
        pub count: usize,
        pub volume_ml: f64,
    }

    #[derive(Debug, Clone, Deserialize)]
    pub struct Rejected {
        pub file: String,
        /// Each must appear in the message (case-insensitively); `a|b` means either word.
        pub keywords: Vec<String>,
        /// The message must name one of these files.
        pub names: Vec<String>,
        /// What nibabel does with the file (information only).
        pub nibabel: String,
    }

    impl Rejected {
        pub fn path(&self) -> PathBuf {
            super::nifti_fixtures_dir().join(&self.file)
        }

        /// `Ok` when `message` names the file and holds every keyword; else what is missing.
        pub fn check_message(&self, message: &str) -> Result<(), String> {
            let lower = message.to_lowercase();
            let mut missing = Vec::new();
            if !self.names.iter().any(|n| message.contains(n.as_str())) {
                missing.push(format!("the file name ({})", self.names.join(" or ")));
            }
            for keyword in &self.keywords {
                let found = keyword
                    .split('|')
                    .any(|word| lower.contains(&word.to_lowercase()));
                if !found {
                    missing.push(format!("keyword {keyword:?}"));
                }
            }
            if missing.is_empty() {
                Ok(())
            } else {
                Err(format!("message {message:?} lacks {}", missing.join(", ")))
            }
        }
    }

    /// Parses `fixtures/nifti/expected.json`.
    pub fn load() -> Expected {
        let path = super::nifti_fixtures_dir().join("expected.json");
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }
}

pub mod tolerance {
    //! How closely the engine must agree with nibabel.
    //!
    //! * Affines, world coordinates and voxel sizes: 1e-5 mm absolute.
    //! * Voxel values: exact (compared as f32) for integer data without scaling; otherwise
    //!   relative 1e-6 of `|expected| + |scl_inter|` (the intercept term keeps values that
    //!   scaling cancels to near 0 from demanding more than f32 can hold). NaN must be NaN.
    //! * Stats: `min`/`max` like values; `mean` relative 1e-6 of `max(|mean|, largest |value|)`,
    //!   `sum` relative 1e-6 of `max(|sum|, largest |value| × count)` (the engine holds f32, nibabel
    //!   sums f64; the floor covers the cancellation of f32 rounding); counts exact.
    //! * Label volumes: relative 1e-6.
    use crate::expected::{Accepted, Stats};

    pub const AFFINE_ABS: f64 = 1e-5;
    pub const VALUE_REL: f64 = 1e-6;
    pub const STATS_REL: f64 = 1e-6;

    /// Whether the engine's value `got` matches nibabel's `expected` for fixture `fx`.
    pub fn value_ok(expected: Option<f64>, got: f64, fx: &Accepted) -> bool {
        match expected {
            None => got.is_nan(),
            Some(e) if fx.integer_exact => !got.is_nan() && got as f32 == e as f32,
            Some(e) => {
                (got - e).abs() <= VALUE_REL * (e.abs() + fx.effective_inter().abs())
                    || got as f32 == e as f32
            }
        }
    }

    pub fn close_abs(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    /// Entry-wise `|a - b| <= tol`; `None` when they agree, else a description.
    pub fn compare_matrix<const R: usize, const C: usize>(
        got: &[[f64; C]; R],
        want: &[[f64; C]; R],
        tol: f64,
    ) -> Option<String> {
        let worst = (0..R)
            .flat_map(|r| (0..C).map(move |c| (got[r][c] - want[r][c]).abs()))
            .fold(0.0f64, f64::max);
        (worst > tol || worst.is_nan())
            .then(|| format!("got {got:?}, expected {want:?} (max diff {worst:e})"))
    }

    /// Mismatches between stats computed by the engine side and nibabel's.
    pub fn stats_mismatches(got: &Stats, want: &Stats, fx: &Accepted) -> Vec<String> {
        let mut out = Vec::new();
        let scale = want.min.abs().max(want.max.abs());
        let counted = (want.voxel_count - want.nan_count) as f64;
        if !value_ok(Some(want.min), got.min, fx) {
            out.push(format!("stats.min {} (expected {})", got.min, want.min));
        }
        if !value_ok(Some(want.max), got.max, fx) {
            out.push(format!("stats.max {} (expected {})", got.max, want.max));
        }
        if (got.mean - want.mean).abs() > STATS_REL * want.mean.abs().max(scale)
            || got.mean.is_nan()
        {
            out.push(format!("stats.mean {} (expected {})", got.mean, want.mean));
        }
        if (got.sum - want.sum).abs() > STATS_REL * want.sum.abs().max(scale * counted)
            || got.sum.is_nan()
        {
            out.push(format!("stats.sum {} (expected {})", got.sum, want.sum));
        }
        if got.nan_count != want.nan_count {
            out.push(format!(
                "stats.nan_count {} (expected {})",
                got.nan_count, want.nan_count
            ));
        }
        if got.voxel_count != want.voxel_count {
            out.push(format!(
                "stats.voxel_count {} (expected {})",
                got.voxel_count, want.voxel_count
            ));
        }
        out
    }
}

/// Stats the way `expected.json` defines them: NaN ignored for min/max/mean/sum, `voxel_count`
/// counts every voxel, sums in f64.
pub fn stats_of(values: &[f32]) -> expected::Stats {
    let mut min = f64::INFINITY;
    let mut max = f64::NEG_INFINITY;
    let mut sum = 0.0f64;
    let mut nan_count = 0;
    for &v in values {
        if v.is_nan() {
            nan_count += 1;
            continue;
        }
        let v = f64::from(v);
        min = min.min(v);
        max = max.max(v);
        sum += v;
    }
    let counted = values.len() - nan_count;
    expected::Stats {
        min,
        max,
        mean: if counted > 0 {
            sum / counted as f64
        } else {
            f64::NAN
        },
        sum,
        nan_count,
        voxel_count: values.len(),
    }
}

/// The path of the `metakd` binary of this build, brought up to date first.
///
/// Integration tests of this crate cannot use `CARGO_BIN_EXE_metakd` (the binary belongs to
/// `engine`), so the path is derived from the test executable: `<target>/<profile>/deps/test-…`
/// → `<target>/<profile>/metakd`. Once per test process it runs
/// `cargo build --workspace --all-targets` into that target directory and profile (with the
/// cargo running the tests when `CARGO` is set), which builds a missing binary and keeps an
/// existing one from being stale; cargo releases its build lock before running tests, so this
/// does not wait on the outer `cargo test`. It builds the whole workspace with its dev targets
/// on purpose: that resolves dependency features exactly as `cargo test --workspace` does, so
/// after the outer build it is a no-op, where `-p engine` alone would resolve burn's features
/// differently and compile the whole burn stack a second time. Set `METAKD_BIN` to test a
/// given binary instead.
pub fn metakd_binary() -> PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY
        .get_or_init(|| {
            if let Some(bin) = std::env::var_os("METAKD_BIN") {
                return PathBuf::from(bin);
            }
            let exe = std::env::current_exe().expect("path of the test executable");
            let mut dir = exe.parent().expect("test executable has a directory");
            if dir.file_name().is_some_and(|n| n == "deps") {
                dir = dir.parent().expect("deps sits in the profile directory");
            }
            build_metakd(dir);
            let binary = dir.join(format!("metakd{}", std::env::consts::EXE_SUFFIX));
            assert!(
                binary.exists(),
                "{} is missing after building it",
                binary.display()
            );
            binary
        })
        .clone()
}

fn build_metakd(profile_dir: &Path) {
    let target_dir = profile_dir
        .parent()
        .expect("profile directory sits in the target directory");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(workspace_root())
        .args(["build", "--quiet", "--workspace", "--all-targets"])
        .arg("--target-dir")
        .arg(target_dir);
    match profile_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") | None => {}
        Some("release") => {
            cmd.arg("--release");
        }
        Some(profile) => {
            cmd.args(["--profile", profile]);
        }
    }
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run cargo to build metakd: {e}"));
    assert!(
        out.status.success(),
        "`cargo build --workspace --all-targets` (for metakd) failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}
