//! Opening studies off the UI thread: a job reads the files on a worker thread and hands back
//! either a study ready for display or an error naming the file, through a channel.

use crate::state::OpenStudy;
use engine::study::{role_from_file_name, Study, StudyFiles};
use std::path::PathBuf;
use std::sync::mpsc::{channel, Receiver, TryRecvError};

/// What to open: a case folder or explicitly assigned files.
#[derive(Debug, Clone)]
pub enum StudySource {
    /// A BraTS case folder, or an MSD Task01 4D image (`imagesTr/BRATS_001.nii.gz`).
    Folder(PathBuf),
    Files(StudyFiles),
}

impl StudySource {
    /// What one chosen path opens as by itself: a folder, or a NIfTI file whose name names no
    /// sequence (an MSD Task01 4D image), opens as a case; `None` for a BraTS-named file,
    /// whose role the user confirms with the others.
    pub fn single_case(paths: &[PathBuf]) -> Option<StudySource> {
        match paths {
            [one] if one.is_dir() || role_from_file_name(one).is_none() => {
                Some(StudySource::Folder(one.clone()))
            }
            _ => None,
        }
    }

    pub fn describe(&self) -> String {
        match self {
            StudySource::Folder(dir) => dir.display().to_string(),
            StudySource::Files(files) => files.name.clone(),
        }
    }

    /// Opens the study on the calling thread.
    pub fn open(&self) -> Result<OpenStudy, String> {
        let study = match self {
            StudySource::Folder(dir) => Study::open_folder(dir),
            StudySource::Files(files) => Study::open_files(files),
        };
        study.map(OpenStudy::new).map_err(|e| e.to_string())
    }
}

/// A study being opened in the background.
pub struct LoadJob {
    pub source: StudySource,
    receiver: Receiver<Result<OpenStudy, String>>,
}

impl LoadJob {
    /// Starts reading on a worker thread; `ctx` is asked to repaint when the result is ready.
    pub fn spawn(source: StudySource, ctx: egui::Context) -> LoadJob {
        let (sender, receiver) = channel();
        let job_source = source.clone();
        std::thread::spawn(move || {
            let result = job_source.open();
            // The receiver is gone only if the app closed; nothing is left to tell then.
            let _ = sender.send(result);
            ctx.request_repaint();
        });
        LoadJob { source, receiver }
    }

    /// The result, once the worker has finished.
    pub fn poll(&self) -> Option<Result<OpenStudy, String>> {
        match self.receiver.try_recv() {
            Ok(result) => Some(result),
            Err(TryRecvError::Empty) => None,
            Err(TryRecvError::Disconnected) => Some(Err(format!(
                "{}: the loader stopped unexpectedly",
                self.source.describe()
            ))),
        }
    }
}
