//! `engine::prepare::case_file` owns the on-disk form of one prepared case (a `.mkdp` file):
//! the cropped, normalised intensities quantised to `i16`, the region bits and the foreground
//! index, stored in 16³ chunks so that a patch reads only the chunks it overlaps.
//!
//! Layout (little-endian):
//! 1. the magic `MKDPREP1`, the header's length (`u32`) and the header ([`CaseHeader`], JSON);
//! 2. the chunk table: per stored channel (FLAIR, T1, T1ce, T2, then the region bits when the
//!    case has labels), per chunk in `(d, h, w)` order, one [`Entry`]: where the chunk's bytes
//!    start in the data section, how many there are (0: the chunk is all zeros and not
//!    stored) and their xxh3 checksum;
//! 3. the foreground table: one [`Entry`] per block of [`FOREGROUND_BLOCK`] indices;
//! 4. the data section: the chunks, then the foreground indices (`u32`). A chunk holds the
//!    values of its own extent (edge chunks are smaller), row-major, intensities as `i16` and
//!    region bits as `u8`, in one of two encodings told by its first byte: `0` dense, every
//!    value; `1` sparse, a bit per voxel (set: non-zero) then the non-zero values only.
//!    Sparse is used when it is smaller, which it is wherever a chunk holds background: the
//!    brain fills only about half of its bounding box.
//!
//! The header records the tables' checksum and the data section's length, so a truncated
//! file or a damaged table is refused when the file is opened, and a damaged chunk when it is
//! read. Files are written under a temporary name and renamed into place
//! ([`crate::atomic_file`]): a file under its final name is always complete.
//!
//! **Quantisation.** Per channel, `value = q · scale` with `scale = max |v| / 32767`, so the
//! error is at most `scale / 2` (about 1.5·10⁻⁴ for z-scores up to 10). A non-zero value is
//! never stored as 0 (it becomes ±1, error ≤ `scale`): 0 means background to the augmentation.
//! Whoever reads a prepared case, whole ([`CaseFile::read_case`]) or by window
//! ([`CaseFile::read_window`]), gets exactly the same dequantised values.

use super::{CaseFileError, PreparedCase};
use crate::study::{Availability, LabelConvention};
use std::fs::File;
use std::path::{Path, PathBuf};
use xxhash_rust::xxh3::xxh3_64;

/// Edge of a chunk in voxels.
pub const CHUNK: usize = 16;
/// Foreground indices per checksummed block.
pub const FOREGROUND_BLOCK: usize = 4096;
/// Version of the file layout; a file of another version is refused.
pub const FORMAT_VERSION: u32 = 2;
const MAGIC: &[u8; 8] = b"MKDPREP1";
const ENTRY_BYTES: usize = 20;
/// First byte of a chunk: its encoding.
const DENSE: u8 = 0;
const SPARSE: u8 = 1;

/// What a prepared case file says about its case (everything of [`PreparedCase`] but the
/// voxels), plus what is needed to check the file.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CaseHeader {
    pub version: u32,
    pub name: String,
    pub shape: [usize; 3],
    pub offset: [usize; 3],
    pub source_shape: [usize; 3],
    /// Voxel size in mm along `[D, H, W]`.
    pub spacing: [f64; 3],
    /// Subset id of the modalities the case has.
    pub available: u8,
    pub inferior_first: bool,
    pub convention: LabelConvention,
    pub has_regions: bool,
    /// Dequantisation scale of each modality.
    pub scales: [f32; 4],
    /// Number of foreground indices.
    pub foreground: u64,
    /// Key of the preparation settings (see `data::prepared`); a case prepared with other
    /// settings is prepared again.
    pub settings: String,
    /// The files the case was prepared from, as they were then.
    pub sources: Vec<SourceFile>,
    /// xxh3 of the chunk and foreground tables.
    pub tables_hash: u64,
    /// Length of the data section in bytes.
    pub data_bytes: u64,
}

/// One file a case was prepared from: where it was, its size and modification time (a
/// quick check) and the xxh3 of its content (the sure one), as 16 hex digits.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SourceFile {
    pub path: PathBuf,
    pub bytes: u64,
    /// Modification time, nanoseconds since the Unix epoch (0 when the system has none).
    pub modified_ns: u64,
    pub hash: String,
}

