//! Architecture checks over the workspace's own sources, read as text (no compiler help):
//!
//! * **Function length** ([`no_function_is_longer_than_100_lines`]): every `fn` item under
//!   `engine/src` and `app/src` (methods, nested and test functions included) spans at most
//!   100 lines, from its `fn` line to its closing brace. Long functions hide their steps; a
//!   function that really must stay long carries a `// long-function: <reason>` comment in the
//!   comment/attribute block directly above it.
//! * **No import cycles** ([`engine_modules_have_no_import_cycles`]): the engine's modules
//!   (one per source file; `engine/src/bin` and `lib.rs` left out) must not depend on each
//!   other in a circle, neither file by file nor between top-level modules (`volume`, `study`,
//!   `model`, ...). A dependency is any `crate::`, `super::` or `self::` path, in a `use` or
//!   inline in code. A module and its ancestors or descendants may use each other freely:
//!   that is ownership, not layering.
//! * **Layers** ([`engine_layers_follow_architecture`]): each top-level engine module imports
//!   only the top-level modules that [`LAYERS`] allows it, and every top-level module has a
//!   deliberate place in that table.
//!
//! Comments, strings and char literals are blanked out by a small lexer before anything is
//! matched, so braces or paths inside them count for nothing. `cargo test --test architecture
//! -- --ignored print_module_graph --nocapture` prints the current dependency graph.
//!
//! The workspace root is this crate's parent folder, or `$ARCH_ROOT` when that is set.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// The most lines a function may span without a `long-function:` exemption.
const MAX_FUNCTION_LINES: usize = 100;

/// The marker that exempts a function from [`MAX_FUNCTION_LINES`]; a reason must follow it.
const LONG_FUNCTION_MARKER: &str = "long-function:";

/// For each top-level engine module, the other top-level modules it may import. Listed from
/// the bottom layer up, so that what each module may import stands above it.
const LAYERS: &[(&str, &[&str])] = &[
    ("allocator", &[]),
    ("atomic_file", &[]),
    ("compute", &[]),
    ("ops", &[]),
    ("volume", &["atomic_file"]),
    ("study", &["volume"]),
    ("render", &["study", "volume"]),
    ("prepare", &["atomic_file", "study", "volume"]),
    ("data", &["atomic_file", "prepare", "study", "volume"]),
    ("phantom", &["data", "study", "volume"]),
    ("model", &["atomic_file", "ops", "study"]),
    ("metrics", &["study"]),
    (
        "infer",
        &[
            "atomic_file",
            "compute",
            "data",
            "metrics",
            "model",
            "prepare",
            "study",
        ],
    ),
    (
        "train",
        &[
            "atomic_file",
            "compute",
            "data",
            "model",
            "prepare",
            "study",
        ],
    ),
    (
        "experiment",
        &[
            "atomic_file",
            "compute",
            "data",
            "infer",
            "metrics",
            "model",
            "study",
            "train",
        ],
    ),
];

// ---------------------------------------------------------------------------------------------
// The checks
// ---------------------------------------------------------------------------------------------

#[test]
fn no_function_is_longer_than_100_lines() {
    let root = workspace_root();
    let mut too_long = Vec::new();
    for dir in ["engine/src", "app/src"] {
        for file in source_files(&root, dir) {
            too_long.extend(long_functions(&file));
        }
    }
    assert!(
        too_long.is_empty(),
        "{} function(s) span more than {MAX_FUNCTION_LINES} lines:\n  {}\n\
         Split each into named steps, or add a `// {LONG_FUNCTION_MARKER} <reason>` comment \
         directly above the `fn` saying why it must stay long.",
        too_long.len(),
        too_long.join("\n  ")
    );
}

#[test]
fn engine_modules_have_no_import_cycles() {
    let files = engine_graph(&workspace_root());
    let top = files.collapse_to_top_level();
    let mut report = String::new();
    for (level, graph) in [("file-level", &files), ("top-level", &top)] {
        for cycle in graph.cycles() {
            report += &format!(
                "{level} cycle among {}:\n{}",
                cycle.join(", "),
                graph.describe(&cycle)
            );
        }
    }
    assert!(
        report.is_empty(),
        "engine modules import each other in a circle:\n{report}\
         Break each cycle: move the shared item into the lower module (or a new one both \
         import), or pass it in as a parameter instead of importing it."
    );
}

