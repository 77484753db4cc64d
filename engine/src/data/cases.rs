//! Case lists and train/val/test splits.
//!
//! A [`CaseList`] names the case folders of a dataset and the split each belongs to. It comes
//! from `DIR/cases.csv` (columns `case,split`, header row; `case` is a folder name relative to
//! `DIR` or an absolute path), from a scan of `DIR` (every sub-folder holding BraTS files), or
//! a scanned list re-split by fractions with a seed (a deterministic shuffle of the name-sorted
//! cases, so the split does not depend on the order the file system lists folders in).

use super::error::{CaseProblem, DataError};
use crate::study::{discover_case_files, msd_images, StudyError};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::fmt;
use std::path::{Path, PathBuf};

/// The file a dataset folder may hold to fix its case list and split.
pub const CASES_CSV: &str = "cases.csv";

/// Which part of the data a case belongs to.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    Train,
    Val,
    Test,
}

impl Split {
    pub const ALL: [Split; 3] = [Split::Train, Split::Val, Split::Test];

    /// `train`, `val` or `test` (as written in `cases.csv`).
    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Val => "val",
            Split::Test => "test",
        }
    }

    /// Parses `train`, `val`/`valid`/`validation` or `test` (any case).
    pub fn parse(text: &str) -> Option<Split> {
        match text.trim().to_ascii_lowercase().as_str() {
            "train" | "training" => Some(Split::Train),
            "val" | "valid" | "validation" => Some(Split::Val),
            "test" | "testing" => Some(Split::Test),
            _ => None,
        }
    }
}

impl fmt::Display for Split {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One case folder and its split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseEntry {
    /// Case name (the folder name).
    pub name: String,
    /// The case folder.
    pub dir: PathBuf,
    pub split: Split,
}

/// The fractions of cases that go to train, val and test. They must be ≥ 0 and sum to 1.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SplitFractions {
    pub train: f64,
    pub val: f64,
    pub test: f64,
}

impl Default for SplitFractions {
    /// 70 % train, 10 % val, 20 % test.
    fn default() -> Self {
        SplitFractions {
            train: 0.7,
            val: 0.1,
            test: 0.2,
        }
    }
}

impl SplitFractions {
    fn check(&self) -> Result<(), DataError> {
        let bad = |reason: &str| DataError::BadFractions {
            train: self.train,
            val: self.val,
            test: self.test,
            reason: reason.to_string(),
        };
        let all = [self.train, self.val, self.test];
        if all.iter().any(|f| !f.is_finite() || *f < 0.0) {
            return Err(bad("each fraction must be a number ≥ 0"));
        }
        if (all.iter().sum::<f64>() - 1.0).abs() > 1e-6 {
            return Err(bad("the three fractions must sum to 1"));
        }
        Ok(())
    }

    /// Case counts for `n` cases: val and test are rounded, train gets the rest.
    pub fn counts(&self, n: usize) -> [usize; 3] {
        let val = ((self.val * n as f64).round() as usize).min(n);
        let test = ((self.test * n as f64).round() as usize).min(n - val);
        [n - val - test, val, test]
    }
}

/// The cases of a dataset folder, each with its split, in a fixed order.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseList {
    /// The dataset folder.
    pub root: PathBuf,
    pub cases: Vec<CaseEntry>,
}

impl CaseList {
    /// `DIR/cases.csv` when it exists, else a scan of `DIR` with every case in `train`.
    /// The problems are the sub-folders a scan could not use (none for a CSV).
    pub fn open(root: &Path) -> Result<(CaseList, Vec<CaseProblem>), DataError> {
        if root.join(CASES_CSV).is_file() {
            Ok((CaseList::from_csv(root)?, Vec::new()))
        } else {
            CaseList::scan(root)
        }
    }

    /// Reads `DIR/cases.csv`: a header row naming the columns `case` and `split` (any order,
    /// other columns ignored), then one case per row. Blank lines and lines starting with `#`
    /// are skipped. Every bad row is reported, not only the first.
    pub fn from_csv(root: &Path) -> Result<CaseList, DataError> {
        let path = root.join(CASES_CSV);
        let text = std::fs::read_to_string(&path).map_err(|source| DataError::CaseListIo {
            path: path.clone(),
            source,
        })?;
        CaseList::parse_csv(root, &path, &text)
    }

