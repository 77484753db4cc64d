//! Every measured figure in the README matches the page it links to.
//!
//! A *figure* is a number with a unit of time, memory or throughput (`20 s`, `1.05 GB`,
//! `27–47 GFLOP/s`), a ratio (`6–9×`), and any decimal number in a paragraph (or table row)
//! that holds such a figure (`0.85 against 1.31 s`). Each paragraph with figures must link to
//! a page under `docs/`, and each of its numbers must appear on a linked page, as written or
//! rounded to the README's precision (`20` for the page's `20.1`). The check is textual: it
//! catches a README that quotes another measurement than its page (0.85 where the page says
//! 0.89), not a page whose numbers are wrong.

use std::collections::BTreeSet;
use std::path::Path;

/// Units that mark a measured figure (after a number and an optional space).
const UNITS: &[&str] = &["GFLOP/s", "TFLOP/s", "ms", "min", "MB", "GB", "s"];

/// A paragraph (lines up to a blank line) or one table row, with its first line number.
struct Block {
    line: usize,
    text: String,
}

fn blocks(markdown: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut current: Option<Block> = None;
    for (i, line) in markdown.lines().enumerate() {
        let separate = line.trim().is_empty() || line.starts_with('|') || line.starts_with('#');
        if separate {
            out.extend(current.take());
            if line.starts_with('|') {
                out.push(Block {
                    line: i + 1,
                    text: line.to_string(),
                });
            }
        } else {
            let block = current.get_or_insert_with(|| Block {
                line: i + 1,
                text: String::new(),
            });
            block.text.push(' ');
            block.text.push_str(line);
        }
    }
    out.extend(current);
    out
}

/// The numbers of `text` with where each ends: runs of digits with at most one inner `.`,
/// not part of a longer token (`2×2`'s digits are numbers; `v0.22.1` gives none).
fn numbers(text: &str) -> Vec<(String, usize)> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let starts = bytes[i].is_ascii_digit()
            && (i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'.'));
        if !starts {
            i += 1;
            continue;
        }
        let mut end = i;
        while end < bytes.len() && bytes[end].is_ascii_digit() {
            end += 1;
        }
        if end + 1 < bytes.len() && bytes[end] == b'.' && bytes[end + 1].is_ascii_digit() {
            end += 1;
            while end < bytes.len() && bytes[end].is_ascii_digit() {
                end += 1;
            }
        }
        let clean = end == bytes.len()
            || !(bytes[end] == b'.' && bytes.get(end + 1).is_some_and(u8::is_ascii_digit));
        if clean {
            out.push((text[i..end].to_string(), end));
        }
        i = end.max(i + 1);
    }
    out
}

/// Whether the number ending at byte `end` of `text` carries a unit or a ratio sign, directly
/// or through a range (`27–47 GFLOP/s`: 27 counts as 47 does).
fn has_unit(text: &str, end: usize) -> bool {
    let rest = &text[end..];
    if let Some(after) = rest.strip_prefix('×') {
        return !after.starts_with(|c: char| c.is_ascii_digit());
    }
    let rest = rest.strip_prefix(' ').unwrap_or(rest);
    UNITS.iter().any(|unit| {
        rest.strip_prefix(unit)
            .is_some_and(|after| !after.starts_with(|c: char| c.is_alphanumeric()))
    })
}

/// The figures of a block (see the module docs).
fn figures(text: &str) -> BTreeSet<String> {
    let found = numbers(text);
    let mut out = BTreeSet::new();
    for (k, (number, end)) in found.iter().enumerate() {
        let range_end = found.get(k + 1).filter(|(_, next_end)| {
            let between = &text[*end..next_end - found[k + 1].0.len()];
            between == "–" || between == "-"
        });
        let unit_end = range_end.map_or(*end, |(_, e)| *e);
        if has_unit(text, unit_end) {
            out.insert(number.clone());
            out.extend(range_end.map(|(n, _)| n.clone()));
        }
    }
    if !out.is_empty() {
        out.extend(
            found
                .into_iter()
                .map(|(n, _)| n)
                .filter(|n| n.contains('.')),
        );
    }
    out
}

/// The `docs/….md` pages a block links to.
fn linked_pages(text: &str) -> Vec<String> {
    text.split("](")
        .skip(1)
        .filter_map(|rest| rest.split(')').next())
        .map(|target| target.split('#').next().unwrap_or(target).to_string())
        .filter(|target| target.starts_with("docs/") && target.ends_with(".md"))
        .collect()
}

/// Whether `figure` is one of `page_numbers` as written or rounded to its precision.
fn stated(figure: &str, page_numbers: &BTreeSet<String>) -> bool {
    let decimals = figure.split_once('.').map_or(0, |(_, d)| d.len());
    page_numbers.iter().any(|n| {
        n == figure
            || n.parse::<f64>()
                .is_ok_and(|v| format!("{v:.decimals$}") == figure && n.len() > figure.len())
    })
}

fn check(readme: &str, root: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    for block in blocks(readme) {
        let figures = figures(&block.text);
        if figures.is_empty() {
            continue;
        }
        let pages = linked_pages(&block.text);
        if pages.is_empty() {
            problems.push(format!(
                "README line {}: figures {figures:?} but no link to the page that measured them",
                block.line
            ));
            continue;
        }
        let mut page_numbers = BTreeSet::new();
        for page in &pages {
            let text = std::fs::read_to_string(root.join(page))
                .unwrap_or_else(|e| panic!("README line {} links to {page}: {e}", block.line))
                .replace(',', "");
            page_numbers.extend(numbers(&text).into_iter().map(|(n, _)| n));
        }
        for figure in figures.iter().filter(|f| !stated(f, &page_numbers)) {
            problems.push(format!(
                "README line {}: {figure} is not on {}",
                block.line,
                pages.join(" or ")
            ));
        }
    }
    problems
}

#[test]
fn readme_figures_match_their_pages() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let problems = check(&readme, &root);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_check_finds_a_misquoted_or_unlinked_figure() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("docs")).unwrap();
    std::fs::write(
        dir.path().join("docs/page.md"),
        "| training | 0.89 s | 1.38 s | 20.1 s | 27.4–47.0 GFLOP/s |",
    )
    .unwrap();
    let good = "Faster (0.89 against 1.38 s, 20 s, 27–47 GFLOP/s; [page](docs/page.md)).\n\n\
                A 2×2 grid of 240×240×155 images, version 0.22.1.";
    assert!(
        check(good, dir.path()).is_empty(),
        "{:?}",
        check(good, dir.path())
    );
    let misquoted = "Faster (0.85 against 1.38 s; [page](docs/page.md)).";
    assert_eq!(
        check(misquoted, dir.path()),
        ["README line 1: 0.85 is not on docs/page.md"]
    );
    let unlinked = "\n\nIt takes 20 s.";
    assert_eq!(
        check(unlinked, dir.path()),
        ["README line 3: figures {\"20\"} but no link to the page that measured them"]
    );
}
