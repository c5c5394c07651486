"""`deepstart portfolio build` and `serve`: a static website of the user's projects, from run folders.

    site/
        index.html            the about section (portfolio.toml) and one card per project
        projects/<slug>.html  a project's runs, each linked to its report; the leaderboard of the
                              newest `deepstart evaluate` of the problem, when there is one
        reports/<run>.html    each run's report: RUN/report.html copied, or rendered by
                              deepstart.report when the run folder has none
        thumbs/<slug>.png     the learning curve of the project's best run
        notebooks/<slug>.html each notebook given with --notebook, its cells and outputs as stored
                              (nbconvert; nothing is executed), linked from a card on the index
        thumbs/notebooks/<slug>.png  the notebook's first figure, as stored
        style.css             the one stylesheet; no script, font or CDN anywhere

A project is the runs of one problem (a built-in name, or your data by its file name). Its best run
has the best test score among the runs that did not diverge; the card shows that score beside the
best published reference and the trivial baseline, as `deepstart diagnose` finds them.

Every link is relative, so the folder works from file://, `deepstart portfolio serve` or any static
host. The build is atomic: the site is written into a temp folder beside --out, which then takes the
old site's place (the old one is moved aside and removed only after the rename), and a failed build
removes its temp folder and leaves the old site as it was. It is reproducible: pages carry no build
time, iteration is sorted, PNGs carry no software metadata, file modes are fixed, and a rendered
report says "written by deepstart portfolio build" instead of a time; the same run folders give the
same bytes.
"""

from __future__ import annotations

import datetime as dt
import difflib
import math
import os
import re
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from deepstart.errors import DeepstartError
from deepstart.files import read_json
from deepstart.record import RunRecord, read_run

GENERATOR = "deepstart portfolio"  # <meta name="generator"> of index.html: marks a folder we may replace
REPORT_WRITTEN = "by deepstart portfolio build"  # in place of the time a rendered report shows
ABOUT_KEYS = ("name", "bio", "links", "notebooks")
LINK_KEYS = ("title", "url")
LINK_SCHEMES = ("http", "https", "mailto")
DEFAULT_RUNS = Path("runs")
THUMB_INCHES = (4.0, 2.4)
THUMB_DPI = 100  # 400 x 240 pixels: sharp in a card, small on disk


# --- about: portfolio.toml -------------------------------------------------------------------------

@dataclass
class About:
    name: str = ""
    bio: str = ""
    links: list[dict] = field(default_factory=list)  # {"title", "url"}
    notebooks: list[Path] = field(default_factory=list)  # pages of the site, beside --notebook


