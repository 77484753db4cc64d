//! One slice view: composes the windowed modality and the label overlay into a texture (CPU,
//! so it works on any renderer, software included), draws it aspect-correct with the crosshair
//! and orientation letters, and turns mouse input into changes of the view state.

use crate::state::{Agreement, OpenStudy, TumourClass, ViewState, Window};
use egui::{Color32, ColorImage, Pos2, Rect, Sense, Stroke, TextureHandle, TextureOptions, Vec2};
use engine::study::Modality;
use engine::volume::{Orientation, Plane};

/// Everything that determines a slice's pixels; the texture is rebuilt only when it changes.
#[derive(Debug, Clone, PartialEq)]
struct SliceKey {
    plane: Plane,
    index: usize,
    modality: Modality,
    /// The overlaid layer in effect.
    layer: Option<usize>,
    window: Option<Window>,
    overlay: crate::state::Overlay,
    radiological: bool,
    generation: u64,
}

/// A cached texture for one view slot.
#[derive(Default)]
pub struct SliceCache {
    entry: Option<(SliceKey, TextureHandle)>,
}

/// Composes the pixels of `plane` at the crosshair for `modality`, with the overlay of `layer`
/// (the shown layer when `None`).
pub fn compose_slice(
    open: &OpenStudy,
    view: &ViewState,
    plane: Plane,
    modality: Modality,
    layer: Option<usize>,
) -> ColorImage {
    let orientation = &open.orientation;
    let index = view.cursor[plane.normal_axis()];
    let (width, height) = orientation.slice_size(plane);
    let grey: Vec<u8> = match (open.study.modality(modality), view.window[modality.index()]) {
        (Some(volume), Some(window)) => {
            let slice = orientation.slice(volume.frame(0), plane, index);
            let scale = 255.0 / window.width().max(1e-6);
            slice
                .values
                .iter()
                .map(|v| {
                    if v.is_nan() {
                        0
                    } else {
                        ((v - window.low) * scale).clamp(0.0, 255.0) as u8
                    }
                })
                .collect()
        }
        _ => vec![0; width * height],
    };
    let paint = overlay_paint(open, view, plane, index, layer);
    let mirror = view.radiological && plane != Plane::Sagittal;
    let mut pixels = Vec::with_capacity(width * height);
    for row in 0..height {
        for screen_col in 0..width {
            let col = if mirror {
                width - 1 - screen_col
            } else {
                screen_col
            };
            let i = row * width + col;
            let g = grey[i];
            let mut rgb = [g, g, g];
            if let Some(paint) = &paint {
                if let Some(colour) = paint[i] {
                    let draw =
                        !view.overlay.outline || is_edge(paint, width, height, col, row, colour);
                    if draw {
                        let alpha = if view.overlay.outline {
                            1.0
                        } else {
                            view.overlay.opacity
                        };
                        for k in 0..3 {
                            rgb[k] = (f32::from(rgb[k]) * (1.0 - alpha)
                                + f32::from(colour[k]) * alpha)
                                as u8;
                        }
                    }
                }
            }
            pixels.push(Color32::from_rgb(rgb[0], rgb[1], rgb[2]));
        }
    }
    ColorImage {
        size: [width, height],
        source_size: Vec2::new(width as f32, height as f32),
        pixels,
    }
}

