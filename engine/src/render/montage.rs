//! A study overview as one image: rows axial, coronal, sagittal through the tumour centre (or
//! the volume centre when there is no tumour); columns FLAIR, T1, T1ce, T2 and the label map
//! drawn over T1ce (NCR red, ED green, ET yellow).
//!
//! Slices are shown in the radiological convention by default (patient right on the screen's
//! left in axial and coronal views), windowed per slice at the 0.5–99.5 percentiles, resampled
//! to square millimetres so anisotropic voxels keep their true aspect, with column titles and
//! orientation letters in a small built-in font.

use super::font::{draw_text, text_width, GLYPH_H};
use crate::study::{label_value, LabelConvention, Modality, Study, TumourTissue};
use crate::volume::{percentile_range, Orientation, Plane, Slice, Volume};
use image::{Rgb, RgbImage};

/// Colours by tumour class: NCR, ED, ET (ITK-SNAP's defaults for 1, 2, 4).
pub const NCR_COLOUR: [u8; 3] = [0xFF, 0x00, 0x00];
pub const ED_COLOUR: [u8; 3] = [0x00, 0xFF, 0x00];
pub const ET_COLOUR: [u8; 3] = [0xFF, 0xFF, 0x00];

/// How to draw the montage.
#[derive(Debug, Clone)]
pub struct MontageOptions {
    /// Output pixels per millimetre.
    pub pixels_per_mm: f64,
    /// The modality under the label overlay (falls back to the first one present).
    pub overlay_base: Modality,
    /// Opacity of the label colours.
    pub alpha: f32,
    /// Patient right on the screen's left in axial and coronal views.
    pub radiological: bool,
    /// Column titles and orientation letters.
    pub text: bool,
    /// The display (RAS) index the planes pass through; `None` for the tumour centre.
    pub centre: Option<[usize; 3]>,
}

impl Default for MontageOptions {
    fn default() -> Self {
        MontageOptions {
            pixels_per_mm: 1.0,
            overlay_base: Modality::T1ce,
            alpha: 0.5,
            radiological: true,
            text: true,
            centre: None,
        }
    }
}

const GAP: u32 = 4;
const BACKGROUND: Rgb<u8> = Rgb([0, 0, 0]);
const TEXT: Rgb<u8> = Rgb([230, 230, 230]);
const TEXT_DIM: Rgb<u8> = Rgb([150, 200, 255]);

/// The display (RAS) index the montage's planes pass through: the voxel of the tumour core (NCR
/// or ET, else any tumour) nearest to its centroid, or the grid centre without labels.
pub fn tumour_centre(study: &Study) -> [usize; 3] {
    let reference = study.reference();
    let orientation = reference.orientation();
    let ras_shape = orientation.ras_shape();
    let grid_centre = ras_shape.map(|n| n / 2);
    let Some(labels) = &study.labels else {
        return grid_centre;
    };
    let frame = labels.frame(0);
    let convention = study.convention;
    let is_core = |v: f32| {
        let l = v.round() as i64;
        l == 1 || l == i64::from(convention.et_value())
    };
    let is_any = |v: f32| v.round() as i64 > 0;
    for select in [&is_core as &dyn Fn(f32) -> bool, &is_any] {
        if let Some(disk) = central_voxel(frame, labels.shape, select) {
            return orientation.to_ras(disk);
        }
    }
    grid_centre
}

/// The selected voxel nearest to the centroid of all selected voxels (on-disk index).
fn central_voxel(
    frame: &[f32],
    shape: [usize; 3],
    select: &dyn Fn(f32) -> bool,
) -> Option<[usize; 3]> {
    let [nx, ny, _] = shape;
    let coords = |index: usize| [index % nx, (index / nx) % ny, index / (nx * ny)];
    let mut sum = [0.0f64; 3];
    let mut count = 0usize;
    for (index, v) in frame.iter().enumerate() {
        if select(*v) {
            let c = coords(index);
            for axis in 0..3 {
                sum[axis] += c[axis] as f64;
            }
            count += 1;
        }
    }
    if count == 0 {
        return None;
    }
    let mean = sum.map(|s| s / count as f64);
    frame
        .iter()
        .enumerate()
        .filter(|(_, v)| select(**v))
        .map(|(index, _)| coords(index))
        .min_by(|a, b| {
            let d = |c: &[usize; 3]| (0..3).map(|i| (c[i] as f64 - mean[i]).powi(2)).sum::<f64>();
            d(a).total_cmp(&d(b))
        })
}

/// One tile: RGB pixels of a slice, resampled and windowed.
struct Tile {
    width: u32,
    height: u32,
    pixels: Vec<[u8; 3]>,
}