    /// Parses the text of a `cases.csv` (see [`CaseList::from_csv`]); `path` is for messages.
    pub fn parse_csv(root: &Path, path: &Path, text: &str) -> Result<CaseList, DataError> {
        let bad = |problems: Vec<String>| DataError::CaseList {
            path: path.to_path_buf(),
            problems,
        };
        let mut lines = text
            .lines()
            .enumerate()
            .map(|(i, l)| (i + 1, l.trim()))
            .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'));
        let Some((header_no, header)) = lines.next() else {
            return Err(DataError::NoCases {
                dir: root.to_path_buf(),
            });
        };
        let columns: Vec<String> = split_csv_row(header)
            .iter()
            .map(|c| c.to_ascii_lowercase())
            .collect();
        let find = |name: &str| columns.iter().position(|c| c == name);
        let (Some(case_col), Some(split_col)) = (find("case"), find("split")) else {
            return Err(bad(vec![format!(
                "line {header_no}: the header must name the columns case and split (found: {header})"
            )]));
        };
        let mut problems = Vec::new();
        let mut cases: Vec<CaseEntry> = Vec::new();
        for (no, line) in lines {
            let fields = split_csv_row(line);
            let (Some(case), Some(split)) = (fields.get(case_col), fields.get(split_col)) else {
                problems.push(format!(
                    "line {no}: expected {} columns, found {}",
                    columns.len(),
                    fields.len()
                ));
                continue;
            };
            if case.is_empty() {
                problems.push(format!("line {no}: the case name is empty"));
                continue;
            }
            let Some(split) = Split::parse(split) else {
                problems.push(format!(
                    "line {no}: split {split:?} of case {case} is not train, val or test"
                ));
                continue;
            };
            let dir = root.join(case);
            let name = dir
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or(case)
                .to_string();
            if let Some(first) = cases.iter().find(|c| c.dir == dir) {
                problems.push(format!(
                    "line {no}: case {case} is listed twice (already as {})",
                    first.split
                ));
                continue;
            }
            cases.push(CaseEntry { name, dir, split });
        }
        if !problems.is_empty() {
            return Err(bad(problems));
        }
        if cases.is_empty() {
            return Err(DataError::NoCases {
                dir: root.to_path_buf(),
            });
        }
        Ok(CaseList {
            root: root.to_path_buf(),
            cases,
        })
    }