#[test]
fn engine_layers_follow_architecture() {
    let top = engine_graph(&workspace_root()).collapse_to_top_level();
    let mut problems: Vec<String> = top
        .nodes
        .iter()
        .filter(|module| layer(module).is_none())
        .map(|module| {
            format!("`{module}` has no entry: add it, with the top-level modules it may import")
        })
        .collect();
    problems.extend(
        top.edges
            .iter()
            .filter(|((from, to), _)| {
                layer(from).is_some_and(|allowed| !allowed.contains(&to.as_str()))
            })
            .map(|((from, to), sites)| {
                format!("{from} → {to} is not allowed, at {}", sites_list(sites))
            }),
    );
    assert!(
        problems.is_empty(),
        "the engine's top-level modules break LAYERS (tests/tests/architecture.rs):\n  {}\n\
         Import through an allowed module or move the code to the layer it belongs to; if the \
         architecture really changed, edit LAYERS (and the docs) deliberately.",
        problems.join("\n  ")
    );
}

/// Prints the top-level and the file-level engine dependency graph (for writing docs).
#[test]
#[ignore = "prints the module graph; run with --ignored --nocapture"]
fn print_module_graph() {
    let files = engine_graph(&workspace_root());
    for (title, graph) in [
        ("top-level", files.collapse_to_top_level()),
        ("file-level", files),
    ] {
        println!("{title} dependencies:");
        for ((from, to), sites) in &graph.edges {
            println!("  {from} → {to}  ({})", sites_list(sites));
        }
    }
}

/// The modules [`LAYERS`] lets the top-level module `module` import, if it is listed.
fn layer(module: &str) -> Option<&'static [&'static str]> {
    LAYERS
        .iter()
        .find(|(name, _)| *name == module)
        .map(|(_, allowed)| *allowed)
}

// ---------------------------------------------------------------------------------------------
// Source files
// ---------------------------------------------------------------------------------------------

/// The workspace root: `$ARCH_ROOT` if set, else the parent of this crate's folder.
fn workspace_root() -> PathBuf {
    match std::env::var_os("ARCH_ROOT") {
        Some(root) => PathBuf::from(root),
        None => Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("the tests crate lives inside the workspace")
            .to_path_buf(),
    }
}

/// One Rust source file: its text, and the same text with comments and literals blanked.
struct SourceFile {
    /// The path relative to the workspace root, with `/` separators.
    rel: String,
    text: String,
    tokens: Vec<Token>,
}

impl SourceFile {
    fn new(rel: String, text: String) -> Self {
        let tokens = tokenize(&blank_non_code(&text));
        SourceFile { rel, text, tokens }
    }
}

/// Every `.rs` file under `root/dir`, in path order.
fn source_files(root: &Path, dir: &str) -> Vec<SourceFile> {
    let mut paths = Vec::new();
    collect_rs_paths(&root.join(dir), &mut paths);
    assert!(
        !paths.is_empty(),
        "no Rust files under {}",
        root.join(dir).display()
    );
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let text =
                fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            SourceFile::new(rel, text)
        })
        .collect()
}