/// Renders the montage of `study`.
pub fn render(study: &Study, options: &MontageOptions) -> RgbImage {
    let reference = study.reference();
    let orientation = reference.orientation();
    let voxel_sizes = reference.voxel_sizes();
    let centre = options.centre.unwrap_or_else(|| tumour_centre(study));
    let ppm = options.pixels_per_mm;

    // Tile size of each plane in output pixels.
    let tile_size = |plane: Plane| {
        let (w, h) = orientation.slice_size(plane);
        let (sx, sy) = orientation.pixel_spacing(plane, voxel_sizes);
        (
            ((w as f64 * sx * ppm).round() as u32).max(1),
            ((h as f64 * sy * ppm).round() as u32).max(1),
        )
    };
    let column_width = Plane::ALL
        .iter()
        .map(|p| tile_size(*p).0)
        .max()
        .unwrap_or(1);
    let title_height = if options.text { GLYPH_H * 2 + 8 } else { 0 };
    let columns = 5u32;
    let width = GAP + columns * (column_width + GAP);
    let height = title_height
        + Plane::ALL
            .iter()
            .map(|p| tile_size(*p).1 + GAP)
            .sum::<u32>()
        + GAP;
    let mut image = RgbImage::from_pixel(width, height, BACKGROUND);

    if options.text {
        draw_titles(&mut image, column_width);
    }

    let mut y = title_height;
    for plane in Plane::ALL {
        let (tw, th) = tile_size(plane);
        let index = centre[plane.normal_axis()];
        let flip = options.radiological && plane != Plane::Sagittal;
        let base = study
            .modality(options.overlay_base)
            .or_else(|| Modality::ALL.iter().find_map(|m| study.modality(*m)));
        for col in 0..columns {
            let x = column_x(col, column_width) + (column_width - tw) / 2;
            let tile = if col < 4 {
                study
                    .modality(Modality::ALL[col as usize])
                    .map(|v| grey_tile(v, &orientation, plane, index, (tw, th), flip))
            } else {
                base.map(|v| {
                    label_tile(
                        study,
                        v,
                        &orientation,
                        plane,
                        index,
                        (tw, th),
                        flip,
                        options.alpha,
                    )
                })
            };
            match tile {
                Some(tile) => blit(&mut image, &tile, x, y),
                None if options.text => draw_missing(&mut image, x, y, (tw, th)),
                None => {}
            }
            if options.text && col == 0 {
                draw_plane_letters(&mut image, plane, flip, x, y, (tw, th));
            }
        }
        y += th + GAP;
    }
    image
}

/// The label column's tile: the slice of `base` with `study`'s labels (if any) drawn over it.
#[allow(clippy::too_many_arguments)]
fn label_tile(
    study: &Study,
    base: &Volume,
    orientation: &Orientation,
    plane: Plane,
    index: usize,
    size: (u32, u32),
    flip: bool,
    alpha: f32,
) -> Tile {
    let mut tile = grey_tile(base, orientation, plane, index, size, flip);
    if let Some(labels) = &study.labels {
        overlay_labels(
            &mut tile,
            labels,
            orientation,
            plane,
            index,
            flip,
            study.convention,
            alpha,
        );
    }
    tile
}

/// Column titles: the modality names, and over the label column its colour legend.
fn draw_titles(image: &mut RgbImage, column_width: u32) {
    for (col, m) in Modality::ALL.iter().enumerate() {
        let x = column_x(col as u32, column_width);
        let title = m.name();
        let tx = x + (column_width.saturating_sub(text_width(title, 2))) / 2;
        draw_text(image, i64::from(tx), 4, title, 2, TEXT);
    }
    // The label column's title is its legend.
    let parts = [("NCR", NCR_COLOUR), (" ED", ED_COLOUR), (" ET", ET_COLOUR)];
    let total: u32 = parts.iter().map(|(t, _)| text_width(t, 2) + 12).sum();
    let mut tx = column_x(4, column_width) + column_width.saturating_sub(total) / 2;
    for (t, c) in parts {
        draw_text(image, i64::from(tx), 4, t, 2, Rgb(c));
        tx += text_width(t, 2) + 12;
    }
}

/// "MISSING" in the empty place of a `tw`×`th` tile at (`x`, `y`).
fn draw_missing(image: &mut RgbImage, x: u32, y: u32, (tw, th): (u32, u32)) {
    let msg = "MISSING";
    let tx = x + tw.saturating_sub(text_width(msg, 1)) / 2;
    draw_text(
        image,
        i64::from(tx),
        i64::from(y + th / 2),
        msg,
        1,
        TEXT_DIM,
    );
}

