//! Byte-level NIfTI-1/2 file builder for the volume tests: every header field the reader looks
//! at can be set, including wrong ones, in either byte order; [`allocation`] is the fuzz tests'
//! largest-request allocator and [`mutation`] their byte mutations.

#![allow(dead_code)] // Each test binary uses its own part of the builder.

pub mod allocation;
pub mod mutation;

use flate2::write::GzEncoder;
use flate2::Compression;
use std::io::Write;
use std::path::{Path, PathBuf};

/// A NIfTI file to build. `Spec::new` gives a valid little-endian NIfTI-1 int16 image.
#[derive(Debug, Clone)]
pub struct Spec {
    pub version: u8,
    pub big_endian: bool,
    pub sizeof_hdr: Option<i32>,
    pub magic: Option<[u8; 4]>,
    pub dim: [i64; 8],
    pub datatype: i16,
    pub bitpix: i16,
    pub intent_code: i32,
    pub pixdim: [f64; 8],
    pub vox_offset: f64,
    pub scl_slope: f64,
    pub scl_inter: f64,
    pub qform_code: i32,
    pub sform_code: i32,
    pub quatern: [f64; 3],
    pub qoffset: [f64; 3],
    pub srow: [[f64; 4]; 3],
    pub xyzt_units: i32,
    /// Bytes after the 4-byte extender (set its first byte to 1 when non-empty).
    pub extension: Vec<u8>,
}

impl Spec {
    pub fn new(shape: [i64; 3], datatype: i16, bitpix: i16) -> Spec {
        Spec {
            version: 1,
            big_endian: false,
            sizeof_hdr: None,
            magic: None,
            dim: [3, shape[0], shape[1], shape[2], 1, 1, 1, 1],
            datatype,
            bitpix,
            intent_code: 0,
            pixdim: [1.0, 2.0, 3.0, 4.0, 0.0, 0.0, 0.0, 0.0],
            vox_offset: 352.0,
            scl_slope: 1.0,
            scl_inter: 0.0,
            qform_code: 0,
            sform_code: 1,
            quatern: [0.0; 3],
            qoffset: [0.0; 3],
            srow: [
                [2.0, 0.0, 0.0, -10.0],
                [0.0, 3.0, 0.0, -20.0],
                [0.0, 0.0, 4.0, -30.0],
            ],
            xyzt_units: 10,
            extension: Vec::new(),
        }
    }

    /// The same image as NIfTI-2 (vox_offset moved past the larger header).
    pub fn nifti2(mut self) -> Spec {
        self.version = 2;
        if self.vox_offset == 352.0 {
            self.vox_offset = 544.0;
        }
        self
    }

    pub fn big_endian(mut self) -> Spec {
        self.big_endian = true;
        self
    }

    /// Header, extender, extension bytes, padding up to `vox_offset` (when it lies beyond).
    pub fn header_bytes(&self, single_file: bool) -> Vec<u8> {
        let mut bytes = if self.version == 1 {
            self.nifti1_header(single_file)
        } else {
            self.nifti2_header(single_file)
        };
        let mut extender = [0u8; 4];
        if !self.extension.is_empty() {
            extender[0] = 1;
        }
        bytes.extend_from_slice(&extender);
        bytes.extend_from_slice(&self.extension);
        if single_file && self.vox_offset.is_finite() && self.vox_offset > bytes.len() as f64 {
            bytes.resize(self.vox_offset as usize, 0);
        }
        bytes
    }

    /// A single-file image (`.nii`) holding `data` after the header.
    pub fn file(&self, data: &[u8]) -> Vec<u8> {
        let mut bytes = self.header_bytes(true);
        bytes.extend_from_slice(data);
        bytes
    }

    fn put(&self, buffer: &mut [u8], offset: usize, little_endian: &[u8]) {
        let mut value = little_endian.to_vec();
        if self.big_endian {
            value.reverse();
        }
        buffer[offset..offset + value.len()].copy_from_slice(&value);
    }