/// Where one chunk or foreground block lies in the data section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    offset: u64,
    len: u32,
    hash: u64,
}

/// Where a box read from a case lands in an output array: the array's `[D, H, W]` shape and
/// the position of the box's first voxel in it.
#[derive(Debug, Clone, Copy)]
struct OutBox {
    shape: [usize; 3],
    at: [usize; 3],
}

/// An open prepared case file: its header and tables, checked; voxels are read on demand.
pub struct CaseFile {
    path: PathBuf,
    file: File,
    header: CaseHeader,
    chunks: Vec<Entry>,
    foreground: Vec<Entry>,
    data_start: u64,
}

/// Chunks per axis of a `[D, H, W]` grid.
fn chunk_grid(shape: [usize; 3]) -> [usize; 3] {
    shape.map(|s| s.div_ceil(CHUNK))
}

/// Voxel range `[start, end)` of chunk `k` along an axis of length `len`.
fn chunk_span(k: usize, len: usize) -> (usize, usize) {
    (k * CHUNK, ((k + 1) * CHUNK).min(len))
}

/// Quantises one channel: the `i16` values and the scale (see the module docs).
fn quantise(values: &[f32]) -> (Vec<i16>, f32) {
    let max = values
        .iter()
        .filter(|v| v.is_finite())
        .fold(0.0f32, |m, v| m.max(v.abs()));
    let scale = if max > 0.0 { max / 32767.0 } else { 1.0 };
    let q = values
        .iter()
        .map(|v| {
            if *v == 0.0 || !v.is_finite() {
                return 0;
            }
            let q = (v / scale).round().clamp(-32767.0, 32767.0) as i16;
            if q == 0 {
                if *v > 0.0 {
                    1
                } else {
                    -1
                }
            } else {
                q
            }
        })
        .collect();
    (q, scale)
}

