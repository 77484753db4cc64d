//! Real anatomy for the phantoms: the tissue maps of the ICBM 2009a nonlinear symmetric
//! template (`assets/anatomy/`, made by `tools/anatomy/make_template.py`; copyright notice in
//! `assets/anatomy/README.md`), read once and sampled in the head frame, which is MNI
//! millimetres. The per-case placement and smooth warp ([`super::deform`]), the tumours and
//! the sequences are the same as for the procedural anatomy.
//!
//! The asset is one uint8 NIfTI on a 1 mm RAS grid with six frames: CSF, cortical grey matter,
//! white matter and deep grey matter fractions (×255), then the depth below the cerebrum's hull
//! and the depth inside the ventricles (mm, stored as `(depth + 40) × 2`). It has no choroid
//! plexus and no vessels: each case's [`TemplateBrain`] runs its own enhancing vessels through
//! the template's CSF, as the procedural anatomy does.

use super::anatomy::{run_vessels, Tissue, TissueMap, CSF, DEEP_GM, GM, TISSUE_CLASSES, WM};
use super::lattice::trilinear_corners;
use super::noise::Noise3;
use crate::volume::{DataType, Volume, VolumeError};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Frames of the asset, in order.
const FRACTION_FRAMES: [usize; 4] = [CSF, GM, WM, DEEP_GM];
const CEREBRUM_DEPTH_FRAME: usize = 4;
const VENTRICLE_DEPTH_FRAME: usize = 5;
const FRAMES: usize = 6;
/// Where the template sits in the head frame: head point `p` shows the template at MNI point
/// `p + PLACEMENT_MM`. With the per-case placement of [`super::deform`], MNI coordinates
/// themselves put the brain about 15 mm too far forward and 14 mm too high in the BraTS grid
/// against the brain extents of the real training cases of `tools/real-data` (their brainstem
/// is cut by the grid's bottom, the top of the head stays inside); this moves it there
/// (docs/measurements/template-placement-2026-12-07).
const PLACEMENT_MM: [f32; 3] = [0.0, 15.0, 14.0];
/// Depth decoding: `stored / DEPTH_SCALE − DEPTH_OFFSET` mm.
const DEPTH_OFFSET: f32 = 40.0;
const DEPTH_SCALE: f32 = 2.0;

/// Why the template cannot be used. Each names the file and what to do.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("{path}: the anatomy template is missing; it ships in the repository's assets/anatomy folder (restore it with `git checkout -- assets/anatomy`, or remake it with tools/anatomy/make_template.py), or generate with --anatomy procedural")]
    Missing { path: PathBuf },
    #[error("{0}; remake the anatomy template with tools/anatomy/make_template.py")]
    Unreadable(VolumeError),
    #[error(
        "{path}: not the anatomy template: {reason}; remake it with tools/anatomy/make_template.py"
    )]
    Invalid { path: PathBuf, reason: String },
}

/// The template's tissue maps, decoded.
#[derive(Debug)]
pub struct TemplateAnatomy {
    shape: [usize; 3],
    /// Head-frame position (mm) of voxel `[0, 0, 0]`; voxels are 1 mm along +x, +y, +z.
    origin: [f32; 3],
    /// Frame-major, `i` fastest, as stored (values 0–255).
    frames: Vec<u8>,
}

/// Where the bundled template lies.
pub fn bundled_template_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/anatomy/icbm152_2009a_sym_tissues.nii.gz")
}

impl TemplateAnatomy {
    /// Reads and checks the template at `path`.
    pub fn read(path: &Path) -> Result<TemplateAnatomy, TemplateError> {
        if !path.exists() {
            return Err(TemplateError::Missing {
                path: path.to_path_buf(),
            });
        }
        let volume = Volume::read(path).map_err(TemplateError::Unreadable)?;
        let invalid = |reason: String| TemplateError::Invalid {
            path: path.to_path_buf(),
            reason,
        };
        if volume.frames != FRAMES || volume.datatype != DataType::U8 {
            return Err(invalid(format!(
                "{} frame(s) of {}, expected {FRAMES} frames of uint8",
                volume.frames,
                volume.datatype.name()
            )));
        }
        let m = volume.affine.0;
        let unit_ras =
            (0..3).all(|r| (0..3).all(|c| (m[r][c] - if r == c { 1.0 } else { 0.0 }).abs() < 1e-4));
        if !unit_ras {
            return Err(invalid("its grid is not 1 mm along R, A, S".to_string()));
        }
        Ok(TemplateAnatomy {
            shape: volume.shape,
            origin: [m[0][3] as f32, m[1][3] as f32, m[2][3] as f32],
            frames: volume
                .data
                .iter()
                .map(|v| v.clamp(0.0, 255.0) as u8)
                .collect(),
        })
    }

