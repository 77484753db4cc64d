//! Synthetic BraTS-like cases: FLAIR, T1, T1ce, T2 and a tumour label map on a BraTS grid,
//! generated procedurally from a seed — for tests, demos and quick training without real data.
//!
//! * [`anatomy`]: brain shape, cortex with sulci, ventricles, deep grey matter, cerebellum,
//!   brainstem, CSF — as partial-volume tissue fractions;
//! * [`template`]: or a real brain instead, the ICBM 2009a template's tissue maps;
//! * [`deform`]: the per-case rotation, scaling, shift and smooth warp of the head;
//! * [`tumour`]: 0–2 glioma-like lesions (oedema ⊃ enhancing rim ⊃ necrosis) with mass effect;
//! * [`growth`]: or, on request, 0–3 tumours grown along white matter by front propagation;
//! * [`lesion`]: either kind of lesion, as the voxel loop sees it;
//! * [`physics`]: per-modality contrasts, bias field, Rician noise, intensity scale;
//! * [`randomise`]: domain randomisation, on request — per case and sequence, random tissue
//!   signals, bias, noise, thick slices, blur, gamma, ghosts, int16 or z-scored storage;
//! * [`noise`]: seeded gradient noise and samplers;
//! * `lattice`: trilinear interpolation on a regular grid (the warp table, the template).
//!
//! Every random choice of case `i` comes from one ChaCha8 stream (`seed`, stream `i`), and every
//! voxel is a pure function of that case's parameters and its slice's noise stream, so cases and
//! slices are generated in parallel with byte-identical results for the same seed.

pub mod anatomy;
pub mod deform;
pub mod growth;
mod lattice;
pub mod lesion;
pub mod noise;
pub mod physics;
pub mod randomise;
pub mod template;
pub mod tumour;

pub use crate::data::cases::Split;
use crate::data::cases::{CaseEntry, CaseList, CASES_CSV};
use crate::study::{LabelConvention, Layout, Modality, Study};
use crate::volume::{write_f32, write_i16, write_labels, Affine, DataType, Volume, VolumeError};
use anatomy::{Anatomy, TissueMap, CSF, DEEP_GM, GM, TISSUE_CLASSES, WM};
use deform::Deformation;
use growth::GrownLesion;
use lesion::Lesion;
pub use lesion::TumourModel;
use noise::{ramp, Noise3};
use physics::{Acquisition, Contrast, FLAIR, MODALITIES};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use randomise::Randomisation;
use rayon::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use template::{TemplateAnatomy, TemplateBrain, TemplateError};
use tumour::{EllipsoidLesion, LesionDepths};

/// Width (mm) over which oedema fades in on T1, T1ce and T2; FLAIR shows it with a sharp edge.
const EDEMA_SOFT_WIDTH: f32 = 7.0;

/// Grid of the generated cases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PhantomSize {
    /// 96×96×64 voxels of 2.5 mm: the same field of view as BraTS, for tests and quick runs.
    Small,
    /// 240×240×155 voxels of 1 mm, as BraTS.
    #[default]
    Brats,
}

impl PhantomSize {
    pub fn shape(self) -> [usize; 3] {
        match self {
            PhantomSize::Small => [96, 96, 64],
            PhantomSize::Brats => [240, 240, 155],
        }
    }

    /// Voxel sizes in mm.
    pub fn voxel_size(self) -> [f64; 3] {
        match self {
            PhantomSize::Small => [2.5, 2.5, 2.5],
            PhantomSize::Brats => [1.0, 1.0, 1.0],
        }
    }

    /// The voxel→world affine: LPS storage as in BraTS (x and y axes negated), the grid centred
    /// on world 0.
    pub fn affine(self) -> Affine {
        let shape = self.shape();
        let size = self.voxel_size();
        let half = |axis: usize| size[axis] * (shape[axis] as f64 - 1.0) / 2.0;
        Affine([
            [-size[0], 0.0, 0.0, half(0)],
            [0.0, -size[1], 0.0, half(1)],
            [0.0, 0.0, size[2], -half(2)],
            [0.0, 0.0, 0.0, 1.0],
        ])
    }
}

