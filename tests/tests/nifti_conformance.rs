//! `engine::volume` against nibabel: every fixture in `tests/fixtures/nifti/` is read and compared
//! with what nibabel read from it (`expected.json`, written by `make_nifti_fixtures.py`); every
//! rejection fixture must fail with a message naming the file and the reason; written files
//! must read back with the source geometry; one object stored in three voxel orders must display
//! identically. Tolerances: see `integration_tests::tolerance`.
//!
//! The tests collect every mismatch before failing, so one run lists all of them.

use engine::volume::{write_f32, write_labels, DataType, NiftiVersion, Plane, Volume};
use integration_tests::expected::{self, Accepted, Spatial};
use integration_tests::tolerance::{self, compare_matrix, AFFINE_ABS};
use integration_tests::{nifti_fixtures_dir, stats_of};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

/// Fixtures whose rejection must not allocate what the header declares; they run in a child
/// process (see `absurd_sizes_are_rejected_without_allocating`) so that an allocation abort
/// cannot take the other tests down with it.
const ABSURD: [&str; 3] = [
    "reject_absurd_dims.nii",
    "reject_absurd_dims_nifti2.nii.gz",
    "reject_overflow_dims_nifti2.nii",
];

fn read(path: &Path) -> Result<Result<Volume, String>, String> {
    catch_unwind(AssertUnwindSafe(|| Volume::read(path)))
        .map(|r| r.map_err(|e| e.to_string()))
        .map_err(|panic| {
            let msg = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            format!("PANICKED: {msg}")
        })
}

fn spatial_of(v: &Volume) -> Spatial {
    let s = &v.spatial;
    Spatial {
        pixdim: s.pixdim,
        qform_code: s.qform_code,
        sform_code: s.sform_code,
        quatern: s.quatern,
        qoffset: s.qoffset,
        srow: s.srow,
        xyzt_units: s.xyzt_units,
    }
}

fn check(out: &mut Vec<String>, ok: bool, what: String) {
    if !ok {
        out.push(what);
    }
}

fn same_f64(a: f64, b: f64) -> bool {
    a == b || (a.is_nan() && b.is_nan())
}