/// The plane's name and the orientation letters at the edges of a tile `tw`×`th` at (`x`, `y`).
fn draw_plane_letters(
    image: &mut RgbImage,
    plane: Plane,
    flip: bool,
    x: u32,
    y: u32,
    (tw, th): (u32, u32),
) {
    draw_text(
        image,
        i64::from(x + 3),
        i64::from(y + 3),
        plane.name(),
        1,
        TEXT_DIM,
    );
    let [left, right, top, bottom] = edge_letters(plane, flip);
    let mid_y = i64::from(y + th / 2) - 3;
    draw_text(
        image,
        i64::from(x + 3),
        mid_y,
        &left.to_string(),
        1,
        TEXT_DIM,
    );
    draw_text(
        image,
        i64::from(x + tw) - 8,
        mid_y,
        &right.to_string(),
        1,
        TEXT_DIM,
    );
    let mid_x = i64::from(x + tw / 2) - 2;
    draw_text(
        image,
        mid_x,
        i64::from(y + 3),
        &top.to_string(),
        1,
        TEXT_DIM,
    );
    draw_text(
        image,
        mid_x,
        i64::from(y + th) - 10,
        &bottom.to_string(),
        1,
        TEXT_DIM,
    );
}

fn column_x(col: u32, column_width: u32) -> u32 {
    GAP + col * (column_width + GAP)
}

/// Letters at the left, right, top and bottom edges of a tile.
fn edge_letters(plane: Plane, flipped: bool) -> [char; 4] {
    let [l, r, t, b] = Orientation::edge_letters(plane);
    if flipped {
        [r, l, t, b]
    } else {
        [l, r, t, b]
    }
}

fn blit(image: &mut RgbImage, tile: &Tile, x: u32, y: u32) {
    for ty in 0..tile.height {
        for tx in 0..tile.width {
            let (px, py) = (x + tx, y + ty);
            if px < image.width() && py < image.height() {
                image.put_pixel(px, py, Rgb(tile.pixels[(ty * tile.width + tx) as usize]));
            }
        }
    }
}

/// Source (column, row) in slice pixels of output pixel `(px, py)` of a tile `size` pixels big.
fn source_position(
    slice_size: (usize, usize),
    tile: (u32, u32),
    px: u32,
    py: u32,
    flip: bool,
) -> (f64, f64) {
    let (w, h) = slice_size;
    let mut col = (f64::from(px) + 0.5) / f64::from(tile.0) * w as f64 - 0.5;
    let row = (f64::from(py) + 0.5) / f64::from(tile.1) * h as f64 - 0.5;
    if flip {
        col = (w as f64 - 1.0) - col;
    }
    (col, row)
}

/// The 0.5 and 99.5 percentiles of a slice.
fn window(values: &[f32]) -> (f32, f32) {
    match percentile_range(values, 0.005, 0.995) {
        Some((lo, hi)) if hi > lo => (lo, hi),
        Some((lo, _)) if lo.is_finite() => (lo, lo + 1.0),
        _ => (0.0, 1.0),
    }
}

fn grey_tile(
    volume: &Volume,
    orientation: &Orientation,
    plane: Plane,
    index: usize,
    size: (u32, u32),
    flip: bool,
) -> Tile {
    let slice = orientation.slice(volume.frame(0), plane, index);
    let (lo, hi) = window(&slice.values);
    let mut pixels = Vec::with_capacity((size.0 * size.1) as usize);
    for py in 0..size.1 {
        for px in 0..size.0 {
            let (c, r) = source_position((slice.width, slice.height), size, px, py, flip);
            let v = bilinear(&slice, c, r);
            let g = (((v - lo) / (hi - lo)).clamp(0.0, 1.0) * 255.0).round() as u8;
            pixels.push([g, g, g]);
        }
    }
    Tile {
        width: size.0,
        height: size.1,
        pixels,
    }
}

fn bilinear(slice: &Slice<f32>, col: f64, row: f64) -> f32 {
    let c = col.clamp(0.0, (slice.width - 1) as f64);
    let r = row.clamp(0.0, (slice.height - 1) as f64);
    let (c0, r0) = (c.floor() as usize, r.floor() as usize);
    let (c1, r1) = (
        (c0 + 1).min(slice.width - 1),
        (r0 + 1).min(slice.height - 1),
    );
    let (fc, fr) = ((c - c0 as f64) as f32, (r - r0 as f64) as f32);
    let at = |c: usize, r: usize| {
        let v = slice.values[r * slice.width + c];
        if v.is_finite() {
            v
        } else {
            0.0
        }
    };
    let top = at(c0, r0) * (1.0 - fc) + at(c1, r0) * fc;
    let bottom = at(c0, r1) * (1.0 - fc) + at(c1, r1) * fc;
    top * (1.0 - fr) + bottom * fr
}

