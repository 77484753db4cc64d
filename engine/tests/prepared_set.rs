//! The prepared data set on disk (`data::prepared`, `prepare::case_file`): made once,
//! streamed patch by patch with the same batches as in memory, resumed after a kill, and
//! refused with a clear message when it is unfinished, stale, damaged or of another version.

use engine::data::augment::AugmentConfig;
use engine::data::cases::{CaseList, Split};
use engine::data::error::{DataError, OnBadCase};
use engine::data::loader::{Batch, Loader, LoaderConfig, SubsetScope};
use engine::data::patches::PatchConfig;
use engine::data::prepared::{
    prepare_dataset, PrepareEvent, PrepareSettings, PreparedSet, MANIFEST,
};
use engine::data::subsets::SubsetSampler;
use engine::phantom::{write_dataset, PhantomConfig, PhantomSize};
use std::path::Path;
use std::sync::Mutex;

fn phantoms(dir: &Path, cases: usize) {
    let config = PhantomConfig {
        size: PhantomSize::Small,
        ..PhantomConfig::default()
    };
    write_dataset(dir, cases, 11, &config, &|_| {}).unwrap();
}

/// Prepares `data` into `out`, returning the set and the events (sorted, for comparison).
fn prepare(data: &Path, out: &Path) -> (Result<PreparedSet, DataError>, Vec<String>) {
    let (list, earlier) = CaseList::open(data).unwrap();
    let events = Mutex::new(Vec::new());
    let record = |e: PrepareEvent| {
        let line = match e {
            PrepareEvent::Started { .. } => return,
            PrepareEvent::Prepared { name, .. } => format!("prepared {name}"),
            PrepareEvent::Kept { name } => format!("kept {name}"),
            PrepareEvent::Failed { problem } => format!("failed {problem}"),
            PrepareEvent::Waiting { .. } => "waiting".into(),
        };
        events.lock().unwrap().push(line);
    };
    let set = prepare_dataset(
        &list,
        &earlier,
        &PrepareSettings::training(),
        out,
        2,
        OnBadCase::Skip,
        &record,
    );
    let mut events = events.into_inner().unwrap();
    events.sort();
    (set, events)
}

fn loader_config(workers: usize) -> LoaderConfig {
    LoaderConfig {
        batch_size: 2,
        workers,
        prefetch: 2,
        // Larger than the cropped cases along D, so some patches reach outside.
        patch: PatchConfig {
            size: [64, 48, 40],
            foreground_fraction: 0.5,
        },
        augment: AugmentConfig {
            rotation: AugmentConfig::with_rotation().rotation.map(|mut r| {
                r.probability = 0.6;
                r.max_degrees = 30.0;
                r
            }),
            ..AugmentConfig::default()
        },
        subsets: SubsetSampler::MetaKd,
        scope: SubsetScope::Sample,
        seed: 7,
        batches: Some(16),
    }
}