/// Every difference between the engine's reading of `fx` and nibabel's.
fn mismatches(fx: &Accepted, v: &Volume) -> Vec<String> {
    let mut out = Vec::new();

    check(
        &mut out,
        v.shape == fx.spatial_shape && v.frames == fx.frames,
        format!(
            "shape {:?} x {} frames (expected {:?} x {})",
            v.shape, v.frames, fx.spatial_shape, fx.frames
        ),
    );
    check(
        &mut out,
        v.datatype.name() == fx.datatype,
        format!("datatype {} (expected {})", v.datatype.name(), fx.datatype),
    );
    let version = match v.version {
        NiftiVersion::Nifti1 => 1,
        NiftiVersion::Nifti2 => 2,
    };
    check(
        &mut out,
        version == fx.version,
        format!("NIfTI-{version} (expected NIfTI-{})", fx.version),
    );
    check(
        &mut out,
        same_f64(v.scl_slope, fx.scl_slope.unwrap_or(f64::NAN)),
        format!("scl_slope {} (expected {:?})", v.scl_slope, fx.scl_slope),
    );
    check(
        &mut out,
        same_f64(v.scl_inter, fx.scl_inter.unwrap_or(f64::NAN)),
        format!("scl_inter {} (expected {:?})", v.scl_inter, fx.scl_inter),
    );
    let spatial = spatial_of(v);
    check(
        &mut out,
        spatial == fx.spatial,
        format!("spatial header {spatial:?} (expected {:?})", fx.spatial),
    );

    if let Some(diff) = compare_matrix(&v.affine.0, &fx.affine, AFFINE_ABS) {
        out.push(format!("affine: {diff}"));
    }
    let source = v.affine_source.name();
    check(
        &mut out,
        source == fx.affine_source,
        format!("affine source {source} (expected {})", fx.affine_source),
    );
    let axcodes: String = v.axcodes().iter().collect();
    check(
        &mut out,
        axcodes == fx.axcodes,
        format!("axcodes {axcodes} (expected {})", fx.axcodes),
    );
    if let Some(diff) = compare_matrix(&[v.voxel_sizes()], &[fx.voxel_sizes], AFFINE_ABS) {
        out.push(format!("voxel sizes: {diff}"));
    }

    if v.data.len() != fx.values.len() {
        out.push(format!(
            "{} values (expected {})",
            v.data.len(),
            fx.values.len()
        ));
    } else {
        let bad: Vec<String> = fx
            .values
            .iter()
            .zip(&v.data)
            .enumerate()
            .filter(|(_, (want, got))| !tolerance::value_ok(**want, f64::from(**got), fx))
            .map(|(n, (want, got))| format!("#{n}: {got} (expected {want:?})"))
            .collect();
        if !bad.is_empty() {
            let shown = bad.iter().take(6).cloned().collect::<Vec<_>>().join(", ");
            out.push(format!(
                "{} of {} voxel values differ: {shown}",
                bad.len(),
                v.data.len()
            ));
        }
    }

    for probe in &fx.probes {
        let ijk = [probe.index[0], probe.index[1], probe.index[2]];
        let t = probe.index.get(3).copied().unwrap_or(0);
        match v.value(ijk, t) {
            Some(got) if tolerance::value_ok(probe.value, f64::from(got), fx) => {}
            got => out.push(format!(
                "value at {:?}: {got:?} (expected {:?})",
                probe.index, probe.value
            )),
        }
        let world = v.voxel_to_world(ijk.map(|c| c as f64));
        if let Some(diff) = compare_matrix(&[world], &[probe.world_mm], AFFINE_ABS) {
            out.push(format!("world mm of {ijk:?}: {diff}"));
        }
    }

    out.extend(tolerance::stats_mismatches(
        &stats_of(&v.data),
        &fx.stats,
        fx,
    ));

    if let Some(labels) = &fx.labels {
        for label in labels {
            let count = v.data.iter().filter(|&&x| x == label.value as f32).count();
            let ml = count as f64 * v.voxel_volume_ml();
            check(
                &mut out,
                count == label.count
                    && (ml - label.volume_ml).abs() <= 1e-6 * label.volume_ml.abs(),
                format!(
                    "label {}: {count} voxels, {ml} mL (expected {}, {} mL)",
                    label.value, label.count, label.volume_ml
                ),
            );
        }
    }
    out
}

#[test]
fn expected_json_covers_every_fixture_file() {
    let expected = expected::load();
    let mut listed: Vec<String> = expected
        .accepted
        .iter()
        .map(|a| a.file.clone())
        .chain(expected.rejected.iter().map(|r| r.file.clone()))
        .collect();
    // The `.img` halves of pairs are opened through their `.hdr`.
    for a in &expected.accepted {
        if let Some(stem) = a.file.strip_suffix(".hdr") {
            listed.push(format!("{stem}.img"));
        }
    }
    let mut unlisted = Vec::new();
    for entry in std::fs::read_dir(nifti_fixtures_dir()).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if name != "expected.json" && !listed.contains(&name) {
            unlisted.push(name);
        }
    }
    assert!(
        unlisted.is_empty(),
        "fixtures without an entry in expected.json: {unlisted:?}"
    );
    assert!(expected.accepted.len() >= 30 && expected.rejected.len() >= 15);
}

