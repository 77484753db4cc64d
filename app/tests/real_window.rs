//! The viewer in a real X11 window: start Xvfb, launch `metakd-viewer` on a study, check that
//! its window appears and that it keeps running (no panic, no GPU needed: wgpu falls back to
//! lavapipe or GL), and capture the screen with `xwd` as proof of what was shown.
//!
//! Needs `Xvfb`, `xwininfo` and `xwd` (Debian: xvfb, x11-utils, x11-apps), which `.ci/run`
//! installs; without them the test fails and says what to install.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn require(tool: &str, package: &str) {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "`{tool}` is missing: install the Debian package {package} (as .ci/run does)"
    );
}

fn sample_or_fixture_study() -> PathBuf {
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/sample");
    std::fs::read_dir(&sample)
        .ok()
        .and_then(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .find(|p| p.is_dir())
        })
        .expect("the bundled sample study under assets/sample/")
}

fn window_listed(display: &str, title: &str) -> bool {
    Command::new("xwininfo")
        .args(["-root", "-tree", "-display", display])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains(title))
}

#[test]
fn viewer_opens_a_real_window_under_xvfb() {
    require("Xvfb", "xvfb");
    require("xwininfo", "x11-utils");
    require("xwd", "x11-apps");
    let display = format!(":{}", 90 + std::process::id() % 100);
    let _xvfb = Killed(
        Command::new("Xvfb")
            .args([
                display.as_str(),
                "-screen",
                "0",
                "1400x900x24",
                "-nolisten",
                "tcp",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start Xvfb"),
    );
    std::thread::sleep(Duration::from_millis(800));

    let study = sample_or_fixture_study();
    let config = tempfile::tempdir().expect("temp config dir");
    let mut viewer = Killed(
        Command::new(env!("CARGO_BIN_EXE_metakd-viewer"))
            .arg(&study)
            .env("DISPLAY", &display)
            .env_remove("WAYLAND_DISPLAY")
            .env("XDG_CONFIG_HOME", config.path())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start metakd-viewer"),
    );

    let deadline = Instant::now() + Duration::from_secs(60);
    while !window_listed(&display, "MetaKD viewer") {
        if let Ok(Some(status)) = viewer.0.try_wait() {
            let mut stderr = String::new();
            if let Some(mut pipe) = viewer.0.stderr.take() {
                use std::io::Read;
                let _ = pipe.read_to_string(&mut stderr);
            }
            panic!("the viewer exited ({status}) before showing its window: {stderr}");
        }
        assert!(
            Instant::now() < deadline,
            "no 'MetaKD viewer' window appeared within 60 s"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    // Let it load the study and draw a few frames, then make sure it is still alive.
    std::thread::sleep(Duration::from_secs(5));
    assert!(
        viewer.0.try_wait().expect("query viewer").is_none(),
        "the viewer exited after opening its window"
    );

    let shot = std::env::temp_dir().join(format!("metakd-window-{}.xwd", std::process::id()));
    let status = Command::new("xwd")
        .args(["-root", "-silent", "-display", &display, "-out"])
        .arg(&shot)
        .status()
        .expect("run xwd");
    assert!(status.success(), "xwd could not capture the screen");
    let size = std::fs::metadata(&shot).map(|m| m.len()).unwrap_or(0);
    assert!(
        size > 1400 * 900 * 3,
        "the screen capture is too small ({size} bytes)"
    );
    let _ = std::fs::remove_file(shot);
}
