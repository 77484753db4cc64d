//! Header bytes → [`RawHeader`], a version-neutral view of the fields the reader needs.
//!
//! The version and byte order come from `sizeof_hdr`, read both ways: 348 means NIfTI-1, 540
//! NIfTI-2. The magic is checked here too, so that a message can name what was found. NIfTI-1
//! fields are decoded by the `nifti` crate's [`nifti::NiftiHeader`]; NIfTI-2, which that crate
//! does not know, by [`parse_nifti2`]. Nothing here judges the values: see `layout`.

use super::fault::Fault;
use super::{NiftiVersion, SpatialHeader};

pub(super) const NIFTI1_HEADER_SIZE: usize = 348;
pub(super) const NIFTI2_HEADER_SIZE: usize = 540;

const NIFTI1_MAGICS: [&[u8; 4]; 2] = [b"n+1\0", b"ni1\0"];
const NIFTI2_MAGICS: [&[u8; 4]; 2] = [b"n+2\0", b"ni2\0"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ByteOrder {
    Little,
    Big,
}

/// The header fields the reader uses, widened to the NIfTI-2 types.
#[derive(Debug, Clone)]
pub(super) struct RawHeader {
    pub version: NiftiVersion,
    pub byte_order: ByteOrder,
    pub dim: [i64; 8],
    pub datatype: i16,
    pub intent_code: i32,
    pub vox_offset: f64,
    pub scl_slope: f64,
    pub scl_inter: f64,
    pub spatial: SpatialHeader,
}

/// Version, byte order and header size from the file's first four bytes (`sizeof_hdr`).
pub(super) fn detect_version(
    first_four: [u8; 4],
) -> Result<(NiftiVersion, ByteOrder, usize), Fault> {
    let little = i32::from_le_bytes(first_four);
    let big = i32::from_be_bytes(first_four);
    match (little, big) {
        (348, _) => return Ok((NiftiVersion::Nifti1, ByteOrder::Little, NIFTI1_HEADER_SIZE)),
        (_, 348) => return Ok((NiftiVersion::Nifti1, ByteOrder::Big, NIFTI1_HEADER_SIZE)),
        (540, _) => return Ok((NiftiVersion::Nifti2, ByteOrder::Little, NIFTI2_HEADER_SIZE)),
        (_, 540) => return Ok((NiftiVersion::Nifti2, ByteOrder::Big, NIFTI2_HEADER_SIZE)),
        _ => {}
    }
    Err(Fault::NotNifti(format!(
        "the header size field (sizeof_hdr) is {little}, expected 348 (NIfTI-1) or 540 (NIfTI-2)"
    )))
}

/// Decodes a whole header (`bytes.len()` is the size [`detect_version`] returned).
pub(super) fn parse_header(
    version: NiftiVersion,
    byte_order: ByteOrder,
    bytes: &[u8],
) -> Result<RawHeader, Fault> {
    match version {
        NiftiVersion::Nifti1 => parse_nifti1(byte_order, bytes),
        NiftiVersion::Nifti2 => parse_nifti2(byte_order, bytes),
    }
}

fn check_magic(found: &[u8], expected: [&[u8; 4]; 2]) -> Result<(), Fault> {
    if expected.iter().any(|magic| found == magic.as_slice()) {
        return Ok(());
    }
    Err(Fault::NotNifti(format!(
        "the magic is \"{}\", expected \"{}\" or \"{}\"",
        found.escape_ascii(),
        expected[0].escape_ascii(),
        expected[1].escape_ascii()
    )))
}

/// NIfTI-1 through the `nifti` crate, after our own magic check (the crate only says "invalid
/// format") and with our byte order enforced: the crate guesses the order from `dim[0]`, so a
/// disagreement means `dim[0]` is out of range in the order `sizeof_hdr` gave.
fn parse_nifti1(byte_order: ByteOrder, bytes: &[u8]) -> Result<RawHeader, Fault> {
    let fields = Fields::new(bytes, byte_order, NIFTI1_HEADER_SIZE)?;
    check_magic(fields.bytes(344, 4), NIFTI1_MAGICS)?;
    let header = nifti::NiftiHeader::from_reader(bytes)
        .map_err(|error| Fault::BadHeader(format!("the NIfTI-1 header does not parse: {error}")))?;
    let crate_order = match header.endianness {
        nifti::Endianness::Little => ByteOrder::Little,
        nifti::Endianness::Big => ByteOrder::Big,
    };
    if crate_order != byte_order {
        return Err(Fault::BadHeader(format!(
            "dim[0] is {}; it must be 1 to 7",
            fields.i16(40)
        )));
    }
    // The crate stores `dim` as u16; the file holds signed 16-bit values.
    let dim = header.dim.map(|d| i64::from(d as i16));
    let srow = [header.srow_x, header.srow_y, header.srow_z].map(|row| row.map(f64::from));
    Ok(RawHeader {
        version: NiftiVersion::Nifti1,
        byte_order,
        dim,
        datatype: header.datatype,
        intent_code: i32::from(header.intent_code),
        vox_offset: f64::from(header.vox_offset),
        scl_slope: f64::from(header.scl_slope),
        scl_inter: f64::from(header.scl_inter),
        spatial: SpatialHeader {
            pixdim: header.pixdim.map(f64::from),
            qform_code: i32::from(header.qform_code),
            sform_code: i32::from(header.sform_code),
            quatern: [header.quatern_b, header.quatern_c, header.quatern_d].map(f64::from),
            qoffset: [header.quatern_x, header.quatern_y, header.quatern_z].map(f64::from),
            srow,
            xyzt_units: i32::from(header.xyzt_units),
        },
    })
}

/// NIfTI-2: our own decoder of the 540-byte layout (the `nifti` crate reads NIfTI-1 only).
fn parse_nifti2(byte_order: ByteOrder, bytes: &[u8]) -> Result<RawHeader, Fault> {
    let fields = Fields::new(bytes, byte_order, NIFTI2_HEADER_SIZE)?;
    check_magic(fields.bytes(4, 4), NIFTI2_MAGICS)?;
    let dim = std::array::from_fn(|i| fields.i64(16 + 8 * i));
    let pixdim = std::array::from_fn(|i| fields.f64(104 + 8 * i));
    let srow =
        std::array::from_fn(|row| std::array::from_fn(|col| fields.f64(400 + 32 * row + 8 * col)));
    // vox_offset is an int64 here; f64 keeps every offset a real file can have.
    let vox_offset = fields.i64(168) as f64;
    Ok(RawHeader {
        version: NiftiVersion::Nifti2,
        byte_order,
        dim,
        datatype: fields.i16(12),
        intent_code: fields.i32(504),
        vox_offset,
        scl_slope: fields.f64(176),
        scl_inter: fields.f64(184),
        spatial: SpatialHeader {
            pixdim,
            qform_code: fields.i32(344),
            sform_code: fields.i32(348),
            quatern: [fields.f64(352), fields.f64(360), fields.f64(368)],
            qoffset: [fields.f64(376), fields.f64(384), fields.f64(392)],
            srow,
            xyzt_units: fields.i32(500),
        },
    })
}

/// Fixed-offset field access into a header of known length.
struct Fields<'a> {
    bytes: &'a [u8],
    byte_order: ByteOrder,
}