#[test]
fn every_accepted_fixture_reads_as_nibabel_reads_it() {
    let expected = expected::load();
    let mut failures = Vec::new();
    for fx in &expected.accepted {
        match read(&fx.path()) {
            Ok(Ok(v)) => {
                for m in mismatches(fx, &v) {
                    failures.push(format!("{} ({}): {m}", fx.file, fx.covers));
                }
            }
            Ok(Err(e)) => failures.push(format!("{} ({}): rejected: {e}", fx.file, fx.covers)),
            Err(p) => failures.push(format!("{} ({}): {p}", fx.file, fx.covers)),
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches against nibabel {}:\n{}",
        failures.len(),
        expected.nibabel_version,
        failures.join("\n")
    );
}

#[test]
fn every_rejected_fixture_fails_with_the_file_and_the_reason() {
    let expected = expected::load();
    let mut failures = Vec::new();
    for fx in expected
        .rejected
        .iter()
        .filter(|r| !ABSURD.contains(&r.file.as_str()))
    {
        match read(&fx.path()) {
            Ok(Ok(v)) => failures.push(format!(
                "{}: accepted (shape {:?}, {} frames, {}); expected an error with {:?}",
                fx.file,
                v.shape,
                v.frames,
                v.datatype.name(),
                fx.keywords
            )),
            Ok(Err(message)) => {
                if let Err(why) = fx.check_message(&message) {
                    failures.push(format!("{}: {why}", fx.file));
                }
            }
            Err(p) => failures.push(format!("{}: {p}", fx.file)),
        }
    }
    assert!(
        failures.is_empty(),
        "{} rejection failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The absurd-size fixtures, in-process. Run through the child-process test below.
#[test]
#[ignore = "run by absurd_sizes_are_rejected_without_allocating in a child process"]
fn absurd_sizes_child() {
    let expected = expected::load();
    let mut failures = Vec::new();
    for fx in expected
        .rejected
        .iter()
        .filter(|r| ABSURD.contains(&r.file.as_str()))
    {
        match read(&fx.path()) {
            Ok(Ok(v)) => failures.push(format!("{}: accepted (shape {:?})", fx.file, v.shape)),
            Ok(Err(message)) => {
                if let Err(why) = fx.check_message(&message) {
                    failures.push(format!("{}: {why}", fx.file));
                }
            }
            Err(p) => failures.push(format!("{}: {p}", fx.file)),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Headers declaring terabytes (or sizes that overflow 64 bits) in tiny files must be refused
/// before anything that size is allocated; an allocation failure aborts the process, hence the
/// child.
#[test]
fn absurd_sizes_are_rejected_without_allocating() {
    let exe = std::env::current_exe().unwrap();
    let out = std::process::Command::new(exe)
        .args([
            "absurd_sizes_child",
            "--exact",
            "--ignored",
            "--test-threads=1",
            "--nocapture",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the absurd-size fixtures ({ABSURD:?}) failed or aborted the process ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The same object in RAS, LPS and LIA voxel order gives identical display slices in all three
/// planes, at every slice index.
#[test]
fn one_object_in_three_voxel_orders_displays_identically() {
    let dir = nifti_fixtures_dir();
    let reference = Volume::read(&dir.join("object_ras.nii")).expect("object_ras.nii");
    let ras = reference.orientation();
    for name in ["object_lps.nii", "object_lia.nii"] {
        let other = Volume::read(&dir.join(name)).unwrap_or_else(|e| panic!("{e}"));
        let o = other.orientation();
        assert_eq!(o.ras_shape(), ras.ras_shape(), "{name}: display grid");
        for plane in Plane::ALL {
            assert_eq!(
                o.slice_count(plane),
                ras.slice_count(plane),
                "{name} {plane:?}"
            );
            assert_eq!(
                o.pixel_spacing(plane, other.voxel_sizes()),
                ras.pixel_spacing(plane, reference.voxel_sizes()),
                "{name} {plane:?}: pixel spacing"
            );
            for index in 0..ras.slice_count(plane) {
                assert_eq!(
                    o.slice(other.frame(0), plane, index),
                    ras.slice(reference.frame(0), plane, index),
                    "{name}: {plane:?} slice {index}"
                );
            }
        }
        // The same display voxel sits at the same place in the world.
        let [nr, na, ns] = ras.ras_shape();
        for d in [[0, 0, 0], [nr - 1, na - 1, ns - 1], [1, 2, 3]] {
            let a = reference.voxel_to_world(ras.to_disk(d).map(|c| c as f64));
            let b = other.voxel_to_world(o.to_disk(d).map(|c| c as f64));
            assert!(
                compare_matrix(&[a], &[b], AFFINE_ABS).is_none(),
                "{name}: display voxel {d:?} at {b:?} mm, RAS file has it at {a:?} mm"
            );
        }
    }
}

fn round_trip_failures(name: &str, dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let source = match Volume::read(&nifti_fixtures_dir().join(name)) {
        Ok(v) => v,
        Err(e) => return vec![format!("{name}: cannot read the source: {e}")],
    };
    let labels = source.datatype == DataType::U8;
    let written = dir.join(format!("{}.written.nii.gz", name.replace('.', "_")));
    let result = if labels {
        let bytes: Vec<u8> = source.frame(0).iter().map(|&x| x as u8).collect();
        write_labels(&written, &bytes, &source)
    } else {
        write_f32(&written, source.frame(0), &source)
    };
    if let Err(e) = result {
        return vec![format!("{name}: writing failed: {e}")];
    }
    let back = match Volume::read(&written) {
        Ok(v) => v,
        Err(e) => return vec![format!("{name}: the written file does not read back: {e}")],
    };
    let want_type = if labels { DataType::U8 } else { DataType::F32 };
    if back.datatype != want_type {
        out.push(format!(
            "{name}: written as {} (expected {})",
            back.datatype.name(),
            want_type.name()
        ));
    }
    if back.shape != source.shape || back.frames != 1 {
        out.push(format!(
            "{name}: written shape {:?} x {} (expected {:?} x 1)",
            back.shape, back.frames, source.shape
        ));
    }
    if back.spatial != source.spatial {
        out.push(format!(
            "{name}: spatial header changed: {:?} → {:?}",
            source.spatial, back.spatial
        ));
    }
    if back.affine_source != source.affine_source {
        out.push(format!(
            "{name}: affine source {} → {}",
            source.affine_source.name(),
            back.affine_source.name()
        ));
    }
    if let Some(diff) = compare_matrix(&back.affine.0, &source.affine.0, AFFINE_ABS) {
        out.push(format!("{name}: affine changed: {diff}"));
    }
    if back.data != source.frame(0) {
        out.push(format!("{name}: voxels changed"));
    }
    out
}

/// Files written "like" a source carry its geometry exactly: the same raw spatial fields (so
/// sform-only stays sform-only, qfac −1 stays −1, conflicting forms stay conflicting), hence
/// the same affine, and the same voxels.
#[test]
fn written_files_read_back_with_the_source_geometry() {
    let dir = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    for name in [
        "geom_sform_oblique.nii",
        "geom_qform_qfac_neg.nii",
        "geom_conflict.nii",
        "geom_pixdim_only.nii",
        "be_int32.nii",
        "scaled_int16.nii",
        "object_lia.nii",
        "labels_u8.nii.gz",
    ] {
        failures.extend(round_trip_failures(name, dir.path()));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A `.nii.gz` holding the same bytes as a `.nii` reads identically: compression is
/// transparent.
#[test]
fn gzipped_and_plain_variants_read_identically() {
    let dir = nifti_fixtures_dir();
    let plain = Volume::read(&dir.join("dtype_int16.nii")).unwrap_or_else(|e| panic!("{e}"));
    let gz = Volume::read(&dir.join("dtype_int16.nii.gz")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(gz.shape, plain.shape);
    assert_eq!(gz.datatype, plain.datatype);
    assert_eq!(gz.spatial, plain.spatial);
    assert_eq!(gz.affine, plain.affine);
    assert_eq!(gz.data, plain.data);
}
