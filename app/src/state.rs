//! The viewer's state as plain data: the open study prepared for display, and how it is being
//! looked at (crosshair, layout, displayed modality, window/level, overlay settings).
//! Rendering code reads this; input handlers change it; nothing here draws.

use engine::study::{Availability, LabelConvention, Modality, Region, Study, TumourTissue};
use engine::volume::{Orientation, Plane};
use std::sync::Arc;

/// A loaded study plus what display needs precomputed once.
pub struct OpenStudy {
    /// Shared with background segmentations.
    pub study: Arc<Study>,
    pub orientation: Orientation,
    /// Label maps: the study's own (first, "Ground truth") and segmentations made in the app.
    pub layers: Vec<LabelLayer>,
    /// The layer drawn as the overlay.
    pub shown: Option<usize>,
    /// Automatic window (0.5–99.5 percentile) per modality.
    pub auto_window: [Option<Window>; 4],
    pub voxel_ml: f64,
    /// The reference volume's background value: 0, or the constant of inputs that were
    /// z-scored with their background (`engine::volume::background_value`).
    pub background: f32,
}

/// One label map on the study's grid, with its legend counts.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelLayer {
    /// "Ground truth", or the modalities a segmentation used ("FLAIR+T1ce").
    pub name: String,
    /// Label values as bytes, on-disk order, for fast overlay composition.
    pub labels: Vec<u8>,
    /// Voxel counts per label class, for the legend.
    pub class_counts: [u64; 3],
    /// Voxel counts per region (WT, TC, ET), for the legend.
    pub region_counts: [u64; 3],
}

impl LabelLayer {
    pub fn new(name: String, labels: Vec<u8>, convention: LabelConvention) -> LabelLayer {
        let mut class_counts = [0u64; 3];
        let mut region_counts = [0u64; 3];
        for v in &labels {
            if let Some(class) = TumourClass::of_label(*v, convention) {
                class_counts[class.index()] += 1;
            }
            for (i, region) in Region::ALL.into_iter().enumerate() {
                region_counts[i] += u64::from(convention.in_region(*v, region));
            }
        }
        LabelLayer {
            name,
            labels,
            class_counts,
            region_counts,
        }
    }
}

/// Colours of the regions (WT, TC, ET) in charts and plots.
pub const REGION_COLOURS: [egui::Color32; 3] = [
    egui::Color32::from_rgb(60, 200, 90),
    egui::Color32::from_rgb(230, 70, 60),
    egui::Color32::from_rgb(240, 210, 40),
];

/// Grey-level window: values at `low` map to black and at `high` to white.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Window {
    pub low: f32,
    pub high: f32,
}

impl Window {
    pub fn centre(self) -> f32 {
        0.5 * (self.low + self.high)
    }

    pub fn width(self) -> f32 {
        self.high - self.low
    }

    pub fn from_centre_width(centre: f32, width: f32) -> Window {
        let width = width.max(1e-6);
        Window {
            low: centre - 0.5 * width,
            high: centre + 0.5 * width,
        }
    }
}

/// Tumour classes in legend order, coloured by meaning whatever the label convention.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TumourClass {
    Necrosis,
    Edema,
    Enhancing,
}

impl TumourClass {
    pub const ALL: [TumourClass; 3] = [
        TumourClass::Necrosis,
        TumourClass::Edema,
        TumourClass::Enhancing,
    ];

