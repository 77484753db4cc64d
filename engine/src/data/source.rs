//! `engine::data::source` owns where training patches are cut from: cases held in memory, or
//! cases streamed from a prepared data set on disk, one window per patch.
//!
//! A streamed patch reads only what it needs: the position is drawn from the case's shape
//! and one foreground index read from the file, the rotation is drawn, then the box the cut
//! reads ([`cut_footprint`]) is read from the file's chunks and the patch is cut from that
//! window with the same code, in the same whole-case coordinates, as from a case in memory.
//! The random draws are the same in both, so a stream of batches from a prepared set is, bit
//! for bit, the stream from the same cases loaded whole into memory
//! ([`crate::data::prepared::PreparedSet::load`]). Resident memory is then one window per
//! worker, whatever the number of cases.

use super::augment::{cut_and_augment, cut_footprint, AugmentConfig, Placement};
use super::error::DataError;
use super::patches::{sample_spec_in, PatchConfig, PatchSpec};
use crate::prepare::case_file::CaseFile;
use crate::prepare::{region_bit, PreparedCase};
use crate::study::{Availability, Region};
use rand::Rng;
use std::cell::Cell;
use std::path::PathBuf;
use std::sync::Arc;

thread_local! {
    /// The window this thread's streamed sampler reads rotated cuts into, and the region
    /// bits of straight cuts, reused patch after patch.
    static WINDOW: Cell<Option<PreparedCase>> = const { Cell::new(None) };
    static REGIONS: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
}

/// An unrotated cut of the box `[lo, hi)` (the patch `spec` of `size` clamped to the case)
/// decoded straight into zeroed patch buffers: the same values `extract_into` copies from a
/// window or a case in memory.
fn read_straight(
    file: &CaseFile,
    (lo, hi): ([usize; 3], [usize; 3]),
    spec: PatchSpec,
    size: [usize; 3],
    available: Availability,
    image: &mut [f32],
    target: &mut [u8],
) -> Result<(), DataError> {
    let at: [usize; 3] = std::array::from_fn(|a| (lo[a] as isize - spec.origin[a]) as usize);
    let pn: usize = size.iter().product();
    let mut regions = REGIONS.take();
    regions.resize(pn, 0);
    let labelled = file.read_into_patch(lo, hi, available, size, at, image, &mut regions)?;
    if labelled {
        let (wt, rest) = target.split_at_mut(pn);
        let (tc, et) = rest.split_at_mut(pn);
        let [_, ph, pw] = size;
        for d in at[0]..at[0] + (hi[0] - lo[0]) {
            for y in at[1]..at[1] + (hi[1] - lo[1]) {
                let row = (d * ph + y) * pw;
                for i in row + at[2]..row + at[2] + (hi[2] - lo[2]) {
                    let bits = regions[i];
                    wt[i] = u8::from(bits & region_bit(Region::WT) != 0);
                    tc[i] = u8::from(bits & region_bit(Region::TC) != 0);
                    et[i] = u8::from(bits & region_bit(Region::ET) != 0);
                }
            }
        }
    }
    REGIONS.set(regions);
    Ok(())
}

/// What the sampler needs to know of a prepared case before reading it (from the manifest).
#[derive(Debug, Clone, PartialEq)]
pub struct StreamedCase {
    pub name: String,
    /// The case's `.mkdp` file.
    pub path: PathBuf,
    /// `[D, H, W]` of the cropped grid.
    pub shape: [usize; 3],
    pub available: Availability,
    /// Number of tumour voxels.
    pub foreground: u64,
}

/// The cases a loader samples from. Cloning is cheap (shared lists).
#[derive(Debug, Clone)]
pub enum CaseSource {
    InMemory(Arc<[Arc<PreparedCase>]>),
    Streamed(Arc<[StreamedCase]>),
}

impl From<Vec<Arc<PreparedCase>>> for CaseSource {
    fn from(cases: Vec<Arc<PreparedCase>>) -> Self {
        CaseSource::InMemory(cases.into())
    }
}

impl From<&[Arc<PreparedCase>]> for CaseSource {
    fn from(cases: &[Arc<PreparedCase>]) -> Self {
        CaseSource::InMemory(cases.into())
    }
}

impl From<Vec<StreamedCase>> for CaseSource {
    fn from(cases: Vec<StreamedCase>) -> Self {
        CaseSource::Streamed(cases.into())
    }
}

impl CaseSource {
    pub fn len(&self) -> usize {
        match self {
            CaseSource::InMemory(c) => c.len(),
            CaseSource::Streamed(c) => c.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The modalities case `i` has.
    pub fn available(&self, i: usize) -> Availability {
        match self {
            CaseSource::InMemory(c) => c[i].available,
            CaseSource::Streamed(c) => c[i].available,
        }
    }

    /// Draws a patch of case `i` and cuts and augments it into zeroed buffers (`[4, D, H, W]`
    /// and `[3, D, H, W]`), filling the channels in `available` only; returns where it was cut.
    pub fn sample_into<R: Rng + ?Sized>(
        &self,
        i: usize,
        patch: &PatchConfig,
        augment: &AugmentConfig,
        available: Availability,
        rng: &mut R,
        buffers: (&mut [f32], &mut [u8]),
    ) -> Result<PatchSpec, DataError> {
        match self {
            CaseSource::InMemory(cases) => {
                let case = &cases[i];
                let foreground = |k: usize| Ok::<u32, DataError>(case.foreground[k]);
                let spec =
                    sample_spec_in(case.shape, case.foreground.len(), foreground, patch, rng)?;
                let rotation = augment.draw_rotation(rng);
                let place = Placement::whole(case);
                cut_and_augment(
                    case, place, patch.size, spec, rotation, augment, available, rng, buffers,
                );
                Ok(spec)
            }
            CaseSource::Streamed(cases) => {
                let case = &cases[i];
                let file = CaseFile::open(&case.path)?;
                let foreground = |k: usize| file.foreground_at(k as u64).map_err(DataError::from);
                let spec =
                    sample_spec_in(case.shape, case.foreground as usize, foreground, patch, rng)?;
                let rotation = augment.draw_rotation(rng);
                let (lo, hi) = cut_footprint(case.shape, patch.size, spec, rotation);
                if rotation.is_none() {
                    // The box is the patch's own: decode straight into the batch.
                    read_straight(
                        &file,
                        (lo, hi),
                        spec,
                        patch.size,
                        available,
                        buffers.0,
                        buffers.1,
                    )?;
                    augment.apply_to(buffers.0, buffers.1, patch.size, available, rng);
                    return Ok(spec);
                }
                let window = match WINDOW.take() {
                    Some(mut window) => file
                        .read_window_into(lo, hi, available, true, &mut window)
                        .map(|()| window),
                    None => file.read_window(lo, hi, available, true),
                }?;
                let place = Placement {
                    at: lo,
                    full: case.shape,
                };
                cut_and_augment(
                    &window, place, patch.size, spec, rotation, augment, available, rng, buffers,
                );
                WINDOW.set(Some(window));
                Ok(spec)
            }
        }
    }
}