/// Writes `case` to `path` (atomically), recording the settings key and the sources; returns
/// the file's size in bytes.
pub fn write_case(
    path: &Path,
    case: &PreparedCase,
    settings: &str,
    sources: &[SourceFile],
) -> Result<u64, CaseFileError> {
    let n = case.voxels();
    let grid = chunk_grid(case.shape);
    let mut data: Vec<u8> = Vec::new();
    let mut chunks: Vec<Entry> = Vec::new();
    let mut scales = [1.0f32; 4];
    for (c, scale) in scales.iter_mut().enumerate() {
        let (q, s) = quantise(&case.image[c * n..(c + 1) * n]);
        *scale = s;
        store_chunks(&q, case.shape, grid, &mut data, &mut chunks, |v, out| {
            out.extend_from_slice(&v.to_le_bytes())
        });
    }
    if let Some(regions) = &case.regions {
        store_chunks(
            regions,
            case.shape,
            grid,
            &mut data,
            &mut chunks,
            |v, out| out.push(*v),
        );
    }
    let mut foreground = Vec::new();
    for block in case.foreground.chunks(FOREGROUND_BLOCK) {
        let start = data.len();
        for i in block {
            data.extend_from_slice(&i.to_le_bytes());
        }
        foreground.push(entry(&data, start));
    }
    let tables = encode_tables(&chunks, &foreground);
    let header = CaseHeader {
        version: FORMAT_VERSION,
        name: case.name.clone(),
        shape: case.shape,
        offset: case.offset,
        source_shape: case.source_shape,
        spacing: case.spacing,
        available: case.available.id(),
        inferior_first: case.inferior_first,
        convention: case.convention,
        has_regions: case.regions.is_some(),
        scales,
        foreground: case.foreground.len() as u64,
        settings: settings.to_string(),
        sources: sources.to_vec(),
        tables_hash: xxh3_64(&tables),
        data_bytes: data.len() as u64,
    };
    let header_json = serde_json::to_vec(&header).map_err(|e| CaseFileError::Write {
        path: path.to_path_buf(),
        source: std::io::Error::other(e),
    })?;
    let mut bytes = Vec::with_capacity(12 + header_json.len() + tables.len() + data.len());
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&(header_json.len() as u32).to_le_bytes());
    bytes.extend_from_slice(&header_json);
    bytes.extend_from_slice(&tables);
    bytes.extend_from_slice(&data);
    crate::atomic_file::write(path, &bytes).map_err(|source| CaseFileError::Write {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(bytes.len() as u64)
}

/// Appends the chunks of one `[D, H, W]` channel to `data` (all-zero chunks are not stored).
fn store_chunks<T: Copy + Default + PartialEq>(
    values: &[T],
    shape: [usize; 3],
    grid: [usize; 3],
    data: &mut Vec<u8>,
    entries: &mut Vec<Entry>,
    encode: impl Fn(&T, &mut Vec<u8>),
) {
    let [_, h, w] = shape;
    let zero = T::default();
    for kd in 0..grid[0] {
        let (d0, d1) = chunk_span(kd, shape[0]);
        for kh in 0..grid[1] {
            let (h0, h1) = chunk_span(kh, shape[1]);
            for kw in 0..grid[2] {
                let (w0, w1) = chunk_span(kw, shape[2]);
                let chunk: Vec<T> = (d0..d1)
                    .flat_map(|d| (h0..h1).map(move |y| (d * h + y) * w))
                    .flat_map(|r| values[r + w0..r + w1].iter().copied())
                    .collect();
                let nonzero = chunk.iter().filter(|v| **v != zero).count();
                if nonzero == 0 {
                    entries.push(Entry {
                        offset: data.len() as u64,
                        len: 0,
                        hash: 0,
                    });
                    continue;
                }
                let start = data.len();
                // Sparse costs a bit per voxel, dense the zeros' bytes.
                if chunk.len().div_ceil(8) < (chunk.len() - nonzero) * size_of::<T>() {
                    data.push(SPARSE);
                    let mut mask = vec![0u8; chunk.len().div_ceil(8)];
                    for (i, v) in chunk.iter().enumerate() {
                        if *v != zero {
                            mask[i / 8] |= 1 << (i % 8);
                        }
                    }
                    data.extend_from_slice(&mask);
                    chunk
                        .iter()
                        .filter(|v| **v != zero)
                        .for_each(|v| encode(v, data));
                } else {
                    data.push(DENSE);
                    chunk.iter().for_each(|v| encode(v, data));
                }
                entries.push(entry(data, start));
            }
        }
    }
}

/// Decodes a stored chunk (see the module docs) of `voxels` values into `out`; `false` when
/// its bytes do not fit that many.
fn decode_chunk<T: Copy + Default>(
    bytes: &[u8],
    voxels: usize,
    size: usize,
    decode: &impl Fn(&[u8]) -> T,
    out: &mut Vec<T>,
) -> bool {
    out.clear();
    let Some((&tag, body)) = bytes.split_first() else {
        return false;
    };
    match tag {
        DENSE if body.len() == voxels * size => {
            out.extend(body.chunks_exact(size).map(decode));
            true
        }
        SPARSE if body.len() >= voxels.div_ceil(8) => {
            let (mask, values) = body.split_at(voxels.div_ceil(8));
            let mut values = values.chunks_exact(size);
            out.resize(voxels, T::default());
            for (k, &bits) in mask.iter().enumerate() {
                if bits == 0 {
                    continue;
                }
                for b in 0..8 {
                    if bits >> b & 1 == 1 {
                        let Some(v) = values.next() else { return false };
                        match out.get_mut(8 * k + b) {
                            Some(slot) => *slot = decode(v),
                            None => return false,
                        }
                    }
                }
            }
            values.next().is_none()
        }
        _ => false,
    }
}

/// The entry of `data[start..]`.
fn entry(data: &[u8], start: usize) -> Entry {
    Entry {
        offset: start as u64,
        len: (data.len() - start) as u32,
        hash: xxh3_64(&data[start..]),
    }
}

fn encode_tables(chunks: &[Entry], foreground: &[Entry]) -> Vec<u8> {
    let mut out = Vec::with_capacity((chunks.len() + foreground.len()) * ENTRY_BYTES);
    for e in chunks.iter().chain(foreground) {
        out.extend_from_slice(&e.offset.to_le_bytes());
        out.extend_from_slice(&e.len.to_le_bytes());
        out.extend_from_slice(&e.hash.to_le_bytes());
    }
    out
}

fn decode_entries(bytes: &[u8]) -> Vec<Entry> {
    bytes
        .chunks_exact(ENTRY_BYTES)
        .map(|b| Entry {
            offset: u64::from_le_bytes(b[0..8].try_into().unwrap_or_default()),
            len: u32::from_le_bytes(b[8..12].try_into().unwrap_or_default()),
            hash: u64::from_le_bytes(b[12..20].try_into().unwrap_or_default()),
        })
        .collect()
}

/// Reads exactly `buf.len()` bytes at `offset`.
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
    }
    #[cfg(windows)]
    {
        let mut done = 0;
        while done < buf.len() {
            let n = std::os::windows::fs::FileExt::seek_read(
                file,
                &mut buf[done..],
                offset + done as u64,
            )?;
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            done += n;
        }
        Ok(())
    }
}

