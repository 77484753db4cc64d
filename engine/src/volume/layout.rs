//! Header sanity checks, done before a single voxel byte is read or a buffer allocated: what the
//! file holds (no CIFTI or surface data), its dimensions, element type, where the voxels start,
//! how many bytes they take (with overflow checks and a size cap) and whether they are scaled.

use super::fault::Fault;
use super::parse::RawHeader;
use super::DataType;

/// Largest decoded image accepted: 8 GiB of `f32` voxels.
pub(super) const MAX_DECODED_BYTES: u64 = 8 << 30;

/// `raw * slope + inter`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Scaling {
    pub slope: f64,
    pub inter: f64,
}

/// Where the voxels are and how to turn them into `f32`.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Layout {
    pub shape: [usize; 3],
    pub frames: usize,
    pub datatype: DataType,
    /// Voxels in all frames.
    pub voxels: usize,
    /// Bytes of raw voxel data.
    pub data_bytes: u64,
    /// Byte offset of the first voxel in the file that holds the voxels.
    pub data_offset: u64,
    pub scaling: Option<Scaling>,
}

/// Checks `header` and works out the layout. `header_size` is 348 or 540; `single_file` is true
/// for `.nii` (voxels after the header), false for a `.hdr`/`.img` pair (offset into `.img`).
pub(super) fn layout(
    header: &RawHeader,
    header_size: usize,
    single_file: bool,
) -> Result<Layout, Fault> {
    check_intent(header.intent_code)?;
    let (shape, frames) = dimensions(&header.dim)?;
    let datatype = data_type(header.datatype)?;
    let voxels = voxel_count(shape, frames)?;
    let data_bytes = u64::try_from(voxels)
        .ok()
        .and_then(|n| n.checked_mul(datatype.size() as u64))
        .ok_or_else(|| {
            Fault::Unsupported(format!(
                "the image is too large: {voxels} voxels overflow the byte count"
            ))
        })?;
    Ok(Layout {
        shape,
        frames,
        datatype,
        voxels,
        data_bytes,
        data_offset: data_offset(header.vox_offset, header_size, single_file)?,
        scaling: scaling(header.scl_slope, header.scl_inter)?,
    })
}

fn check_intent(intent_code: i32) -> Result<(), Fault> {
    if (3000..=3099).contains(&intent_code) {
        return Err(Fault::Unsupported(format!(
            "intent code {intent_code} marks a CIFTI/surface file, not a volume"
        )));
    }
    Ok(())
}

/// `[nx, ny, nz]` and the frame count from `dim`. 1D and 2D images get size-1 axes; dimensions
/// 5 to 7 above 1 are refused (vector or tensor data, not a series of volumes).
fn dimensions(dim: &[i64; 8]) -> Result<([usize; 3], usize), Fault> {
    let rank = dim[0];
    if !(1..=7).contains(&rank) {
        return Err(Fault::BadHeader(format!(
            "dim[0] is {rank}; it must be 1 to 7"
        )));
    }
    let rank = rank as usize;
    let mut sizes = [1usize; 7];
    for axis in 1..=rank {
        let size = dim[axis];
        if size < 1 {
            return Err(Fault::BadHeader(format!(
                "dim[{axis}] is {size}; every dimension must be at least 1"
            )));
        }
        sizes[axis - 1] = usize::try_from(size).map_err(|_| {
            Fault::Unsupported(format!("dim[{axis}] is {size}, too large for this machine"))
        })?;
    }
    if let Some(axis) = (5..=rank).find(|&axis| sizes[axis - 1] > 1) {
        return Err(Fault::Unsupported(format!(
            "dim[{axis}] is {}: {rank}-dimensional data is not a volume or a series of volumes",
            sizes[axis - 1]
        )));
    }
    Ok(([sizes[0], sizes[1], sizes[2]], sizes[3]))
}