def read_about(path: str | Path) -> About:
    """Read and check portfolio.toml: name and bio (text), links (a list of {title, url})."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10: the same parser, as a package
        import tomli as tomllib

    path = Path(path)
    example = 'e.g. links = [{ title = "GitHub", url = "https://github.com/ada" }]'
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DeepstartError(f"--about {path} does not exist; write one (see docs/portfolio.md) "
                             "or leave --about out.") from None
    except (OSError, UnicodeDecodeError) as e:
        raise DeepstartError(f"cannot read {path} ({e}); pass a readable UTF-8 TOML file.") from None
    except tomllib.TOMLDecodeError as e:
        raise DeepstartError(f"{path} is not valid TOML ({e}); text needs quotes, "
                             'e.g. name = "Ada Lovelace".') from None
    for key in sorted(data):
        if key not in ABOUT_KEYS:
            close = difflib.get_close_matches(key, ABOUT_KEYS, n=1, cutoff=0.5)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise DeepstartError(f"{path}: unknown key '{key}'{hint}; the keys are name, bio, "
                                 f"links and notebooks, {example}.")
    for key in ("name", "bio"):
        if key in data and not isinstance(data[key], str):
            raise DeepstartError(f"{path}: '{key}' must be text in quotes, e.g. {key} = \"...\"; "
                                 f"received {type(data[key]).__name__} {data[key]!r}.")
    links = data.get("links", [])
    if not isinstance(links, list):
        raise DeepstartError(f"{path}: 'links' must be a list of tables with title and url, {example}.")
    for i, link in enumerate(links):
        where = f"{path}: links[{i}]"
        if not isinstance(link, dict):
            raise DeepstartError(f"{where} must be a table with title and url, {example}; "
                                 f"received {link!r}.")
        for key in sorted(link):
            if key not in LINK_KEYS:
                raise DeepstartError(f"{where} has an unknown key '{key}'; a link has only title "
                                     f"and url, {example}.")
        for key in LINK_KEYS:
            if not isinstance(link.get(key), str) or not link[key].strip():
                raise DeepstartError(f"{where} needs '{key}' as non-empty text, {example}.")
        scheme = link["url"].split(":", 1)[0].lower() if ":" in link["url"] else ""
        if scheme not in LINK_SCHEMES:
            # a page of the site links only inside it; other schemes (javascript:) are never links
            raise DeepstartError(f"{where}: url {link['url']!r} must start with https://, http:// "
                                 "or mailto:, e.g. url = \"https://github.com/ada\".")
    notebooks = data.get("notebooks", [])
    if not isinstance(notebooks, list) or not all(isinstance(n, str) and n.strip() for n in notebooks):
        raise DeepstartError(f"{path}: 'notebooks' must be a list of .ipynb paths in quotes, e.g. "
                             f"notebooks = [\"notebooks/03_table_five_steps.ipynb\"]; received "
                             f"{notebooks!r}.")
    return About(data.get("name", "").strip(), data.get("bio", "").strip(),
                 [{"title": x["title"].strip(), "url": x["url"].strip()} for x in links],
                 # relative to the file, as a reader of the file expects, wherever it is built from
                 [path.parent / n.strip() for n in notebooks])


# --- what goes in: finished runs and evaluations ----------------------------------------------------

@dataclass
class Inputs:
    runs: list[RunRecord]
    evaluations: list[tuple[Path, dict]]  # (folder, evaluation.json), given on the command line


def find_inputs(paths: Sequence[str | Path] | None = None, need_runs: bool = True) -> Inputs:
    """Run folders (and `deepstart evaluate` folders) as given, or every finished run under runs/.
    Without `need_runs` (a site of notebooks), finding no run is no error."""
    from deepstart.run import is_run_dir

    if not paths and not need_runs:
        return Inputs(_finished_runs(DEFAULT_RUNS), [])
    if not paths:
        if not DEFAULT_RUNS.is_dir():
            raise DeepstartError(f"no run folders given and no {DEFAULT_RUNS}/ folder here; train one "
                                 "with `deepstart run`, or pass run folders: deepstart portfolio "
                                 "build RUN [RUN ...].")
        runs = _finished_runs(DEFAULT_RUNS)
        if not runs:
            raise DeepstartError(f"no finished run under {DEFAULT_RUNS}/; train one with `deepstart "
                                 "run` (a run is finished once it has written metrics.json).")
        return Inputs(runs, [])
    runs, evaluations, seen = [], [], set()
    for path in map(Path, paths):
        if path.resolve() in seen:
            continue
        seen.add(path.resolve())
        if not path.exists():
            raise DeepstartError(f"{path} does not exist; pass run folders that `deepstart run` wrote.")
        if is_run_dir(path):
            record = read_run(path)
            if not record.finished:
                raise DeepstartError(f"{path} has not finished (no metrics.json); finish it with "
                                     f"`deepstart run --resume {path}` or leave it out.")
            runs.append(record)
        elif (evaluation := _read_evaluation(path)) is not None:
            evaluations.append((path, evaluation))
        elif inside := _finished_runs(path):  # a folder of runs, as runs/ is by default
            runs += [r for r in inside if r.folder.resolve() not in seen]
            seen |= {r.folder.resolve() for r in inside}
        else:
            raise DeepstartError(f"{path} is not a run folder (no deepstart config.json), a "
                                 "`deepstart evaluate` folder, nor a folder of finished runs; pass "
                                 "runs/ or folders under it that deepstart wrote.")
    if not runs and (need_runs or evaluations):
        raise DeepstartError("no run folder among the folders given: a project needs at least one "
                             "finished run; pass run folders too.")
    return Inputs(runs, evaluations)


def _finished_runs(folder: Path) -> list[RunRecord]:
    """The finished run folders directly inside `folder` (unfinished ones are left out)."""
    from deepstart.run import is_run_dir

    if not folder.is_dir():
        return []
    return [read_run(p) for p in sorted(folder.iterdir())
            if is_run_dir(p) and (p / "metrics.json").is_file()]


def _read_evaluation(folder: Path) -> dict | None:
    from deepstart.diagnose import EVALUATION_FORMAT

    path = folder / "evaluation.json"
    if not path.is_file():
        return None
    try:
        data = read_json(path)
    except (OSError, ValueError) as e:
        raise DeepstartError(f"{path} is not readable JSON ({e}); the evaluation folder is damaged.") \
            from None
    return data if isinstance(data, dict) and data.get("format") == EVALUATION_FORMAT else None


def _problem_name(problem: str) -> str:
    """An evaluation's problem as runs name it: a built-in name, or the data file's name."""
    from deepstart.problems.user import looks_like_path, name_for

    return name_for(Path(problem)) if looks_like_path(problem, check_disk=False) else problem


# --- the model of the site: projects and their runs -------------------------------------------------

@dataclass
class RunEntry:
    record: RunRecord
    slug: str  # reports/<slug>.html
    value: float
    date: str
    report: str | None = None  # href from a project page
    report_note: str = ""  # how the report got there, or why there is none


@dataclass
class Project:
    name: str
    metric: str
    greater_is_better: bool
    slug: str = ""
    runs: list[RunEntry] = field(default_factory=list)  # best first
    best: RunEntry | None = None
    published: dict | None = None
    baseline: dict | None = None
    title: str | None = None
    evaluation: dict | None = None
    thumbnail: str | None = None  # thumbs/<slug>.png, when the best run has a learning curve
    references: list[dict] = field(default_factory=list)  # the best run's, with their links

    @property
    def date(self) -> str:
        return max(r.date for r in self.runs)


def projects_of(inputs: Inputs) -> list[Project]:
    """Group runs by problem (and metric, should one file have been read two ways), pick each best
    run, and find the published score, the baseline and the newest evaluation."""
    groups: dict[tuple[str, str], Project] = {}
    for record in inputs.runs:
        m = record.metrics
        key = (m["problem"], m["metric"])
        project = groups.setdefault(key, Project(m["problem"], m["metric"], m["greater_is_better"]))
        value = m["test"].get(m["metric"])
        value = float(value) if isinstance(value, (int, float)) else math.nan
        project.runs.append(RunEntry(record, "", value, _run_date(record)))
    projects = [groups[k] for k in sorted(groups)]
    _assign_slugs(projects)
    run_slugs: set[str] = set()
    for project in projects:
        project.runs.sort(key=lambda r: _rank_key(r, project.greater_is_better))
        for run in project.runs:
            run.slug = _unique(_slug(run.record.folder.name), run_slugs)
        project.best = project.runs[0]
        project.published = _published(project.best.record.metrics)
        project.references = _references(project.best.record.metrics)
        project.baseline = _baseline(project.best.record)
        project.title = _title(project.best.record)
    _attach_evaluations(projects, inputs.evaluations)
    # newest first, as a reader expects of a portfolio; ties by name, so the order is fixed
    return sorted(projects, key=lambda p: (_negated(p.date), p.name, p.metric))


def _rank_key(run: RunEntry, greater: bool):
    """Best first: runs that did not diverge before those that did, a score before none, then the
    score, then the folder's name and path (so that a tie resolves the same way whatever order the
    folders were given in)."""
    diverged = run.record.metrics.get("status", "finished") != "finished"
    missing = not math.isfinite(run.value)
    score = 0.0 if missing else (-run.value if greater else run.value)
    return (diverged, missing, score, run.record.folder.name, str(run.record.folder.resolve()))


def _negated(date: str) -> tuple[int, ...]:
    return tuple(-int(part) for part in date.split("-"))


def _run_date(record: RunRecord) -> str:
    """The date in the folder's name (`deepstart run` names it <date>-<problem>-<model>-<n>); for a
    renamed folder, the UTC date metrics.json was written."""
    found = re.match(r"(\d{4}-\d{2}-\d{2})-", record.folder.name)
    if found:
        return found.group(1)
    written = (record.folder / "metrics.json").stat().st_mtime
    return dt.datetime.fromtimestamp(written, dt.timezone.utc).date().isoformat()


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "run"


def _unique(slug: str, taken: set[str]) -> str:
    candidate, n = slug, 2
    while candidate in taken:
        candidate, n = f"{slug}-{n}", n + 1
    taken.add(candidate)
    return candidate


def _assign_slugs(projects: list[Project]) -> None:
    names = [p.name for p in projects]
    taken: set[str] = set()
    for p in projects:  # sorted by (name, metric) already: the same inputs give the same slugs
        base = _slug(p.name) if names.count(p.name) == 1 else _slug(f"{p.name}-{p.metric}")
        p.slug = _unique(base, taken)


def _fmt(value: float | None, metric: str) -> str:
    from deepstart.report import _fmt as report_fmt

    return report_fmt(value, metric)


def _published(metrics: dict) -> dict | None:
    """The best published reference (baselines, and the models computed here on the same rows, are
    references too, but not published scores)."""
    from deepstart.diagnose import is_baseline

    refs = [r for r in metrics.get("references") or []
            if not is_baseline(r["model"], r.get("source", ""))
            and "computed" not in r.get("source", "").lower()]
    if not refs:
        return None
    best = (max if metrics["greater_is_better"] else min)(refs, key=lambda r: r["value"])
    return {"value": best["value"], "text": _fmt(best["value"], metrics["metric"]),
            "model": best["model"], "source": best.get("source", "")}


def _references(metrics: dict) -> list[dict]:
    """Every reference of the best run, as its metrics.json states them, best first: the score,
    what it is, its source, a link to the source where the catalog knows one, and its kind."""
    from deepstart.diagnose import is_baseline
    from deepstart.problems import Reference
    from deepstart.problems.citations import reference_url

    rows = []
    for r in metrics.get("references") or []:
        ref = Reference(float(r["value"]), str(r["model"]), str(r.get("source", "")))
        kind = ("baseline" if is_baseline(ref.model, ref.source) else
                "computed here" if ref.computed else "published")
        rows.append({"value": ref.value, "text": _fmt(ref.value, metrics["metric"]),
                     "model": ref.model, "source": ref.source, "url": reference_url(ref),
                     "kind": kind})
    return sorted(rows, key=lambda r: -r["value"] if metrics["greater_is_better"] else r["value"])


def _baseline(record: RunRecord) -> dict | None:
    """The trivial baseline as `deepstart diagnose` finds it: a baseline reference, else the majority
    class (or training mean) on the test rows when the data is here, else chance."""
    from deepstart.diagnose import facts_from_folder

    try:
        baseline = facts_from_folder(record.folder).baseline
    except (DeepstartError, OSError):
        return None
    if baseline is None:
        return None
    return {"value": baseline.value, "text": _fmt(baseline.value, record.metric),
            "model": baseline.model, "source": baseline.source}


def _title(record: RunRecord) -> str | None:
    from deepstart.problems import get_problem

    try:
        title = get_problem(record.config["problem"], record.config.get("data_options") or {}).title
    except (DeepstartError, OSError):  # your data moved away: the file's name is the title enough
        return None
    if not title or title == record.metrics["problem"]:
        return None
    from deepstart.report import local_paths, without_local_paths

    return without_local_paths(title, local_paths(record))  # "images in /home/ada/..." is private


def _attach_evaluations(projects: list[Project], given: list[tuple[Path, dict]]) -> None:
    """Each project's leaderboard: the newest evaluation of its problem given on the command line,
    else the newest one beside one of its runs (where `deepstart evaluate` writes it)."""
    from deepstart.diagnose import find_evaluation
    from deepstart.report import leaderboard_rows, scoring_note

    by_name = {p.name: p for p in projects}
    chosen: dict[str, tuple] = {}
    for folder, data in given:
        name = _problem_name(str(data.get("problem", "")))
        if name not in by_name:
            known = ", ".join(sorted(by_name))
            raise DeepstartError(f"{folder} evaluates '{name}', a problem none of the runs given "
                                 f"solves (they solve: {known}); pass a run of it too, or leave "
                                 "the evaluation out.")
        key = ((folder / "evaluation.json").stat().st_mtime, folder.name, str(folder.resolve()))
        if name not in chosen or key > chosen[name][0]:
            chosen[name] = (key, folder, data)
    for project in projects:
        if project.name in chosen:
            _, folder, data = chosen[project.name]
        else:
            found = {}  # evaluation folder -> its JSON, beside any of the project's runs
            for run in project.runs:
                if (hit := find_evaluation(run.record.folder, project.name)) is not None:
                    found[hit[0]] = hit[1]
            if not found:
                continue
            folder = max(found, key=lambda f: ((f / "evaluation.json").stat().st_mtime, f.name,
                                               str(f.resolve())))
            data = found[folder]
        metric = data.get("metric", project.metric)
        rows, best = leaderboard_rows(data, metric)
        project.evaluation = {
            "folder": folder.name, "rows": rows, "best": best,
            "metric": metric, "status": str(data.get("status", "")),
            "protocol": str((data.get("protocol") or {}).get("description")
                            or (data.get("protocol") or {}).get("kind") or ""),
            "scoring": scoring_note(data),
        }


# --- build ----------------------------------------------------------------------------------------

@dataclass
class BuildResult:
    out: Path
    projects: int
    runs: int
    copied: int  # reports copied from run folders
    rendered: int  # reports rendered for the site
    without_report: list[tuple[str, str]]  # (run folder name, why)
    notebooks: int = 0
    notebook_notes: list[tuple[str, str]] = field(default_factory=list)  # (file name, what to know)


def build(run_dirs: Sequence[str | Path] | None = None, out: str | Path = "site",
          about: str | Path | None = None, notebooks: Sequence[str | Path] = ()) -> BuildResult:
    """Build the site into `out` from run folders (default: every finished run under runs/), an
    optional portfolio.toml (default: ./portfolio.toml when it exists) and notebooks (.ipynb,
    shown as stored: nothing is executed; with those portfolio.toml lists). Everything is read and checked before anything is
    written. With notebooks, the site may have no run."""
    out = Path(out)
    if about is None and Path("portfolio.toml").is_file():
        about = Path("portfolio.toml")
    about_data = read_about(about) if about is not None else About()
    _check_out(out)
    notebooks = [*about_data.notebooks, *notebooks]
    inputs = find_inputs(run_dirs, need_runs=not notebooks)
    projects = projects_of(inputs)
    pages = notebook_pages(notebooks)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".part"))
    try:
        result = _write_site(tmp, projects, about_data, pages)
        _fix_modes(tmp)
        _swap_into_place(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    result.out = out
    return result


def _check_out(out: Path) -> None:
    """Refuse an --out that is a file, holds the current folder, or is a folder with something
    other than a portfolio in it: the build replaces --out as a whole."""
    if out.exists() and not out.is_dir():
        raise DeepstartError(f"--out {out} is a file; pass a folder for the site, e.g. --out site.")
    resolved, here = out.resolve(), Path.cwd().resolve()
    if resolved == here or resolved in here.parents:
        raise DeepstartError(f"--out {out} holds the current folder, and the build replaces it as a "
                             "whole; pass a folder inside it, e.g. --out site.")
    if out.is_dir() and any(out.iterdir()) and not is_site(out):
        raise DeepstartError(f"--out {out} is a folder that holds something other than a deepstart "
                             "portfolio, and the build would replace it; pass a new or empty folder.")
    from deepstart.run import check_writable

    check_writable(out.parent, what="the site", flag="--out")  # it is built beside --out


def is_site(folder: Path) -> bool:
    index = folder / "index.html"
    try:
        with open(index, encoding="utf-8", errors="replace") as f:
            head = f.read(4096)
    except OSError:
        return False
    return f'<meta name="generator" content="{GENERATOR}' in head


# --- notebooks: pages of their cells and outputs as stored -----------------------------------------

@dataclass
class NotebookPage:
    slug: str  # notebooks/<slug>.html
    notebook: object  # deepstart.notebook.render.RenderedNotebook

    @property
    def thumbnail(self) -> str | None:
        return f"thumbs/notebooks/{self.slug}.png" if self.notebook.thumbnail else None


def notebook_pages(paths: Sequence[str | Path]) -> list[NotebookPage]:
    """Each notebook read and rendered (a damaged one is one DeepstartError, before anything is
    written), sorted by file name and path so that the order given changes no byte."""
    from deepstart.notebook.render import read_notebook

    unique = {Path(p).resolve(): Path(p) for p in paths}  # the same file given twice is one page
    rendered = [read_notebook(unique[k], hide=[str(Path.cwd().resolve())])
                for k in sorted(unique, key=lambda k: (k.name, str(k)))]
    taken: set[str] = set()
    return [NotebookPage(_unique(_slug(n.path.stem), taken), n) for n in rendered]


def _notebook_card(page: NotebookPage) -> dict:
    n = page.notebook
    width, height = n.thumbnail_size or (400, 240)
    figures = f"{n.figures} figure{'s' if n.figures != 1 else ''}"
    return {"slug": page.slug, "href": f"notebooks/{page.slug}.html", "title": n.title,
            "summary": n.summary, "file": n.path.name, "thumbnail": page.thumbnail,
            "width": width, "height": height,
            "alt": f"the first figure of the notebook {n.title}",
            "meta": f"notebook · {n.code_cells} code cell{'s' if n.code_cells != 1 else ''} · {figures}",
            "note": _notebook_note(n)}


def _notebook_note(n) -> str:
    """What a reader should know about the outputs shown: none, or only some cells were run."""
    if n.code_cells and not n.executed:
        return "stored without outputs: run it (jupyter execute --inplace) and build again to show them"
    if n.executed < n.code_cells:
        return f"{n.code_cells - n.executed} of its {n.code_cells} code cells were not run when it was saved"
    return ""


def _write_site(root: Path, projects: list[Project], about: About,
                notebooks: Sequence[NotebookPage] = ()) -> BuildResult:
    # Files are written in place: the temp tree as a whole is what gets renamed into view.
    from markupsafe import Markup

    from deepstart import __version__

    for sub in ("projects", "reports", "thumbs"):
        (root / sub).mkdir()
    env = _environment()
    (root / "style.css").write_bytes(_template_bytes("style.css"))
    (root / ".nojekyll").write_bytes(b"")  # GitHub Pages: publish the files as they are
    copied = rendered = 0
    without: list[tuple[str, str]] = []
    for project in projects:
        if project.best.record.history:
            project.thumbnail = f"thumbs/{project.slug}.png"
            draw_thumbnail(project.best.record, root / project.thumbnail)
        for run in project.runs:
            how = _place_report(run, root / "reports" / f"{run.slug}.html")
            copied += how == "copied"
            rendered += how == "rendered"
            if how is None:
                without.append((run.record.folder.name, run.report_note))
    site = {"title": f"{about.name} — portfolio" if about.name else "Deep-learning portfolio",
            "about": about, "version": __version__, "generator": GENERATOR,
            "runs": sum(len(p.runs) for p in projects), "notebooks": len(notebooks)}
    cards = [_card(p) for p in projects]
    notebook_cards = [_notebook_card(page) for page in notebooks]
    if notebooks:
        (root / "notebooks").mkdir()
    for page, card in zip(notebooks, notebook_cards):
        if page.thumbnail:
            (root / "thumbs" / "notebooks").mkdir(exist_ok=True)
            (root / page.thumbnail).write_bytes(page.notebook.thumbnail)  # as stored
        # the cells are nbconvert's HTML, already escaped where the notebook holds text
        _write_page(root / card["href"], env.get_template("notebook.html.j2").render(
            site=site, notebook=card, cells=Markup(page.notebook.cells_html),
            heading=page.notebook.has_heading, root="../"))
    _write_page(root / "index.html", env.get_template("index.html.j2").render(
        site=site, projects=cards, notebooks=notebook_cards, root=""))
    for project, card in zip(projects, cards):
        _write_page(root / "projects" / f"{project.slug}.html",
                    env.get_template("project.html.j2").render(
                        site=site, project=card, runs=[_run_row(r, project) for r in project.runs],
                        evaluation=project.evaluation, references=project.references,
                        root="../"))
    return BuildResult(root, len(projects), site["runs"], copied, rendered, without,
                       len(notebooks), [(c["file"], c["note"]) for c in notebook_cards if c["note"]])


def _place_report(run: RunEntry, target: Path) -> str | None:
    """Copy RUN/report.html, or render one: "copied", "rendered", or None (run.report_note says
    why there is no report)."""
    from deepstart.report import local_paths, without_local_paths, write_report

    own = run.record.folder / "report.html"
    if own.is_file():  # (one written before reports hid local paths gets them hidden here)
        text = own.read_bytes().decode("utf-8", errors="replace")
        _write_page(target, without_local_paths(text, local_paths(run.record)))
        run.report, run.report_note = f"../reports/{target.name}", "copied from the run folder"
        return "copied"
    try:
        write_report(run.record.folder, out=target, written=REPORT_WRITTEN)
    except (DeepstartError, OSError) as e:
        # e.g. the weights were left out when the runs were copied here: list the run, say why
        # the sentence's first clause says what is missing; its advice is for the command line
        run.report_note = f"no report: {str(e).split('; ')[0].rstrip('.')}."
        return None
    run.report, run.report_note = f"../reports/{target.name}", "rendered from the run folder"
    return "rendered"


def draw_thumbnail(record: RunRecord, path: Path) -> None:
    """The metric per epoch, training and validation: the card's picture of how training went."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    metric = record.metric
    # a Figure without pyplot: no global state, no GUI backend, nothing to close
    fig = Figure(figsize=THUMB_INCHES, dpi=THUMB_DPI, layout="constrained")
    ax = fig.add_subplot()
    epochs = [row.get("epoch", i + 1) for i, row in enumerate(record.history)]
    if len(epochs) == 1:
        # one epoch is no curve: two dots on an empty axis read as a broken plot, so the card
        # shows the epoch's scores as bars with their values
        _one_epoch_thumbnail(fig, ax, record.history[0], metric)
        fig.savefig(path, format="png", metadata={"Software": None})
        return
    for key, label, style in ((metric, "training", "-"), (f"val_{metric}", "validation", "--")):
        values = [row.get(key, math.nan) for row in record.history]
        if any(math.isfinite(v) for v in values):
            ax.plot(epochs, values, style, label=label, lw=1.6,
                    marker="o" if len(epochs) < 30 else None, ms=3)
    ax.set_xlabel("epoch", fontsize=8)
    ax.set_ylabel(metric, fontsize=8)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.tick_params(labelsize=7)
    ax.grid(alpha=0.3)
    if ax.lines:
        ax.legend(fontsize=7)
    # no "Software" text chunk: the same history gives the same bytes whatever the matplotlib build
    fig.savefig(path, format="png", metadata={"Software": None})