impl CaseFile {
    /// Opens `path` and checks its magic, version, header, length and tables.
    pub fn open(path: &Path) -> Result<CaseFile, CaseFileError> {
        let damaged = |problem: String| CaseFileError::Damaged {
            path: path.to_path_buf(),
            problem,
        };
        let file = File::open(path).map_err(|source| CaseFileError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        let len = file
            .metadata()
            .map_err(|source| CaseFileError::Open {
                path: path.to_path_buf(),
                source,
            })?
            .len();
        let mut start = [0u8; 12];
        read_at(&file, &mut start, 0).map_err(|_| damaged("shorter than its header".into()))?;
        if &start[..8] != MAGIC {
            return Err(CaseFileError::NotPrepared {
                path: path.to_path_buf(),
            });
        }
        let header_len = u32::from_le_bytes([start[8], start[9], start[10], start[11]]) as u64;
        if 12 + header_len > len {
            return Err(damaged("truncated inside its header".into()));
        }
        let mut json = vec![0u8; header_len as usize];
        read_at(&file, &mut json, 12).map_err(|e| damaged(format!("header unreadable: {e}")))?;
        let version = serde_json::from_slice::<serde_json::Value>(&json)
            .ok()
            .and_then(|v| v.get("version").and_then(|v| v.as_u64()));
        if version != Some(u64::from(FORMAT_VERSION)) {
            return Err(CaseFileError::Version {
                path: path.to_path_buf(),
                found: version.map_or("none".into(), |v| v.to_string()),
            });
        }
        let header: CaseHeader = serde_json::from_slice(&json)
            .map_err(|e| damaged(format!("header is not valid: {e}")))?;
        let grid = chunk_grid(header.shape);
        let channels = 4 + usize::from(header.has_regions);
        let n_chunks = channels * grid.iter().product::<usize>();
        let n_fg = (header.foreground as usize).div_ceil(FOREGROUND_BLOCK);
        let tables_len = ((n_chunks + n_fg) * ENTRY_BYTES) as u64;
        let data_start = 12 + header_len + tables_len;
        let expected = data_start + header.data_bytes;
        if len != expected {
            return Err(damaged(format!(
                "{len} bytes where its header promises {expected} (truncated or overwritten)"
            )));
        }
        let mut tables = vec![0u8; tables_len as usize];
        read_at(&file, &mut tables, 12 + header_len)
            .map_err(|e| damaged(format!("tables unreadable: {e}")))?;
        if xxh3_64(&tables) != header.tables_hash {
            return Err(damaged("its chunk table fails its checksum".into()));
        }
        let mut entries = decode_entries(&tables);
        let foreground = entries.split_off(n_chunks);
        if entries
            .iter()
            .chain(&foreground)
            .any(|e| e.offset + u64::from(e.len) > header.data_bytes)
        {
            return Err(damaged("a chunk lies past the end of the data".into()));
        }
        Ok(CaseFile {
            path: path.to_path_buf(),
            file,
            header,
            chunks: entries,
            foreground,
            data_start,
        })
    }

    pub fn header(&self) -> &CaseHeader {
        &self.header
    }

    /// The modalities the case has.
    pub fn available(&self) -> Availability {
        Availability::from_id(self.header.available)
    }

    /// The bytes of one entry into `buf`, checked against its checksum; `what` names the
    /// entry in an error.
    fn read_entry(
        &self,
        e: Entry,
        buf: &mut Vec<u8>,
        what: impl Fn() -> String,
    ) -> Result<(), CaseFileError> {
        buf.resize(e.len as usize, 0);
        read_at(&self.file, buf, self.data_start + e.offset).map_err(|source| {
            CaseFileError::Read {
                path: self.path.clone(),
                source,
            }
        })?;
        if xxh3_64(buf) != e.hash {
            return Err(CaseFileError::Damaged {
                path: self.path.clone(),
                problem: format!("{} fails its checksum", what()),
            });
        }
        Ok(())
    }

    /// Foreground index `k` (a linear index into the cropped grid).
    pub fn foreground_at(&self, k: u64) -> Result<u32, CaseFileError> {
        let block = (k / FOREGROUND_BLOCK as u64) as usize;
        let e = *self
            .foreground
            .get(block)
            .ok_or_else(|| CaseFileError::Damaged {
                path: self.path.clone(),
                problem: format!(
                    "foreground index {k} is past its {}",
                    self.header.foreground
                ),
            })?;
        let mut bytes = Vec::new();
        self.read_entry(e, &mut bytes, || "a foreground block".into())?;
        let at = (k as usize % FOREGROUND_BLOCK) * 4;
        let value = bytes
            .get(at..at + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .ok_or_else(|| CaseFileError::Damaged {
                path: self.path.clone(),
                problem: "a foreground block is too short".into(),
            })?;
        if value as usize >= self.header.shape.iter().product::<usize>() {
            return Err(CaseFileError::Damaged {
                path: self.path.clone(),
                problem: format!("foreground voxel {value} lies outside the case"),
            });
        }
        Ok(value)
    }

    /// The whole case, dequantised.
    pub fn read_case(&self) -> Result<PreparedCase, CaseFileError> {
        let mut case = self.read_window([0; 3], self.header.shape, Availability::FULL, true)?;
        case.offset = self.header.offset;
        case.source_shape = self.header.source_shape;
        let mut foreground = Vec::with_capacity(self.header.foreground as usize);
        let mut bytes = Vec::new();
        for (b, e) in self.foreground.iter().enumerate() {
            self.read_entry(*e, &mut bytes, || format!("foreground block {b}"))?;
            foreground.extend(
                bytes
                    .chunks_exact(4)
                    .map(|v| u32::from_le_bytes([v[0], v[1], v[2], v[3]])),
            );
        }
        case.foreground = foreground;
        Ok(case)
    }

    /// The box `[lo, hi)` of the cropped grid as a small case of its own (shape `hi − lo`):
    /// the channels in `channels` (others are zero) and, when `regions` is set and the case
    /// has labels, the region bits. `lo`/`hi` are clamped to the case. The window's
    /// foreground list is empty and its offset is `lo`.
    pub fn read_window(
        &self,
        lo: [usize; 3],
        hi: [usize; 3],
        channels: Availability,
        regions: bool,
    ) -> Result<PreparedCase, CaseFileError> {
        let mut window = PreparedCase {
            name: String::new(),
            shape: [0; 3],
            image: Vec::new(),
            regions: None,
            foreground: Vec::new(),
            offset: [0; 3],
            source_shape: [0; 3],
            spacing: self.header.spacing,
            available: Availability::NONE,
            inferior_first: false,
            convention: self.header.convention,
        };
        self.read_window_into(lo, hi, channels, regions, &mut window)?;
        Ok(window)
    }

    /// [`CaseFile::read_window`] into `window`, reusing its buffers (a sampler reads one
    /// window per patch).
    pub fn read_window_into(
        &self,
        lo: [usize; 3],
        hi: [usize; 3],
        channels: Availability,
        regions: bool,
        window: &mut PreparedCase,
    ) -> Result<(), CaseFileError> {
        let h = &self.header;
        let hi: [usize; 3] = std::array::from_fn(|a| hi[a].min(h.shape[a]));
        let lo: [usize; 3] = std::array::from_fn(|a| lo[a].min(hi[a]));
        let shape: [usize; 3] = std::array::from_fn(|a| hi[a] - lo[a]);
        let n: usize = shape.iter().product();
        let wanted = channels.intersection(self.available());
        let place = OutBox { shape, at: [0; 3] };
        // Every voxel of each channel is written below (decoded, or zero), so the buffer is
        // reused as it is.
        window.image.resize(4 * n, 0.0);
        for m in crate::study::Modality::ALL {
            let c = m.index();
            let out = &mut window.image[c * n..(c + 1) * n];
            if wanted.contains(m) {
                self.fill_channel(c, (lo, hi), place, out)?;
            } else {
                out.fill(0.0);
            }
        }
        if regions && h.has_regions {
            let mut bits = window.regions.take().unwrap_or_default();
            bits.resize(n, 0);
            self.fill_window(4, (lo, hi), place, 1, &mut bits, |b| b[0])?;
            window.regions = Some(bits);
        } else {
            window.regions = None;
        }
        window.name.clone_from(&h.name);
        window.shape = shape;
        window.foreground.clear();
        window.offset = lo;
        window.source_shape = h.shape;
        window.spacing = h.spacing;
        window.available = self.available();
        window.inferior_first = h.inferior_first;
        window.convention = h.convention;
        Ok(())
    }

    /// Writes the box `[lo, hi)` of the case (clamped to it) straight into a patch: the
    /// channels in `channels` into `image` (`[4, D, H, W]` of `size`), the region bits into
    /// `regions` (`[D, H, W]`), the box's first voxel landing at `at` of the patch. Voxels
    /// outside the box are not touched. Returns whether the case has labels (else `regions` is
    /// not touched). Gives the same values as [`CaseFile::read_window`].
    #[allow(clippy::too_many_arguments)]
    pub fn read_into_patch(
        &self,
        lo: [usize; 3],
        hi: [usize; 3],
        channels: Availability,
        size: [usize; 3],
        at: [usize; 3],
        image: &mut [f32],
        regions: &mut [u8],
    ) -> Result<bool, CaseFileError> {
        let h = &self.header;
        let hi: [usize; 3] = std::array::from_fn(|a| hi[a].min(h.shape[a]));
        let lo: [usize; 3] = std::array::from_fn(|a| lo[a].min(hi[a]));
        let pn: usize = size.iter().product();
        let place = OutBox { shape: size, at };
        for m in channels.intersection(self.available()).modalities() {
            let c = m.index();
            self.fill_channel(c, (lo, hi), place, &mut image[c * pn..(c + 1) * pn])?;
        }
        if h.has_regions {
            self.fill_window(4, (lo, hi), place, 1, regions, |b| b[0])?;
        }
        Ok(h.has_regions)
    }

    /// One modality's dequantised values of the box into `out` (see `fill_window`).
    fn fill_channel(
        &self,
        c: usize,
        bounds: ([usize; 3], [usize; 3]),
        place: OutBox,
        out: &mut [f32],
    ) -> Result<(), CaseFileError> {
        let scale = self.header.scales[c];
        self.fill_window(c, bounds, place, 2, out, |b| {
            f32::from(i16::from_le_bytes([b[0], b[1]])) * scale
        })
    }

    /// Writes the part of stored channel `channel` inside `[lo, hi)` into `out`, a row-major
    /// array placed as `place` says: every voxel of the box, zero where the chunk is not
    /// stored. Values are `size` bytes, decoded with `decode`.
    #[allow(clippy::too_many_arguments)]
    fn fill_window<T: Copy + Default>(
        &self,
        channel: usize,
        (lo, hi): ([usize; 3], [usize; 3]),
        place: OutBox,
        size: usize,
        out: &mut [T],
        decode: impl Fn(&[u8]) -> T,
    ) -> Result<(), CaseFileError> {
        let shape = self.header.shape;
        let grid = chunk_grid(shape);
        let per_channel: usize = grid.iter().product();
        let [_, wh, ww] = place.shape;
        let at = place.at;
        if (0..3).any(|a| hi[a] <= lo[a]) {
            return Ok(());
        }
        let mut bytes = Vec::new();
        let mut chunk: Vec<T> = Vec::with_capacity(CHUNK * CHUNK * CHUNK);
        for kd in lo[0] / CHUNK..hi[0].div_ceil(CHUNK) {
            let (d0, d1) = chunk_span(kd, shape[0]);
            for kh in lo[1] / CHUNK..hi[1].div_ceil(CHUNK) {
                let (h0, h1) = chunk_span(kh, shape[1]);
                for kw in lo[2] / CHUNK..hi[2].div_ceil(CHUNK) {
                    let (w0, w1) = chunk_span(kw, shape[2]);
                    let (cw, ch) = (w1 - w0, h1 - h0);
                    let (xa, xb) = (w0.max(lo[2]), w1.min(hi[2]));
                    let rows = (d0.max(lo[0])..d1.min(hi[0]))
                        .flat_map(|d| (h0.max(lo[1])..h1.min(hi[1])).map(move |y| (d, y)));
                    let dst = |(d, y): (usize, usize)| {
                        ((d - lo[0] + at[0]) * wh + (y - lo[1] + at[1])) * ww + (xa - lo[2] + at[2])
                    };
                    let index = (kd * grid[1] + kh) * grid[2] + kw;
                    let e = self.chunks[channel * per_channel + index];
                    if e.len == 0 {
                        for row in rows {
                            let at = dst(row);
                            out[at..at + (xb - xa)].fill(T::default());
                        }
                        continue;
                    }
                    let what = || format!("chunk {index} of channel {channel}");
                    self.read_entry(e, &mut bytes, what)?;
                    if !decode_chunk(&bytes, (d1 - d0) * ch * cw, size, &decode, &mut chunk) {
                        return Err(CaseFileError::Damaged {
                            path: self.path.clone(),
                            problem: format!("{} does not decode to its extent", what()),
                        });
                    }
                    for (d, y) in rows {
                        let src = ((d - d0) * ch + (y - h0)) * cw + (xa - w0);
                        let at = dst((d, y));
                        out[at..at + (xb - xa)].copy_from_slice(&chunk[src..src + (xb - xa)]);
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prepare::tests::synthetic_case;

    fn case() -> PreparedCase {
        // Not a multiple of the chunk edge on any axis; a tumour box; varied intensities.
        let mut case = synthetic_case([21, 35, 18], Some(([4, 9, 3], [12, 20, 10])));
        for (i, v) in case.image.iter_mut().enumerate() {
            if *v != 0.0 {
                *v = ((i * 7919) % 1000) as f32 / 100.0 - 4.0 + 1e-3;
            }
        }
        case.name = "c".into();
        case
    }

    #[test]
    fn a_case_round_trips_within_the_quantisation_step() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.mkdp");
        let original = case();
        let bytes = write_case(&path, &original, "key-1", &[]).unwrap();
        let file = CaseFile::open(&path).unwrap();
        assert_eq!(file.header().settings, "key-1");
        assert_eq!(std::fs::metadata(&path).unwrap().len(), bytes);
        let read = file.read_case().unwrap();
        assert_eq!(read.shape, original.shape);
        assert_eq!(read.regions, original.regions);
        assert_eq!(read.foreground, original.foreground);
        assert_eq!(read.offset, original.offset);
        assert_eq!(read.available, original.available);
        let n = original.voxels();
        for c in 0..4 {
            let scale = file.header().scales[c];
            for (a, b) in original.channel(c).iter().zip(read.channel(c)) {
                assert!((a - b).abs() <= scale, "channel {c}: {a} vs {b}");
                assert_eq!(
                    *a == 0.0,
                    *b == 0.0,
                    "background must stay exactly background"
                );
            }
        }
        // Every foreground index reads back by random access.
        for (k, want) in original.foreground.iter().enumerate() {
            assert_eq!(file.foreground_at(k as u64).unwrap(), *want);
        }
        assert!(file
            .foreground_at(original.foreground.len() as u64 + FOREGROUND_BLOCK as u64)
            .is_err());
        assert_eq!(read.image.len(), 4 * n);
    }

    #[test]
    fn a_window_equals_the_same_box_of_the_whole_case() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.mkdp");
        write_case(&path, &case(), "s", &[]).unwrap();
        let file = CaseFile::open(&path).unwrap();
        let whole = file.read_case().unwrap();
        let [_, h, w] = whole.shape;
        let lo = [3, 15, 1];
        let hi = [20, 34, 40]; // W is clamped to 18
        let only = Availability::from_id(0b0101);
        let win = file.read_window(lo, hi, only, true).unwrap();
        assert_eq!(win.shape, [17, 19, 17]);
        let [wd, wh, ww] = win.shape;
        let wn = wd * wh * ww;
        for d in 0..wd {
            for y in 0..wh {
                for x in 0..ww {
                    let src = ((d + lo[0]) * h + y + lo[1]) * w + x + lo[2];
                    let dst = (d * wh + y) * ww + x;
                    for c in 0..4 {
                        let want = if only.id() >> c & 1 == 1 {
                            whole.image[c * whole.voxels() + src]
                        } else {
                            0.0
                        };
                        assert_eq!(win.image[c * wn + dst], want);
                    }
                    assert_eq!(
                        win.regions.as_ref().unwrap()[dst],
                        whole.regions.as_ref().unwrap()[src]
                    );
                }
            }
        }
    }

    #[test]
    fn truncation_damage_and_other_files_are_refused_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.mkdp");
        write_case(&path, &case(), "s", &[]).unwrap();
        let good = std::fs::read(&path).unwrap();

        std::fs::write(&path, &good[..good.len() - 10]).unwrap();
        let err = CaseFile::open(&path).err().unwrap().to_string();
        assert!(err.contains("c.mkdp") && err.contains("truncated"), "{err}");

        // One flipped byte in the last chunk's data: opening works, reading it fails.
        let mut bad = good.clone();
        let last = bad.len() - 1 - 4 * case().foreground.len();
        bad[last] ^= 0x55;
        std::fs::write(&path, &bad).unwrap();
        let file = CaseFile::open(&path).unwrap();
        let err = file.read_case().err().unwrap().to_string();
        assert!(err.contains("c.mkdp") && err.contains("checksum"), "{err}");

        // A damaged table is refused at once.
        let mut bad = good.clone();
        let header_len = u32::from_le_bytes(good[8..12].try_into().unwrap()) as usize;
        bad[12 + header_len + 3] ^= 1;
        std::fs::write(&path, &bad).unwrap();
        let err = CaseFile::open(&path).err().unwrap().to_string();
        assert!(err.contains("checksum"), "{err}");

        std::fs::write(&path, b"not a prepared case").unwrap();
        assert!(matches!(
            CaseFile::open(&path),
            Err(CaseFileError::NotPrepared { .. })
        ));

        // Another format version.
        let text = String::from_utf8_lossy(&good[12..12 + header_len])
            .replace("\"version\":2", "\"version\":9");
        let mut other = good[..8].to_vec();
        other.extend_from_slice(&(text.len() as u32).to_le_bytes());
        other.extend_from_slice(text.as_bytes());
        other.extend_from_slice(&good[12 + header_len..]);
        std::fs::write(&path, &other).unwrap();
        let err = CaseFile::open(&path).err().unwrap().to_string();
        assert!(
            err.contains("version 9") && err.contains("metakd prepare"),
            "{err}"
        );
    }

    #[test]
    fn quantisation_keeps_background_and_sign() {
        let (q, scale) = quantise(&[0.0, 1e-9, -1e-9, 3.0, -3.0, f32::NAN]);
        assert_eq!(q, [0, 1, -1, 32767, -32767, 0]);
        assert!((scale - 3.0 / 32767.0).abs() < 1e-9);
        let (q, scale) = quantise(&[0.0; 5]);
        assert_eq!((q, scale), (vec![0; 5], 1.0));
    }
}
