"""A Jupyter notebook as HTML for a static page (the portfolio's notebook pages), its outputs as stored.

Nothing is executed: the page shows what the notebook's last run left in the file. nbconvert's
"basic" template gives the cells without a page around them, no script and no stylesheet, so the
portfolio's own frame and stylesheet hold them. Outputs that need a script to show (JavaScript,
widgets, HTML with a <script>) fall back to the other forms the output stored (an image, its
text), because the site runs no script. The same file gives the same bytes: nbconvert and the
Markdown renderer are deterministic, and a figure is the PNG as stored, never encoded again.
"""

from __future__ import annotations

import base64
import binascii
import re
import struct
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

from deepstart.errors import DeepstartError

# output forms a static page can show without a script
SHOWN = ("text/html", "image/png", "image/jpeg", "image/svg+xml", "text/markdown", "text/latex",
         "text/plain")
SUMMARY_CHARS = 220  # the card's line about the notebook
EMBEDDED_PNG = re.compile(r"<img[^>]+src=[\"']data:image/png;base64,([A-Za-z0-9+/=\s]+)[\"']")


@dataclass
class RenderedNotebook:
    path: Path
    title: str  # the first heading, else the file's name
    summary: str  # the first paragraph of Markdown, as plain text
    cells_html: str  # the cells, for a page's <main>
    has_heading: bool
    code_cells: int
    executed: int  # code cells with an execution count: run at least once
    outputs: int
    figures: int  # image outputs, and PNGs embedded in HTML outputs
    thumbnail: bytes | None  # the first PNG output as stored
    thumbnail_size: tuple[int, int] | None  # (width, height) from its header


def read_notebook(path: str | Path, hide: list[str] | tuple[str, ...] = ()) -> RenderedNotebook:
    """Read `path` (.ipynb, nbformat 4) and render its cells; `hide` are absolute paths that the
    page must not show (each replaced by shown_path, as the notebook's folder and this Python's
    environment are). A damaged file is one DeepstartError."""
    path = Path(path)
    if path.suffix != ".ipynb":
        raise DeepstartError(f"the notebook {path} is not a .ipynb file; give a Jupyter notebook, "
                             "e.g. --notebook notebooks/03_table_five_steps.ipynb.")
    if not path.is_file():
        raise DeepstartError(f"the notebook {path} does not exist; check the path given with "
                             "--notebook or in portfolio.toml's notebooks.")
    try:
        import nbformat
        from nbconvert import HTMLExporter
    except ImportError:
        raise DeepstartError("a notebook page needs nbformat and nbconvert; install them with "
                             "pip install 'deepstart[notebooks]'.") from None
    try:
        with warnings.catch_warnings():  # an older file's cells without ids: nbformat adds them
            warnings.simplefilter("ignore")
            nb = nbformat.read(path, as_version=4)
            nbformat.validate(nb)
        for i, cell in enumerate(nb.cells):  # nbformat draws random ids for a file without them
            cell.id = f"cell-{i}"
        figures, thumbnail = _static_outputs(nb)
        html, _ = HTMLExporter(template_name="basic").from_notebook_node(nb)
    except (OSError, UnicodeDecodeError) as e:
        raise DeepstartError(f"cannot read the notebook {path} ({e}); pass a readable .ipynb "
                             "file.") from None
    except Exception as e:  # noqa: BLE001 - JSON, schema, base64 and nbconvert errors alike
        first = str(e).strip().splitlines()[0][:160] if str(e).strip() else type(e).__name__
        raise DeepstartError(f"{path} is not a readable Jupyter notebook ({first}); open it in "
                             "Jupyter and save it again, or leave it out.") from None
    # warnings print where Python's packages are: this environment's folders go by their names
    html = _without_scripts(_without_paths(html, [str(path.parent.resolve()), sys.prefix,
                                                  sys.base_prefix, *hide]))
    code = [c for c in nb.cells if c.cell_type == "code"]
    title, has_heading, summary = _title_and_summary(nb, path)
    return RenderedNotebook(
        path=path, title=title, summary=summary, cells_html=html, has_heading=has_heading,
        code_cells=len(code), executed=sum(c.get("execution_count") is not None for c in code),
        outputs=sum(len(c.outputs) for c in code), figures=figures, thumbnail=thumbnail,
        thumbnail_size=_png_size(thumbnail) if thumbnail else None)