/// The overlay colour of each pixel of the slice (`None`: not painted), or `None` when no
/// overlay is drawn: tumour classes of the layer, or the agreement of a difference overlay
/// (of `layer` when set, else of the difference's predicted layer, against its reference).
fn overlay_paint(
    open: &OpenStudy,
    view: &ViewState,
    plane: Plane,
    index: usize,
    layer: Option<usize>,
) -> Option<Vec<Option<[u8; 3]>>> {
    if !view.overlay.visible {
        return None;
    }
    let slice_of = |layer: usize| {
        open.layers
            .get(layer)
            .map(|l| open.orientation.slice(&l.labels, plane, index).values)
    };
    let convention = open.study.convention;
    if let Some(d) = view.overlay.difference {
        // A tile of the comparison grid shows its own condition against the reference.
        let predicted = slice_of(layer.unwrap_or(d.predicted))?;
        let reference = slice_of(d.reference)?;
        return Some(
            predicted
                .iter()
                .zip(&reference)
                .map(|(p, r)| {
                    Agreement::of(
                        convention.in_region(*p, d.region),
                        convention.in_region(*r, d.region),
                    )
                    .map(Agreement::rgb)
                })
                .collect(),
        );
    }
    let labels = slice_of(layer.or(open.shown)?)?;
    Some(
        labels
            .iter()
            .map(|v| {
                TumourClass::of_label(*v, convention)
                    .filter(|c| view.overlay.class_visible[c.index()])
                    .map(TumourClass::rgb)
            })
            .collect(),
    )
}

/// A painted pixel is on the outline when a 4-neighbour has another colour (or lies outside).
fn is_edge(
    paint: &[Option<[u8; 3]>],
    width: usize,
    height: usize,
    col: usize,
    row: usize,
    colour: [u8; 3],
) -> bool {
    let same = |c: isize, r: isize| {
        c >= 0
            && r >= 0
            && (c as usize) < width
            && (r as usize) < height
            && paint[r as usize * width + c as usize] == Some(colour)
    };
    let (c, r) = (col as isize, row as isize);
    !(same(c - 1, r) && same(c + 1, r) && same(c, r - 1) && same(c, r + 1))
}

/// Where a slice image sits on screen.
struct Placement {
    image: Rect,
    width: usize,
    height: usize,
    mirror: bool,
}

impl Placement {
    fn new(rect: Rect, open: &OpenStudy, view: &ViewState, plane: Plane) -> Placement {
        let (width, height) = open.orientation.slice_size(plane);
        let sizes = open.study.reference().voxel_sizes();
        let (col_mm, row_mm) = open.orientation.pixel_spacing(plane, sizes);
        let (w_mm, h_mm) = (width as f32 * col_mm as f32, height as f32 * row_mm as f32);
        let p = ViewState::plane_index(plane);
        let scale = (rect.width() / w_mm).min(rect.height() / h_mm) * view.zoom[p];
        let size = Vec2::new(w_mm * scale, h_mm * scale);
        let image = Rect::from_center_size(rect.center() + view.pan[p], size);
        Placement {
            image,
            width,
            height,
            mirror: view.radiological && plane != Plane::Sagittal,
        }
    }

    /// Screen position of the centre of slice pixel (`col`, `row`) in display (unmirrored) terms.
    fn to_screen(&self, col: usize, row: usize) -> Pos2 {
        let screen_col = if self.mirror {
            self.width - 1 - col
        } else {
            col
        };
        let x =
            self.image.min.x + (screen_col as f32 + 0.5) / self.width as f32 * self.image.width();
        let y = self.image.min.y + (row as f32 + 0.5) / self.height as f32 * self.image.height();
        Pos2::new(x, y)
    }

    /// The slice pixel (`col`, `row`) under a screen position, if inside the image.
    fn pixel_at(&self, pos: Pos2) -> Option<(usize, usize)> {
        if !self.image.contains(pos) {
            return None;
        }
        let u = ((pos.x - self.image.min.x) / self.image.width() * self.width as f32) as usize;
        let v = ((pos.y - self.image.min.y) / self.image.height() * self.height as f32) as usize;
        let (u, row) = (u.min(self.width - 1), v.min(self.height - 1));
        Some((if self.mirror { self.width - 1 - u } else { u }, row))
    }
}

/// What happened in a view this frame that the caller must know about.
pub struct ViewResponse {
    /// The pointer is over this view (it receives keyboard slice stepping).
    pub hovered: bool,
    /// The user double-clicked: maximise or restore this plane.
    pub toggle_maximise: bool,
}

