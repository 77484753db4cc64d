//! Regenerates the screenshots in docs/ from the real viewer, driven as a user would (ignored
//! by default: it segments a BraTS-size study several times and trains a small model):
//!
//! ```sh
//! cargo test --workspace --test docs_screenshots -- --ignored --nocapture
//! ```

use egui_kittest::kittest::Queryable;
use egui_kittest::Harness;
use engine::study::Region;
use engine::volume::Plane;
use metakd_viewer::loading::StudySource;
use metakd_viewer::recent::RecentStudies;
use metakd_viewer::screenshot::SCREENSHOT_SIZE;
use metakd_viewer::state::{Difference, Layout};
use metakd_viewer::training::TrainState;
use metakd_viewer::viewer::Viewer;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn viewer_on_sample() -> Harness<'static, Viewer> {
    let mut viewer = Viewer::new(RecentStudies::default());
    viewer.open_now(&StudySource::Folder(
        repository().join("assets/sample/Phantom_00001"),
    ));
    assert!(viewer.errors.is_empty(), "{:?}", viewer.errors);
    let mut h = Harness::builder()
        .with_size(egui::Vec2::from(SCREENSHOT_SIZE))
        .wgpu()
        .build_ui_state(|ui, viewer: &mut Viewer| viewer.ui(ui), viewer);
    h.run_steps(3);
    h
}

fn save(h: &mut Harness<'_, Viewer>, name: &str) {
    h.run_steps(3);
    let path = repository().join("docs").join(name);
    h.render().unwrap().save(&path).unwrap();
    println!("wrote {}", path.display());
}

fn step_until(h: &mut Harness<'_, Viewer>, minutes: u64, done: impl Fn(&Viewer) -> bool) {
    let until = Instant::now() + Duration::from_secs(60 * minutes);
    while !done(h.state()) {
        assert!(Instant::now() < until, "timed out: {:?}", h.state().errors);
        h.step();
        std::thread::sleep(Duration::from_millis(50));
    }
    h.run_steps(3);
}

#[test]
#[ignore = "writes docs/ screenshots; minutes of CPU"]
fn views_and_comparison() {
    let mut h = viewer_on_sample();
    h.state_mut().view.as_mut().unwrap().layout = Layout::Single(Plane::Axial);
    save(&mut h, "viewer_axial.png");
    h.state_mut().view.as_mut().unwrap().layout = Layout::ModalityGrid(Plane::Axial);
    save(&mut h, "viewer_modalities.png");
    h.state_mut().view.as_mut().unwrap().layout = Layout::ThreePlanes;

    // Compare: every single modality and all four, scored against the ground truth.
    h.state_mut().compare.open = true;
    h.run_steps(3);
    // FLAIR, T1, T1ce, T2 alone; all four; all but T1ce.
    h.state_mut().compare.chosen = [0b0001, 0b0010, 0b0100, 0b1000, 0b1111, 0b1011]
        .into_iter()
        .map(engine::study::Availability::from_id)
        .collect();
    h.run_steps(1);
    h.get_by_label("Run 6 conditions").click();
    h.run_steps(2);
    assert!(h.state().compare.job.is_some());
    step_until(&mut h, 30, |v| v.compare.job.is_none());
    assert!(h.state().errors.is_empty(), "{:?}", h.state().errors);
    h.get_by_label("Dice WT").click();
    h.run_steps(2);
    save(&mut h, "compare_table.png");
    // The grid with each condition's TP/FP/FN against the ground truth (whole tumour).
    let viewer = h.state_mut();
    viewer.compare.open = false;
    let view = viewer.view.as_mut().unwrap();
    view.layout = Layout::CompareGrid(Plane::Axial);
    view.overlay.difference = Some(Difference {
        predicted: 1,
        reference: 0,
        region: Region::WT,
    });
    save(&mut h, "compare_grid.png");
}

#[test]
#[ignore = "writes docs/ screenshots; minutes of CPU"]
fn training() {
    // Training: a tiny MetaKD run on small phantoms, paused so the plots hold still.
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("phantoms");
    let config = engine::phantom::PhantomConfig {
        size: engine::phantom::PhantomSize::Small,
        ..Default::default()
    };
    engine::phantom::write_dataset(&data, 6, 3, &config, &|_| {}).unwrap();
    let mut h = viewer_on_sample();
    h.state_mut().train.open = true;
    h.run_steps(3);
    {
        let train = &mut h.state_mut().train;
        train.data_text = data.display().to_string();
        train.out_text = dir.path().join("run").display().to_string();
        train.request.iterations = 300;
    }
    h.get_by_label("Start training").click();
    h.run_steps(2);
    step_until(&mut h, 30, |v| {
        v.train
            .job
            .as_ref()
            .is_some_and(|j| j.history.validations.len() >= 2)
    });
    h.get_by_label("Pause").click();
    step_until(&mut h, 10, |v| {
        v.train.job.as_ref().unwrap().state == TrainState::Paused
    });
    save(&mut h, "training.png");
}