    /// The bundled template, read once per process (a failed read is tried again next time).
    pub fn bundled() -> Result<Arc<TemplateAnatomy>, TemplateError> {
        static LOADED: Mutex<Option<Arc<TemplateAnatomy>>> = Mutex::new(None);
        let mut loaded = LOADED
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(template) = loaded.as_ref() {
            return Ok(template.clone());
        }
        let template = Arc::new(TemplateAnatomy::read(&bundled_template_path())?);
        *loaded = Some(template.clone());
        Ok(template)
    }

    /// Trilinear interpolation of the stored values of `frame` at grid position `g`
    /// (0 outside the grid).
    fn sample(&self, frame: usize, g: [f32; 3]) -> f32 {
        let offset = frame * self.shape.iter().product::<usize>();
        let mut sum = 0.0;
        trilinear_corners(self.shape, g, |i, weight| {
            sum += weight * f32::from(self.frames[offset + i]);
        });
        sum
    }

    /// Grid position (voxels) of head point `p`.
    fn grid_position(&self, p: [f32; 3]) -> [f32; 3] {
        std::array::from_fn(|a| p[a] + PLACEMENT_MM[a] - self.origin[a])
    }
}

impl TissueMap for TemplateAnatomy {
    /// The interpolated tissue fractions at `p`; `voxel` is not used (the maps already hold
    /// the partial volume of 1 mm voxels).
    fn tissue(&self, p: [f32; 3], _voxel: f32) -> Tissue {
        let g = self.grid_position(p);
        let mut fractions = [0.0f32; TISSUE_CLASSES];
        for (frame, class) in FRACTION_FRAMES.iter().enumerate() {
            fractions[*class] = self.sample(frame, g) / 255.0;
        }
        // Outside the grid the stored depth reads as 0, i.e. the most negative depth.
        let depth = |frame| self.sample(frame, g) / DEPTH_SCALE - DEPTH_OFFSET;
        Tissue {
            fractions,
            cerebrum_depth: depth(CEREBRUM_DEPTH_FRAME),
            ventricle_depth: depth(VENTRICLE_DEPTH_FRAME),
        }
    }

    fn may_contain(&self, p: [f32; 3], margin: f32) -> bool {
        let g = self.grid_position(p);
        (0..3).all(|a| g[a] >= -margin && g[a] <= self.shape[a] as f32 - 1.0 + margin)
    }
}

/// One case's brain on the template: the shared tissue maps plus the case's own enhancing
/// vessels in the CSF outside the ventricles, so that template phantoms, like procedural
/// ones, have T1ce-bright structures that are not tumour (docs/phantoms.md).
pub struct TemplateBrain {
    template: Arc<TemplateAnatomy>,
    vessels: Noise3,
}

impl TemplateBrain {
    pub fn new(template: Arc<TemplateAnatomy>, vessels: Noise3) -> TemplateBrain {
        TemplateBrain { template, vessels }
    }
}

impl TissueMap for TemplateBrain {
    fn tissue(&self, p: [f32; 3], voxel: f32) -> Tissue {
        let mut tissue = self.template.tissue(p, voxel);
        run_vessels(
            &self.vessels,
            p,
            voxel,
            tissue.ventricle_depth,
            &mut tissue.fractions,
        );
        tissue
    }

