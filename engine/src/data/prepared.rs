//! `engine::data::prepared` owns the prepared data set on disk: what `metakd prepare` writes
//! (one `.mkdp` file per case under `cases/`, see `prepare::case_file`, and `manifest.json`),
//! how it is made, the cache a raw data set folder is prepared into, and the checks that a
//! prepared set still matches its sources and the current settings.
//!
//! **Making it** ([`prepare_dataset`]), one process per folder at a time (a lock file; a
//! second one waits): every case of a [`CaseList`] is opened, checked and
//! preprocessed exactly as for in-memory training (`dataset::load_case`), on `workers`
//! threads, and written atomically: a killed run leaves only complete case files and hidden
//! temporaries (removed by the next run). A case whose file already holds the same settings
//! key and the same source files (path, size, modification time) is kept, not redone, so a
//! killed or repeated run continues where it stopped. The manifest is written last: a folder
//! without one is an unfinished preparation.
//!
//! **Using it** ([`PreparedSet::open`]): the manifest's version and settings are checked,
//! every case file must be there, and the sources that are still reachable are compared with
//! what they were (size and time first, content hash when those differ). A changed source,
//! a missing case file or other settings stop with an error naming the case and the command
//! to run; sources that cannot be reached (a prepared set copied to another machine) are only
//! reported.

use super::cases::{CaseEntry, CaseList, Split};
use super::dataset::{load_case, Requirements};
use super::error::{CaseProblem, DataError, OnBadCase};
use super::source::StreamedCase;
use crate::prepare::case_file::{self, write_case, CaseFile, SourceFile};
use crate::prepare::{PreparedCase, PreprocessConfig};
use crate::study::{discover_case_files, Availability, LabelConvention};
use rayon::prelude::*;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Instant, UNIX_EPOCH};
use xxhash_rust::xxh3::{xxh3_64, Xxh3};

/// The manifest's file name inside a prepared set.
pub const MANIFEST: &str = "manifest.json";
/// What the manifest's `format` field says.
const FORMAT: &str = "metakd prepared data set";
/// Version of the manifest; another is refused.
pub const MANIFEST_VERSION: u32 = 1;
/// The case files' folder inside a prepared set.
const CASES_DIR: &str = "cases";
/// The file a preparation holds locked while it writes into a folder.
pub const LOCK: &str = ".prepare.lock";

/// Everything that decides the content of a prepared case; its [`key`](Self::key) is stored
/// in each case file and in the manifest.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PrepareSettings {
    pub preprocess: PreprocessConfig,
    /// Subset id of the modalities each case must have.
    pub required_modalities: u8,
    /// Whether each case needs a label map.
    pub labels_required: bool,
    /// Version of the case file layout, its chunk edge and quantisation.
    pub case_format: u32,
    pub chunk: usize,
    pub quantisation: String,
}

impl PrepareSettings {
    /// The settings training uses (default preprocessing, all four modalities and labels).
    pub fn training() -> PrepareSettings {
        PrepareSettings::new(PreprocessConfig::default(), Requirements::default())
    }

    pub fn new(preprocess: PreprocessConfig, needs: Requirements) -> PrepareSettings {
        PrepareSettings {
            preprocess,
            required_modalities: needs.modalities.id(),
            labels_required: needs.labels,
            case_format: case_file::FORMAT_VERSION,
            chunk: case_file::CHUNK,
            quantisation: "i16, one scale per channel (max |v| / 32767)".into(),
        }
    }

    pub fn requirements(&self) -> Requirements {
        Requirements {
            modalities: Availability::from_id(self.required_modalities),
            labels: self.labels_required,
        }
    }

    /// 16 hex digits of the xxh3 of the settings' JSON.
    pub fn key(&self) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        format!("{:016x}", xxh3_64(&json))
    }
}

/// One case of the manifest.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ManifestCase {
    pub name: String,
    /// The case file, relative to the prepared set's folder.
    pub file: PathBuf,
    pub split: Split,
    /// `[D, H, W]` of the cropped grid.
    pub shape: [usize; 3],
    /// Subset id of the modalities the case has.
    pub available: u8,
    pub convention: LabelConvention,
    pub labels: bool,
    /// Number of tumour voxels.
    pub foreground: u64,
    /// Size of the case file.
    pub bytes: u64,
    pub sources: Vec<SourceFile>,
}

