//! UI tests of the viewer with egui_kittest: a small synthetic study is shown, and keys and
//! widgets are used as a person would; state is checked after each step and the rendered
//! frame is compared against a stored snapshot.

use egui::Key;
use egui_kittest::kittest::Queryable;
use egui_kittest::Harness;
use engine::study::{LabelConvention, Study};
use engine::volume::{Affine, DataType, Volume};
use metakd_viewer::assign::FileAssignment;
use metakd_viewer::loading::StudySource;
use metakd_viewer::recent::RecentStudies;
use metakd_viewer::state::{Layout, OpenStudy};
use metakd_viewer::viewer::Viewer;

const SHAPE: [usize; 3] = [40, 48, 32];

fn volume(data: Vec<f32>, datatype: DataType) -> Volume {
    // LPS storage, as BraTS files are.
    let affine = Affine([
        [-1.0, 0.0, 0.0, 20.0],
        [0.0, -1.0, 0.0, 24.0],
        [0.0, 0.0, 1.0, -16.0],
        [0.0, 0.0, 0.0, 1.0],
    ]);
    Volume {
        datatype,
        ..Volume::in_memory(SHAPE, affine, data)
    }
}

/// A ball-shaped "head" with a labelled lesion, and a different contrast per modality.
fn synthetic_study() -> Study {
    let [nx, ny, nz] = SHAPE;
    let centre = [nx as f32 / 2.0, ny as f32 / 2.0, nz as f32 / 2.0];
    let mut modalities = [0; 4].map(|_| Vec::with_capacity(nx * ny * nz));
    let mut labels = Vec::with_capacity(nx * ny * nz);
    for k in 0..nz {
        for j in 0..ny {
            for i in 0..nx {
                let d = |c: [f32; 3]| {
                    ((i as f32 - c[0]).powi(2)
                        + (j as f32 - c[1]).powi(2)
                        + (k as f32 - c[2]).powi(2))
                    .sqrt()
                };
                let head = d(centre) < 15.0;
                let lesion_d = d([centre[0] + 5.0, centre[1], centre[2]]);
                let label = if lesion_d < 2.0 {
                    1.0
                } else if lesion_d < 3.5 {
                    4.0
                } else if lesion_d < 6.0 {
                    2.0
                } else {
                    0.0
                };
                for (m, data) in modalities.iter_mut().enumerate() {
                    data.push(if head {
                        100.0 + 50.0 * m as f32 + 20.0 * label
                    } else {
                        0.0
                    });
                }
                labels.push(label);
            }
        }
    }
    let [flair, t1, t1ce, t2] = modalities.map(|d| Some(volume(d, DataType::I16)));
    Study {
        name: "Synthetic_001".into(),
        modalities: [flair, t1, t1ce, t2],
        labels: Some(volume(labels, DataType::U8)),
        convention: LabelConvention::Brats2021,
    }
}

fn harness() -> Harness<'static, Viewer> {
    let mut viewer = Viewer::new(RecentStudies::default());
    viewer.show_study(OpenStudy::new(synthetic_study()));
    let mut harness = Harness::builder()
        .with_size(egui::Vec2::new(1200.0, 800.0))
        .wgpu()
        .build_ui_state(|ui, viewer: &mut Viewer| viewer.ui(ui), viewer);
    harness.run_steps(2);
    harness
}

fn cursor(h: &Harness<'_, Viewer>) -> [usize; 3] {
    h.state().view.as_ref().expect("a study is open").cursor
}

#[test]
fn opens_on_the_tumour_and_steps_slices_with_keys() {
    let mut h = harness();
    let start = cursor(&h);
    // The crosshair starts at the lesion's centre of mass (not the volume centre).
    let open = h.state().open.as_ref().unwrap();
    let disk = open.orientation.to_disk(start);
    assert!(
        open.overlay().unwrap().labels[disk[0] + SHAPE[0] * (disk[1] + SHAPE[1] * disk[2])] > 0
    );

    // Keys step the axial slice (the focused view at start): PgUp +1, ↓ -1, Shift+PgUp +5.
    h.key_press(Key::PageUp);
    h.run_steps(1);
    assert_eq!(cursor(&h)[2], start[2] + 1);
    h.key_press(Key::ArrowDown);
    h.run_steps(1);
    assert_eq!(cursor(&h)[2], start[2]);
    h.key_press_modifiers(egui::Modifiers::SHIFT, Key::PageUp);
    h.run_steps(1);
    assert_eq!(cursor(&h)[2], start[2] + 5);
}

#[test]
fn overlay_keys_and_layouts() {
    let mut h = harness();
    h.key_press(Key::S);
    h.run_steps(1);
    assert!(!h.state().view.as_ref().unwrap().overlay.visible);
    h.key_press(Key::A);
    h.run_steps(1);
    assert!((h.state().view.as_ref().unwrap().overlay.opacity - 0.4).abs() < 1e-6);
    h.key_press(Key::O);
    h.key_press(Key::Num2);
    h.run_steps(1);
    let view = h.state().view.as_ref().unwrap();
    assert!(view.overlay.outline);
    assert_eq!(view.layout, Layout::Single(engine::volume::Plane::Coronal));
}