#[test]
fn streamed_batches_equal_in_memory_batches_and_the_files_are_small() {
    let dir = tempfile::tempdir().unwrap();
    let (data, out) = (dir.path().join("raw"), dir.path().join("prep"));
    phantoms(&data, 4);
    let (set, events) = prepare(&data, &out);
    let set = set.unwrap();
    assert_eq!(events.len(), 4);
    assert!(
        events.iter().all(|e| e.starts_with("prepared")),
        "{events:?}"
    );
    assert_eq!(set.manifest.cases.len(), 4);

    // On disk: at most 40 % of the in-memory f32 case (4 channels of f32, region bytes,
    // foreground indices).
    let memory = set.load(Split::Train).unwrap();
    let train = set.streamed(Split::Train);
    assert_eq!(memory.len(), train.len());
    assert!(!train.is_empty());
    for (case, streamed) in memory.iter().zip(&train) {
        let in_memory = 17 * case.voxels() + 4 * case.foreground.len();
        let on_disk = std::fs::metadata(&streamed.path).unwrap().len() as usize;
        assert!(
            on_disk * 10 <= in_memory * 4,
            "{}: {on_disk} bytes on disk for {in_memory} in memory",
            case.name
        );
    }

    // The same batches, bit for bit, with rotations, patches reaching outside the case,
    // per-sample subsets, and any number of workers.
    let reference: Vec<Batch> = Loader::spawn(memory.clone(), loader_config(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(reference.len(), 16);
    for workers in [0, 2] {
        let streamed: Vec<Batch> = Loader::spawn(train.clone(), loader_config(workers))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        for (a, b) in reference.iter().zip(&streamed) {
            assert_eq!(a, b, "batch {} differs ({workers} workers)", a.index);
        }
    }
    // The comparison sees patches: some of them hold tumour.
    assert!(reference.iter().any(|b| b.targets.contains(&1)));
}

#[test]
fn a_killed_preparation_continues_and_keeps_finished_cases() {
    let dir = tempfile::tempdir().unwrap();
    let (data, out) = (dir.path().join("raw"), dir.path().join("prep"));
    phantoms(&data, 3);
    let (set, _) = prepare(&data, &out);
    let set = set.unwrap();
    let first = &set.manifest.cases[0];
    let first_file = out.join(&first.file);
    // What a kill leaves: no manifest, a case not yet renamed into place, a temporary.
    std::fs::remove_file(out.join(MANIFEST)).unwrap();
    std::fs::remove_file(&first_file).unwrap();
    let leftover = out.join("cases").join(".Phantom_00009.mkdp.1-0.tmp");
    std::fs::write(&leftover, b"half a case").unwrap();

    let err = PreparedSet::open(&out, None).unwrap_err().to_string();
    assert!(
        err.contains("did not finish") && err.contains("metakd prepare"),
        "{err}"
    );

    let (again, events) = prepare(&data, &out);
    again.unwrap();
    let prepared: Vec<&String> = events
        .iter()
        .filter(|e| e.starts_with("prepared"))
        .collect();
    assert_eq!(
        prepared,
        [&format!("prepared {}", first.name)],
        "{events:?}"
    );
    assert_eq!(events.iter().filter(|e| e.starts_with("kept")).count(), 2);
    assert!(first_file.is_file());
    assert!(
        !leftover.exists(),
        "the temporary of the killed run is removed"
    );
    PreparedSet::open(&out, Some(&PrepareSettings::training())).unwrap();
}

#[test]
fn stale_unfinished_damaged_and_foreign_sets_are_refused_with_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let (data, out) = (dir.path().join("raw"), dir.path().join("prep"));
    phantoms(&data, 3);
    let set = prepare(&data, &out).0.unwrap();
    let case = set.manifest.cases[1].clone();

    // Other settings than the caller needs.
    let mut other = PrepareSettings::training();
    other.preprocess.margin = [5, 5, 5];
    let err = PreparedSet::open(&out, Some(&other))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("other settings") && err.contains("metakd prepare"),
        "{err}"
    );

    // A source that changed: named, with the command that redoes only that case.
    let source = &case.sources[0].path;
    let mut bytes = std::fs::read(source).unwrap();
    bytes.push(0);
    std::fs::write(source, &bytes).unwrap();
    let err = PreparedSet::open(&out, None).unwrap_err().to_string();
    assert!(err.contains(&case.name) && err.contains("changed"), "{err}");
    assert!(err.contains("metakd prepare --data"), "{err}");
    // Preparing again redoes that case only; then the set opens.
    bytes.pop();
    std::fs::write(source, &bytes).unwrap();
    let (_, events) = prepare(&data, &out);
    assert_eq!(
        events.iter().filter(|e| e.starts_with("prepared")).count(),
        1,
        "{events:?}"
    );
    PreparedSet::open(&out, None).unwrap();

    // A truncated case file: opening the set names it; sampling from it fails with its name.
    let file = out.join(&case.file);
    let good = std::fs::read(&file).unwrap();
    std::fs::write(&file, &good[..good.len() / 2]).unwrap();
    let streamed = PreparedSet::open(&out, None).unwrap().streamed(case.split);
    let at = streamed.iter().position(|c| c.name == case.name).unwrap();
    let one = vec![streamed[at].clone()];
    let err = Loader::spawn(one, loader_config(1))
        .unwrap()
        .next()
        .unwrap()
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&format!("{}.mkdp", case.name)) && err.contains("truncated"),
        "{err}"
    );
    std::fs::write(&file, &good).unwrap();

    // A missing case file.
    std::fs::remove_file(&file).unwrap();
    let err = PreparedSet::open(&out, None).unwrap_err().to_string();
    assert!(err.contains(&case.name) && err.contains("missing"), "{err}");
    std::fs::write(&file, &good).unwrap();

    // A manifest from another version, and one that is damaged.
    let manifest = out.join(MANIFEST);
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(&manifest, text.replace("\"version\": 1", "\"version\": 2")).unwrap();
    let err = PreparedSet::open(&out, None).unwrap_err().to_string();
    assert!(
        err.contains("manifest version 2") && err.contains("prepare"),
        "{err}"
    );
    std::fs::write(&manifest, &text[..text.len() / 2]).unwrap();
    let err = PreparedSet::open(&out, None).unwrap_err().to_string();
    assert!(
        err.contains("manifest.json") && err.contains("damaged"),
        "{err}"
    );
}

