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

/// Width of the legend strip right of the bars (the legend never covers a bar).
const LEGEND_WIDTH: u32 = 220;

fn draw(
    methods: &[MethodSummary],
    title: &str,
    buffer: &mut [u8],
) -> Result<(), Box<dyn std::error::Error>> {
    let root = BitMapBackend::with_buffer(buffer, SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let below_title = root.titled(title, ("sans-serif", 22))?;
    let (plot, legend) = below_title.split_horizontally(SIZE.0 - LEGEND_WIDTH);
    let mut chart = ChartBuilder::on(&plot)
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
        chart.draw_series(bars)?;
        let whiskers = method.dice_by_count.iter().enumerate().map(|(k, v)| {
            let x = k as f64 + 1.0 + offset;
            let (lo, hi) = ((v.mean - v.std) * 100.0, (v.mean + v.std) * 100.0);
            PathElement::new(vec![(x, lo.max(0.0)), (x, hi.min(100.0))], BLACK)
        });
        chart.draw_series(whiskers)?;
        let y = 30 + 26 * j as i32;
        legend.draw(&Rectangle::new([(4, y - 7), (18, y + 7)], colour.filled()))?;
        legend.draw(&Text::new(
            legend_label(method),
            (26, y - 9),
            ("sans-serif", 16),
        ))?;
    }
    root.present()?;
    Ok(())
}

/// `name (k seed[s])`.
fn legend_label(method: &MethodSummary) -> String {
    let plural = if method.seeds == 1 { "" } else { "s" };
    format!("{} ({} seed{plural})", method.method, method.seeds)
}
