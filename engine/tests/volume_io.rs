//! NIfTI reading and writing through the public API, on files built byte by byte: every data
//! type in both byte orders, scaling, NIfTI-2, `.hdr`/`.img` pairs, extensions, 4D and 2D,
//! geometry rules, every rejection (each message must name the file and the problem), and
//! write → read round trips.

mod support;

use engine::volume::{
    write_f32, write_labels, write_volume, AffineSource, DataType, NiftiVersion, Volume,
    VolumeError,
};
use std::path::{Path, PathBuf};
use support::{encode, gzip, save, Spec};
use tempfile::TempDir;

fn temp() -> TempDir {
    tempfile::tempdir().expect("temporary folder")
}

fn read(path: &Path) -> Volume {
    match Volume::read(path) {
        Ok(volume) => volume,
        Err(error) => panic!("{error}"),
    }
}

/// Reads `path` expecting an error whose message names the file and contains every keyword.
fn rejection(path: &Path, keywords: &[&str]) -> VolumeError {
    let error = match Volume::read(path) {
        Ok(volume) => panic!("{} was read: {:?}", path.display(), volume.shape),
        Err(error) => error,
    };
    let message = error.to_string();
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    assert!(
        message.contains(name.as_deref().unwrap_or("?")),
        "message does not name the file: {message}"
    );
    for keyword in keywords {
        assert!(message.contains(keyword), "no {keyword:?} in: {message}");
    }
    error
}

fn int16_image(values: &[f64]) -> (Spec, Vec<u8>) {
    let spec = Spec::new([values.len() as i64, 1, 1], 4, 16);
    let data = encode(values, 4, false);
    (spec, data)
}

const TYPES: [(i16, i16, DataType, &[f64]); 10] = [
    (2, 8, DataType::U8, &[0.0, 1.0, 200.0, 255.0]),
    (256, 8, DataType::I8, &[-128.0, -1.0, 0.0, 127.0]),
    (4, 16, DataType::I16, &[-32768.0, -1.0, 0.0, 32767.0]),
    (512, 16, DataType::U16, &[0.0, 1.0, 40000.0, 65535.0]),
    (
        8,
        32,
        DataType::I32,
        &[-2147483648.0, -5.0, 0.0, 16777216.0],
    ),
    (
        768,
        32,
        DataType::U32,
        &[0.0, 7.0, 16777216.0, 4000000000.0],
    ),
    (
        1024,
        64,
        DataType::I64,
        &[-1099511627776.0, -3.0, 0.0, 4096.0],
    ),
    (
        1280,
        64,
        DataType::U64,
        &[0.0, 3.0, 1125899906842624.0, 4096.0],
    ),
    (16, 32, DataType::F32, &[-1.5, 0.0, 3.25, 1.0e30]),
    (64, 64, DataType::F64, &[-2.5, 0.0, 0.125, -1.0e-3]),
];

#[test]
fn every_data_type_in_both_byte_orders_and_compressions() {
    let dir = temp();
    for (code, bitpix, datatype, values) in TYPES {
        for big_endian in [false, true] {
            for suffix in ["nii", "nii.gz"] {
                let mut spec = Spec::new([2, 2, 1], code, bitpix);
                spec.big_endian = big_endian;
                let file = spec.file(&encode(values, code, big_endian));
                let name = format!("{}_{big_endian}.{suffix}", datatype.name());
                let volume = read(&save(dir.path(), &name, &file));
                let expected: Vec<f32> = values.iter().map(|&v| v as f32).collect();
                assert_eq!(volume.data, expected, "{name}");
                assert_eq!(volume.datatype, datatype, "{name}");
                assert_eq!(volume.shape, [2, 2, 1]);
                assert_eq!(volume.frames, 1);
                assert_eq!(volume.version, NiftiVersion::Nifti1);
            }
        }
    }
}