#[test]
fn a_failed_write_stops_the_preparation_naming_the_file_and_leaves_no_half_case() {
    let dir = tempfile::tempdir().unwrap();
    let (data, out) = (dir.path().join("raw"), dir.path().join("prep"));
    phantoms(&data, 2);
    // A folder where the first case's file must go: the rename into place fails, as a
    // write on a full disk would.
    let (list, _) = CaseList::open(&data).unwrap();
    let blocked = out
        .join("cases")
        .join(format!("{}.mkdp", list.cases[0].name));
    std::fs::create_dir_all(blocked.join("in-the-way")).unwrap();
    let err = prepare(&data, &out).0.unwrap_err().to_string();
    assert!(
        err.contains(&format!("{}.mkdp", list.cases[0].name)),
        "{err}"
    );
    assert!(err.contains("free disk space"), "{err}");
    assert!(!out.join(MANIFEST).exists());
    let temporaries = std::fs::read_dir(out.join("cases"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".tmp")
        })
        .count();
    assert_eq!(temporaries, 0, "no half-written case is left behind");
}

/// `metakd eval` and `metakd experiment` read a prepared set like the raw folder it came
/// from: the same cases, grids, spacing and labels, intensities within the quantisation step,
/// and the same scores to within what that step can change.
#[test]
fn evaluation_reads_a_prepared_set_like_its_raw_folder() {
    use engine::infer::eval::{evaluate, load_cases};
    use engine::infer::Segmenter;
    use engine::study::Availability;
    let dir = tempfile::tempdir().unwrap();
    let (data, out) = (dir.path().join("raw"), dir.path().join("prep"));
    phantoms(&data, 3);
    prepare(&data, &out).0.unwrap();
    let segmenter = Segmenter::bundled(&burn::tensor::Device::flex()).unwrap();
    let (raw, _) = load_cases(&data, Split::Train, Some(1), &segmenter).unwrap();
    let (prepared, _) = load_cases(&out, Split::Train, Some(1), &segmenter).unwrap();
    let (a, b) = (&raw[0], &prepared[0]);
    assert_eq!(a.case.name, b.case.name);
    assert_eq!((a.case.shape, a.case.offset), (b.case.shape, b.case.offset));
    assert_eq!((a.spacing, a.case.spacing), (b.spacing, b.case.spacing));
    assert_eq!(a.spacing, [2.5; 3], "small phantoms are 2.5 mm");
    assert_eq!(a.case.regions, b.case.regions);
    let worst = a
        .case
        .image
        .iter()
        .zip(&b.case.image)
        .map(|(x, y)| (x - y).abs())
        .fold(0f32, f32::max);
    assert!(worst < 1e-3, "largest intensity difference {worst}");
    let full = [Availability::FULL];
    let score = |cases| evaluate(&segmenter, "bundled", cases, &full, &mut |_, _| true).unwrap();
    let (x, y) = (score(&raw), score(&prepared));
    for r in 0..3 {
        assert!(
            (x.rows[0].dice[r] - y.rows[0].dice[r]).abs() < 0.01,
            "{x:?} {y:?}"
        );
    }
}

/// A second preparation into the same folder waits for the first (here: a held lock) and
/// then finds every case up to date.
#[test]
fn a_second_preparation_into_the_same_folder_waits() {
    let dir = tempfile::tempdir().unwrap();
    let (data, out) = (dir.path().join("raw"), dir.path().join("prep"));
    phantoms(&data, 2);
    prepare(&data, &out).0.unwrap();
    let held = std::fs::File::create(out.join(engine::data::prepared::LOCK)).unwrap();
    held.lock().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let second = {
        let (data, out) = (data.clone(), out.clone());
        std::thread::spawn(move || {
            let events = prepare(&data, &out).1;
            tx.send(()).unwrap();
            events
        })
    };
    // It does not finish while the lock is held.
    assert!(rx
        .recv_timeout(std::time::Duration::from_millis(500))
        .is_err());
    held.unlock().unwrap();
    rx.recv_timeout(std::time::Duration::from_secs(60)).unwrap();
    let events = second.join().unwrap();
    assert!(events.contains(&"waiting".to_string()), "{events:?}");
    assert_eq!(
        events.iter().filter(|e| e.starts_with("kept")).count(),
        2,
        "{events:?}"
    );
}
