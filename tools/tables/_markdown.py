"""The Markdown table every converter in tools/tables/ writes (a helper module: the leading
underscore keeps `tools/regen_docs_tables.py` from running it as a converter)."""


def table(header, rows, aligns=None):
    """A Markdown table: the header's cells, then one row per list of cells; `aligns` gives
    each column's separator cell (`---` for all when left out)."""
    aligns = aligns or ["---"] * len(header)
    lines = ["| " + " | ".join(header) + " |", "|" + "".join(a + "|" for a in aligns)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"