/// `manifest.json`: what was prepared, from where, with which settings.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Manifest {
    pub format: String,
    pub version: u32,
    /// The metakd version that wrote it.
    pub written_by: String,
    pub settings: PrepareSettings,
    pub settings_key: String,
    /// The raw data set folder it was prepared from.
    pub source: PathBuf,
    pub cases: Vec<ManifestCase>,
    /// Cases that could not be prepared, one line each.
    pub problems: Vec<String>,
}

/// Progress of [`prepare_dataset`], one event per case after the first.
#[derive(Debug, Clone, PartialEq)]
pub enum PrepareEvent {
    Started {
        dir: PathBuf,
        cases: usize,
    },
    /// A case was preprocessed and written.
    Prepared {
        name: String,
        bytes: u64,
        seconds: f64,
    },
    /// A case file from an earlier run was up to date.
    Kept {
        name: String,
    },
    /// A case could not be prepared (see the manifest's problems).
    Failed {
        problem: String,
    },
    /// Another process is preparing into the same folder; this one waits for it.
    Waiting {
        dir: PathBuf,
    },
}

/// An opened prepared data set.
#[derive(Debug, Clone)]
pub struct PreparedSet {
    pub dir: PathBuf,
    pub manifest: Manifest,
    /// Notes for the user (e.g. sources that could not be checked).
    pub notes: Vec<String>,
}

/// Where a raw data set folder is prepared when training is pointed at it: under `cache_root`
/// (default: the user's cache folder, `metakd/prepared`), one folder per source folder and
/// settings.
pub fn cache_dir(source: &Path, settings: &PrepareSettings, cache_root: Option<&Path>) -> PathBuf {
    let root = cache_root
        .map(Path::to_path_buf)
        .unwrap_or_else(default_cache_root);
    let canonical = std::fs::canonicalize(source).unwrap_or_else(|_| source.to_path_buf());
    let name = canonical
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "data".into());
    let key = xxh3_64(format!("{}\n{}", canonical.display(), settings.key()).as_bytes());
    root.join(format!("{name}-{key:016x}"))
}

/// `$METAKD_CACHE`, else the user's cache folder + `metakd/prepared`, else `.metakd-cache`.
fn default_cache_root() -> PathBuf {
    if let Some(dir) = std::env::var_os("METAKD_CACHE") {
        return PathBuf::from(dir);
    }
    dirs::cache_dir()
        .map(|d| d.join("metakd").join("prepared"))
        .unwrap_or_else(|| PathBuf::from(".metakd-cache"))
}

/// Whether `dir` holds a prepared set's manifest (finished or not, valid or not).
pub fn is_prepared(dir: &Path) -> bool {
    dir.join(MANIFEST).is_file()
}