impl<'a> Fields<'a> {
    fn new(bytes: &'a [u8], byte_order: ByteOrder, size: usize) -> Result<Fields<'a>, Fault> {
        if bytes.len() < size {
            return Err(Fault::Truncated(format!(
                "the header has {} of {size} bytes",
                bytes.len()
            )));
        }
        Ok(Fields { bytes, byte_order })
    }

    /// `len` bytes at `offset`; offsets are constants inside the checked header size.
    fn bytes(&self, offset: usize, len: usize) -> &'a [u8] {
        &self.bytes[offset..offset + len]
    }

    fn array<const N: usize>(&self, offset: usize) -> [u8; N] {
        let mut raw = [0; N];
        raw.copy_from_slice(self.bytes(offset, N));
        if self.byte_order == ByteOrder::Big {
            raw.reverse();
        }
        raw
    }

    fn i16(&self, offset: usize) -> i16 {
        i16::from_le_bytes(self.array(offset))
    }

    fn i32(&self, offset: usize) -> i32 {
        i32::from_le_bytes(self.array(offset))
    }

    fn i64(&self, offset: usize) -> i64 {
        i64::from_le_bytes(self.array(offset))
    }

    fn f64(&self, offset: usize) -> f64 {
        f64::from_le_bytes(self.array(offset))
    }
}