#[test]
fn scaling_applies_only_with_a_finite_non_zero_slope() {
    let dir = temp();
    let cases = [
        (2.0, -3.0, [-5.0, -1.0, 197.0]),
        (0.0, 5.0, [-1.0, 1.0, 100.0]),
        (f64::NAN, 5.0, [-1.0, 1.0, 100.0]),
        (f64::INFINITY, 5.0, [-1.0, 1.0, 100.0]),
        (0.5, 0.25, [-0.25, 0.75, 50.25]),
    ];
    for (i, (slope, inter, expected)) in cases.into_iter().enumerate() {
        let (mut spec, data) = int16_image(&[-1.0, 1.0, 100.0]);
        spec.scl_slope = slope;
        spec.scl_inter = inter;
        let volume = read(&save(
            dir.path(),
            &format!("scaled{i}.nii"),
            &spec.file(&data),
        ));
        assert_eq!(volume.data, expected, "slope {slope}");
        assert!(volume.scl_slope == slope || (slope.is_nan() && volume.scl_slope.is_nan()));
        assert_eq!(volume.scl_inter, inter);
    }
}

#[test]
fn a_valid_slope_with_a_nan_intercept_is_refused() {
    let dir = temp();
    let (mut spec, data) = int16_image(&[1.0]);
    spec.scl_slope = 2.0;
    spec.scl_inter = f64::NAN;
    let path = save(dir.path(), "nan_inter.nii", &spec.file(&data));
    rejection(&path, &["scl_inter"]);
}

#[test]
fn nifti2_in_both_byte_orders_with_frames() {
    let dir = temp();
    let values: Vec<f64> = (0..24).map(|v| f64::from(v) - 5.0).collect();
    for big_endian in [false, true] {
        let mut spec = Spec::new([2, 3, 2], 16, 32).nifti2();
        spec.big_endian = big_endian;
        spec.dim[0] = 4;
        spec.dim[4] = 2;
        spec.scl_slope = 0.5;
        spec.scl_inter = 1.0;
        let file = spec.file(&encode(&values, 16, big_endian));
        let volume = read(&save(dir.path(), &format!("n2_{big_endian}.nii.gz"), &file));
        assert_eq!(volume.version, NiftiVersion::Nifti2);
        assert_eq!((volume.shape, volume.frames), ([2, 3, 2], 2));
        let expected: Vec<f32> = values.iter().map(|v| (v * 0.5 + 1.0) as f32).collect();
        assert_eq!(volume.data, expected);
        assert_eq!(volume.frame(1)[0], expected[12]);
        assert_eq!(volume.affine_source, AffineSource::Sform);
        assert_eq!(volume.affine.0[1], [0.0, 3.0, 0.0, -20.0]);
        assert_eq!(volume.spatial.xyzt_units, 10);
    }
}

#[test]
fn hdr_img_pairs_plain_and_gzipped_opened_from_either_half() {
    let dir = temp();
    let values = [1.0, -2.0, 3.0, 400.0];
    let mut spec = Spec::new([4, 1, 1], 4, 16);
    spec.vox_offset = 0.0;
    let data = encode(&values, 4, false);
    let header = spec.header_bytes(false);
    save(dir.path(), "pair.hdr", &header);
    save(dir.path(), "pair.img", &data);
    save(dir.path(), "zipped.hdr.gz", &header);
    save(dir.path(), "zipped.img.gz", &data);
    save(dir.path(), "UPPER.HDR", &header);
    save(dir.path(), "UPPER.IMG", &data);
    for name in [
        "pair.hdr",
        "pair.img",
        "zipped.hdr.gz",
        "zipped.img.gz",
        "UPPER.HDR",
    ] {
        let volume = read(&dir.path().join(name));
        assert_eq!(volume.data, [1.0, -2.0, 3.0, 400.0], "{name}");
    }
}

#[test]
fn pair_vox_offset_is_an_offset_into_the_img() {
    let dir = temp();
    let mut spec = Spec::new([2, 1, 1], 2, 8);
    spec.vox_offset = 3.0;
    save(dir.path(), "offset.hdr", &spec.header_bytes(false));
    save(dir.path(), "offset.img", &[9, 9, 9, 7, 8]);
    assert_eq!(read(&dir.path().join("offset.hdr")).data, [7.0, 8.0]);
}