/// Appends the `.rs` files under `dir`, recursively, to `out`.
fn collect_rs_paths(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for path in entries.map(|entry| entry.unwrap().path()) {
        if path.is_dir() {
            collect_rs_paths(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            out.push(path);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Lexer: blank out comments and literals, then split into tokens
// ---------------------------------------------------------------------------------------------

/// `src` with every comment and every string, byte-string, raw-string and char literal
/// replaced by spaces (newlines kept, so each character keeps its line). Lifetimes and labels
/// (`'a`, `'static`) are code and stay.
fn blank_non_code(src: &str) -> String {
    let chars: Vec<char> = src.chars().collect();
    let mut out = chars.clone();
    let mut i = 0;
    while i < chars.len() {
        match non_code_end(&chars, i) {
            Some(end) => {
                for c in &mut out[i..end] {
                    if *c != '\n' {
                        *c = ' ';
                    }
                }
                i = end;
            }
            None => i += 1,
        }
    }
    out.into_iter().collect()
}

/// If a comment or literal starts at `i`, the index just past its end.
fn non_code_end(c: &[char], i: usize) -> Option<usize> {
    let starts_word = i == 0 || !is_word_char(c[i - 1]);
    match (c[i], c.get(i + 1)) {
        ('/', Some('/')) => Some(
            c[i..]
                .iter()
                .position(|&x| x == '\n')
                .map_or(c.len(), |n| i + n),
        ),
        ('/', Some('*')) => Some(block_comment_end(c, i)),
        ('"', _) => Some(string_end(c, i + 1)),
        ('\'', _) => char_literal_end(c, i),
        ('r' | 'b' | 'c', _) if starts_word => raw_string_end(c, i),
        _ => None,
    }
}

/// The end of the (possibly nested) block comment starting at `i`.
fn block_comment_end(c: &[char], mut i: usize) -> usize {
    let mut depth = 0;
    while i + 1 < c.len() {
        match (c[i], c[i + 1]) {
            ('/', '*') => depth += 1,
            ('*', '/') => depth -= 1,
            _ => {
                i += 1;
                continue;
            }
        }
        i += 2;
        if depth == 0 {
            return i;
        }
    }
    c.len()
}

/// The end of a `"..."` string whose contents start at `i` (backslash escapes honoured).
fn string_end(c: &[char], mut i: usize) -> usize {
    while i < c.len() {
        match c[i] {
            '\\' => i += 2,
            '"' => return i + 1,
            _ => i += 1,
        }
    }
    c.len()
}

/// The end of a char or byte literal (`'{'`, `'\''`, `'\u{7b}'`) starting at `i`, or `None`
/// when the quote starts a lifetime or label (`'a`, `'static`).
fn char_literal_end(c: &[char], i: usize) -> Option<usize> {
    match c.get(i + 1)? {
        '\\' => {
            let close = c.get(i + 3..)?.iter().position(|&x| x == '\'')?;
            Some(i + 3 + close + 1)
        }
        _ if c.get(i + 2) == Some(&'\'') => Some(i + 3),
        _ => None,
    }
}

/// The end of a raw string (`r"..."`, `r#"..."#`, `br##"..."##`, `cr"..."`) starting at `i`,
/// or `None` if no raw string starts there (e.g. the raw identifier `r#type`).
fn raw_string_end(c: &[char], i: usize) -> Option<usize> {
    let r = if c[i] == 'r' { i } else { i + 1 };
    if c.get(r) != Some(&'r') {
        return None;
    }
    let hashes = c[r + 1..].iter().take_while(|&&x| x == '#').count();
    let open = r + 1 + hashes;
    if c.get(open) != Some(&'"') {
        return None;
    }
    let closes_at = |k: usize| {
        c[k] == '"'
            && c[k + 1..]
                .iter()
                .take(hashes)
                .filter(|&&x| x == '#')
                .count()
                == hashes
    };
    Some(
        (open + 1..c.len())
            .find(|&k| closes_at(k))
            .map_or(c.len(), |k| k + 1 + hashes),
    )
}

/// Whether `c` can appear in an identifier or number.
fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// A token of blanked code: a word (identifier, keyword, number, `r#raw`), `::`, `->`, or
/// one punctuation character.
#[derive(Debug)]
struct Token {
    text: String,
    line: usize,
}

/// Splits blanked code into tokens, each with its 1-based line.
fn tokenize(code: &str) -> Vec<Token> {
    let c: Vec<char> = code.chars().collect();
    let (mut tokens, mut line, mut i) = (Vec::new(), 1, 0);
    while i < c.len() {
        let len = if is_word_char(c[i]) {
            word_len(&c, i)
        } else if matches!((c[i], c.get(i + 1)), (':', Some(':')) | ('-', Some('>'))) {
            2
        } else {
            1
        };
        if !c[i].is_whitespace() {
            tokens.push(Token {
                text: c[i..i + len].iter().collect(),
                line,
            });
        }
        line += usize::from(c[i] == '\n');
        i += len;
    }
    tokens
}

/// The length of the word starting at `i`, a raw identifier's `r#` included.
fn word_len(c: &[char], i: usize) -> usize {
    let plain = c[i..].iter().take_while(|&&x| is_word_char(x)).count();
    let raw = plain == 1
        && c[i] == 'r'
        && c.get(i + 1) == Some(&'#')
        && c.get(i + 2).is_some_and(|&x| is_word_char(x));
    if raw {
        2 + word_len(c, i + 2)
    } else {
        plain
    }
}

/// Whether `text` is an identifier (a word not starting with a digit).
fn is_identifier(text: &str) -> bool {
    text.starts_with(|c: char| c.is_alphabetic() || c == '_')
}

/// The text of token `i`, or `""` past the end.
fn text_at(tokens: &[Token], i: usize) -> &str {
    tokens.get(i).map_or("", |t| t.text.as_str())
}

// ---------------------------------------------------------------------------------------------
// Function lengths
// ---------------------------------------------------------------------------------------------

/// A function item with a body.
#[derive(Debug, PartialEq)]
struct Function {
    name: String,
    /// Line of the `fn` keyword.
    line: usize,
    /// Lines from the `fn` keyword to the closing brace, both included.
    lines: usize,
    /// Index of the `fn` token.
    token: usize,
}

/// Every function item with a body in `tokens`: `fn NAME` (generics optional) `(`, so that
/// `fn(u8) -> u8` pointer types and `Fn`/`FnMut` traits are not taken for items.
fn functions(tokens: &[Token]) -> Vec<Function> {
    (0..tokens.len())
        .filter(|&i| tokens[i].text == "fn")
        .filter_map(|i| function_at(tokens, i))
        .collect()
}

/// The function item whose `fn` keyword is token `i`, if it is an item and has a body.
fn function_at(tokens: &[Token], i: usize) -> Option<Function> {
    let name = text_at(tokens, i + 1);
    if !is_identifier(name) {
        return None;
    }
    let mut k = i + 2;
    if text_at(tokens, k) == "<" {
        k = generics_end(tokens, k)?;
    }
    if text_at(tokens, k) != "(" {
        return None;
    }
    let body = body_start(tokens, matching_close(tokens, k)? + 1)?;
    let close = matching_close(tokens, body)?;
    Some(Function {
        name: name.trim_start_matches("r#").to_string(),
        line: tokens[i].line,
        lines: tokens[close].line - tokens[i].line + 1,
        token: i,
    })
}

/// The index just past the `>` closing the generics opened at `open` (`->` is one token, so
/// `F: Fn(u8) -> u8` inside does not close them).
fn generics_end(tokens: &[Token], open: usize) -> Option<usize> {
    let mut depth = 0;
    for (k, token) in tokens.iter().enumerate().skip(open) {
        match token.text.as_str() {
            "<" => depth += 1,
            ">" => depth -= 1,
            _ => {}
        }
        if depth == 0 {
            return Some(k + 1);
        }
    }
    None
}

/// The index of the bracket that closes the `(`, `[` or `{` at `open`.
fn matching_close(tokens: &[Token], open: usize) -> Option<usize> {
    let mut depth = 0;
    for (k, token) in tokens.iter().enumerate().skip(open) {
        match token.text.as_str() {
            "(" | "[" | "{" => depth += 1,
            ")" | "]" | "}" => depth -= 1,
            _ => {}
        }
        if depth == 0 {
            return Some(k);
        }
    }
    None
}

/// After a function's parameter list (from `from`: return type, `where` clause), the index of
/// the `{` opening its body, or `None` if a `;` ends it first (a declaration without body).
/// `;` and `{` inside `(..)` or `[..]` (such as `[u8; 4]`) do not count.
fn body_start(tokens: &[Token], from: usize) -> Option<usize> {
    let mut depth = 0i32;
    for (k, token) in tokens.iter().enumerate().skip(from) {
        match token.text.as_str() {
            "(" | "[" => depth += 1,
            ")" | "]" => depth -= 1,
            "{" if depth == 0 => return Some(k),
            ";" if depth == 0 => return None,
            _ => {}
        }
    }
    None
}

/// `path:line name (N lines)` for each function of `file` over [`MAX_FUNCTION_LINES`] that is
/// not exempted.
fn long_functions(file: &SourceFile) -> Vec<String> {
    let lines: Vec<&str> = file.text.lines().collect();
    functions(&file.tokens)
        .into_iter()
        .filter(|f| f.lines > MAX_FUNCTION_LINES && !is_exempt(&lines, &file.tokens, f))
        .map(|f| format!("{}:{} {} ({} lines)", file.rel, f.line, f.name, f.lines))
        .collect()
}

/// Whether a `long-function: <reason>` comment stands in the contiguous comment/attribute
/// lines directly above `function` (after the previous item's last `;`, `{` or `}`, and not
/// across a blank line).
fn is_exempt(lines: &[&str], tokens: &[Token], function: &Function) -> bool {
    let fence = tokens[..function.token]
        .iter()
        .rev()
        .find(|t| matches!(t.text.as_str(), ";" | "{" | "}"))
        .map_or(0, |t| t.line);
    (fence + 1..function.line)
        .rev()
        .map(|line| lines[line - 1].trim())
        .take_while(|line| !line.is_empty())
        .any(|line| {
            line.split_once(LONG_FUNCTION_MARKER)
                .is_some_and(|(_, reason)| !reason.trim().is_empty())
        })
}

// ---------------------------------------------------------------------------------------------
// Module references
// ---------------------------------------------------------------------------------------------

/// A `crate::`/`super::`/`self::` path found in a file.
#[derive(Debug, PartialEq)]
struct Reference {
    /// The path's segments as written, `crate`/`super`/`self` included.
    segments: Vec<String>,
    /// The inline modules (`mod tests { ... }`) the path stands in, outermost first.
    inline: Vec<String>,
    line: usize,
}

/// Every path in `tokens` that starts with `crate`, `super` or `self`, from `use`
/// declarations (nested trees expanded) and from code.
fn references(tokens: &[Token]) -> Vec<Reference> {
    let mut scanner = Scanner {
        tokens,
        pos: 0,
        depth: 0,
        inline: Vec::new(),
        found: Vec::new(),
    };
    while scanner.pos < tokens.len() {
        scanner.step();
    }
    scanner.found
}

/// Walks tokens, tracking the inline modules it is inside, collecting [`Reference`]s.
struct Scanner<'a> {
    tokens: &'a [Token],
    pos: usize,
    /// Current brace depth.
    depth: usize,
    /// Open inline modules: name, and the brace depth outside them.
    inline: Vec<(String, usize)>,
    found: Vec<Reference>,
}

impl Scanner<'_> {
    /// Handles the token at `pos` and moves past it (past a whole `use` declaration).
    fn step(&mut self) {
        let text = text_at(self.tokens, self.pos);
        match text {
            "use" => return self.use_declaration(),
            "{" => {
                if text_at(self.tokens, self.pos.wrapping_sub(2)) == "mod" {
                    self.inline
                        .push((text_at(self.tokens, self.pos - 1).to_string(), self.depth));
                }
                self.depth += 1;
            }
            "}" => {
                self.depth = self.depth.saturating_sub(1);
                if self
                    .inline
                    .last()
                    .is_some_and(|(_, depth)| *depth == self.depth)
                {
                    self.inline.pop();
                }
            }
            "crate" | "super" | "self" if self.starts_path() => return self.code_path(),
            _ => {}
        }
        self.pos += 1;
    }

    /// Whether the token at `pos` starts a path: `::` follows, and it is not `$crate`, the
    /// tail of a longer path, or a `pub(in crate::...)` visibility.
    fn starts_path(&self) -> bool {
        let before = |n: usize| text_at(self.tokens, self.pos.wrapping_sub(n));
        let visibility = before(1) == "in" && before(2) == "(";
        text_at(self.tokens, self.pos + 1) == "::"
            && !matches!(before(1), "$" | "::")
            && !visibility
    }

    /// Records the path in code starting at `pos` (`crate::data::preprocess::f`).
    fn code_path(&mut self) {
        let mut segments = vec![text_at(self.tokens, self.pos).to_string()];
        while text_at(self.tokens, self.pos + 1) == "::"
            && is_identifier(text_at(self.tokens, self.pos + 2))
        {
            self.pos += 2;
            segments.push(text_at(self.tokens, self.pos).to_string());
        }
        self.record(segments, self.tokens[self.pos].line);
        self.pos += 1;
    }

    /// Records the leaves of the `use` declaration at `pos` and moves past its `;`.
    fn use_declaration(&mut self) {
        let start = self.pos + 1;
        let end = (start..self.tokens.len())
            .find(|&k| self.tokens[k].text == ";")
            .unwrap_or(self.tokens.len());
        for (segments, line) in use_tree_leaves(&self.tokens[start..end]) {
            if matches!(
                segments.first().map(String::as_str),
                Some("crate" | "super" | "self")
            ) {
                self.record(segments, line);
            }
        }
        self.pos = end + 1;
    }

    /// Notes a path found at `line`, inside the inline modules open there.
    fn record(&mut self, segments: Vec<String>, line: usize) {
        let inline = self.inline.iter().map(|(name, _)| name.clone()).collect();
        self.found.push(Reference {
            segments,
            inline,
            line,
        });
    }
}

/// The leaf paths of a use tree (`super::{blocks::{conv, up}, Fusion as F, *}`), each with
/// the line of its last segment. `as` renames are dropped; a `*` or `self` leaf stands for
/// its prefix (with `self` kept as a segment).
fn use_tree_leaves(tokens: &[Token]) -> Vec<(Vec<String>, usize)> {
    let mut leaves = Vec::new();
    use_tree(tokens, 0, &[], &mut leaves);
    leaves
}

/// Parses one use tree from token `k` under `prefix` into `leaves`; returns the index after it.
fn use_tree(
    tokens: &[Token],
    mut k: usize,
    prefix: &[String],
    leaves: &mut Vec<(Vec<String>, usize)>,
) -> usize {
    let mut path = prefix.to_vec();
    loop {
        match text_at(tokens, k) {
            "::" => k += 1,
            "{" => return use_group(tokens, k + 1, &path, leaves),
            "*" => {
                leaves.push((path, tokens[k].line));
                return k + 1;
            }
            word if is_identifier(word) => {
                path.push(word.to_string());
                let line = tokens[k].line;
                k += 1;
                match text_at(tokens, k) {
                    "::" => continue,
                    "as" => k += 2,
                    _ => {}
                }
                leaves.push((path, line));
                return k;
            }
            _ => return k,
        }
    }
}

/// Parses the trees of a `{...}` group starting after its `{`; returns the index after `}`.
fn use_group(
    tokens: &[Token],
    mut k: usize,
    prefix: &[String],
    leaves: &mut Vec<(Vec<String>, usize)>,
) -> usize {
    while k < tokens.len() {
        match text_at(tokens, k) {
            "}" => return k + 1,
            "," => k += 1,
            _ => k = use_tree(tokens, k, prefix, leaves).max(k + 1),
        }
    }
    k
}

/// The module a reference points into: the deepest existing module along its absolute path.
/// `scope` is the module the reference stands in (file module, then inline modules).
/// `None` for the crate root or a path that leaves the crate.
fn resolve(segments: &[String], scope: &[String], modules: &BTreeSet<String>) -> Option<String> {
    let mut path: Vec<String> = Vec::new();
    for (i, segment) in segments.iter().enumerate() {
        match (i, segment.as_str()) {
            (0, "crate") => {}
            (0, "self") => path = scope.to_vec(),
            (0, "super") => {
                path = scope.to_vec();
                path.pop()?;
            }
            (_, "super") => {
                path.pop()?;
            }
            (_, "self") => {}
            (0, _) => return None,
            _ => path.push(segment.clone()),
        }
    }
    (1..=path.len())
        .rev()
        .map(|n| path[..n].join("::"))
        .find(|name| modules.contains(name))
}

// ---------------------------------------------------------------------------------------------
// The module graph
// ---------------------------------------------------------------------------------------------

/// A dependency graph: every module, and each edge with the places (file, line) creating it.
#[derive(Default)]
struct Graph {
    nodes: BTreeSet<String>,
    edges: BTreeMap<(String, String), BTreeSet<(String, usize)>>,
}

/// The engine's file-level module graph, without edges between a module and itself, its
/// ancestors or its descendants.
fn engine_graph(root: &Path) -> Graph {
    let files: Vec<(String, SourceFile)> = source_files(root, "engine/src")
        .into_iter()
        .filter_map(|file| Some((module_name(&file.rel)?, file)))
        .collect();
    let mut graph = Graph {
        nodes: files.iter().map(|(name, _)| name.clone()).collect(),
        ..Graph::default()
    };
    for (module, file) in &files {
        let file_scope: Vec<String> = module.split("::").map(String::from).collect();
        for reference in references(&file.tokens) {
            let scope = [file_scope.clone(), reference.inline].concat();
            let Some(target) = resolve(&reference.segments, &scope, &graph.nodes) else {
                continue;
            };
            if !related(module, &target) {
                graph.add_edge(module, &target, (file.rel.clone(), reference.line));
            }
        }
    }
    graph
}

/// The module a file under `engine/src` defines (`foo/bar.rs` and `foo/bar/mod.rs` are
/// `foo::bar`), or `None` for `lib.rs` and binaries.
fn module_name(rel: &str) -> Option<String> {
    let inside = rel.strip_prefix("engine/src/")?.strip_suffix(".rs")?;
    if inside == "lib" || inside.starts_with("bin/") {
        return None;
    }
    let inside = inside.strip_suffix("/mod").unwrap_or(inside);
    Some(inside.replace('/', "::"))
}

/// Whether `a` and `b` are the same module or one contains the other.
fn related(a: &str, b: &str) -> bool {
    let within =
        |inner: &str, outer: &str| inner == outer || inner.starts_with(&format!("{outer}::"));
    within(a, b) || within(b, a)
}

impl Graph {
    fn add_edge(&mut self, from: &str, to: &str, site: (String, usize)) {
        self.edges
            .entry((from.to_string(), to.to_string()))
            .or_default()
            .insert(site);
    }

    /// The same graph between top-level modules (each module collapsed to its first segment).
    fn collapse_to_top_level(&self) -> Graph {
        let top = |module: &str| module.split("::").next().unwrap().to_string();
        let mut graph = Graph {
            nodes: self.nodes.iter().map(|m| top(m)).collect(),
            ..Graph::default()
        };
        for ((from, to), sites) in &self.edges {
            if top(from) != top(to) {
                for site in sites {
                    graph.add_edge(&top(from), &top(to), site.clone());
                }
            }
        }
        graph
    }

    /// The strongly connected components with more than one module (Kosaraju).
    fn cycles(&self) -> Vec<Vec<String>> {
        let mut forward: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        let mut backward: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (from, to) in self.edges.keys() {
            forward.entry(from).or_default().push(to);
            backward.entry(to).or_default().push(from);
        }
        let (mut seen, mut finished) = (BTreeSet::new(), Vec::new());
        for node in &self.nodes {
            post_order(&forward, node, &mut seen, &mut finished);
        }
        let mut seen = BTreeSet::new();
        let mut components = Vec::new();
        for node in finished.into_iter().rev() {
            let mut component = Vec::new();
            post_order(&backward, node, &mut seen, &mut component);
            if component.len() > 1 {
                component.sort();
                components.push(component.into_iter().map(String::from).collect());
            }
        }
        components
    }

    /// The edges inside `component`, one per line, with the places that create them.
    fn describe(&self, component: &[String]) -> String {
        self.edges
            .iter()
            .filter(|((from, to), _)| component.contains(from) && component.contains(to))
            .map(|((from, to), sites)| format!("  {from} → {to} at {}\n", sites_list(sites)))
            .collect()
    }
}

/// Depth-first search from `node` through `graph`, appending nodes to `out` as they finish.
fn post_order<'a>(
    graph: &BTreeMap<&'a str, Vec<&'a str>>,
    node: &'a str,
    seen: &mut BTreeSet<&'a str>,
    out: &mut Vec<&'a str>,
) {
    if !seen.insert(node) {
        return;
    }
    for &next in graph.get(node).into_iter().flatten() {
        post_order(graph, next, seen, out);
    }
    out.push(node);
}

/// `file:line, file:line, ...` (the first five, then how many more).
fn sites_list(sites: &BTreeSet<(String, usize)>) -> String {
    let mut shown: Vec<String> = sites
        .iter()
        .take(5)
        .map(|(file, line)| format!("{file}:{line}"))
        .collect();
    if sites.len() > 5 {
        shown.push(format!("and {} more", sites.len() - 5));
    }
    shown.join(", ")
}

// ---------------------------------------------------------------------------------------------
// Tests of the checker itself
// ---------------------------------------------------------------------------------------------

mod checker {
    use super::*;

    fn tokens(src: &str) -> Vec<Token> {
        tokenize(&blank_non_code(src))
    }

    fn names_and_lengths(src: &str) -> Vec<(String, usize)> {
        functions(&tokens(src))
            .into_iter()
            .map(|f| (f.name, f.lines))
            .collect()
    }

    fn strings(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| w.to_string()).collect()
    }

    #[test]
    fn lexer_blanks_braces_in_raw_strings_chars_and_nested_comments() {
        let src = r####"fn f<'a>(x: &'a str) -> &'static str {
    let _ = r#"{ "}" {"#; let _ = br##"}"#"##; let _ = "\"{";
    let _ = ['{', '\'', '\\', b'}', '\u{7b}'];
    /* { /* } */ } */ // }
    x
}"####;
        let code = blank_non_code(src);
        assert_eq!(code.matches('{').count(), 1, "{code}");
        assert_eq!(code.matches('}').count(), 1, "{code}");
        assert_eq!(code.lines().count(), 6, "newlines are kept");
        assert!(
            code.contains("&'a str") && code.contains("&'static str"),
            "lifetimes stay: {code}"
        );
        assert_eq!(names_and_lengths(src), [("f".to_string(), 6)]);
    }

    #[test]
    fn lexer_keeps_raw_identifiers_and_labels() {
        let code = blank_non_code("let r#type = 1; 'outer: loop { break 'outer; } let c = 'x';");
        assert!(
            code.contains("r#type")
                && code.contains("'outer: loop {")
                && code.contains("break 'outer;")
        );
        assert!(!code.contains('x'), "{code}");
    }

    #[test]
    fn function_length_handles_where_clauses_and_fn_pointer_parameters() {
        let src = "fn apply<F: Fn(u8) -> u8, const N: usize>(f: F, g: fn(usize) -> f32) -> [f32; N]
where
    F: Clone,
{
    let h: Box<dyn FnMut()> = Box::new(|| {});
    [g(f(1) as usize); N]
}
trait T { fn declared(&self) -> [u8; 4]; fn with_body(&self) -> impl Fn(u8) -> u8 { |x| x } }";
        let found = names_and_lengths(src);
        assert_eq!(
            found,
            [("apply".to_string(), 7), ("with_body".to_string(), 1)]
        );
    }

    #[test]
    fn nested_and_test_functions_are_measured() {
        let src = "fn outer() {\n    fn inner() {\n    }\n}\n\
                   #[cfg(test)]\nmod tests {\n    #[test]\n    fn t() {}\n}";
        assert_eq!(
            names_and_lengths(src),
            [
                ("outer".to_string(), 4),
                ("inner".to_string(), 2),
                ("t".to_string(), 1)
            ]
        );
    }

    #[test]
    fn exemption_must_sit_in_the_block_directly_above() {
        let exempt = "}\n/// Docs.\n// long-function: one table, read top to bottom\n\
                      #[rustfmt::skip]\nfn f() {}";
        let blank_line = "}\n// long-function: stale\n\nfn f() {}";
        let no_reason = "}\n// long-function:\nfn f() {}";
        for (src, expected) in [(exempt, true), (blank_line, false), (no_reason, false)] {
            let tokens = tokens(src);
            let lines: Vec<&str> = src.lines().collect();
            assert_eq!(
                is_exempt(&lines, &tokens, &functions(&tokens)[0]),
                expected,
                "{src}"
            );
        }
    }

    #[test]
    fn use_trees_expand_nested_groups_self_globs_and_renames() {
        let src = "super::{blocks::{conv, up}, Fusion}";
        let leaves: Vec<Vec<String>> = use_tree_leaves(&tokens(src))
            .into_iter()
            .map(|l| l.0)
            .collect();
        let expected = [
            strings(&["super", "blocks", "conv"]),
            strings(&["super", "blocks", "up"]),
            strings(&["super", "Fusion"]),
        ];
        assert_eq!(leaves, expected);
        let src = "crate::{self as engine, volume::*, a::B as C, ops::{self, Opts}}";
        let leaves: Vec<Vec<String>> = use_tree_leaves(&tokens(src))
            .into_iter()
            .map(|l| l.0)
            .collect();
        let expected = [
            &["crate", "self"][..],
            &["crate", "volume"],
            &["crate", "a", "B"],
            &["crate", "ops", "self"],
            &["crate", "ops", "Opts"],
        ];
        assert_eq!(leaves, expected.map(strings));
    }

    #[test]
    fn references_come_from_uses_and_code_but_not_comments_macros_or_visibility() {
        let src = "use std::fmt;\nuse crate::{a::X, b};\nmod child;\n// crate::c::Y\n\
                   pub(in crate::d) fn f() { crate::e::g(\"crate::h\"); $crate::i::j(); }\n\
                   #[cfg(test)]\nmod tests {\n    use super::*;\n}\n\
                   fn k() -> self::l::M { todo!() }";
        let found: Vec<(Vec<String>, Vec<String>, usize)> = references(&tokens(src))
            .into_iter()
            .map(|r| (r.segments, r.inline, r.line))
            .collect();
        let expected = [
            (strings(&["crate", "a", "X"]), vec![], 2),
            (strings(&["crate", "b"]), vec![], 2),
            (strings(&["crate", "e", "g"]), vec![], 5),
            (strings(&["super"]), strings(&["tests"]), 8),
            (strings(&["self", "l", "M"]), vec![], 10),
        ];
        assert_eq!(found, expected);
    }

    #[test]
    fn resolution_finds_the_deepest_module_and_honours_inline_scopes() {
        let modules: BTreeSet<String> = strings(&["model", "model::network", "foo", "foo::bar"])
            .into_iter()
            .collect();
        let resolve_in =
            |path: &[&str], scope: &[&str]| resolve(&strings(path), &strings(scope), &modules);
        assert_eq!(
            resolve_in(&["crate", "model", "network", "Foo"], &["foo"]).as_deref(),
            Some("model::network")
        );
        assert_eq!(
            resolve_in(&["crate", "model", "MetaKdNet"], &["foo"]).as_deref(),
            Some("model")
        );
        assert_eq!(
            resolve_in(&["super"], &["foo", "bar", "tests"]).as_deref(),
            Some("foo::bar")
        );
        assert_eq!(
            resolve_in(&["super", "super", "X"], &["foo", "bar", "tests"]).as_deref(),
            Some("foo")
        );
        assert_eq!(
            resolve_in(&["self", "x"], &["foo", "bar"]).as_deref(),
            Some("foo::bar")
        );
        assert_eq!(resolve_in(&["crate", "Root"], &["foo"]), None);
        assert_eq!(resolve_in(&["super", "X"], &["foo"]), None);
    }

    #[test]
    fn module_names_and_ownership() {
        assert_eq!(
            module_name("engine/src/foo/bar.rs").as_deref(),
            Some("foo::bar")
        );
        assert_eq!(module_name("engine/src/foo/mod.rs").as_deref(), Some("foo"));
        assert_eq!(module_name("engine/src/lib.rs"), None);
        assert_eq!(module_name("engine/src/bin/metakd/main.rs"), None);
        assert!(related("data", "data::phantom::noise") && related("data::loader", "data"));
        assert!(!related("data", "database") && !related("data::a", "data::b"));
    }

    #[test]
    fn cycles_are_found_at_both_granularities() {
        let mut graph = Graph::default();
        for (from, to) in [("a::x", "b"), ("b", "a::y"), ("a::y", "c"), ("c", "d")] {
            graph.nodes.extend([from.to_string(), to.to_string()]);
            graph.add_edge(from, to, ("f.rs".into(), 1));
        }
        assert!(graph.cycles().is_empty());
        assert_eq!(
            graph.collapse_to_top_level().cycles(),
            [strings(&["a", "b"])]
        );
        graph.add_edge("d", "a::y", ("g.rs".into(), 7));
        assert_eq!(graph.cycles(), [strings(&["a::y", "c", "d"])]);
        assert!(graph
            .describe(&graph.cycles()[0])
            .contains("d → a::y at g.rs:7"));
    }

    #[test]
    fn this_file_keeps_its_functions_short() {
        let file = SourceFile::new(
            "architecture.rs".into(),
            include_str!("architecture.rs").into(),
        );
        let long: Vec<Function> = functions(&file.tokens)
            .into_iter()
            .filter(|f| f.lines > 60)
            .collect();
        assert!(long.is_empty(), "{long:?}");
        assert!(
            functions(&file.tokens).len() > 50,
            "the lexer lost functions of this file"
        );
    }
}