    pub fn of_label(value: u8, convention: LabelConvention) -> Option<TumourClass> {
        convention.tissue_of(value).map(|t| match t {
            TumourTissue::Ncr => TumourClass::Necrosis,
            TumourTissue::Ed => TumourClass::Edema,
            TumourTissue::Et => TumourClass::Enhancing,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            TumourClass::Necrosis => "Necrosis (NCR)",
            TumourClass::Edema => "Edema (ED)",
            TumourClass::Enhancing => "Enhancing (ET)",
        }
    }

    /// ITK-SNAP's colours for BraTS 2021: NCR red, ED green, ET yellow.
    pub fn rgb(self) -> [u8; 3] {
        match self {
            TumourClass::Necrosis => [255, 0, 0],
            TumourClass::Edema => [0, 255, 0],
            TumourClass::Enhancing => [255, 255, 0],
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

/// How the views are arranged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// Axial, coronal and sagittal side by side.
    ThreePlanes,
    /// One plane filling the view area.
    Single(Plane),
    /// The four modalities in the focused plane, 2×2.
    ModalityGrid(Plane),
    /// The compared segmentations side by side in the focused plane.
    CompareGrid(Plane),
}

/// Label-map overlay settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Overlay {
    pub visible: bool,
    pub opacity: f32,
    pub outline: bool,
    pub class_visible: [bool; 3],
    /// When set, views show where two layers agree and differ instead of tumour classes.
    pub difference: Option<Difference>,
}

/// A TP/FP/FN overlay of one region: `predicted` against `reference` (layer indices).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Difference {
    pub predicted: usize,
    pub reference: usize,
    pub region: Region,
}

/// How a voxel of a difference overlay scores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Agreement {
    TruePositive,
    FalsePositive,
    FalseNegative,
}

impl Agreement {
    pub const ALL: [Agreement; 3] = [
        Agreement::TruePositive,
        Agreement::FalsePositive,
        Agreement::FalseNegative,
    ];

    /// `None` for a true negative.
    pub fn of(predicted: bool, reference: bool) -> Option<Agreement> {
        match (predicted, reference) {
            (true, true) => Some(Agreement::TruePositive),
            (true, false) => Some(Agreement::FalsePositive),
            (false, true) => Some(Agreement::FalseNegative),
            (false, false) => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Agreement::TruePositive => "Agree (true positive)",
            Agreement::FalsePositive => "Extra (false positive)",
            Agreement::FalseNegative => "Missed (false negative)",
        }
    }

    /// Colours chosen apart from the class colours: white, magenta, cyan.
    pub fn rgb(self) -> [u8; 3] {
        match self {
            Agreement::TruePositive => [255, 255, 255],
            Agreement::FalsePositive => [255, 0, 255],
            Agreement::FalseNegative => [0, 200, 255],
        }
    }
}

impl Default for Overlay {
    fn default() -> Self {
        Overlay {
            visible: true,
            opacity: 0.5,
            outline: false,
            class_visible: [true; 3],
            difference: None,
        }
    }
}

/// Everything about how the study is being looked at.
pub struct ViewState {
    /// Crosshair position in the RAS display grid.
    pub cursor: [usize; 3],
    pub layout: Layout,
    pub displayed: Modality,
    /// Current window per modality (starts at the automatic one).
    pub window: [Option<Window>; 4],
    pub overlay: Overlay,
    /// Patient right on screen left (the default, as in ITK-SNAP, Slicer and FSLeyes).
    pub radiological: bool,
    /// Zoom factor and pan offset (points) per plane.
    pub zoom: [f32; 3],
    pub pan: [egui::Vec2; 3],
    /// Modalities the user has dropped (unchecked) for segmentation.
    pub dropped: Availability,
    /// Voxel under the mouse, if any (display grid).
    pub hover: Option<[usize; 3]>,
}

impl ViewState {
    pub fn for_study(open: &OpenStudy) -> ViewState {
        let shape = open.orientation.ras_shape();
        let present = open.study.available();
        let displayed = if present.contains(Modality::T1ce) {
            Modality::T1ce
        } else {
            present.modalities().next().unwrap_or(Modality::Flair)
        };
        ViewState {
            cursor: open
                .tumour_centre()
                .unwrap_or([shape[0] / 2, shape[1] / 2, shape[2] / 2]),
            layout: Layout::ThreePlanes,
            displayed,
            window: open.auto_window,
            overlay: Overlay::default(),
            radiological: true,
            zoom: [1.0; 3],
            pan: [egui::Vec2::ZERO; 3],
            dropped: Availability::NONE,
            hover: None,
        }
    }