#[test]
fn header_extensions_are_skipped_up_to_vox_offset() {
    let dir = temp();
    for version in [1, 2] {
        let (mut spec, data) = int16_image(&[5.0, 6.0]);
        if version == 2 {
            spec = spec.nifti2();
        }
        spec.extension = vec![0xAB; 48];
        spec.vox_offset = if version == 1 { 400.0 } else { 592.0 };
        for suffix in ["nii", "nii.gz"] {
            let path = save(
                dir.path(),
                &format!("ext{version}.{suffix}"),
                &spec.file(&data),
            );
            assert_eq!(read(&path).data, [5.0, 6.0], "{}", path.display());
        }
    }
}

#[test]
fn a_single_file_vox_offset_inside_the_header_means_right_after_it() {
    let dir = temp();
    let (mut spec, data) = int16_image(&[5.0, 6.0]);
    spec.vox_offset = 0.0;
    let mut file = spec.header_bytes(false);
    file.truncate(348);
    file[344..348].copy_from_slice(b"n+1\0");
    file.extend_from_slice(&data);
    assert_eq!(read(&save(dir.path(), "zero.nii", &file)).data, [5.0, 6.0]);
}

#[test]
fn four_d_series_and_single_frame_and_two_d() {
    let dir = temp();
    let values: Vec<f64> = (0..12).map(f64::from).collect();
    let mut spec = Spec::new([3, 2, 1], 4, 16);
    spec.dim = [4, 3, 2, 1, 2, 1, 1, 1];
    let volume = read(&save(
        dir.path(),
        "4d.nii",
        &spec.file(&encode(&values, 4, false)),
    ));
    assert_eq!((volume.shape, volume.frames), ([3, 2, 1], 2));
    assert_eq!(volume.value([2, 1, 0], 1), Some(11.0));

    spec.dim = [4, 3, 2, 2, 1, 1, 1, 1];
    let volume = read(&save(
        dir.path(),
        "4d1.nii",
        &spec.file(&encode(&values, 4, false)),
    ));
    assert_eq!((volume.shape, volume.frames), ([3, 2, 2], 1));

    spec.dim = [2, 4, 3, 9, 9, 1, 1, 1];
    let volume = read(&save(
        dir.path(),
        "2d.nii",
        &spec.file(&encode(&values, 4, false)),
    ));
    assert_eq!((volume.shape, volume.frames), ([4, 3, 1], 1));
    assert_eq!(volume.data.len(), 12);
}

#[test]
fn five_d_data_is_refused() {
    let dir = temp();
    let mut spec = Spec::new([2, 1, 1], 2, 8);
    spec.dim = [5, 2, 1, 1, 1, 3, 1, 1];
    let path = save(dir.path(), "vector.nii", &spec.file(&[0; 6]));
    rejection(&path, &["dim[5] is 3"]);
}