    /// Every sub-folder of `root` that holds BraTS files, sorted by name, all in `train`.
    /// Sub-folders without any NIfTI file of a BraTS role are ignored silently; sub-folders
    /// whose files are ambiguous (two files for one role) come back as problems. An MSD Task
    /// folder (`root/imagesTr/`) gives one case per image instead.
    pub fn scan(root: &Path) -> Result<(CaseList, Vec<CaseProblem>), DataError> {
        if let Some(images) = msd_images(root) {
            let images = images.map_err(|source| DataError::Folder {
                dir: root.join("imagesTr"),
                source,
            })?;
            return Self::from_msd_images(root, images);
        }
        let entries = std::fs::read_dir(root).map_err(|source| DataError::Folder {
            dir: root.to_path_buf(),
            source,
        })?;
        let mut dirs: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_dir())
            .collect();
        dirs.sort();
        let mut cases = Vec::new();
        let mut problems = Vec::new();
        for dir in dirs {
            let name = dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            match discover_case_files(&dir) {
                Ok(_) => cases.push(CaseEntry {
                    name,
                    dir,
                    split: Split::Train,
                }),
                Err(StudyError::NoFiles { .. }) => {}
                Err(e) => problems.push(CaseProblem {
                    case: name,
                    path: dir,
                    message: e.to_string(),
                }),
            }
        }
        Self::scanned(root, cases, problems)
    }

    /// The cases of an MSD Task folder: one per image of `imagesTr/`, all in `train`.
    fn from_msd_images(
        root: &Path,
        images: Vec<PathBuf>,
    ) -> Result<(CaseList, Vec<CaseProblem>), DataError> {
        let cases: Vec<CaseEntry> = images
            .into_iter()
            .map(|dir| CaseEntry {
                name: discover_case_files(&dir).map_or_else(|_| String::new(), |f| f.name),
                dir,
                split: Split::Train,
            })
            .collect();
        Self::scanned(root, cases, Vec::new())
    }

    /// The list a scan of `root` found, or [`DataError::NoCases`] when it found nothing at all.
    fn scanned(
        root: &Path,
        cases: Vec<CaseEntry>,
        problems: Vec<CaseProblem>,
    ) -> Result<(CaseList, Vec<CaseProblem>), DataError> {
        if cases.is_empty() && problems.is_empty() {
            return Err(DataError::NoCases {
                dir: root.to_path_buf(),
            });
        }
        Ok((
            CaseList {
                root: root.to_path_buf(),
                cases,
            },
            problems,
        ))
    }

    /// Re-assigns every case a split: cases sorted by name, shuffled with `seed`, then the
    /// first share goes to train, the next to val, the rest to test (see
    /// [`SplitFractions::counts`]). The same names, fractions and seed give the same split.
    pub fn resplit(&mut self, fractions: SplitFractions, seed: u64) -> Result<(), DataError> {
        fractions.check()?;
        self.cases
            .sort_by(|a, b| a.name.cmp(&b.name).then(a.dir.cmp(&b.dir)));
        let mut order: Vec<usize> = (0..self.cases.len()).collect();
        order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
        let [train, val, _] = fractions.counts(self.cases.len());
        for (rank, &i) in order.iter().enumerate() {
            self.cases[i].split = if rank < train {
                Split::Train
            } else if rank < train + val {
                Split::Val
            } else {
                Split::Test
            };
        }
        Ok(())
    }

    /// The cases of one split, in list order.
    pub fn split(&self, split: Split) -> impl Iterator<Item = &CaseEntry> {
        self.cases.iter().filter(move |c| c.split == split)
    }

    /// Number of cases per split: `[train, val, test]`.
    pub fn counts(&self) -> [usize; 3] {
        let mut n = [0; 3];
        for c in &self.cases {
            n[c.split as usize] += 1;
        }
        n
    }

    /// The list as `cases.csv` text (header `case,split`; case names relative to the root
    /// when the folder lies inside it).
    pub fn to_csv(&self) -> String {
        let mut out = String::from("case,split\n");
        for c in &self.cases {
            let case = c
                .dir
                .strip_prefix(&self.root)
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_else(|_| c.dir.to_string_lossy().into_owned());
            out.push_str(&format!("{},{}\n", csv_field(&case), c.split));
        }
        out
    }
}