fn voxel_count(shape: [usize; 3], frames: usize) -> Result<usize, Fault> {
    let voxels = shape
        .iter()
        .chain([&frames])
        .try_fold(1usize, |count, &size| count.checked_mul(size));
    let decoded_bytes = voxels.and_then(|n| u64::try_from(n).ok()?.checked_mul(4));
    match (voxels, decoded_bytes) {
        (Some(voxels), Some(bytes)) if bytes <= MAX_DECODED_BYTES => Ok(voxels),
        _ => Err(Fault::Unsupported(format!(
            "the image is too large: {}×{}×{}×{} voxels need more than {} GiB as f32",
            shape[0],
            shape[1],
            shape[2],
            frames,
            MAX_DECODED_BYTES >> 30
        ))),
    }
}

fn data_type(code: i16) -> Result<DataType, Fault> {
    DataType::from_code(code).ok_or_else(|| {
        let name = match code {
            0 => "unknown (0)",
            1 => "binary (1 bit)",
            32 => "complex64",
            128 => "RGB24",
            1536 => "float128",
            1792 => "complex128",
            2048 => "complex256",
            2304 => "RGBA32",
            _ => "an undefined code",
        };
        Fault::Unsupported(format!(
            "datatype {code} is {name}; only integer and float32/64 scalars are read"
        ))
    })
}

/// Byte offset of the voxels. In a single file an offset inside the header means "right after
/// the header", as the reference C library reads it.
fn data_offset(vox_offset: f64, header_size: usize, single_file: bool) -> Result<u64, Fault> {
    if !vox_offset.is_finite() || vox_offset < 0.0 || vox_offset >= u64::MAX as f64 {
        return Err(Fault::BadHeader(format!(
            "vox_offset is {vox_offset}; it must be a byte offset of at least 0"
        )));
    }
    let offset = vox_offset as u64;
    let header_size = header_size as u64;
    Ok(if single_file {
        offset.max(header_size)
    } else {
        offset
    })
}

/// Scaling applies only when the slope is finite and non-zero; then the intercept must be finite.
fn scaling(slope: f64, inter: f64) -> Result<Option<Scaling>, Fault> {
    if !slope.is_finite() || slope == 0.0 {
        return Ok(None);
    }
    if !inter.is_finite() {
        return Err(Fault::BadHeader(format!(
            "scl_inter is {inter} while scl_slope is {slope}; the voxels cannot be scaled"
        )));
    }
    Ok(Some(Scaling { slope, inter }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_dimensional_images_get_one_slice() {
        let dim = [2, 4, 5, 0, 0, 0, 0, 0];
        assert_eq!(dimensions(&dim).ok(), Some(([4, 5, 1], 1)));
    }

    #[test]
    fn trailing_unit_dimensions_are_accepted() {
        let dim = [7, 4, 5, 6, 3, 1, 1, 1];
        assert_eq!(dimensions(&dim).ok(), Some(([4, 5, 6], 3)));
    }

    #[test]
    fn dimensions_beyond_dim0_are_ignored() {
        let dim = [3, 4, 5, 6, -1, 9, 9, 9];
        assert_eq!(dimensions(&dim).ok(), Some(([4, 5, 6], 1)));
    }

    #[test]
    fn overflowing_and_huge_counts_are_refused() {
        assert!(voxel_count([usize::MAX, 2, 1], 1).is_err());
        assert!(voxel_count([2048, 2048, 1024], 1).is_err());
        assert!(voxel_count([1024, 1024, 1024], 2).is_ok());
    }

    #[test]
    fn scaling_needs_finite_non_zero_slope() {
        assert_eq!(scaling(0.0, 5.0).ok(), Some(None));
        assert_eq!(scaling(f64::NAN, 5.0).ok(), Some(None));
        assert_eq!(scaling(f64::INFINITY, 5.0).ok(), Some(None));
        assert_eq!(
            scaling(2.0, -1.0).ok(),
            Some(Some(Scaling {
                slope: 2.0,
                inter: -1.0
            }))
        );
        assert!(scaling(2.0, f64::NAN).is_err());
    }

    #[test]
    fn offsets_inside_a_single_file_header_mean_after_it() {
        assert_eq!(data_offset(0.0, 348, true).ok(), Some(348));
        assert_eq!(data_offset(0.0, 348, false).ok(), Some(0));
        assert_eq!(data_offset(400.0, 348, true).ok(), Some(400));
        assert!(data_offset(f64::NAN, 348, true).is_err());
        assert!(data_offset(-4.0, 348, true).is_err());
    }
}
