"""Regenerates the tables in docs/*.md that come verbatim from a raw output file.

First it runs every `tools/tables/*.py` script but the `_` helper modules (in sorted order,
with this Python), each of
which writes Markdown table files next to the raw output it reads under docs/measurements/;
it stops with an error if one fails. Then it splices the tables into the pages.

A table is tied to its file by a marker line right above it:

    <!-- table from measurements/<folder>/<file>.md -->

(the path relative to docs/). This rewrites each such table with the file's content, so a
re-measured file updates the page with one command; `tests/tests/docs_tables.rs` fails when a
page and its file disagree.

usage: python3 tools/regen_docs_tables.py        (run from the repository root)
"""
import pathlib
import re
import subprocess
import sys

MARKER = re.compile(r"^<!-- table from (\S+) -->$")


def run_table_scripts():
    """Runs each tools/tables/*.py; a failing one ends this script with its exit status."""
    for script in sorted(pathlib.Path("tools/tables").glob("[!_]*.py")):
        done = subprocess.run([sys.executable, str(script)])
        if done.returncode != 0:
            sys.exit(f"{script} failed (exit status {done.returncode}); no page was changed")


def splice(page):
    """Replaces each marked table of `page` with its file; returns how many it replaced."""
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
    return changed


def main():
    run_table_scripts()
    for page in sorted(pathlib.Path("docs").glob("*.md")):
        changed = splice(page)
        if changed:
            print(f"{page}: {changed} table(s) regenerated")


if __name__ == "__main__":
    main()
