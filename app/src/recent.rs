//! The list of recently opened studies, kept in a small JSON file in the user's config folder
//! (`$XDG_CONFIG_HOME/metakd/recent.json`, else `~/.config/metakd/recent.json`).

use std::path::{Path, PathBuf};

/// How many studies the list keeps.
const MAX_RECENT: usize = 10;

#[derive(Debug, Default, Clone, PartialEq)]
pub struct RecentStudies {
    pub folders: Vec<PathBuf>,
    file: Option<PathBuf>,
}

impl RecentStudies {
    /// Loads the list from the user's config folder; a missing or unreadable file gives an empty list.
    pub fn load_default() -> RecentStudies {
        let file = config_dir().map(|d| d.join("metakd").join("recent.json"));
        RecentStudies::load(file)
    }

    pub fn load(file: Option<PathBuf>) -> RecentStudies {
        let folders = file
            .as_deref()
            .and_then(|f| std::fs::read_to_string(f).ok())
            .and_then(|text| serde_json::from_str::<Vec<PathBuf>>(&text).ok())
            .unwrap_or_default();
        RecentStudies { folders, file }
    }

    /// Puts `folder` first and saves the list. Saving is best effort: a read-only config folder
    /// must not stop anyone from viewing a study, so the error is returned for a status message.
    pub fn remember(&mut self, folder: &Path) -> Result<(), String> {
        self.folders.retain(|f| f != folder);
        self.folders.insert(0, folder.to_path_buf());
        self.folders.truncate(MAX_RECENT);
        let Some(file) = &self.file else {
            return Ok(());
        };
        let write = || -> std::io::Result<()> {
            if let Some(dir) = file.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let text =
                serde_json::to_string_pretty(&self.folders).map_err(std::io::Error::other)?;
            std::fs::write(file, text)
        };
        write().map_err(|e| {
            format!(
                "{}: cannot save the recent-studies list: {e}",
                file.display()
            )
        })
    }
}

fn config_dir() -> Option<PathBuf> {
    std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_most_recent_first_without_duplicates_and_persists() {
        let dir = std::env::temp_dir().join(format!("metakd-recent-{}", std::process::id()));
        let file = dir.join("recent.json");
        let mut recent = RecentStudies::load(Some(file.clone()));
        recent.remember(Path::new("/a")).unwrap();
        recent.remember(Path::new("/b")).unwrap();
        recent.remember(Path::new("/a")).unwrap();
        assert_eq!(
            recent.folders,
            vec![PathBuf::from("/a"), PathBuf::from("/b")]
        );
        assert_eq!(RecentStudies::load(Some(file)).folders, recent.folders);
        let _ = std::fs::remove_dir_all(dir);
    }
}