def _one_epoch_thumbnail(fig, ax, row: dict, metric: str) -> None:
    bars = [(label, row[key]) for key, label in ((metric, "training"), (f"val_{metric}", "validation"))
            if isinstance(row.get(key), (int, float)) and math.isfinite(row[key])]
    if bars:
        colours = {"training": "tab:blue", "validation": "tab:orange"}  # as in the curves
        ax.barh([b[0] for b in bars][::-1], [b[1] for b in bars][::-1],
                color=[colours[b[0]] for b in bars][::-1])
        for i, (_, value) in enumerate(bars[::-1]):
            ax.text(value, i, f" {_fmt(value, metric)}", va="center", fontsize=8)
        ax.set_xlim(0, max(b[1] for b in bars) * 1.3 or 1)
    ax.set_xlabel(f"{metric} after 1 epoch (no curve)", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.grid(axis="x", alpha=0.3)


def _card(p: Project) -> dict:
    from deepstart.problems.metrics import split_text

    best = p.best
    m = best.record.metrics
    others = [n for n in m.get("metrics", ()) if n != p.metric]
    return {
        "name": p.name, "title": p.title, "slug": p.slug, "href": f"projects/{p.slug}.html",
        "metric": p.metric, "direction": "higher is better" if p.greater_is_better else "lower is better",
        "model": best.record.config["model"], "value": best.value, "text": _fmt(best.value, p.metric),
        # the task's other metrics on the same test rows (none in runs from before them)
        "others": split_text(m["test"], others, "test", m.get("test_rows")) if others else None,
        "status": m.get("status", "finished"), "published": p.published, "baseline": p.baseline,
        "runs": len(p.runs), "date": p.date, "best_run": best.record.folder.name,
        "thumbnail": p.thumbnail,
        "alt": (f"learning curve of the best {p.name} run ({best.record.config['model']}): training "
                f"and validation {p.metric} per epoch"),
    }


def _run_row(run: RunEntry, project: Project) -> dict:
    m, c = run.record.metrics, run.record.config
    seconds = m.get("train_seconds")
    return {"name": run.record.folder.name, "model": c["model"], "value": run.value,
            "text": _fmt(run.value, project.metric), "epochs": m.get("epochs"),
            "seconds": f"{seconds:.1f} s" if isinstance(seconds, (int, float)) else "-",
            "date": run.date, "status": m.get("status", "finished"), "report": run.report,
            "note": run.report_note, "best": run is project.best}


def _environment():
    from jinja2 import Environment, PackageLoader, StrictUndefined

    return Environment(loader=PackageLoader("deepstart", "templates/portfolio"), autoescape=True,
                       undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def _template_bytes(name: str) -> bytes:
    return resources.files("deepstart").joinpath(f"templates/portfolio/{name}").read_bytes()


def _write_page(path: Path, text: str) -> None:
    path.write_bytes(text.encode("utf-8"))  # bytes: no platform newline translation


def _fix_modes(root: Path) -> None:
    """Readable by a web server's user (mkdtemp makes the folder 0700, write_report files 0600),
    and the same modes on every build."""
    os.chmod(root, 0o755)
    for folder, dirs, files in os.walk(root):
        for d in dirs:
            os.chmod(os.path.join(folder, d), 0o755)
        for f in files:
            os.chmod(os.path.join(folder, f), 0o644)


def _swap_into_place(tmp: Path, out: Path) -> None:
    """Rename the new tree to `out`. An old site is first moved aside into a fresh hidden folder
    (a rename, so it is whole), put back if the second rename fails, and removed only after it."""
    if not out.exists():
        os.rename(tmp, out)
        return
    aside = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".old"))
    os.rename(out, aside / out.name)
    try:
        os.rename(tmp, out)
    except BaseException:
        os.rename(aside / out.name, out)
        os.rmdir(aside)
        raise
    shutil.rmtree(aside)


# --- serve ----------------------------------------------------------------------------------------

def make_server(directory: str | Path, host: str = "127.0.0.1", port: int = 8000):
    """A preview server for a built site. The standard library's ThreadingHTTPServer with
    SimpleHTTPRequestHandler is enough for static files: no dependency, one thread per request (a
    browser opens several at once), and the handler maps every URL inside `directory` (it drops
    '..' parts), as a static host would."""
    import functools
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    directory = Path(directory)
    if not is_site(directory):
        raise DeepstartError(f"no portfolio site in {directory} (no index.html written by deepstart); "
                             f"run `deepstart portfolio build --out {directory}` first.")
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(directory))
    try:
        return ThreadingHTTPServer((host, port), handler)
    except OSError as e:
        from deepstart.serve import bind_error

        raise bind_error(host, port, e) from None