#[test]
fn geometry_rules_sform_qform_with_qfac_and_pixdim() {
    let dir = temp();
    let (base, data) = int16_image(&[0.0]);

    let volume = read(&save(dir.path(), "sform.nii", &base.file(&data)));
    assert_eq!(volume.affine_source, AffineSource::Sform);
    assert_eq!(volume.affine.0[0], [2.0, 0.0, 0.0, -10.0]);

    // qform only: 180° about z (d = 1) with qfac -1 flips x, y and z.
    let mut qform = base.clone();
    (qform.sform_code, qform.qform_code) = (0, 1);
    qform.quatern = [0.0, 0.0, 1.0];
    qform.qoffset = [5.0, 6.0, 7.0];
    qform.pixdim[0] = -1.0;
    let volume = read(&save(dir.path(), "qform.nii", &qform.file(&data)));
    assert_eq!(volume.affine_source, AffineSource::Qform);
    assert_eq!(volume.voxel_to_world([1.0, 1.0, 1.0]), [3.0, 3.0, 3.0]);
    assert_eq!(volume.axcodes(), ['L', 'P', 'I']);

    // qfac 0 counts as +1.
    qform.pixdim[0] = 0.0;
    let volume = read(&save(dir.path(), "qfac0.nii", &qform.file(&data)));
    assert_eq!(volume.voxel_to_world([1.0, 1.0, 1.0]), [3.0, 3.0, 11.0]);

    let mut pixdim = base.clone();
    (pixdim.sform_code, pixdim.qform_code) = (0, 0);
    pixdim.pixdim = [1.0, -2.0, 0.0, 4.0, 0.0, 0.0, 0.0, 0.0];
    let volume = read(&save(dir.path(), "pixdim.nii", &pixdim.file(&data)));
    assert_eq!(volume.affine_source, AffineSource::Pixdim);
    assert_eq!(volume.voxel_sizes(), [2.0, 1.0, 4.0]);
}

#[test]
fn an_unusable_sform_falls_back_to_the_qform() {
    let dir = temp();
    let (mut spec, data) = int16_image(&[0.0]);
    spec.qform_code = 1;
    spec.srow[0] = [0.0, 0.0, 0.0, 0.0];
    let volume = read(&save(dir.path(), "flat_sform.nii", &spec.file(&data)));
    assert_eq!(volume.affine_source, AffineSource::Qform);
    assert_eq!(volume.voxel_sizes(), [2.0, 3.0, 4.0]);
    assert_eq!(
        volume.spatial.srow[0], [0.0; 4],
        "raw fields stay as stored"
    );
}

#[test]
fn nan_pixdim_without_another_geometry_is_refused() {
    let dir = temp();
    let (mut spec, data) = int16_image(&[0.0]);
    spec.sform_code = 0;
    spec.pixdim[2] = f64::NAN;
    let path = save(dir.path(), "nan_pixdim.nii", &spec.file(&data));
    rejection(&path, &["pixdim", "geometry"]);
}

#[test]
fn truncated_voxel_data_says_how_many_bytes() {
    let dir = temp();
    let (spec, data) = int16_image(&[1.0, 2.0, 3.0, 4.0, 5.0]);
    let mut file = spec.file(&data);
    file.truncate(file.len() - 3);
    let plain = save(dir.path(), "short.nii", &file);
    rejection(&plain, &["truncated", "expected 10 bytes", "found 7"]);
    let zipped = save(dir.path(), "short.nii.gz", &file);
    rejection(&zipped, &["truncated", "expected 10 bytes", "found 7"]);
}

#[test]
fn a_cut_gzip_stream_is_truncation() {
    let dir = temp();
    let values: Vec<f64> = (0..4000).map(|v| f64::from(v * 7919 % 30011)).collect();
    let (spec, data) = int16_image(&values);
    let mut zipped = gzip(&spec.file(&data));
    zipped.truncate(zipped.len() / 2);
    let path = dir.path().join("cut.nii.gz");
    std::fs::write(&path, &zipped).expect("write");
    rejection(&path, &["truncated"]);
}

#[test]
fn garbled_gzip_data_is_corruption() {
    let dir = temp();
    let values: Vec<f64> = (0..4000).map(|v| f64::from(v * 7919 % 30011)).collect();
    let (spec, data) = int16_image(&values);
    let mut zipped = gzip(&spec.file(&data));
    let middle = zipped.len() / 2;
    zipped[middle..middle + 64].fill(0xFF);
    let path = dir.path().join("garbled.nii.gz");
    std::fs::write(&path, &zipped).expect("write");
    let error = rejection(&path, &[]);
    assert!(
        matches!(
            error,
            VolumeError::Corrupt { .. } | VolumeError::Truncated { .. }
        ),
        "{error}"
    );
}

