"""Regenerates the tables in docs/*.md that come verbatim from a raw output file.

A table is tied to its raw file by a marker line right above it:

    <!-- table from measurements/<folder>/<file>.md -->

(the path relative to docs/). This rewrites each such table with the file's content, so a
re-measured file updates the page with one command; `tests/tests/docs_tables.rs` fails when a
page and its file disagree.

usage: python3 tools/regen_docs_tables.py        (run from the repository root)
"""
import pathlib
import re

MARKER = re.compile(r"^<!-- table from (\S+) -->$")

for page in sorted(pathlib.Path("docs").glob("*.md")):
    lines = page.read_text().split("\n")
    out, i, changed = [], 0, 0
    while i < len(lines):
        out.append(lines[i])
        found = MARKER.match(lines[i])
        i += 1
        if found:
            table = (page.parent / found.group(1)).read_text().strip("\n").split("\n")
            while i < len(lines) and lines[i].startswith("|"):
                i += 1
            out.extend(table)
            changed += 1
    if changed:
        page.write_text("\n".join(out))
        print(f"{page}: {changed} table(s) regenerated")