    fn nifti1_header(&self, single_file: bool) -> Vec<u8> {
        let mut h = vec![0u8; 348];
        let sizeof_hdr = self.sizeof_hdr.unwrap_or(348);
        self.put(&mut h, 0, &sizeof_hdr.to_le_bytes());
        for (i, d) in self.dim.iter().enumerate() {
            self.put(&mut h, 40 + 2 * i, &(*d as i16).to_le_bytes());
        }
        self.put(&mut h, 68, &(self.intent_code as i16).to_le_bytes());
        self.put(&mut h, 70, &self.datatype.to_le_bytes());
        self.put(&mut h, 72, &self.bitpix.to_le_bytes());
        for (i, p) in self.pixdim.iter().enumerate() {
            self.put(&mut h, 76 + 4 * i, &(*p as f32).to_le_bytes());
        }
        self.put(&mut h, 108, &(self.vox_offset as f32).to_le_bytes());
        self.put(&mut h, 112, &(self.scl_slope as f32).to_le_bytes());
        self.put(&mut h, 116, &(self.scl_inter as f32).to_le_bytes());
        h[123] = self.xyzt_units as u8;
        self.put(&mut h, 252, &(self.qform_code as i16).to_le_bytes());
        self.put(&mut h, 254, &(self.sform_code as i16).to_le_bytes());
        let quaternion = self.quatern.iter().chain(&self.qoffset);
        for (i, q) in quaternion.enumerate() {
            self.put(&mut h, 256 + 4 * i, &(*q as f32).to_le_bytes());
        }
        for (row, values) in self.srow.iter().enumerate() {
            for (col, v) in values.iter().enumerate() {
                self.put(&mut h, 280 + 16 * row + 4 * col, &(*v as f32).to_le_bytes());
            }
        }
        let magic = if single_file { *b"n+1\0" } else { *b"ni1\0" };
        h[344..348].copy_from_slice(&self.magic.unwrap_or(magic));
        h
    }

    fn nifti2_header(&self, single_file: bool) -> Vec<u8> {
        let mut h = vec![0u8; 540];
        let sizeof_hdr = self.sizeof_hdr.unwrap_or(540);
        self.put(&mut h, 0, &sizeof_hdr.to_le_bytes());
        let magic = if single_file { *b"n+2\0" } else { *b"ni2\0" };
        h[4..8].copy_from_slice(&self.magic.unwrap_or(magic));
        h[8..12].copy_from_slice(b"\r\n\x1a\n");
        self.put(&mut h, 12, &self.datatype.to_le_bytes());
        self.put(&mut h, 14, &self.bitpix.to_le_bytes());
        for (i, d) in self.dim.iter().enumerate() {
            self.put(&mut h, 16 + 8 * i, &d.to_le_bytes());
        }
        for (i, p) in self.pixdim.iter().enumerate() {
            self.put(&mut h, 104 + 8 * i, &p.to_le_bytes());
        }
        self.put(&mut h, 168, &(self.vox_offset as i64).to_le_bytes());
        self.put(&mut h, 176, &self.scl_slope.to_le_bytes());
        self.put(&mut h, 184, &self.scl_inter.to_le_bytes());
        self.put(&mut h, 344, &self.qform_code.to_le_bytes());
        self.put(&mut h, 348, &self.sform_code.to_le_bytes());
        let quaternion = self.quatern.iter().chain(&self.qoffset);
        for (i, q) in quaternion.enumerate() {
            self.put(&mut h, 352 + 8 * i, &q.to_le_bytes());
        }
        for (row, values) in self.srow.iter().enumerate() {
            for (col, v) in values.iter().enumerate() {
                self.put(&mut h, 400 + 32 * row + 8 * col, &v.to_le_bytes());
            }
        }
        self.put(&mut h, 500, &self.xyzt_units.to_le_bytes());
        self.put(&mut h, 504, &self.intent_code.to_le_bytes());
        h
    }
}

/// Little- or big-endian bytes of `values` as NIfTI datatype `datatype`.
pub fn encode(values: &[f64], datatype: i16, big_endian: bool) -> Vec<u8> {
    let mut out = Vec::new();
    for &v in values {
        let mut bytes = match datatype {
            2 => (v as u8).to_le_bytes().to_vec(),
            256 => (v as i8).to_le_bytes().to_vec(),
            4 => (v as i16).to_le_bytes().to_vec(),
            512 => (v as u16).to_le_bytes().to_vec(),
            8 => (v as i32).to_le_bytes().to_vec(),
            768 => (v as u32).to_le_bytes().to_vec(),
            1024 => (v as i64).to_le_bytes().to_vec(),
            1280 => (v as u64).to_le_bytes().to_vec(),
            16 => (v as f32).to_le_bytes().to_vec(),
            64 => v.to_le_bytes().to_vec(),
            other => panic!("test builder has no encoding for datatype {other}"),
        };
        if big_endian {
            bytes.reverse();
        }
        out.extend_from_slice(&bytes);
    }
    out
}

/// `bytes` gzipped.
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
    encoder.write_all(bytes).expect("gzip into memory");
    encoder.finish().expect("gzip into memory")
}

/// Writes `bytes` to `dir/name`, gzipped when the name ends in `.gz`.
pub fn save(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    let content = if name.ends_with(".gz") {
        gzip(bytes)
    } else {
        bytes.to_vec()
    };
    std::fs::write(&path, content).expect("write test file");
    path
}
