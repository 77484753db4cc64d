//! Streaming voxel decoding: raw elements are read in fixed-size chunks and converted (byte
//! order, element type, scaling) straight into the `f32` output, so the raw bytes of the whole
//! image never sit in memory next to the decoded voxels.

use super::layout::{Layout, Scaling};
use super::parse::ByteOrder;
use super::DataType;
use std::io::{self, Read};

/// Bytes read per step; a multiple of every element size, so no element straddles two chunks.
const CHUNK_BYTES: usize = 1 << 20;

/// Most voxels the output reserves before any data has arrived (64 MiB of `f32`). Larger
/// images grow the output as data actually arrives, so a tiny file claiming huge dimensions
/// cannot make the reader reserve memory it will never fill.
const INITIAL_VOXELS: usize = 16 << 20;

/// Why decoding stopped early; `found` is the number of raw bytes read before it.
#[derive(Debug)]
pub(super) enum DecodeError {
    EndOfData { found: u64 },
    Read { found: u64, error: io::Error },
}

/// Reads `layout.data_bytes` from `reader` (positioned at the first voxel) into `f32` voxels.
/// `available_bytes` is an upper bound on what the reader can deliver (the file size, or what
/// the compressed size can expand to); the first reservation stays within it.
pub(super) fn decode_voxels(
    reader: &mut dyn Read,
    layout: &Layout,
    byte_order: ByteOrder,
    available_bytes: u64,
) -> Result<Vec<f32>, DecodeError> {
    let element_size = layout.datatype.size();
    let available_voxels =
        usize::try_from(available_bytes / element_size as u64).unwrap_or(usize::MAX);
    let initial = layout.voxels.min(INITIAL_VOXELS).min(available_voxels);
    let mut voxels = Vec::with_capacity(initial);
    let mut chunk = vec![0u8; CHUNK_BYTES];
    let mut found: u64 = 0;
    while voxels.len() < layout.voxels {
        let wanted_voxels = (layout.voxels - voxels.len()).min(CHUNK_BYTES / element_size);
        let buffer = &mut chunk[..wanted_voxels * element_size];
        let filled = fill(reader, buffer).map_err(|(filled, error)| DecodeError::Read {
            found: found + filled as u64,
            error,
        })?;
        found += filled as u64;
        if filled < buffer.len() {
            return Err(DecodeError::EndOfData { found });
        }
        grow_for(&mut voxels, wanted_voxels, layout.voxels);
        convert(
            buffer,
            layout.datatype,
            byte_order,
            layout.scaling,
            &mut voxels,
        );
    }
    Ok(voxels)
}

/// Reads until `buffer` is full or the data ends; the count read, or it with the error met.
pub(super) fn fill(reader: &mut dyn Read, buffer: &mut [u8]) -> Result<usize, (usize, io::Error)> {
    let mut filled = 0;
    while filled < buffer.len() {
        match reader.read(&mut buffer[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err((filled, error)),
        }
    }
    Ok(filled)
}

/// Makes room for `incoming` more voxels, at most doubling and never beyond `total`.
fn grow_for(voxels: &mut Vec<f32>, incoming: usize, total: usize) {
    if voxels.capacity() - voxels.len() >= incoming {
        return;
    }
    let remaining = total - voxels.len();
    voxels.reserve_exact(remaining.min(voxels.len().max(incoming)));
}

/// Appends the elements of `bytes` to `out` as `f32`, scaled when `scaling` is given.
fn convert(
    bytes: &[u8],
    datatype: DataType,
    byte_order: ByteOrder,
    scaling: Option<Scaling>,
    out: &mut Vec<f32>,
) {
    macro_rules! push {
        ($ty:ty) => {
            match byte_order {
                ByteOrder::Little => {
                    push_elements(bytes, scaling, out, |raw| <$ty>::from_le_bytes(raw) as f64)
                }
                ByteOrder::Big => {
                    push_elements(bytes, scaling, out, |raw| <$ty>::from_be_bytes(raw) as f64)
                }
            }
        };
    }
    match datatype {
        DataType::U8 => push!(u8),
        DataType::I8 => push!(i8),
        DataType::I16 => push!(i16),
        DataType::U16 => push!(u16),
        DataType::I32 => push!(i32),
        DataType::U32 => push!(u32),
        DataType::I64 => push!(i64),
        DataType::U64 => push!(u64),
        DataType::F32 => push!(f32),
        DataType::F64 => push!(f64),
    }
}

fn push_elements<const N: usize>(
    bytes: &[u8],
    scaling: Option<Scaling>,
    out: &mut Vec<f32>,
    element: impl Fn([u8; N]) -> f64,
) {
    let values = bytes.chunks_exact(N).map(|raw| {
        let mut array = [0; N];
        array.copy_from_slice(raw);
        element(array)
    });
    match scaling {
        None => out.extend(values.map(|v| v as f32)),
        Some(Scaling { slope, inter }) => out.extend(values.map(|v| (v * slope + inter) as f32)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(datatype: DataType, voxels: usize, scaling: Option<Scaling>) -> Layout {
        Layout {
            shape: [voxels, 1, 1],
            frames: 1,
            datatype,
            voxels,
            data_bytes: (voxels * datatype.size()) as u64,
            data_offset: 0,
            scaling,
        }
    }

    #[test]
    fn big_endian_int16_with_scaling() {
        let bytes = [0x01, 0x00, 0xff, 0xfe];
        let scaling = Some(Scaling {
            slope: 0.5,
            inter: 10.0,
        });
        let voxels = decode_voxels(
            &mut bytes.as_slice(),
            &layout(DataType::I16, 2, scaling),
            ByteOrder::Big,
            4,
        );
        assert_eq!(voxels.ok(), Some(vec![138.0, 9.0]));
    }

    #[test]
    fn images_spanning_several_chunks_decode_whole() {
        let voxels = CHUNK_BYTES / 2 + 3;
        let bytes: Vec<u8> = (0..voxels)
            .flat_map(|v| ((v % 30000) as u16).to_le_bytes())
            .collect();
        let decoded = decode_voxels(
            &mut bytes.as_slice(),
            &layout(DataType::U16, voxels, None),
            ByteOrder::Little,
            u64::MAX,
        )
        .ok();
        let expected: Vec<f32> = (0..voxels).map(|v| (v % 30000) as f32).collect();
        assert_eq!(decoded, Some(expected));
    }

    #[test]
    fn short_data_reports_bytes_found() {
        let bytes = [0u8; 10];
        let result = decode_voxels(
            &mut bytes.as_slice(),
            &layout(DataType::F64, 2, None),
            ByteOrder::Little,
            10,
        );
        assert!(matches!(result, Err(DecodeError::EndOfData { found: 10 })));
    }

    #[test]
    fn a_huge_claim_reserves_a_bounded_amount() {
        let mut voxels = Vec::with_capacity(4);
        grow_for(&mut voxels, 8, usize::MAX / 8);
        assert!(voxels.capacity() < 64);
    }
}