/// Where one view goes and what it shows.
#[derive(Debug, Clone, Copy)]
pub struct Slot {
    pub rect: Rect,
    pub plane: Plane,
    pub modality: Modality,
    /// The label layer overlaid (the shown one when `None`); named in the caption when set.
    pub layer: Option<usize>,
}

/// Draws one view into its slot and handles its mouse input. `generation` identifies the open
/// study, so textures of a previous study are never reused.
pub fn show(
    ui: &mut egui::Ui,
    slot: Slot,
    cache: &mut SliceCache,
    open: &OpenStudy,
    view: &mut ViewState,
    generation: u64,
) -> ViewResponse {
    let Slot {
        rect,
        plane,
        modality,
        ..
    } = slot;
    let response = ui.allocate_rect(rect, Sense::click_and_drag());
    let painter = ui.painter_at(rect);
    painter.rect_filled(rect, 0.0, Color32::BLACK);

    let texture = slice_texture(ui.ctx(), slot, cache, open, view, generation);
    let placement = Placement::new(rect, open, view, plane);
    painter.image(
        texture.id(),
        placement.image,
        Rect::from_min_max(Pos2::ZERO, Pos2::new(1.0, 1.0)),
        Color32::WHITE,
    );

    paint_crosshair(&painter, rect, &placement, open, view, plane);
    paint_annotations(&painter, slot, &placement, open, view);

    handle_input(ui, &response, &placement, open, view, plane, modality)
}

/// The texture of the slot's slice: the cached one while nothing that determines its pixels
/// changed, else freshly composed (and cached).
fn slice_texture(
    ctx: &egui::Context,
    slot: Slot,
    cache: &mut SliceCache,
    open: &OpenStudy,
    view: &ViewState,
    generation: u64,
) -> TextureHandle {
    let Slot {
        plane,
        modality,
        layer,
        ..
    } = slot;
    let key = SliceKey {
        plane,
        index: view.cursor[plane.normal_axis()],
        modality,
        layer: layer.or(open.shown),
        window: view.window[modality.index()],
        overlay: view.overlay,
        radiological: view.radiological,
        generation,
    };
    match &cache.entry {
        Some((cached, texture)) if *cached == key => texture.clone(),
        _ => {
            let image = compose_slice(open, view, plane, modality, layer);
            let texture = ctx.load_texture(
                format!("slice-{plane:?}-{modality:?}"),
                image,
                TextureOptions::NEAREST,
            );
            cache.entry = Some((key, texture.clone()));
            texture
        }
    }
}

/// Draws the crosshair through the cursor across the whole slot.
fn paint_crosshair(
    painter: &egui::Painter,
    rect: Rect,
    placement: &Placement,
    open: &OpenStudy,
    view: &ViewState,
    plane: Plane,
) {
    let (col, row) = open.orientation.ras_to_screen(plane, view.cursor);
    let centre = placement.to_screen(col, row);
    let stroke = Stroke::new(1.0, Color32::from_rgba_unmultiplied(80, 160, 255, 180));
    painter.line_segment(
        [
            Pos2::new(rect.left(), centre.y),
            Pos2::new(rect.right(), centre.y),
        ],
        stroke,
    );
    painter.line_segment(
        [
            Pos2::new(centre.x, rect.top()),
            Pos2::new(centre.x, rect.bottom()),
        ],
        stroke,
    );
}

