//! NIfTI reading: `.nii`, `.nii.gz`, and `.hdr`+`.img` pairs (either half may be gzipped),
//! NIfTI-1 and NIfTI-2, either byte order, into a [`Volume`] of scaled `f32` voxels.
//!
//! # What the `nifti` crate does and what we do
//!
//! * The `nifti` crate (0.18) decodes NIfTI-1 header fields ([`nifti::NiftiHeader`], see
//!   `parse`) and is the reference the writer's header encoding is tested against.
//! * Our own code does the rest, because the crate's reader does not fit:
//!   - it has no NIfTI-2 support (`parse` decodes the 540-byte header itself);
//!   - it never checks `sizeof_hdr`, picks the byte order from `dim[0]` alone and answers a bad
//!     magic with a bare "invalid format", so `parse` checks those first and names what it found;
//!   - it stores `dim` as `u16`, so a negative dimension reads as a large positive one (we
//!     reinterpret the bits as signed);
//!   - its in-memory volume reads all raw bytes into one buffer and converts them afterwards,
//!     needing raw + converted memory at once, and reserves the full size a header claims before
//!     reading; `decode` streams chunks into the `f32` output and grows it only as data arrives;
//!   - its reader (with `ndarray`) and writer are behind a feature this workspace leaves off.
//! * Validation before allocation (`layout`), the affine choice (`SpatialHeader::usable_affine`)
//!   and finding the two halves of a pair are ours too.
//!
//! Files are recognised by content where it matters: a gzip stream is detected by its magic
//! bytes, whatever the name says. The name decides only whether voxels follow the header
//! (`.nii`, anything unknown) or live in a separate `.img` (`.hdr`, `.img`).

use super::decode::{decode_voxels, fill, DecodeError};
use super::fault::Fault;
use super::layout::{layout, Layout};
use super::parse::{detect_version, parse_header, ByteOrder, RawHeader, NIFTI2_HEADER_SIZE};
use super::{Volume, VolumeError};
use flate2::bufread::MultiGzDecoder;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

/// Read buffer for the file itself (compressed bytes when gzipped).
const FILE_BUFFER_BYTES: usize = 256 << 10;

/// Deflate cannot expand data by more than about 1032:1; this bounds what a gzip file holds.
const MAX_DEFLATE_RATIO: u64 = 1032;

pub(crate) fn read_volume(path: &Path) -> Result<Volume, VolumeError> {
    let files = locate(path)?;
    let mut header_stream = open(&files.header)?;
    let (header, header_size) =
        read_header(&mut header_stream).map_err(|fault| fault.at(&files.header))?;
    let layout =
        layout(&header, header_size, files.image.is_none()).map_err(|f| f.at(&files.header))?;
    let (affine, affine_source) = header.spatial.usable_affine().ok_or_else(|| {
        Fault::BadHeader(format!(
            "no usable voxel-to-world geometry: sform, qform and pixdim[1..4] = {:?} are all \
             non-finite or degenerate",
            &header.spatial.pixdim[1..4]
        ))
        .at(&files.header)
    })?;
    let (data_path, mut data_stream, position) = match &files.image {
        None => (&files.header, header_stream, header_size as u64),
        Some(image) => (image, open(image)?, 0),
    };
    let data = read_voxels(&mut data_stream, position, &layout, header.byte_order)
        .map_err(|fault| fault.at(data_path))?;
    Ok(Volume {
        source: Some(path.to_path_buf()),
        shape: layout.shape,
        frames: layout.frames,
        data,
        datatype: layout.datatype,
        version: header.version,
        scl_slope: header.scl_slope,
        scl_inter: header.scl_inter,
        spatial: header.spatial,
        affine,
        affine_source,
    })
}

/// The header file, and the voxel file when it is a separate `.img`.
struct Files {
    header: PathBuf,
    image: Option<PathBuf>,
}

fn locate(path: &Path) -> Result<Files, VolumeError> {
    let name = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    // ASCII lower-casing keeps byte positions, so the stem can be cut from the original name.
    let lower = name.to_ascii_lowercase();
    let stem = |suffixes: [&str; 2]| {
        let suffix = suffixes
            .into_iter()
            .find(|suffix| lower.ends_with(suffix))?;
        name.get(..name.len() - suffix.len())
    };
    if let Some(stem) = stem([".hdr", ".hdr.gz"]) {
        return Ok(Files {
            header: path.to_path_buf(),
            image: Some(companion(
                path,
                stem,
                [".img", ".img.gz", ".IMG", ".IMG.GZ"],
            )?),
        });
    }
    if let Some(stem) = stem([".img", ".img.gz"]) {
        return Ok(Files {
            header: companion(path, stem, [".hdr", ".hdr.gz", ".HDR", ".HDR.GZ"])?,
            image: Some(path.to_path_buf()),
        });
    }
    Ok(Files {
        header: path.to_path_buf(),
        image: None,
    })
}