    /// Moves the crosshair `steps` slices along the plane's normal, clamped to the grid.
    pub fn step_slice(&mut self, plane: Plane, steps: i64, orientation: &Orientation) {
        let axis = plane.normal_axis();
        let count = orientation.slice_count(plane) as i64;
        self.cursor[axis] = (self.cursor[axis] as i64 + steps).clamp(0, count - 1) as usize;
    }

    pub fn plane_index(plane: Plane) -> usize {
        match plane {
            Plane::Axial => 0,
            Plane::Coronal => 1,
            Plane::Sagittal => 2,
        }
    }
}

impl OpenStudy {
    /// Prepares a study for display: orientation, label bytes, automatic windows, class counts.
    pub fn new(study: Study) -> OpenStudy {
        let reference = study.reference();
        let orientation = reference.orientation();
        let voxel_ml = reference.voxel_volume_ml();
        let background = engine::volume::background_value(&reference.data, reference.shape);
        let layers: Vec<LabelLayer> = study
            .labels
            .as_ref()
            .map(|l| {
                let bytes = l
                    .frame(0)
                    .iter()
                    .map(|v| engine::study::label_value(*v).unwrap_or(0))
                    .collect();
                LabelLayer::new("Ground truth".into(), bytes, study.convention)
            })
            .into_iter()
            .collect();
        // One thread per modality: the percentile selection is the slow part of opening.
        let auto_window = std::thread::scope(|scope| {
            let jobs = Modality::ALL.map(|m| {
                let volume = study.modality(m);
                scope.spawn(move || volume.and_then(|v| auto_window(v.frame(0))))
            });
            jobs.map(|job| job.join().unwrap_or(None))
        });
        OpenStudy {
            study: Arc::new(study),
            orientation,
            shown: (!layers.is_empty()).then_some(0),
            layers,
            auto_window,
            voxel_ml,
            background,
        }
    }

    /// The label map drawn as the overlay, if any.
    pub fn overlay(&self) -> Option<&LabelLayer> {
        self.layers.get(self.shown?)
    }

    /// Adds a label map (a segmentation) and shows it.
    pub fn add_layer(&mut self, layer: LabelLayer) {
        self.layers.push(layer);
        self.shown = Some(self.layers.len() - 1);
    }

    /// Adds a segmentation called `name` (numbered "name (2)", … when the name is taken),
    /// shows it and returns its index.
    pub fn add_segmentation(&mut self, name: String, labels: Vec<u8>) -> usize {
        let taken = self
            .layers
            .iter()
            .filter(|l| l.name == name || l.name.starts_with(&format!("{name} (")))
            .count();
        let name = if taken == 0 {
            name
        } else {
            format!("{name} ({})", taken + 1)
        };
        self.add_layer(LabelLayer::new(name, labels, self.study.convention));
        self.layers.len() - 1
    }

    /// Display-grid position of the tumour's centre of mass, if the study has labels.
    pub fn tumour_centre(&self) -> Option<[usize; 3]> {
        let labels = &self.overlay()?.labels;
        let [nx, ny, _] = self.orientation.disk_shape;
        let (mut sum, mut n) = ([0f64; 3], 0f64);
        for (index, v) in labels.iter().enumerate() {
            if *v > 0 {
                sum[0] += (index % nx) as f64;
                sum[1] += ((index / nx) % ny) as f64;
                sum[2] += (index / (nx * ny)) as f64;
                n += 1.0;
            }
        }
        (n > 0.0).then(|| {
            self.orientation
                .to_ras(sum.map(|s| (s / n).round() as usize))
        })
    }
}

/// The automatic window: 0.5 and 99.5 percentiles of the non-NaN voxels.
pub fn auto_window(data: &[f32]) -> Option<Window> {
    let (low, high) = engine::volume::percentile_range(data, 0.005, 0.995)?;
    Some(if high > low {
        Window { low, high }
    } else {
        Window {
            low,
            high: low + 1.0,
        }
    })
}