/// Draws the orientation letters at the slot's edges and the caption (the layer's name when
/// set, the plane's name, slice number and modality) in its top-left corner.
fn paint_annotations(
    painter: &egui::Painter,
    slot: Slot,
    placement: &Placement,
    open: &OpenStudy,
    view: &ViewState,
) {
    let Slot {
        rect,
        plane,
        modality,
        layer,
    } = slot;
    let [mut left, mut right, top, bottom] = Orientation::edge_letters(plane);
    if placement.mirror {
        std::mem::swap(&mut left, &mut right);
    }
    let font = egui::FontId::proportional(16.0);
    let letter = Color32::from_rgb(255, 200, 80);
    let m = 6.0;
    painter.text(
        Pos2::new(rect.left() + m, rect.center().y),
        egui::Align2::LEFT_CENTER,
        left,
        font.clone(),
        letter,
    );
    painter.text(
        Pos2::new(rect.right() - m, rect.center().y),
        egui::Align2::RIGHT_CENTER,
        right,
        font.clone(),
        letter,
    );
    painter.text(
        Pos2::new(rect.center().x, rect.top() + m),
        egui::Align2::CENTER_TOP,
        top,
        font.clone(),
        letter,
    );
    painter.text(
        Pos2::new(rect.center().x, rect.bottom() - m),
        egui::Align2::CENTER_BOTTOM,
        bottom,
        font,
        letter,
    );
    let index = view.cursor[plane.normal_axis()];
    let mut caption = format!(
        "{} {}/{}  {}",
        plane.name(),
        index + 1,
        open.orientation.slice_count(plane),
        modality.name()
    );
    if let Some(l) = layer.and_then(|l| open.layers.get(l)) {
        caption = format!("{}\n{caption}", l.name);
    }
    painter.text(
        rect.left_top() + Vec2::new(m, m),
        egui::Align2::LEFT_TOP,
        caption,
        egui::FontId::proportional(13.0),
        Color32::LIGHT_GRAY,
    );
}

fn handle_input(
    ui: &egui::Ui,
    response: &egui::Response,
    placement: &Placement,
    open: &OpenStudy,
    view: &mut ViewState,
    plane: Plane,
    modality: Modality,
) -> ViewResponse {
    let p = ViewState::plane_index(plane);
    let index = view.cursor[plane.normal_axis()];
    let hover_pos = response.hover_pos();
    view.hover = view.hover.or_else(|| {
        hover_pos
            .and_then(|pos| placement.pixel_at(pos))
            .map(|(c, r)| open.orientation.screen_to_ras(plane, index, c, r))
    });

    // Click or left-drag places the crosshair.
    if response.clicked() || (response.dragged_by(egui::PointerButton::Primary)) {
        if let Some((c, r)) = response
            .interact_pointer_pos()
            .and_then(|pos| placement.pixel_at(pos))
        {
            view.cursor = open.orientation.screen_to_ras(plane, index, c, r);
        }
    }
    // Right-drag: window (horizontal) and level (vertical).
    if response.dragged_by(egui::PointerButton::Secondary) {
        if let Some(window) = view.window[modality.index()] {
            let d = response.drag_delta();
            let width = window.width() * (1.0 + d.x * 0.005).max(0.05);
            let centre = window.centre() - d.y * window.width() * 0.005;
            view.window[modality.index()] = Some(Window::from_centre_width(centre, width));
        }
    }
    // Middle-drag pans.
    if response.dragged_by(egui::PointerButton::Middle) {
        view.pan[p] += response.drag_delta();
    }
    let mut toggle_maximise = false;
    if response.double_clicked() {
        toggle_maximise = true;
    }
    if response.hovered() {
        let (notches, zoom, shift) = ui.input(|i| {
            let notches: f32 = i
                .events
                .iter()
                .filter_map(|e| match e {
                    egui::Event::MouseWheel {
                        delta, modifiers, ..
                    } if !modifiers.command => Some(delta.y.signum()),
                    _ => None,
                })
                .sum();
            (notches, i.zoom_delta(), i.modifiers.shift)
        });
        if (zoom - 1.0).abs() > 1e-3 {
            view.zoom[p] = (view.zoom[p] * zoom).clamp(0.25, 16.0);
        } else if notches != 0.0 {
            let step = if shift { 5 } else { 1 };
            view.step_slice(plane, notches as i64 * step, &open.orientation);
        }
    }
    ViewResponse {
        hovered: response.hovered(),
        toggle_maximise,
    }
}