def _static_outputs(nb) -> tuple[int, bytes | None]:
    """Keep each output's forms a static page shows (in place); returns the number of image
    outputs and the first PNG's bytes. An HTML form with a script gives way to the other forms."""
    nb.metadata.pop("widgets", None)  # widget state is for a script to draw
    figures, first = 0, None
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        kept = []
        for out in cell.outputs:
            if "data" in out:
                data = {k: v for k, v in out.data.items() if k in SHOWN}
                if re.search(r"<\s*script", str(data.get("text/html", "")), re.I):
                    data.pop("text/html")
                if not data:
                    continue
                out.data = data
                # a figure: an image output, or PNGs embedded in an HTML one (deepstart's own
                # History and run displays), which the page shows as they are
                pngs = ([data["image/png"]] if "image/png" in data else
                        EMBEDDED_PNG.findall(str(data.get("text/html", ""))))
                figures += 1 if any(k.startswith("image/") for k in data) else len(pngs)
                if first is None and pngs:
                    png = pngs[0]
                    first = base64.b64decode(re.sub(r"\s", "", "".join(png) if isinstance(png, list)
                                                    else png))
                    if not first.startswith(b"\x89PNG\r\n\x1a\n"):
                        raise binascii.Error("an image/png output is not a PNG")
            kept.append(out)
        cell.outputs = kept
    return figures, first


def _png_size(png: bytes) -> tuple[int, int] | None:
    if len(png) < 24 or png[12:16] != b"IHDR":
        return None
    return struct.unpack(">II", png[16:24])


def _without_scripts(html: str) -> str:
    """Raw HTML in a Markdown cell is passed through by the Markdown renderer: a <script> there
    is shown as text, since the site runs none."""
    return re.sub(r"<(\s*/?\s*script)", r"&lt;\1", html, flags=re.I)


def _without_paths(html: str, paths: list[str]) -> str:
    """Each absolute path as a published page shows it (relative to the working folder, else by
    name), and the home folder as ~: outputs often print where files were written."""
    from deepstart.report import shown_path

    for p in sorted({p.rstrip("/") for p in paths if p.startswith("/") and len(p) > 1},
                    key=len, reverse=True):
        # a whole path only: /home/ada/proj is not the start of /home/ada/project2
        html = re.sub(re.escape(p) + r"(?=[/\\\s\"'<&),:;]|$)", shown_path(p).replace("\\", "\\\\"),
                      html)
    home = str(Path.home()).rstrip("/")
    if len(home) > 1:
        html = re.sub(re.escape(home) + r"(?=[/\\\s\"'<&),:;]|$)", "~", html)
    return html


def _title_and_summary(nb, path: Path) -> tuple[str, bool, str]:
    title, summary = None, ""
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        for block in re.split(r"\n\s*\n", cell.source):
            block = block.strip()
            heading = re.match(r"#{1,6}\s+(.+)", block)
            if heading and title is None:
                title = _plain(heading.group(1).splitlines()[0])
            elif block and not heading and not summary:
                summary = _plain(block)
        if title is not None and summary:
            break
    if len(summary) > SUMMARY_CHARS:
        summary = summary[:SUMMARY_CHARS].rsplit(" ", 1)[0].rstrip(",;:.") + " …"
    return (title or path.stem), title is not None, summary


def _plain(markdown: str) -> str:
    """Markdown as plain text, roughly: links as their text, no emphasis or code marks."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", markdown)
    text = re.sub(r"\*+|`+|(?<!\w)_+|_+(?!\w)", "", text)  # not the _ inside val_split
    text = re.sub(r"<\s*(script|style)\b.*?<\s*/\s*\1\s*>", "", text, flags=re.I | re.S)
    text = re.sub(r"<[^>]+>", "", text)
    return re.sub(r"\s+", " ", text).strip()