#[test]
fn header_problems_are_named() {
    let dir = temp();
    let (base, data) = int16_image(&[1.0, 2.0]);
    let cases: Vec<(&str, Spec, &[&str])> = vec![
        (
            "magic.nii",
            Spec {
                magic: Some(*b"nx9\0"),
                ..base.clone()
            },
            &["magic", "nx9"],
        ),
        (
            "sizeof.nii",
            Spec {
                sizeof_hdr: Some(350),
                ..base.clone()
            },
            &["sizeof_hdr", "350"],
        ),
        (
            "dim0.nii",
            Spec {
                dim: [0, 2, 1, 1, 1, 1, 1, 1],
                ..base.clone()
            },
            &["dim[0] is 0"],
        ),
        (
            "dim8.nii",
            Spec {
                dim: [8, 2, 1, 1, 1, 1, 1, 1],
                ..base.clone()
            },
            &["dim[0] is 8"],
        ),
        (
            "zero.nii",
            Spec {
                dim: [3, 2, 0, 1, 1, 1, 1, 1],
                ..base.clone()
            },
            &["dim[2] is 0"],
        ),
        (
            "neg.nii",
            Spec {
                dim: [3, 2, 1, -4, 1, 1, 1, 1],
                ..base.clone()
            },
            &["dim[3] is -4"],
        ),
        (
            "cifti.nii",
            Spec {
                intent_code: 3006,
                ..base.clone()
            },
            &["CIFTI", "not a volume"],
        ),
        (
            "vox.nii",
            Spec {
                vox_offset: f64::NAN,
                ..base.clone()
            },
            &["vox_offset"],
        ),
        (
            "neg_vox.nii",
            Spec {
                vox_offset: -8.0,
                ..base.clone()
            },
            &["vox_offset"],
        ),
        (
            "nii2magic.nii",
            Spec {
                magic: Some(*b"n+1\0"),
                ..base.clone().nifti2()
            },
            &["magic"],
        ),
        (
            "be_dim0.nii",
            Spec {
                dim: [9, 2, 1, 1, 1, 1, 1, 1],
                big_endian: true,
                ..base.clone()
            },
            &["dim[0] is 9"],
        ),
    ];
    for (name, spec, keywords) in cases {
        rejection(&save(dir.path(), name, &spec.file(&data)), keywords);
    }
}

#[test]
fn unsupported_data_types_are_named() {
    let dir = temp();
    let names = [
        (32, "complex64"),
        (128, "RGB24"),
        (1536, "float128"),
        (1792, "complex128"),
        (2304, "RGBA32"),
        (1, "binary"),
        (0, "unknown"),
        (77, "undefined"),
    ];
    for (code, name) in names {
        let spec = Spec::new([2, 1, 1], code, 8);
        let path = save(dir.path(), &format!("type{code}.nii"), &spec.file(&[0; 64]));
        rejection(&path, &[name, &format!("datatype {code}")]);
    }
}

#[test]
fn absurd_and_overflowing_sizes_are_refused_before_allocating() {
    let dir = temp();
    let mut huge = Spec::new([32767, 32767, 32767], 4, 16);
    huge.dim[0] = 4;
    huge.dim[4] = 32767;
    rejection(
        &save(dir.path(), "huge.nii", &huge.file(&[])),
        &["too large"],
    );
    let mut overflow = Spec::new([i64::MAX / 2, i64::MAX / 2, 4], 4, 16).nifti2();
    overflow.dim[0] = 3;
    rejection(
        &save(dir.path(), "overflow.nii.gz", &overflow.file(&[])),
        &["too large"],
    );
}

#[test]
fn a_big_claim_in_a_small_gzip_is_truncation_not_an_allocation() {
    let dir = temp();
    // 1 GiB of f32 claimed, a few bytes present.
    let spec = Spec::new([1024, 1024, 256], 2, 8);
    let path = save(dir.path(), "claim.nii.gz", &spec.file(&[1, 2, 3]));
    rejection(&path, &["truncated", "found 3"]);
}