/// `text` as one CSV field: quoted (with `""` for a quote) when it holds a comma or a quote.
fn csv_field(text: &str) -> String {
    if text.contains([',', '"']) || text.trim() != text {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

/// Splits one CSV row at commas; fields are trimmed and may be wrapped in double quotes (a
/// quoted field may hold commas; `""` inside quotes is a literal quote).
fn split_csv_row(line: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => fields.push(std::mem::take(&mut field).trim().to_string()),
            c => field.push(c),
        }
    }
    fields.push(field.trim().to_string());
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<CaseList, DataError> {
        CaseList::parse_csv(Path::new("/data"), Path::new("/data/cases.csv"), text)
    }

    #[test]
    fn parses_csv_with_any_column_order_and_quotes() {
        let list =
            parse("# made by hand\nsplit,case,site\ntrain,a,x\n\nVAL,\"b, c\",y\ntest,/abs/d,z\n")
                .unwrap();
        let got: Vec<(&str, Split)> = list
            .cases
            .iter()
            .map(|c| (c.name.as_str(), c.split))
            .collect();
        assert_eq!(
            got,
            vec![
                ("a", Split::Train),
                ("b, c", Split::Val),
                ("d", Split::Test)
            ]
        );
        assert_eq!(list.cases[0].dir, Path::new("/data/a"));
        assert_eq!(list.cases[2].dir, Path::new("/abs/d"));
        assert_eq!(list.counts(), [1, 1, 1]);
        let again = parse(&list.to_csv()).unwrap();
        assert_eq!(again, list);
    }

    #[test]
    fn csv_reports_every_bad_line() {
        let err = parse("case,split\na,train\nb,holdout\nc\na,test\n,val\n").unwrap_err();
        let DataError::CaseList { problems, .. } = &err else {
            panic!("{err}");
        };
        assert_eq!(problems.len(), 4, "{problems:?}");
        let text = err.to_string();
        for needle in [
            "line 3",
            "holdout",
            "line 4",
            "line 5",
            "listed twice",
            "line 6",
        ] {
            assert!(text.contains(needle), "{needle} missing from {text}");
        }
        assert!(matches!(
            parse("name,fold\na,1\n"),
            Err(DataError::CaseList { .. })
        ));
        assert!(matches!(
            parse("case,split\n"),
            Err(DataError::NoCases { .. })
        ));
        assert!(matches!(parse(""), Err(DataError::NoCases { .. })));
    }

    fn list_of(n: usize) -> CaseList {
        CaseList {
            root: "/d".into(),
            cases: (0..n)
                .map(|i| CaseEntry {
                    name: format!("case{i:03}"),
                    dir: format!("/d/case{i:03}").into(),
                    split: Split::Train,
                })
                .collect(),
        }
    }

    #[test]
    fn fraction_split_is_deterministic_and_sized() {
        let f = SplitFractions {
            train: 0.6,
            val: 0.2,
            test: 0.2,
        };
        let mut a = list_of(50);
        a.resplit(f, 7).unwrap();
        assert_eq!(a.counts(), [30, 10, 10]);
        // Same seed, cases given in another order: same split.
        let mut b = list_of(50);
        b.cases.reverse();
        b.resplit(f, 7).unwrap();
        assert_eq!(a, b);
        // Another seed: another split.
        let mut c = list_of(50);
        c.resplit(f, 8).unwrap();
        assert_ne!(a, c);
        assert_eq!(c.counts(), [30, 10, 10]);
        assert!(list_of(3)
            .resplit(
                SplitFractions {
                    train: 0.5,
                    val: 0.1,
                    test: 0.1
                },
                0
            )
            .is_err());
        assert_eq!(SplitFractions::default().counts(7), [5, 1, 1]);
        assert_eq!(SplitFractions::default().counts(0), [0, 0, 0]);
    }

    #[test]
    fn scan_finds_case_folders_and_reports_ambiguous_ones() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        assert!(matches!(
            CaseList::scan(root),
            Err(DataError::NoCases { .. })
        ));
        for (dir, files) in [
            ("b", &["b_flair.nii.gz", "b_t1.nii.gz"][..]),
            ("a", &["a_t2.nii", "a_seg.nii.gz"][..]),
            ("notes", &["readme.txt"][..]),
            ("dup", &["x_flair.nii.gz", "y_flair.nii"][..]),
        ] {
            std::fs::create_dir(root.join(dir)).unwrap();
            for f in files {
                std::fs::write(root.join(dir).join(f), b"").unwrap();
            }
        }
        std::fs::write(root.join("stray_t1.nii.gz"), b"").unwrap();
        let (list, problems) = CaseList::scan(root).unwrap();
        let names: Vec<&str> = list.cases.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].case, "dup");
        assert!(
            problems[0].message.contains("two files claim FLAIR"),
            "{}",
            problems[0]
        );
        // With a cases.csv, open() uses it instead of scanning.
        std::fs::write(root.join(CASES_CSV), "case,split\nb,test\n").unwrap();
        let (list, problems) = CaseList::open(root).unwrap();
        assert!(problems.is_empty());
        assert_eq!(list.cases.len(), 1);
        assert_eq!(list.cases[0].split, Split::Test);
    }
}