/// The other half of a pair: the first of `stem` + each suffix that exists next to `path`.
fn companion(path: &Path, stem: &str, suffixes: [&str; 4]) -> Result<PathBuf, VolumeError> {
    let candidates = suffixes.map(|suffix| path.with_file_name(format!("{stem}{suffix}")));
    match candidates.iter().find(|candidate| candidate.is_file()) {
        Some(found) => Ok(found.clone()),
        None => Err(VolumeError::MissingCompanion {
            path: path.to_path_buf(),
            companion: candidates[0].clone(),
        }),
    }
}

/// An open file, decompressed on the fly when it starts with the gzip magic.
struct Stream {
    reader: Box<dyn Read>,
    /// Length on disk when not compressed (known before reading).
    plain_len: Option<u64>,
    /// Most bytes the stream can deliver.
    max_len: u64,
}

fn open(path: &Path) -> Result<Stream, VolumeError> {
    let io_error = |source| VolumeError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(io_error)?;
    let len = file.metadata().map_err(io_error)?.len();
    let mut buffered = BufReader::with_capacity(FILE_BUFFER_BYTES, file);
    let gzipped = buffered
        .fill_buf()
        .map_err(io_error)?
        .starts_with(&[0x1f, 0x8b]);
    Ok(if gzipped {
        Stream {
            reader: Box::new(MultiGzDecoder::new(buffered)),
            plain_len: None,
            max_len: len.saturating_mul(MAX_DEFLATE_RATIO),
        }
    } else {
        Stream {
            reader: Box::new(buffered),
            plain_len: Some(len),
            max_len: len,
        }
    })
}

/// Reads and decodes the header; returns it with its size in bytes.
fn read_header(stream: &mut Stream) -> Result<(RawHeader, usize), Fault> {
    let mut bytes = [0u8; NIFTI2_HEADER_SIZE];
    let got = fill_header(stream, &mut bytes[..4], 0)?;
    if got < 4 {
        return Err(Fault::NotNifti(format!(
            "the file has only {got} bytes, too few for a header"
        )));
    }
    let (version, byte_order, size) = detect_version([bytes[0], bytes[1], bytes[2], bytes[3]])?;
    let got = 4 + fill_header(stream, &mut bytes[4..size], 4)?;
    if got < size {
        return Err(Fault::Truncated(format!(
            "the header has {got} of {size} bytes"
        )));
    }
    Ok((parse_header(version, byte_order, &bytes[..size])?, size))
}

/// Fills `buffer` with the header bytes that follow the `done` already read.
fn fill_header(stream: &mut Stream, buffer: &mut [u8], done: usize) -> Result<usize, Fault> {
    let wanted = (done + buffer.len()) as u64;
    fill(&mut stream.reader, buffer).map_err(|(filled, error)| {
        Fault::from_read_error(error, "the header", (done + filled) as u64, wanted)
    })
}

/// Skips from `position` to the first voxel (header extensions included) and decodes.
fn read_voxels(
    stream: &mut Stream,
    position: u64,
    layout: &Layout,
    byte_order: ByteOrder,
) -> Result<Vec<f32>, Fault> {
    let offset = layout.data_offset;
    let expected = layout.data_bytes;
    if let Some(file_len) = stream.plain_len {
        if offset > file_len {
            return Err(Fault::Truncated(format!(
                "vox_offset {offset} lies beyond the end of the file ({file_len} bytes)"
            )));
        }
        let found = file_len - offset;
        if found < expected {
            return Err(truncated(expected, found));
        }
    }
    let skip = offset.saturating_sub(position);
    let skipped = io::copy(&mut (&mut stream.reader).take(skip), &mut io::sink())
        .map_err(|error| Fault::from_read_error(error, "the header extensions", 0, skip))?;
    if skipped < skip {
        return Err(Fault::Truncated(format!(
            "vox_offset {offset} lies beyond the end of the decompressed data ({} bytes)",
            position + skipped
        )));
    }
    let available = stream.max_len.saturating_sub(offset);
    decode_voxels(&mut stream.reader, layout, byte_order, available).map_err(|error| match error {
        DecodeError::EndOfData { found } => truncated(expected, found),
        DecodeError::Read { found, error } => {
            Fault::from_read_error(error, "the voxel data", found, expected)
        }
    })
}

fn truncated(expected: u64, found: u64) -> Fault {
    Fault::Truncated(format!(
        "expected {expected} bytes of voxel data, found {found}"
    ))
}