#[test]
fn vox_offset_beyond_the_file_is_refused() {
    let dir = temp();
    let (spec, data) = int16_image(&[1.0, 2.0]);
    let mut file = spec.file(&data);
    file[108..112].copy_from_slice(&4096f32.to_le_bytes());
    rejection(
        &save(dir.path(), "far.nii", &file),
        &["vox_offset 4096", "beyond"],
    );
    rejection(
        &save(dir.path(), "far.nii.gz", &file),
        &["vox_offset 4096", "beyond"],
    );
}

#[test]
fn short_and_empty_files_are_not_nifti() {
    let dir = temp();
    rejection(&save(dir.path(), "empty.nii", &[]), &["0 bytes"]);
    rejection(&save(dir.path(), "tiny.nii.gz", &[1, 2]), &["2 bytes"]);
    let (spec, data) = int16_image(&[1.0]);
    let file = spec.file(&data);
    rejection(
        &save(dir.path(), "cut_header.nii", &file[..200]),
        &["truncated", "200 of 348"],
    );
}

#[test]
fn a_hdr_without_its_img_names_both() {
    let dir = temp();
    let spec = Spec::new([2, 1, 1], 2, 8);
    let path = save(dir.path(), "lonely.hdr", &spec.header_bytes(false));
    let error = rejection(&path, &["lonely.img", "missing"]);
    assert!(matches!(error, VolumeError::MissingCompanion { .. }));
    let path = save(dir.path(), "orphan.img", &[1, 2]);
    rejection(&path, &["orphan.hdr", "missing"]);
}

#[test]
fn a_missing_file_is_an_io_error_naming_it() {
    let dir = temp();
    let path = dir.path().join("absent.nii.gz");
    let error = rejection(&path, &["cannot read"]);
    assert!(matches!(error, VolumeError::Io { .. }));
}

// ---------------------------------------------------------------------------------------------
// Writing

/// A 3×2×2 source image with the given geometry; `(sform, qform)` codes.
fn source_with(dir: &Path, name: &str, sform: bool, qform: bool) -> Volume {
    let values: Vec<f64> = (0..12).map(|v| f64::from(v) * 1.5).collect();
    let mut spec = Spec::new([3, 2, 2], 16, 32);
    spec.sform_code = if sform { 2 } else { 0 };
    spec.qform_code = if qform { 1 } else { 0 };
    spec.srow = [
        [-0.9, 0.1, 0.0, 90.5],
        [0.1, 1.1, 0.2, -126.25],
        [0.0, -0.2, 2.9, -72.0],
    ];
    spec.quatern = [0.1, -0.2, 0.9];
    spec.qoffset = [1.5, -2.5, 3.25];
    spec.pixdim = [-1.0, 0.9, 1.1, 2.9, 0.5, 0.0, 0.0, 0.0];
    spec.xyzt_units = 10;
    read(&save(dir, name, &spec.file(&encode(&values, 16, false))))
}

fn assert_same_geometry(written: &Volume, source: &Volume) {
    assert_eq!(written.spatial, source.spatial);
    assert_eq!(written.affine, source.affine);
    assert_eq!(written.affine_source, source.affine_source);
    assert_eq!(written.shape, source.shape);
}

#[test]
fn round_trips_keep_geometry_and_voxels_for_every_form_combination() {
    let dir = temp();
    for (sform, qform, expected) in [
        (true, false, AffineSource::Sform),
        (false, true, AffineSource::Qform),
        (true, true, AffineSource::Sform),
        (false, false, AffineSource::Pixdim),
    ] {
        let name = format!("src_{sform}_{qform}.nii");
        let source = source_with(dir.path(), &name, sform, qform);
        assert_eq!(source.affine_source, expected);

        let out = dir.path().join(format!("out_{sform}_{qform}.nii.gz"));
        write_f32(&out, &source.data, &source).expect("write f32");
        let back = read(&out);
        assert_same_geometry(&back, &source);
        assert_eq!(back.data, source.data);
        assert_eq!(back.datatype, DataType::F32);

        let labels: Vec<u8> = (0..12).map(|v| [0, 1, 2, 4][v % 4]).collect();
        let out = dir.path().join(format!("labels_{sform}_{qform}.nii"));
        write_labels(&out, &labels, &source).expect("write labels");
        let back = read(&out);
        assert_same_geometry(&back, &source);
        assert_eq!(back.datatype, DataType::U8);
        let expected: Vec<f32> = labels.iter().map(|&v| f32::from(v)).collect();
        assert_eq!(back.data, expected);
    }
}