/// Prepares every case of `list` into `out` (see the module docs) on `workers` threads (0:
/// one per core). Problems found before (`earlier`) are kept in the manifest.
pub fn prepare_dataset(
    list: &CaseList,
    earlier: &[CaseProblem],
    settings: &PrepareSettings,
    out: &Path,
    workers: usize,
    on_bad: OnBadCase,
    on_event: &(dyn Fn(PrepareEvent) + Sync),
) -> Result<PreparedSet, DataError> {
    if list.cases.is_empty() && earlier.is_empty() {
        return Err(DataError::NoCases {
            dir: list.root.clone(),
        });
    }
    let cases_dir = out.join(CASES_DIR);
    let io = |path: &Path, source: std::io::Error| DataError::PreparedIo {
        path: path.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(&cases_dir).map_err(|e| io(&cases_dir, e))?;
    // One preparation per folder at a time (two trainings on one raw folder share its cache
    // folder): the second waits, then finds the cases up to date. The OS releases the lock
    // when a process ends, however it ends.
    let lock_path = out.join(LOCK);
    let lock = std::fs::File::create(&lock_path).map_err(|e| io(&lock_path, e))?;
    if lock.try_lock().is_err() {
        on_event(PrepareEvent::Waiting {
            dir: out.to_path_buf(),
        });
        lock.lock().map_err(|e| io(&lock_path, e))?;
    }
    remove_leftovers(&cases_dir, &[]).map_err(|e| io(&cases_dir, e))?;
    on_event(PrepareEvent::Started {
        dir: out.to_path_buf(),
        cases: list.cases.len(),
    });
    let key = settings.key();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(workers)
        .build()
        .map_err(|e| DataError::Config {
            what: "workers",
            reason: format!("cannot start {workers} worker threads: {e}"),
        })?;
    let results: Vec<Result<ManifestCase, CaseOutcome>> = pool.install(|| {
        list.cases
            .par_iter()
            .map(|entry| prepare_entry(entry, settings, &key, &cases_dir, on_event))
            .collect()
    });
    let mut cases = Vec::new();
    let mut problems: Vec<CaseProblem> = earlier.to_vec();
    for r in results {
        match r {
            Ok(case) => cases.push(case),
            Err(CaseOutcome::Problem(p)) => problems.push(p),
            Err(CaseOutcome::Fatal(e)) => return Err(e),
        }
    }
    if cases.is_empty() || (on_bad == OnBadCase::Stop && !problems.is_empty()) {
        return Err(DataError::BadCases(super::error::DatasetReport {
            loaded: cases.iter().map(|c| c.name.clone()).collect(),
            problems,
        }));
    }
    let keep: Vec<PathBuf> = cases.iter().map(|c| out.join(&c.file)).collect();
    remove_leftovers(&cases_dir, &keep).map_err(|e| io(&cases_dir, e))?;
    let manifest = Manifest {
        format: FORMAT.into(),
        version: MANIFEST_VERSION,
        written_by: env!("CARGO_PKG_VERSION").into(),
        settings: settings.clone(),
        settings_key: key,
        source: std::fs::canonicalize(&list.root).unwrap_or_else(|_| list.root.clone()),
        cases,
        problems: problems.iter().map(|p| p.to_string()).collect(),
    };
    let path = out.join(MANIFEST);
    let json = serde_json::to_vec_pretty(&manifest).unwrap_or_default();
    crate::atomic_file::write(&path, &json).map_err(|e| io(&path, e))?;
    Ok(PreparedSet {
        dir: out.to_path_buf(),
        manifest,
        notes: Vec::new(),
    })
}

/// Why a case is not in the prepared set: a problem of the case (reported, the others go
/// on) or a failure of the output folder (the whole preparation stops).
enum CaseOutcome {
    Problem(CaseProblem),
    Fatal(DataError),
}

/// Prepares (or keeps) one case.
fn prepare_entry(
    entry: &CaseEntry,
    settings: &PrepareSettings,
    key: &str,
    cases_dir: &Path,
    on_event: &(dyn Fn(PrepareEvent) + Sync),
) -> Result<ManifestCase, CaseOutcome> {
    let started = Instant::now();
    let file = cases_dir.join(format!("{}.mkdp", entry.name));
    let relative = Path::new(CASES_DIR).join(format!("{}.mkdp", entry.name));
    let problem = |p: CaseProblem| {
        on_event(PrepareEvent::Failed {
            problem: p.to_string(),
        });
        CaseOutcome::Problem(p)
    };
    let stats: Option<Vec<_>> =
        source_paths(entry).map(|paths| paths.iter().map(|p| stat(p)).collect());
    if let Some(stats) = &stats {
        if let Some(kept) = up_to_date(&file, key, stats) {
            on_event(PrepareEvent::Kept {
                name: entry.name.clone(),
            });
            let bytes = std::fs::metadata(&file).map_or(0, |m| m.len());
            return Ok(manifest_case(&kept, relative, entry.split, bytes));
        }
    }
    let case = load_case(entry, settings.requirements(), &settings.preprocess).map_err(problem)?;
    let sources = match stats {
        Some(stats) => stats
            .into_iter()
            .map(hashed)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|(path, e)| {
                problem(CaseProblem {
                    case: entry.name.clone(),
                    path,
                    message: format!("cannot read the file to fingerprint it: {e}"),
                })
            })?,
        None => Vec::new(),
    };
    let bytes = write_case(&file, &case, key, &sources)
        .map_err(|e| CaseOutcome::Fatal(DataError::CaseFile(e)))?;
    on_event(PrepareEvent::Prepared {
        name: entry.name.clone(),
        bytes,
        seconds: started.elapsed().as_secs_f64(),
    });
    Ok(ManifestCase {
        name: case.name.clone(),
        file: relative,
        split: entry.split,
        shape: case.shape,
        available: case.available.id(),
        convention: case.convention,
        labels: case.regions.is_some(),
        foreground: case.foreground.len() as u64,
        bytes,
        sources,
    })
}