/// Where a phantom's normal anatomy comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AnatomySource {
    /// Built from shapes and noise, different in every case ([`anatomy`]).
    #[default]
    Procedural,
    /// The ICBM 2009a template's real brain ([`template`]), placed and warped per case.
    Template,
}

/// What to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PhantomConfig {
    pub size: PhantomSize,
    pub convention: LabelConvention,
    /// Domain randomisation ([`randomise`]): every case its own scanner and protocol.
    pub randomise: bool,
    pub anatomy: AnatomySource,
    pub tumours: TumourModel,
}

impl Default for PhantomConfig {
    fn default() -> Self {
        PhantomConfig {
            size: PhantomSize::Brats,
            convention: LabelConvention::Brats2021,
            randomise: false,
            anatomy: AnatomySource::Procedural,
            tumours: TumourModel::Ellipsoid,
        }
    }
}

/// Dominant normal tissue of a voxel, kept with each case for tests and analysis (not written).
pub mod tissue_label {
    /// Background, a mixed voxel (no class ≥ 90 %), or anything touched by tumour.
    pub const OTHER: u8 = 0;
    pub const CSF: u8 = 1;
    pub const GM: u8 = 2;
    pub const WM: u8 = 3;
    pub const DEEP_GM: u8 = 4;
}

/// One generated case in memory, on its grid.
#[derive(Debug, Clone)]
pub struct PhantomCase {
    /// `Phantom_00001`, …
    pub name: String,
    /// `[nx, ny, nz]`, on-disk order (`i` fastest).
    pub shape: [usize; 3],
    pub affine: Affine,
    /// Stored values per modality, in [`Modality::ALL`] order: integers, or z-scored floats
    /// when `stored_as` is f32.
    pub modalities: [Vec<f32>; MODALITIES],
    /// How the sequences are stored: int16 as BraTS, or float32 (randomised z-scored cases).
    pub stored_as: DataType,
    /// Tumour labels in the chosen convention.
    pub labels: Vec<u8>,
    /// Dominant normal tissue per voxel ([`tissue_label`]).
    pub tissue: Vec<u8>,
    pub convention: LabelConvention,
    /// Number of lesions placed.
    pub lesions: usize,
}

