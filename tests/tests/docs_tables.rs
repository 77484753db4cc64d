//! Tables in docs/*.md that come verbatim from a raw output file (a
//! `<!-- table from measurements/… -->` line right above the table) equal that file, so no
//! documented table drifts from its measurement. `python3 tools/regen_docs_tables.py`
//! rewrites them from the files. And every table of figures in docs/ names its raw files:
//! verbatim as above, or, for a hand-written summary of them (a goals table), with a
//! `<!-- figures from measurements/…, measurements/… -->` line; a table whose numbers are not
//! measured (file lists, settings) says `<!-- not a measurement -->`. There is no exemption
//! for a table whose raw output was not kept: such a table is re-measured or removed.

use std::path::Path;

const MARKER: (&str, &str) = ("<!-- table from ", " -->");
const SUMMARY: (&str, &str) = ("<!-- figures from ", " -->");
const NOT_MEASURED: &str = "<!-- not a measurement -->";

/// Where `page` has a table (indented or not) whose rows below the header hold a digit but
/// no line right above it (blank lines skipped) names its raw files, each as a message; a
/// summary marker's files must exist under `docs`.
fn untied_tables(page: &str, docs: &Path) -> Vec<String> {
    let lines: Vec<&str> = page.lines().collect();
    let is_row = |l: &str| l.trim_start().starts_with('|');
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if !is_row(lines[i]) {
            i += 1;
            continue;
        }
        let end = i + lines[i..].iter().take_while(|l| is_row(l)).count();
        let has_numbers = lines[(i + 2).min(end)..end]
            .iter()
            .any(|l| l.chars().any(|c| c.is_ascii_digit()));
        let above_line = lines[..i]
            .iter()
            .rev()
            .find(|l| !l.trim().is_empty())
            .copied()
            .unwrap_or("");
        let above = above_line.trim();
        // The verbatim check reads unindented markers and tables only.
        let verbatim = above_line.starts_with(MARKER.0) && lines[i].starts_with('|');
        let summarised = above
            .strip_prefix(SUMMARY.0)
            .and_then(|rest| rest.strip_suffix(SUMMARY.1));
        let problem = if !has_numbers || above == NOT_MEASURED || verbatim {
            None
        } else if let Some(files) = summarised {
            let missing: Vec<&str> = files
                .split(',')
                .map(str::trim)
                .filter(|f| !docs.join(f).exists())
                .collect();
            (!missing.is_empty()).then(|| format!("names missing files {missing:?}"))
        } else {
            Some(format!(
                "holds figures but names no raw file; put `{}FILE{}` (verbatim) or `{}FILES{}` \
                 (summarised) above it",
                MARKER.0, MARKER.1, SUMMARY.0, SUMMARY.1
            ))
        };
        if let Some(problem) = problem {
            out.push(format!("the table at line {}: {problem}", i + 1));
        }
        i = end;
    }
    out
}

/// For each marked table of `page`: the raw file's path and whether the table equals it.
fn marked_tables(page: &str, docs: &Path) -> Vec<(String, Result<(), String>)> {
    let lines: Vec<&str> = page.lines().collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let Some(file) = line
            .strip_prefix(MARKER.0)
            .and_then(|rest| rest.strip_suffix(MARKER.1))
        else {
            continue;
        };
        let table: Vec<&str> = lines[i + 1..]
            .iter()
            .take_while(|l| l.starts_with('|'))
            .copied()
            .collect();
        let verdict = match std::fs::read_to_string(docs.join(file)) {
            Err(e) => Err(format!("cannot read it: {e}")),
            Ok(raw) if raw.trim_end().lines().eq(table.iter().copied()) => Ok(()),
            Ok(_) => Err("the table differs; run python3 tools/regen_docs_tables.py".into()),
        };
        out.push((file.to_string(), verdict));
    }
    out
}

#[test]
fn marked_tables_equal_their_raw_files() {
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs");
    let mut problems = Vec::new();
    let mut checked = 0;
    for entry in std::fs::read_dir(&docs).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            let page = std::fs::read_to_string(&path).unwrap();
            for (file, verdict) in marked_tables(&page, &docs) {
                checked += 1;
                if let Err(problem) = verdict {
                    problems.push(format!("{}: {file}: {problem}", path.display()));
                }
            }
        }
    }
    assert!(checked > 0, "no marked table found under docs/");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn a_changed_cell_is_found() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("raw.md"),
        "| a | b |\n|---|---|\n| 1 | 2 |\n",
    )
    .unwrap();
    let page = "text\n<!-- table from raw.md -->\n| a | b |\n|---|---|\n| 1 | 2 |\n\nmore";
    assert_eq!(marked_tables(page, dir.path()), [("raw.md".into(), Ok(()))]);
    let edited = page.replace("| 1 | 2 |", "| 1 | 3 |");
    assert!(marked_tables(&edited, dir.path())[0].1.is_err());
}

#[test]
fn every_table_of_figures_names_its_raw_files() {
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs");
    let mut problems = Vec::new();
    for entry in std::fs::read_dir(&docs).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            let page = std::fs::read_to_string(&path).unwrap();
            for problem in untied_tables(&page, &docs) {
                problems.push(format!("{}: {problem}", path.display()));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn an_untied_table_is_found() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("raw.json"), "{}").unwrap();
    let table = "| what | s |\n|---|---|\n| step | 1.09 |\n";
    assert_eq!(
        untied_tables(&format!("text\n\n{table}"), dir.path()).len(),
        1
    );
    assert_eq!(
        untied_tables(&format!("text\n    {table}"), dir.path()).len(),
        1
    );
    let summary = format!("<!-- figures from raw.json -->\n\n{table}");
    assert!(untied_tables(&summary, dir.path()).is_empty());
    let missing = format!("<!-- figures from raw.json, gone.json -->\n{table}");
    assert!(untied_tables(&missing, dir.path())[0].contains("gone.json"));
    let settings = format!("{NOT_MEASURED}\n{table}");
    assert!(untied_tables(&settings, dir.path()).is_empty());
    // The exemption these pages once had is gone.
    let unkept = format!("<!-- no raw output kept -->\n{table}");
    assert_eq!(untied_tables(&unkept, dir.path()).len(), 1);
    assert!(untied_tables("| a | b |\n|---|---|\n| x | y |\n", dir.path()).is_empty());
    let indented = format!("<!-- table from raw.md -->\n    {table}");
    assert_eq!(untied_tables(&indented, dir.path()).len(), 1);
}