#[test]
fn written_headers_have_the_standard_layout() {
    let dir = temp();
    let source = source_with(dir.path(), "src.nii", true, true);
    let plain = dir.path().join("plain.nii");
    write_labels(&plain, &[1; 12], &source).expect("write");
    let bytes = std::fs::read(&plain).expect("read back");
    assert_eq!(bytes.len(), 352 + 12);
    assert_eq!(&bytes[0..4], &348i32.to_le_bytes());
    assert_eq!(&bytes[344..348], b"n+1\0");
    assert_eq!(&bytes[108..112], &352f32.to_le_bytes());
    assert_eq!(&bytes[112..116], &1f32.to_le_bytes(), "scl_slope");
    assert_eq!(&bytes[116..120], &0f32.to_le_bytes(), "scl_inter");
    assert_eq!(&bytes[70..72], &2i16.to_le_bytes(), "datatype uint8");
    assert_eq!(&bytes[40..48], &[3, 0, 3, 0, 2, 0, 2, 0], "dim");

    let zipped = dir.path().join("zipped.nii.gz");
    write_labels(&zipped, &[1; 12], &source).expect("write");
    let raw = std::fs::read(&zipped).expect("read back");
    assert_eq!(&raw[..2], &[0x1f, 0x8b], "gzip magic");
}

#[test]
fn a_4d_volume_round_trips_through_write_volume() {
    let dir = temp();
    let values: Vec<f64> = (0..24).map(f64::from).collect();
    let mut spec = Spec::new([3, 2, 2], 4, 16).big_endian();
    spec.dim[0] = 4;
    spec.dim[4] = 2;
    let source = read(&save(
        dir.path(),
        "series.nii",
        &spec.file(&encode(&values, 4, true)),
    ));
    let out = dir.path().join("series_out.nii.gz");
    write_volume(&out, &source).expect("write volume");
    let back = read(&out);
    assert_eq!((back.shape, back.frames), ([3, 2, 2], 2));
    assert_eq!(back.data, source.data);
    assert_same_geometry(&back, &source);
}

#[test]
fn writing_the_wrong_number_of_voxels_is_refused() {
    let dir = temp();
    let source = source_with(dir.path(), "src.nii", true, false);
    let out = dir.path().join("wrong.nii.gz");
    let error = write_labels(&out, &[0; 5], &source).expect_err("length mismatch");
    let message = error.to_string();
    assert!(
        message.contains("wrong.nii.gz") && message.contains("5 voxels"),
        "{message}"
    );
    assert!(write_f32(&out, &[0.0; 13], &source).is_err());
    assert!(!out.exists());
}

#[test]
fn a_failed_write_leaves_nothing_behind_and_names_the_file() {
    let dir = temp();
    let source = source_with(dir.path(), "src.nii", true, false);
    let out: PathBuf = dir.path().join("no_such_folder").join("labels.nii.gz");
    let error = write_labels(&out, &[0; 12], &source).expect_err("folder missing");
    assert!(error.to_string().contains("labels.nii.gz"), "{error}");

    let good = dir.path().join("good.nii.gz");
    write_labels(&good, &[0; 12], &source).expect("write");
    write_labels(&good, &[1; 12], &source).expect("overwrite");
    assert_eq!(read(&good).data, [1.0; 12]);
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .expect("list")
        .filter_map(Result::ok)
        .filter(|entry| entry.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}