/// The overlay colour of a label value under `convention` (cyan for a value it does not use).
pub fn label_colour(value: f32, convention: LabelConvention) -> Option<[u8; 3]> {
    let l = value.round();
    if l <= 0.0 {
        return None;
    }
    let tissue = label_value(l).and_then(|l| convention.tissue_of(l));
    Some(match tissue {
        Some(TumourTissue::Ncr) => NCR_COLOUR,
        Some(TumourTissue::Ed) => ED_COLOUR,
        Some(TumourTissue::Et) => ET_COLOUR,
        None => [0x00, 0xFF, 0xFF],
    })
}

#[allow(clippy::too_many_arguments)]
fn overlay_labels(
    tile: &mut Tile,
    labels: &Volume,
    orientation: &Orientation,
    plane: Plane,
    index: usize,
    flip: bool,
    convention: LabelConvention,
    alpha: f32,
) {
    let slice = orientation.slice(labels.frame(0), plane, index);
    let size = (tile.width, tile.height);
    for py in 0..tile.height {
        for px in 0..tile.width {
            let (c, r) = source_position((slice.width, slice.height), size, px, py, flip);
            let c = (c.round().max(0.0) as usize).min(slice.width - 1);
            let r = (r.round().max(0.0) as usize).min(slice.height - 1);
            if let Some(colour) = label_colour(slice.values[r * slice.width + c], convention) {
                let p = &mut tile.pixels[(py * tile.width + px) as usize];
                for ch in 0..3 {
                    p[ch] = (f32::from(p[ch]) * (1.0 - alpha) + f32::from(colour[ch]) * alpha)
                        .round() as u8;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::volume::Affine;

    fn volume(shape: [usize; 3], affine: Affine, data: Vec<f32>) -> Volume {
        Volume::in_memory(shape, affine, data)
    }

    /// A 20×10×8 LPS grid with 2×1×3 mm voxels; the image is bright on the patient's right
    /// (disk i = 0 side) and has one ET voxel.
    fn study() -> Study {
        let shape = [20, 10, 8];
        let affine = Affine([
            [-2.0, 0.0, 0.0, 0.0],
            [0.0, -1.0, 0.0, 0.0],
            [0.0, 0.0, 3.0, 0.0],
            [0.0, 0.0, 0.0, 1.0],
        ]);
        let n = 20 * 10 * 8;
        let data: Vec<f32> = (0..n)
            .map(|i| if i % 20 < 10 { 100.0 } else { 0.0 })
            .collect();
        let mut labels = vec![0.0; n];
        labels[5 + 20 * (3 + 10 * 4)] = 4.0;
        let image = volume(shape, affine, data);
        Study {
            name: "t".into(),
            modalities: [
                Some(image.clone()),
                Some(image.clone()),
                Some(image.clone()),
                Some(image),
            ],
            labels: Some(volume(shape, affine, labels)),
            convention: LabelConvention::Brats2021,
            layout: crate::study::Layout::Files,
        }
    }

    #[test]
    fn centre_is_the_tumour_voxel() {
        let s = study();
        let o = s.reference().orientation();
        assert_eq!(o.to_disk(tumour_centre(&s)), [5, 3, 4]);
    }

    #[test]
    fn montage_is_aspect_correct_and_radiological() {
        let s = study();
        let options = MontageOptions {
            text: false,
            ..MontageOptions::default()
        };
        let image = render(&s, &options);
        // Axial tile: 40 mm × 10 mm; coronal 40 × 24; sagittal 10 × 24.
        assert_eq!(image.width(), GAP + 5 * (40 + GAP));
        assert_eq!(image.height(), (10 + GAP) + (24 + GAP) + (24 + GAP) + GAP);
        // Radiological: the patient's right (bright) is on the screen's left of the axial tile.
        let left = image.get_pixel(GAP + 2, 5).0[0];
        let right = image.get_pixel(GAP + 37, 5).0[0];
        assert!(left > 200 && right < 50, "{left} {right}");
        // The ET voxel shows yellow in the label column of the axial row.
        let yellowish = (0..40).any(|x| {
            (0..10).any(|y| {
                let p = image.get_pixel(column_x(4, 40) + x, y).0;
                p[0] > 100 && p[1] > 100 && i32::from(p[0]) - i32::from(p[2]) > 60
            })
        });
        assert!(yellowish);
    }
}