/// The files of a case (its images and labels), or `None` when discovery fails (loading the
/// case then reports why).
fn source_paths(entry: &CaseEntry) -> Option<Vec<PathBuf>> {
    let files = discover_case_files(&entry.dir).ok()?;
    let mut paths: Vec<PathBuf> = files.modalities.iter().flatten().cloned().collect();
    paths.extend(files.stacked.iter().cloned());
    paths.extend(files.labels.iter().cloned());
    Some(paths)
}

/// Path, size and modification time of a source (no hash yet).
fn stat(path: &Path) -> Result<SourceFile, (PathBuf, std::io::Error)> {
    let meta = std::fs::metadata(path).map_err(|e| (path.to_path_buf(), e))?;
    let modified_ns = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos() as u64);
    Ok(SourceFile {
        path: path.to_path_buf(),
        bytes: meta.len(),
        modified_ns,
        hash: String::new(),
    })
}

/// `stat` completed with the content hash.
fn hashed(
    stat: Result<SourceFile, (PathBuf, std::io::Error)>,
) -> Result<SourceFile, (PathBuf, std::io::Error)> {
    let mut source = stat?;
    source.hash = content_hash(&source.path).map_err(|e| (source.path.clone(), e))?;
    Ok(source)
}

/// 16 hex digits of the xxh3 of a file's content.
fn content_hash(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Xxh3::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(format!("{:016x}", hasher.digest()))
}

/// The header of `file` when it is a valid case file made with `key` from sources whose path,
/// size and modification time are still `stats`.
fn up_to_date(
    file: &Path,
    key: &str,
    stats: &[Result<SourceFile, (PathBuf, std::io::Error)>],
) -> Option<case_file::CaseHeader> {
    let header = CaseFile::open(file).ok()?.header().clone();
    let same = header.settings == key
        && header.sources.len() == stats.len()
        && header.sources.iter().zip(stats).all(|(had, now)| {
            now.as_ref().is_ok_and(|now| {
                had.path == now.path && had.bytes == now.bytes && had.modified_ns == now.modified_ns
            })
        });
    same.then_some(header)
}

fn manifest_case(
    header: &case_file::CaseHeader,
    file: PathBuf,
    split: Split,
    bytes: u64,
) -> ManifestCase {
    ManifestCase {
        name: header.name.clone(),
        file,
        split,
        shape: header.shape,
        available: header.available,
        convention: header.convention,
        labels: header.has_regions,
        foreground: header.foreground,
        bytes,
        sources: header.sources.clone(),
    }
}

/// Removes the hidden temporaries of killed runs from `cases_dir` and, when `keep` is not
/// empty, the case files not in it.
fn remove_leftovers(cases_dir: &Path, keep: &[PathBuf]) -> std::io::Result<()> {
    for item in std::fs::read_dir(cases_dir)? {
        let path = item?.path();
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        let Some(name) = name else { continue };
        let temporary = name.starts_with('.') && name.ends_with(".tmp");
        let orphan = !keep.is_empty() && name.ends_with(".mkdp") && !keep.contains(&path);
        if temporary || orphan {
            std::fs::remove_file(&path)?;
        }
    }
    Ok(())
}

