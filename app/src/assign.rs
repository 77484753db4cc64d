//! The "Assign files" dialog: after Open files… or a drop of several files, each file gets a
//! role (FLAIR, T1, T1ce, T2, labels or ignore), guessed from its BraTS-style name and editable,
//! before the study is opened. Two files may not share a role.

use engine::study::{role_from_file_name, Modality, StudyFiles};
use std::path::{Path, PathBuf};

/// What a file is used as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Modality(Modality),
    Labels,
    Ignore,
}

impl Role {
    pub const ALL: [Role; 6] = [
        Role::Modality(Modality::Flair),
        Role::Modality(Modality::T1),
        Role::Modality(Modality::T1ce),
        Role::Modality(Modality::T2),
        Role::Labels,
        Role::Ignore,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Role::Modality(m) => m.name(),
            Role::Labels => "Labels",
            Role::Ignore => "Ignore",
        }
    }

    /// The role a BraTS-style file name suggests; unknown names are ignored until assigned.
    pub fn guess(path: &Path) -> Role {
        match role_from_file_name(path) {
            Some(Some(m)) => Role::Modality(m),
            Some(None) => Role::Labels,
            None => Role::Ignore,
        }
    }
}

/// Files waiting for the user to confirm their roles.
#[derive(Debug, Clone, PartialEq)]
pub struct FileAssignment {
    pub files: Vec<(PathBuf, Role)>,
    /// Why the last "Open" was refused, shown in the dialog.
    pub problem: Option<String>,
}

/// What the user did in the dialog this frame.
pub enum Decision {
    Pending,
    Open(StudyFiles),
    Cancel,
}

impl FileAssignment {
    pub fn new(files: &[PathBuf]) -> FileAssignment {
        FileAssignment {
            files: files.iter().map(|f| (f.clone(), Role::guess(f))).collect(),
            problem: None,
        }
    }

    /// The study files, or why the roles do not make a study.
    pub fn to_study_files(&self) -> Result<StudyFiles, String> {
        let mut study = StudyFiles {
            name: study_name(&self.files),
            ..StudyFiles::default()
        };
        for (path, role) in &self.files {
            let slot = match role {
                Role::Modality(m) => &mut study.modalities[m.index()],
                Role::Labels => &mut study.labels,
                Role::Ignore => continue,
            };
            if let Some(first) = slot {
                return Err(format!(
                    "{} and {} are both assigned to {}; choose one",
                    file_name(first),
                    file_name(path),
                    role.name()
                ));
            }
            *slot = Some(path.clone());
        }
        if study.modalities.iter().all(Option::is_none) && study.labels.is_none() {
            return Err(
                "no file has a role yet: assign at least one to FLAIR, T1, T1ce, T2 or Labels"
                    .into(),
            );
        }
        Ok(study)
    }

    /// Draws the dialog and reports the user's decision.
    pub fn show(&mut self, ctx: &egui::Context) -> Decision {
        let mut decision = Decision::Pending;
        egui::Window::new("Assign files")
            .collapsible(false)
            .resizable(false)
            .show(ctx, |ui| {
                ui.label("Choose what each file is. Roles were guessed from the file names.");
                egui::Grid::new("assign-grid")
                    .num_columns(2)
                    .striped(true)
                    .show(ui, |ui| {
                        for (index, (path, role)) in self.files.iter_mut().enumerate() {
                            egui::ComboBox::new(("role", index), file_name(path))
                                .selected_text(role.name())
                                .show_ui(ui, |ui| {
                                    for choice in Role::ALL {
                                        ui.selectable_value(role, choice, choice.name());
                                    }
                                });
                            ui.end_row();
                        }
                    });
                if let Some(problem) = &self.problem {
                    ui.colored_label(ui.visuals().error_fg_color, problem);
                }
                ui.horizontal(|ui| {
                    if ui.button("Open").clicked() {
                        match self.to_study_files() {
                            Ok(files) => decision = Decision::Open(files),
                            Err(problem) => self.problem = Some(problem),
                        }
                    }
                    if ui.button("Cancel").clicked() {
                        decision = Decision::Cancel;
                    }
                });
            });
        decision
    }
}

fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// The folder the files share, else "files".
fn study_name(files: &[(PathBuf, Role)]) -> String {
    files
        .first()
        .and_then(|(p, _)| p.parent())
        .and_then(|d| d.file_name())
        .map_or_else(|| "files".to_string(), |n| n.to_string_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guesses_roles_and_refuses_duplicates_and_empty_assignments() {
        let files: Vec<PathBuf> = [
            "/d/case_t1ce.nii.gz",
            "/d/case_seg.nii.gz",
            "/d/scan.nii.gz",
        ]
        .iter()
        .map(PathBuf::from)
        .collect();
        let mut assignment = FileAssignment::new(&files);
        let roles: Vec<Role> = assignment.files.iter().map(|(_, r)| *r).collect();
        assert_eq!(
            roles,
            vec![Role::Modality(Modality::T1ce), Role::Labels, Role::Ignore]
        );
        let study = assignment.to_study_files().unwrap();
        assert_eq!(study.name, "d");
        assert_eq!(
            study.modalities[Modality::T1ce.index()],
            Some(files[0].clone())
        );

        assignment.files[2].1 = Role::Modality(Modality::T1ce);
        let problem = assignment.to_study_files().unwrap_err();
        assert!(
            problem.contains("case_t1ce.nii.gz")
                && problem.contains("scan.nii.gz")
                && problem.contains("T1ce"),
            "{problem}"
        );

        for entry in &mut assignment.files {
            entry.1 = Role::Ignore;
        }
        assert!(assignment.to_study_files().is_err());
    }
}