#[test]
fn dropping_a_modality_in_the_panel_and_choosing_the_display() {
    let mut h = harness();
    h.get_by_label("T2").click();
    h.run_steps(1);
    assert_eq!(
        h.state().view.as_ref().unwrap().displayed,
        engine::study::Modality::T2
    );
    // The legend lists the classes with volumes: lesion voxels exist, so ET is non-zero.
    h.get_by_label("Enhancing (ET)");
}

#[test]
fn three_plane_view_snapshot() {
    let mut h = harness();
    h.run_steps(1);
    h.snapshot("three_planes_synthetic");
}

/// Steps the UI until the background loader has finished (or 10 s pass).
fn wait_for_loading(h: &mut Harness<'_, Viewer>) {
    for _ in 0..1000 {
        h.step();
        if !h.state().is_loading() {
            h.run_steps(2);
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    panic!("the study did not finish loading within 10 s");
}

#[test]
fn a_broken_study_shows_an_error_naming_the_file_and_keeps_the_open_one() {
    let mut h = harness();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("broken_flair.nii.gz"), b"not a gzip stream").unwrap();
    let ctx = h.ctx.clone();
    h.state_mut()
        .start_loading(StudySource::Folder(dir.path().to_path_buf()), &ctx);
    wait_for_loading(&mut h);
    h.get_by_label_contains("broken_flair.nii.gz");
    h.get_by_label("What was open before is still open.");
    assert_eq!(h.state().open.as_ref().unwrap().study.name, "Synthetic_001");
    h.get_by_label("OK").click();
    h.run_steps(2);
    assert!(h.state().errors.is_empty());
}

#[test]
fn opened_files_get_their_roles_confirmed_before_loading() {
    let dir = tempfile::tempdir().unwrap();
    let study = synthetic_study();
    let t2 = dir.path().join("case_t2.nii.gz");
    let unknown = dir.path().join("scan_a.nii.gz");
    engine::volume::write_f32(
        &t2,
        &study.modalities[3].as_ref().unwrap().data,
        study.reference(),
    )
    .unwrap();
    engine::volume::write_f32(
        &unknown,
        &study.modalities[0].as_ref().unwrap().data,
        study.reference(),
    )
    .unwrap();

    let mut viewer = Viewer::new(RecentStudies::default());
    viewer.assigning = Some(FileAssignment::new(&[t2, unknown]));
    let mut h = Harness::builder()
        .with_size(egui::Vec2::new(1200.0, 800.0))
        .wgpu()
        .build_ui_state(|ui, viewer: &mut Viewer| viewer.ui(ui), viewer);
    h.run_steps(2);
    // The unknown file starts as "Ignore"; make it FLAIR through its drop-down.
    h.get_by_label("scan_a.nii.gz").click();
    h.run_steps(2);
    h.get_by_label("FLAIR").click();
    h.run_steps(2);
    h.get_by_label("Open").click();
    wait_for_loading(&mut h);
    let open = h.state().open.as_ref().expect("the study opened");
    assert!(open
        .study
        .modality(engine::study::Modality::Flair)
        .is_some());
    assert!(open.study.modality(engine::study::Modality::T2).is_some());
    assert!(open.study.modality(engine::study::Modality::T1).is_none());
    assert!(h.state().assigning.is_none());
}

/// Segmenting with the checked modalities (T1ce unchecked) runs in the background with the
/// bundled model, adds a layer named after the modalities used and shows it; the layer saves
/// as NIfTI on the study's grid.
#[test]
fn segmenting_with_a_dropped_modality_adds_a_named_layer() {
    let mut h = harness();
    h.state_mut().view.as_mut().unwrap().dropped[engine::study::Modality::T1ce.index()] = true;
    h.get_by_label("Segment with the checked modalities")
        .click();
    h.run_steps(1);
    assert!(h.state().segmenting.is_some());
    for _ in 0..12_000 {
        h.step();
        if h.state().segmenting.is_none() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(h.state().errors.is_empty(), "{:?}", h.state().errors);
    let open = h.state().open.as_ref().expect("the study stays open");
    let names: Vec<&str> = open.layers.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, ["Ground truth", "FLAIR+T1+T2"]);
    assert_eq!(open.shown, Some(1));
    assert_eq!(open.layers[1].labels.len(), SHAPE.iter().product::<usize>());

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("seg.nii.gz");
    h.state_mut().save_layer(&path);
    let saved = engine::volume::Volume::read(&path).unwrap();
    let study = &h.state().open.as_ref().unwrap().study;
    assert_eq!(saved.shape, study.reference().shape);
    assert_eq!(saved.affine, study.reference().affine);
}