    fn may_contain(&self, p: [f32; 3], margin: f32) -> bool {
        self.template.may_contain(p, margin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bundled template reads, its deep white matter is white matter, its ventricles are
    /// CSF, and outside its grid there is nothing.
    #[test]
    fn bundled_template_holds_a_brain_in_mni_millimetres() {
        let loaded = TemplateAnatomy::read(&bundled_template_path()).unwrap();
        let template = AtMni(&loaded);
        // Centrum semiovale, left hemisphere (MNI −26, −10, 30).
        let wm = template.tissue([-26.0, -10.0, 30.0], 1.0);
        assert!(wm.fractions[WM] > 0.9, "{:?}", wm.fractions);
        assert!(wm.cerebrum_depth > 20.0, "{}", wm.cerebrum_depth);
        // Body of the right lateral ventricle (MNI 6, −10, 20).
        let ventricle = template.tissue([6.0, -10.0, 20.0], 1.0);
        assert!(ventricle.fractions[CSF] > 0.8, "{:?}", ventricle.fractions);
        assert!(ventricle.ventricle_depth > 0.0);
        // Left thalamus (MNI −12, −18, 6) is deep grey matter.
        let thalamus = template.tissue([-12.0, -18.0, 6.0], 1.0);
        assert!(
            thalamus.fractions[DEEP_GM] > 0.3,
            "{:?}",
            thalamus.fractions
        );
        let outside = template.tissue([0.0, 0.0, 200.0], 1.0);
        assert_eq!(outside.mask(), 0.0);
        assert!(!template.0.may_contain([0.0, 0.0, 200.0], 10.0));
        assert!(template.0.may_contain([0.0, 0.0, 0.0], 0.0));
    }

    /// A case's brain on the template runs vessels through the CSF outside the ventricles
    /// only, taking them from the CSF so the skull-stripped mask stays the same, and the bare
    /// template has none.
    #[test]
    fn a_template_brain_has_vessels_in_its_csf() {
        use super::super::anatomy::VESSEL;
        use rand::SeedableRng;
        let template = TemplateAnatomy::bundled().unwrap();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let brain = TemplateBrain::new(template.clone(), Noise3::from_rng(&mut rng));
        let (mut vessel, mut csf) = (0.0f64, 0.0f64);
        for i in (-80..=80).step_by(3) {
            for j in (-120..=80).step_by(3) {
                for k in (-60..=90).step_by(3) {
                    let p = [i as f32, j as f32, k as f32];
                    let bare = template.tissue(p, 1.0);
                    let with = brain.tissue(p, 1.0);
                    assert_eq!(bare.fractions[VESSEL], 0.0);
                    assert!((with.mask() - bare.mask()).abs() < 1e-5, "{p:?}");
                    if with.fractions[VESSEL] > 0.0 {
                        assert!(
                            bare.ventricle_depth < -1.0,
                            "a vessel in a ventricle at {p:?}"
                        );
                        assert!(with.fractions[VESSEL] <= 0.9 * bare.fractions[CSF] + 1e-6);
                    }
                    vessel += f64::from(with.fractions[VESSEL]);
                    csf += f64::from(bare.fractions[CSF]);
                }
            }
        }
        let share = vessel / csf;
        assert!(
            (0.005..0.2).contains(&share),
            "vessels take {share:.4} of the CSF"
        );
    }

    /// The template read at MNI coordinates (undoing its placement in the head frame).
    struct AtMni<'a>(&'a TemplateAnatomy);

    impl AtMni<'_> {
        fn tissue(&self, mni: [f32; 3], voxel: f32) -> Tissue {
            self.0
                .tissue(std::array::from_fn(|a| mni[a] - PLACEMENT_MM[a]), voxel)
        }
    }

    /// A missing template is refused naming the file and the fix.
    #[test]
    fn a_missing_template_names_the_file_and_the_fix() {
        let path = Path::new("/nonexistent/anatomy.nii.gz");
        let message = TemplateAnatomy::read(path).unwrap_err().to_string();
        assert!(message.contains("/nonexistent/anatomy.nii.gz"), "{message}");
        assert!(message.contains("make_template.py"), "{message}");
        assert!(message.contains("--anatomy procedural"), "{message}");
    }

    /// A NIfTI file that is not the template (one frame) is refused naming the file and what
    /// is wrong.
    #[test]
    fn another_image_is_not_taken_for_the_template() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("labels.nii.gz");
        let like = Volume::in_memory([4, 4, 4], crate::volume::Affine::identity(), Vec::new());
        crate::volume::write_labels(&path, &[0u8; 64], &like).unwrap();
        let message = TemplateAnatomy::read(&path).unwrap_err().to_string();
        assert!(message.contains("labels.nii.gz"), "{message}");
        assert!(
            message.contains("1 frame(s) of uint8, expected 6"),
            "{message}"
        );
    }
}
