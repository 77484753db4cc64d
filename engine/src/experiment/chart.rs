//! The experiment's chart: average Dice (over regions and subsets) per method per number of
//! available modalities, as grouped bars with ±1 std whiskers, drawn with plotters into an RGB
//! buffer (egui's bundled Ubuntu font for text) and saved as PNG.

use super::MethodSummary;
use plotters::prelude::*;
use std::path::Path;
use std::sync::Once;

const SIZE: (u32, u32) = (900, 540);
const COLOURS: [RGBColor; 6] = [
    RGBColor(120, 120, 120),
    RGBColor(230, 120, 30),
    RGBColor(40, 120, 200),
    RGBColor(200, 40, 60),
    RGBColor(60, 160, 80),
    RGBColor(140, 80, 180),
];

fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The font is a valid TTF compiled into epaint_default_fonts; failing here would be a
        // packaging bug, and the chart would then have no text rather than no picture.
        let _ = plotters::style::register_font(
            "sans-serif",
            FontStyle::Normal,
            epaint_default_fonts::UBUNTU_LIGHT,
        );
    });
}

/// Draws the chart of `methods` to `path` (PNG).
pub fn write_chart(methods: &[MethodSummary], title: &str, path: &Path) -> Result<(), String> {
    register_font();
    let (w, h) = SIZE;
    let mut buffer = vec![0u8; (w * h * 3) as usize];
    draw(methods, title, &mut buffer).map_err(|e| format!("cannot draw the chart: {e}"))?;
    let image = image::RgbImage::from_raw(w, h, buffer).ok_or("chart buffer of the wrong size")?;
    image
        .save(path)
        .map_err(|e| format!("{}: cannot save the chart: {e}", path.display()))
}

fn draw(
    methods: &[MethodSummary],
    title: &str,
    buffer: &mut [u8],
) -> Result<(), Box<dyn std::error::Error>> {
    let root = BitMapBackend::with_buffer(buffer, SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(56)
        .build_cartesian_2d(0.5f64..4.5f64, 0f64..100f64)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(4)
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| format!("{y:.0}"))
        .x_desc("available modalities")
        .y_desc("mean Dice (%)")
        .label_style(("sans-serif", 16))
        .draw()?;
    let n = methods.len().max(1) as f64;
    let width = 0.8 / n;
    for (j, method) in methods.iter().enumerate() {
        let colour = COLOURS[j % COLOURS.len()];
        let offset = (j as f64 - (n - 1.0) / 2.0) * width;
        let bars = method.dice_by_count.iter().enumerate().map(|(k, v)| {
            let x = k as f64 + 1.0 + offset;
            Rectangle::new(
                [(x - width * 0.45, 0.0), (x + width * 0.45, v.mean * 100.0)],
                colour.filled(),
            )
        });
        chart
            .draw_series(bars)?
            .label(format!("{} ({} seeds)", method.method, method.seeds))
            .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 14, y + 6)], colour.filled()));
        let whiskers = method.dice_by_count.iter().enumerate().map(|(k, v)| {
            let x = k as f64 + 1.0 + offset;
            let (lo, hi) = ((v.mean - v.std) * 100.0, (v.mean + v.std) * 100.0);
            PathElement::new(vec![(x, lo.max(0.0)), (x, hi.min(100.0))], BLACK)
        });
        chart.draw_series(whiskers)?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .label_font(("sans-serif", 16))
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}
