//! Tables in docs/*.md that come verbatim from a raw output file (a
//! `<!-- table from measurements/… -->` line right above the table) equal that file, so no
//! documented table drifts from its measurement. `python3 tools/regen_docs_tables.py`
//! rewrites them from the files.

use std::path::Path;

const MARKER: (&str, &str) = ("<!-- table from ", " -->");

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
