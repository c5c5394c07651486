"""The README's table of built-in problems, generated from the catalog so that it cannot drift from
what `deepstart problems` says.

    python -m deepstart.problems.markdown README.md     # rewrite the table between its markers

tests/test_catalog.py fails when the README's table is not what this writes.
"""

from __future__ import annotations

import sys
from pathlib import Path

START = "<!-- problems: written by `python -m deepstart.problems.markdown README.md`; do not edit -->"
END = "<!-- /problems -->"
KINDS = {"tabular": "table", "image": "image", "series": "series", "text": "text"}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def short(model: str, limit: int = 70) -> str:
    """A reference's model up to its first comma, semicolon or colon outside brackets (what it is,
    without the protocol), at most `limit` characters."""
    depth = 0
    for i, ch in enumerate(model):
        depth += (ch in "([") - (ch in ")]")
        if depth == 0 and ch in ",;:":
            model = model[:i]
            break
    return model if len(model) <= limit else model[:limit - 1].rstrip() + "…"


def _score(value: float, metric: str) -> str:
    from deepstart.problems.metrics import text

    return text(value, metric)


def catalog_table() -> str:
    """A Markdown table: each problem by kind, its task, size, metric, best published and best
    computed reference, and where its data comes from."""
    from deepstart.problems import all_problems

    rows = ["| problem | kind, task | size | metric | best published | best computed here | data |",
            "|---|---|---|---|---|---|---|"]
    problems = sorted(all_problems(), key=lambda p: list(KINDS).index(p.kind))  # stable by kind
    for p in problems:
        published = p.best_published()
        computed = [r for r in p.references if r.computed]
        pick = max if p.greater_is_better else min
        best_computed = pick(computed, key=lambda r: r.value) if computed else None
        shown = [f"{_score(r.value, p.metric)} {short(r.model)}" if r else "-"
                 for r in (published, best_computed)]
        rows.append(f"| `{p.name}` | {KINDS[p.kind]}, {p.task} | {_cell(p.size.split(';')[0])} | "
                    f"{p.metric} | {_cell(shown[0])} | {_cell(shown[1])} | "
                    f"{_cell(p.origin.split(':')[0].split(' (')[0])} |")
    return "\n".join(rows)


def section(readme: str) -> str:
    """The README's text between the markers (the table as written there)."""
    start, end = readme.index(START) + len(START), readme.index(END)
    return readme[start:end].strip("\n")


def rewrite(path: Path) -> bool:
    """Write the table into `path` between its markers (a temp file, then a rename); True when it
    changed."""
    from deepstart.files import write_text

    readme = path.read_text(encoding="utf-8")
    if START not in readme or END not in readme:
        raise SystemExit(f"{path} has no {START} ... {END} markers to write the table between")
    new = readme[:readme.index(START) + len(START)] + "\n" + catalog_table() + "\n" + \
        readme[readme.index(END):]
    if new != readme:
        write_text(path, new)
    return new != readme


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "README.md")
    print(f"{target}: {'table rewritten' if rewrite(target) else 'already up to date'}")