impl PreparedSet {
    /// Opens the prepared set in `dir` and checks it (see the module docs). `settings`: the
    /// settings the caller needs, or `None` to take the set's own.
    pub fn open(dir: &Path, settings: Option<&PrepareSettings>) -> Result<PreparedSet, DataError> {
        let path = dir.join(MANIFEST);
        let text = match std::fs::read(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(DataError::PreparedUnfinished {
                    dir: dir.to_path_buf(),
                })
            }
            Err(source) => return Err(DataError::PreparedIo { path, source }),
        };
        let bad = |problem: String| DataError::PreparedManifest {
            path: path.clone(),
            problem,
        };
        let value: serde_json::Value = serde_json::from_slice(&text)
            .map_err(|e| bad(format!("not valid JSON ({e}); the file is damaged")))?;
        if value.get("format").and_then(|v| v.as_str()) != Some(FORMAT) {
            return Err(bad("not a metakd prepared data set manifest".into()));
        }
        let version = value.get("version").and_then(|v| v.as_u64());
        if version != Some(u64::from(MANIFEST_VERSION)) {
            let written_by = value
                .get("written_by")
                .and_then(|v| v.as_str())
                .unwrap_or("an unknown version");
            return Err(bad(format!(
                "manifest version {} (written by metakd {written_by}), this metakd reads version {MANIFEST_VERSION}; prepare the data again",
                version.map_or("none".into(), |v| v.to_string())
            )));
        }
        let manifest: Manifest =
            serde_json::from_value(value).map_err(|e| bad(format!("{e}; the file is damaged")))?;
        if let Some(wanted) = settings {
            if manifest.settings != *wanted {
                return Err(DataError::PreparedSettings {
                    dir: dir.to_path_buf(),
                    source_dir: manifest.source.clone(),
                });
            }
        }
        let missing: Vec<String> = manifest
            .cases
            .iter()
            .filter(|c| !dir.join(&c.file).is_file())
            .map(|c| c.name.clone())
            .collect();
        let mut changed = Vec::new();
        let mut unreachable = 0usize;
        for case in &manifest.cases {
            for source in &case.sources {
                match source_changed(source) {
                    Some(true) => changed.push(format!(
                        "case {}: {} changed since it was prepared",
                        case.name,
                        source.path.display()
                    )),
                    Some(false) => {}
                    None => unreachable += 1,
                }
            }
        }
        if !missing.is_empty() || !changed.is_empty() {
            let mut problems: Vec<String> = missing
                .iter()
                .map(|name| format!("case {name}: its prepared file is missing"))
                .collect();
            problems.extend(changed);
            return Err(DataError::PreparedStale {
                dir: dir.to_path_buf(),
                source_dir: manifest.source.clone(),
                problems,
            });
        }
        let mut notes = Vec::new();
        if unreachable > 0 {
            notes.push(format!(
                "{unreachable} source files of {} are not reachable from here; the prepared cases are used as they are",
                dir.display()
            ));
        }
        Ok(PreparedSet {
            dir: dir.to_path_buf(),
            manifest,
            notes,
        })
    }

    /// The cases of `split`, ready to stream.
    pub fn streamed(&self, split: Split) -> Vec<StreamedCase> {
        self.manifest
            .cases
            .iter()
            .filter(|c| c.split == split)
            .map(|c| StreamedCase {
                name: c.name.clone(),
                path: self.dir.join(&c.file),
                shape: c.shape,
                available: Availability::from_id(c.available),
                foreground: c.foreground,
            })
            .collect()
    }

    /// The cases of `split` read whole into memory.
    pub fn load(&self, split: Split) -> Result<Vec<Arc<PreparedCase>>, DataError> {
        self.streamed(split)
            .par_iter()
            .map(|c| Ok(Arc::new(CaseFile::open(&c.path)?.read_case()?)))
            .collect()
    }

    /// Bytes of all case files.
    pub fn bytes(&self) -> u64 {
        self.manifest.cases.iter().map(|c| c.bytes).sum()
    }
}

/// Whether a source file changed since it was prepared: `None` when it cannot be reached.
fn source_changed(source: &SourceFile) -> Option<bool> {
    let now = stat(&source.path).ok()?;
    if now.bytes == source.bytes && now.modified_ns == source.modified_ns {
        return Some(false);
    }
    if now.bytes != source.bytes {
        return Some(true);
    }
    Some(content_hash(&source.path).ok()? != source.hash)
}

/// What a dataset folder the user points training at turns into: a prepared set, opened
/// as it is, or a raw folder, prepared (or brought up to date) in the cache first.
pub fn open_or_prepare(
    data: &Path,
    settings: &PrepareSettings,
    cache_root: Option<&Path>,
    workers: usize,
    on_event: &(dyn Fn(PrepareEvent) + Sync),
) -> Result<PreparedSet, DataError> {
    if is_prepared(data) {
        return PreparedSet::open(data, Some(settings));
    }
    let (list, earlier) = CaseList::open(data)?;
    let out = cache_dir(data, settings, cache_root);
    prepare_dataset(
        &list,
        &earlier,
        settings,
        &out,
        workers,
        OnBadCase::Skip,
        on_event,
    )
}
