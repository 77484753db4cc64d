//! The viewer in a real X11 window: start Xvfb, launch `metakd-viewer` on the sample study,
//! check that its window appears and that it keeps running (no panic, no GPU needed: wgpu falls
//! back to lavapipe or GL), and read the screen back with `xwd` (parsed here, independently of
//! the viewer's code) to check what the X server shows: the tumour overlay's colours, in the
//! right order and blend, at the cursor where the viewer opens.
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
    // Wait until the study is drawn with its overlay (the screen is captured every second),
    // then make sure the viewer is still alive.
    let shot = std::env::temp_dir().join(format!("metakd-window-{}.xwd", std::process::id()));
    let deadline = Instant::now() + Duration::from_secs(90);
    let verdict = loop {
        let verdict = capture(&display, &shot).and_then(|screen| overlay_at_the_cursor(&screen));
        if verdict.is_ok() || Instant::now() > deadline {
            break verdict;
        }
        std::thread::sleep(Duration::from_secs(1));
    };
    let _ = std::fs::remove_file(&shot);
    assert!(
        viewer.0.try_wait().expect("query viewer").is_none(),
        "the viewer exited after opening its window"
    );
    if let Err(reason) = verdict {
        panic!("the screen does not show the tumour overlay at the cursor: {reason}");
    }
}

/// A screen capture as RGB pixels.
struct Screen {
    width: usize,
    height: usize,
    rgb: Vec<[u8; 3]>,
}

impl Screen {
    fn at(&self, x: usize, y: usize) -> [u8; 3] {
        self.rgb[y * self.width + x]
    }
}

/// Captures the root window of `display` with `xwd` into `path` and reads it.
fn capture(display: &str, path: &Path) -> Result<Screen, String> {
    let status = Command::new("xwd")
        .args(["-root", "-silent", "-display", display, "-out"])
        .arg(path)
        .status()
        .map_err(|e| format!("cannot run xwd: {e}"))?;
    if !status.success() {
        return Err("xwd could not capture the screen".into());
    }
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read the capture: {e}"))?;
    read_xwd(&bytes)
}

/// Reads an X window dump (XWD version 7, 32-bit TrueColor ZPixmap with 8-bit channels: what
/// xwd writes for a 24-bit Xvfb screen).
fn read_xwd(bytes: &[u8]) -> Result<Screen, String> {
    let field = |i: usize| -> Result<usize, String> {
        let b = bytes
            .get(4 * i..4 * i + 4)
            .ok_or("the capture is truncated")?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
    };
    let (header, version, format) = (field(0)?, field(1)?, field(2)?);
    let (width, height, byte_order) = (field(4)?, field(5)?, field(7)?);
    let (bits_per_pixel, bytes_per_line, colours) = (field(11)?, field(12)?, field(19)?);
    let masks = (field(14)?, field(15)?, field(16)?);
    if version != 7 || format != 2 || bits_per_pixel != 32 || masks != (0xff0000, 0xff00, 0xff) {
        return Err(format!(
            "unexpected XWD layout (version {version}, format {format}, {bits_per_pixel} bits, masks {masks:x?})"
        ));
    }
    let start = header + 12 * colours;
    let pixels = bytes
        .get(start..start + height * bytes_per_line)
        .ok_or("the capture is truncated")?;
    let rgb = (0..height)
        .flat_map(|y| (0..width).map(move |x| y * bytes_per_line + 4 * x))
        .map(|i| {
            let p = &pixels[i..i + 4];
            // Byte order 0: least significant byte first (B, G, R, pad).
            if byte_order == 0 {
                [p[2], p[1], p[0]]
            } else {
                [p[1], p[2], p[3]]
            }
        })
        .collect();
    Ok(Screen { width, height, rgb })
}

/// What a pixel shows: the crosshair, or a BraTS label colour (ITK-SNAP's: NCR red, ED
/// green, ET yellow) blended over the grey image, or anything else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seen {
    Crosshair,
    Necrosis,
    Edema,
    Enhancing,
    Other,
}

fn classify([r, g, b]: [u8; 3]) -> Seen {
    let (r, g, b) = (i32::from(r), i32::from(g), i32::from(b));
    if b > r + 60 && b > g + 40 {
        Seen::Crosshair
    } else if r > 200 && g > 200 && r - b > 60 {
        Seen::Enhancing
    } else if r > g + 80 && r > b + 80 {
        Seen::Necrosis
    } else if g > r + 80 && g > b + 80 {
        Seen::Edema
    } else {
        Seen::Other
    }
}

/// The viewer opens the sample with the cursor at the tumour's centre, so just beside each of
/// the three vertical crosshair lines, reading down the column, the ground-truth overlay must
/// show edema, then the enhancing rim, then necrosis, then the rim and edema again (each at
/// least two pixels), drawn at the default opacity 0.5: a label colour c over grey v shows
/// (c + v) / 2, so red and green pixels stand 127 ± 3 above the other two channels.
fn overlay_at_the_cursor(screen: &Screen) -> Result<(), String> {
    let lines: Vec<usize> = (0..screen.width)
        .filter(|&x| {
            let on = (0..screen.height)
                .filter(|&y| classify(screen.at(x, y)) == Seen::Crosshair)
                .count();
            on * 2 > screen.height
        })
        .collect();
    if lines.len() != 3 {
        return Err(format!(
            "{} vertical crosshair lines found, not 3",
            lines.len()
        ));
    }
    for &line in &lines {
        for x in [line - 3, line + 3] {
            column_crosses_the_tumour(screen, x)?;
        }
    }
    Ok(())
}

/// Checks the sequence of label runs down column `x` and the blend of its label pixels.
fn column_crosses_the_tumour(screen: &Screen, x: usize) -> Result<(), String> {
    let mut runs: Vec<(Seen, usize)> = Vec::new();
    for y in 0..screen.height {
        let pixel = screen.at(x, y);
        let seen = classify(pixel);
        let [r, g, b] = pixel.map(i32::from);
        let off_blend = match seen {
            Seen::Necrosis => (r - g - 127).abs() > 3 || (g - b).abs() > 2,
            Seen::Edema => (g - r - 127).abs() > 3 || (r - b).abs() > 2,
            _ => false,
        };
        if off_blend {
            return Err(format!(
                "pixel ({x}, {y}) = {pixel:?} is not a label colour at opacity 0.5"
            ));
        }
        match (seen, runs.last_mut()) {
            (Seen::Crosshair, _) => {}
            (seen, Some((last, n))) if *last == seen => *n += 1,
            (seen, _) => runs.push((seen, 1)),
        }
    }
    let labels: Vec<Seen> = runs
        .iter()
        .filter(|(seen, n)| *seen != Seen::Other && *n >= 2)
        .map(|(seen, _)| *seen)
        .collect();
    use Seen::{Edema as G, Enhancing as Y, Necrosis as R};
    if labels.windows(5).any(|w| w == [G, Y, R, Y, G]) {
        Ok(())
    } else {
        Err(format!(
            "column {x} shows {labels:?}, not edema, rim, necrosis, rim, edema"
        ))
    }
}