/// Errors of writing a phantom data set.
#[derive(Debug, thiserror::Error)]
pub enum PhantomError {
    #[error(transparent)]
    Volume(#[from] VolumeError),
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error("{path}: cannot write: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl PhantomCase {
    /// A volume with this case's geometry and no voxels (for writing "like" it).
    pub fn geometry(&self) -> Volume {
        Volume::in_memory(self.shape, self.affine, Vec::new())
    }

    /// One modality as a volume (stored as `stored_as`).
    pub fn volume(&self, m: Modality) -> Volume {
        Volume {
            data: self.modalities[m.index()].clone(),
            datatype: self.stored_as,
            ..self.geometry()
        }
    }

    /// The label map as a volume (values stored as f32, datatype u8).
    pub fn label_volume(&self) -> Volume {
        Volume {
            data: self.labels.iter().map(|&l| f32::from(l)).collect(),
            datatype: DataType::U8,
            ..self.geometry()
        }
    }

    /// The file layout it is written in: BraTS 2023 names for BraTS 2023 labels, else
    /// BraTS 2018–2021 names.
    pub fn layout(&self) -> Layout {
        match self.convention {
            LabelConvention::Brats2023 => Layout::Brats2023,
            _ => Layout::Brats2018,
        }
    }

    /// The case as a study in memory (all four modalities and the labels).
    pub fn study(&self) -> Study {
        Study {
            name: self.name.clone(),
            modalities: Modality::ALL.map(|m| Some(self.volume(m))),
            labels: Some(self.label_volume()),
            convention: self.convention,
            layout: self.layout(),
        }
    }

    /// Writes `<dir>/<name>_{flair,t1,t1ce,t2,seg}.nii.gz` (BraTS 2023 labels:
    /// `<name>-{t2f,t1n,t1c,t2w,seg}.nii.gz`; the folder is created): the MRI as int16, the
    /// labels as uint8, all with the same LPS sform/qform.
    pub fn write(&self, dir: &Path) -> Result<(), PhantomError> {
        std::fs::create_dir_all(dir).map_err(|source| PhantomError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        let like = self.geometry();
        for m in Modality::ALL {
            let path = dir.join(self.layout().file_name(&self.name, Some(m)));
            let data = &self.modalities[m.index()];
            if self.stored_as == DataType::F32 {
                write_f32(&path, data, &like)?;
            } else {
                write_i16(&path, data, &like)?;
            }
        }
        write_labels(
            &dir.join(self.layout().file_name(&self.name, None)),
            &self.labels,
            &like,
        )?;
        Ok(())
    }
}

/// The name of case `index` (0-based): `Phantom_00001` for index 0.
pub fn case_name(index: usize) -> String {
    format!("Phantom_{:05}", index + 1)
}

/// Mixed into the seed for the randomisation's own streams.
const RANDOMISATION_STREAM: u64 = 0x5EED_D0A1_0000_0001;

/// The random stream of case `index` of a data set generated with `seed`.
fn case_rng(seed: u64, index: usize) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(index as u64);
    rng
}

/// Everything random about one case, drawn before any voxel is computed.
struct CaseModel {
    deformation: Deformation,
    anatomy: Arc<dyn TissueMap>,
    contrast: Contrast,
    acquisition: Acquisition,
    lesions: Vec<Lesion>,
    texture: Noise3,
    noise_seed: u64,
    voxel: f32,
    et_value: u8,
}

impl CaseModel {
    /// `template`: the real anatomy to use, or `None` for a procedural one drawn here.
    fn draw(
        rng: &mut ChaCha8Rng,
        config: &PhantomConfig,
        template: Option<Arc<TemplateAnatomy>>,
    ) -> CaseModel {
        let voxel = config.size.voxel_size()[0] as f32;
        let deformation = Deformation::random(rng);
        let anatomy: Arc<dyn TissueMap> = match template {
            Some(template) => Arc::new(TemplateBrain::new(template, Noise3::from_rng(rng))),
            None => Arc::new(Anatomy::random(rng)),
        };
        let contrast = Contrast::jittered(rng, 0.05);
        let acquisition = Acquisition::random(rng);
        let lesions = match config.tumours {
            TumourModel::Ellipsoid => ellipsoid_lesions(rng, anatomy.as_ref(), voxel),
            TumourModel::Grown => grown_lesions(rng, anatomy.as_ref(), voxel),
        };
        CaseModel {
            deformation,
            anatomy,
            contrast,
            acquisition,
            lesions,
            texture: Noise3::from_rng(rng),
            noise_seed: rng.random(),
            voxel,
            et_value: config.convention.et_value(),
        }
    }
}

/// 0–2 ellipsoid lesions: none in 10 % of cases, two in 30 %; the first 8–20 mm, a second
/// 5–12 mm.
fn ellipsoid_lesions(rng: &mut ChaCha8Rng, anatomy: &dyn TissueMap, voxel: f32) -> Vec<Lesion> {
    let count = match rng.random_range(0.0..1.0) {
        u if u < 0.1 => 0,
        u if u < 0.7 => 1,
        _ => 2,
    };
    (0..count)
        .map(|n| {
            let size = if n == 0 {
                rng.random_range(8.0..20.0)
            } else {
                rng.random_range(5.0..12.0)
            };
            Lesion::Ellipsoid(EllipsoidLesion::sample(rng, anatomy, size, voxel))
        })
        .collect()
}

/// 0–3 grown tumours: none in 10 % of cases, one in 50 %, two in 25 %, three (multifocal) in
/// 15 %; the first with a core of 6–28 mm equivalent radius drawn log-uniformly (small ones
/// as often as large ones per octave), further ones 4–12 mm.
fn grown_lesions(rng: &mut ChaCha8Rng, anatomy: &dyn TissueMap, voxel: f32) -> Vec<Lesion> {
    let count = match rng.random_range(0.0..1.0) {
        u if u < 0.1 => 0,
        u if u < 0.6 => 1,
        u if u < 0.85 => 2,
        _ => 3,
    };
    (0..count)
        .map(|n| {
            let size = if n == 0 {
                rng.random_range(6f32.ln()..28f32.ln()).exp()
            } else {
                rng.random_range(4.0..12.0)
            };
            Lesion::Grown(GrownLesion::sample(rng, anatomy, size, voxel))
        })
        .collect()
}

/// Generates case `index` (0-based) of the data set with `seed`. Fails only when the
/// template anatomy is asked for and cannot be read.
pub fn generate_case(
    seed: u64,
    index: usize,
    config: &PhantomConfig,
) -> Result<PhantomCase, PhantomError> {
    let template = match config.anatomy {
        AnatomySource::Procedural => None,
        AnatomySource::Template => Some(TemplateAnatomy::bundled()?),
    };
    let mut rng = case_rng(seed, index);
    let mut model = CaseModel::draw(&mut rng, config, template);
    // Randomisation draws from a stream of its own, so the other draws stay as they were.
    let post = config.randomise.then(|| {
        let mut own = case_rng(seed ^ RANDOMISATION_STREAM, index);
        let (contrast, acquisition, post) = Randomisation::draw(&mut own);
        model.contrast = contrast;
        model.acquisition = acquisition;
        post
    });
    let shape = config.size.shape();
    let affine = config.size.affine();
    let [nx, ny, nz] = shape;
    let n = nx * ny * nz;
    let plane = nx * ny;
    let mut modalities: [Vec<f32>; MODALITIES] = std::array::from_fn(|_| vec![0.0; n]);
    let mut labels = vec![0u8; n];
    let mut tissue = vec![0u8; n];
    {
        let [flair, t1, t1ce, t2] = &mut modalities;
        flair
            .par_chunks_mut(plane)
            .zip(t1.par_chunks_mut(plane))
            .zip(t1ce.par_chunks_mut(plane))
            .zip(t2.par_chunks_mut(plane))
            .zip(labels.par_chunks_mut(plane))
            .zip(tissue.par_chunks_mut(plane))
            .enumerate()
            .for_each(|(k, (((((a, b), c), d), labels), tissue))| {
                let out = SliceOut {
                    modalities: [a, b, c, d],
                    labels,
                    tissue,
                };
                fill_slice(&model, &affine, [nx, ny], k, out);
            });
    }
    let mut stored_as = DataType::I16;
    if let Some(post) = post {
        let brain: Vec<bool> = (0..n)
            .map(|i| modalities.iter().any(|m| m[i] != 0.0))
            .collect();
        modalities.par_iter_mut().enumerate().for_each(|(m, data)| {
            post.apply(m, data, shape, model.voxel, &brain);
        });
        if post.z_scored {
            stored_as = DataType::F32;
        }
    }
    Ok(PhantomCase {
        name: case_name(index),
        shape,
        affine,
        modalities,
        stored_as,
        labels,
        tissue,
        convention: config.convention,
        lesions: model.lesions.len(),
    })
}

/// The output buffers of one slice.
struct SliceOut<'a> {
    modalities: [&'a mut [f32]; MODALITIES],
    labels: &'a mut [u8],
    tissue: &'a mut [u8],
}

fn fill_slice(
    model: &CaseModel,
    affine: &Affine,
    [nx, ny]: [usize; 2],
    k: usize,
    mut out: SliceOut,
) {
    let mut rng = ChaCha8Rng::seed_from_u64(model.noise_seed);
    rng.set_stream(k as u64);
    let m = affine.0;
    let origin = affine.apply([0.0, 0.0, k as f64]);
    for j in 0..ny {
        for i in 0..nx {
            let world =
                [0, 1, 2].map(|r| (origin[r] + m[r][0] * i as f64 + m[r][1] * j as f64) as f32);
            let index = i + nx * j;
            if let Some(v) = voxel(model, world, &mut rng) {
                for (channel, value) in out.modalities.iter_mut().zip(v.values) {
                    channel[index] = value;
                }
                out.labels[index] = v.label;
                out.tissue[index] = v.tissue;
            }
        }
    }
}

struct VoxelOut {
    values: [f32; MODALITIES],
    label: u8,
    tissue: u8,
}

/// Computes one voxel at world point `world`; `None` for background.
fn voxel(model: &CaseModel, world: [f32; 3], rng: &mut ChaCha8Rng) -> Option<VoxelOut> {
    let unwarped = model.deformation.affine_to_head(world);
    // Cheap rejection well outside the head (warp and mass effect move points by a few mm).
    if !model.anatomy.may_contain(unwarped, 12.0) {
        return None;
    }
    let head = model.deformation.warp(unwarped);
    let mut source = head;
    let mut depths = LesionDepths::OUTSIDE;
    let mut texture_lesion = None;
    for lesion in &model.lesions {
        source = lesion.displace(source);
        let d = lesion.depths(head);
        if d.edema > -20.0 || d.margin > -20.0 {
            texture_lesion.get_or_insert(lesion);
        }
        depths = depths.union(d);
    }
    let voxel = model.voxel;
    let anatomy = model.anatomy.tissue(source, voxel);
    let mask = anatomy.mask();
    if mask <= 0.0 {
        return None;
    }
    let f = anatomy.fractions;

    // Tumour compartments (fractions of the voxel). Labels follow the sharp fractions; FLAIR
    // shows the sharp oedema, the other sequences a softened one.
    let inside = ramp(mask - 0.5, 1.0).min(1.0);
    let core = ramp(depths.core, voxel) * inside;
    let necrosis = ramp(depths.necrosis, voxel) * inside;
    let margin_sharp = ramp(depths.margin, voxel);
    let margin_soft = ramp(depths.margin, EDEMA_SOFT_WIDTH);
    let fingers_sharp = ramp(depths.edema, voxel);
    let fingers_soft = ramp(depths.edema, EDEMA_SOFT_WIDTH);
    // Oedema takes over white and deep grey matter; beyond the margin around the core it
    // spares the cortex and never fills CSF (so FLAIR brightness and the label agree).
    let susceptibility = [0.0, 0.0, 1.0, 1.0, 0.0, 0.0];
    let (mut edema_sharp, mut edema_soft) = (0.0f32, 0.0f32);
    for (fraction, s) in f.iter().zip(susceptibility) {
        edema_sharp += fraction * margin_sharp.max(fingers_sharp * s);
        edema_soft += fraction * margin_soft.max(fingers_soft * s);
    }
    let edema_sharp = edema_sharp * (1.0 - core);
    let edema_soft = edema_soft * (1.0 - core);

    let et = model.et_value;
    let label = if inside <= 0.0 {
        0
    } else if core >= 0.5 {
        if necrosis >= 0.5 {
            1
        } else {
            et
        }
    } else if edema_sharp >= 0.5 * mask {
        2
    } else {
        0
    };
    let touched = core > 0.0 || edema_soft > 0.01;
    let tissue = if touched {
        tissue_label::OTHER
    } else {
        dominant_tissue(&f)
    };

    let contrast = &model.contrast;
    let texture = 1.0 + 0.035 * model.texture.fbm(source.map(|v| v / 5.0), 2);
    let tumour_texture = texture_lesion.map_or(1.0, |l| {
        1.0 + 0.09 * l.texture().fbm(head.map(|v| v / 3.5), 2)
    });
    let rim = (core - necrosis).max(0.0);
    let mut values = [0.0f32; MODALITIES];
    for (mo, value) in values.iter_mut().enumerate() {
        let edema = if mo == FLAIR { edema_sharp } else { edema_soft };
        let normal_share = if mask > 0.0 {
            ((mask - core - edema) / mask).max(0.0)
        } else {
            0.0
        };
        let mut s = 0.0;
        for (fraction, signal) in f.iter().zip(&contrast.tissue) {
            s += fraction * signal[mo];
        }
        s *= normal_share * texture;
        s += tumour_texture
            * (edema * contrast.edema[mo]
                + rim * contrast.rim[mo]
                + necrosis * contrast.necrosis[mo] * tumour_texture);
        let biased = s * model.acquisition.bias(mo, world);
        *value = model.acquisition.store(mo, biased, rng);
    }
    Some(VoxelOut {
        values,
        label,
        tissue,
    })
}

/// The class holding at least 90 % of a voxel, as a [`tissue_label`].
fn dominant_tissue(f: &[f32; TISSUE_CLASSES]) -> u8 {
    let classes = [
        (CSF, tissue_label::CSF),
        (GM, tissue_label::GM),
        (WM, tissue_label::WM),
        (DEEP_GM, tissue_label::DEEP_GM),
    ];
    classes
        .iter()
        .find(|(c, _)| f[*c] >= 0.9)
        .map_or(tissue_label::OTHER, |(_, l)| *l)
}

/// A deterministic 70/15/15 split of `n` cases drawn from `seed`: at least one validation and
/// one test case when `n ≥ 3` (unlike plain rounding, which leaves small sets without either);
/// with two cases one is for validation; one case trains.
pub fn assign_splits(n: usize, seed: u64) -> Vec<Split> {
    let held_out = match n {
        0 | 1 => 0,
        2 => 1,
        _ => ((n as f64 * 0.15).round() as usize).max(1),
    };
    let tests = if n >= 3 { held_out } else { 0 };
    let mut order: Vec<usize> = (0..n).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(u64::MAX);
    order.shuffle(&mut rng);
    let mut splits = vec![Split::Train; n];
    for (rank, &case) in order.iter().enumerate() {
        if rank < held_out {
            splits[case] = Split::Val;
        } else if rank < held_out + tests {
            splits[case] = Split::Test;
        }
    }
    splits
}

/// Summary of one written case.
#[derive(Debug, Clone)]
pub struct WrittenCase {
    pub name: String,
    pub split: Split,
    pub lesions: usize,
    pub dir: PathBuf,
}

/// Generates and writes `cases` cases under `out` (one folder each) plus `out/cases.csv`,
/// cases in parallel; `progress` is called once per finished case.
pub fn write_dataset(
    out: &Path,
    cases: usize,
    seed: u64,
    config: &PhantomConfig,
    progress: &(dyn Fn(&WrittenCase) + Sync),
) -> Result<Vec<WrittenCase>, PhantomError> {
    std::fs::create_dir_all(out).map_err(|source| PhantomError::Io {
        path: out.to_path_buf(),
        source,
    })?;
    let splits = assign_splits(cases, seed);
    let written = (0..cases)
        .into_par_iter()
        .map(|index| {
            let case = generate_case(seed, index, config)?;
            let dir = out.join(&case.name);
            case.write(&dir)?;
            let info = WrittenCase {
                name: case.name.clone(),
                split: splits[index],
                lesions: case.lesions,
                dir,
            };
            progress(&info);
            Ok(info)
        })
        .collect::<Result<Vec<_>, PhantomError>>()?;
    let list = CaseList {
        root: out.to_path_buf(),
        cases: written
            .iter()
            .map(|c| CaseEntry {
                name: c.name.clone(),
                dir: c.dir.clone(),
                split: c.split,
            })
            .collect(),
    };
    let csv_path = out.join(CASES_CSV);
    std::fs::write(&csv_path, list.to_csv()).map_err(|source| PhantomError::Io {
        path: csv_path,
        source,
    })?;
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_are_deterministic_and_cover_every_part() {
        for n in 3..40 {
            let s = assign_splits(n, 11);
            assert_eq!(s, assign_splits(n, 11));
            assert!(s.contains(&Split::Val) && s.contains(&Split::Test), "{n}");
            let train = s.iter().filter(|x| **x == Split::Train).count();
            assert!(
                train >= 1 && (n < 10 || train * 10 >= n * 6),
                "{n}: {train}"
            );
        }
        assert_eq!(assign_splits(1, 0), vec![Split::Train]);
        assert_ne!(assign_splits(20, 1), assign_splits(20, 2));
    }

    #[test]
    fn affine_is_lps_and_centred() {
        for size in [PhantomSize::Small, PhantomSize::Brats] {
            let a = size.affine();
            assert_eq!(crate::volume::axcodes(&a), ['L', 'P', 'S']);
            let s = size.shape();
            let c = a.apply([
                (s[0] as f64 - 1.0) / 2.0,
                (s[1] as f64 - 1.0) / 2.0,
                (s[2] as f64 - 1.0) / 2.0,
            ]);
            assert!(c.iter().all(|v| v.abs() < 1e-9), "{c:?}");
        }
    }
}
