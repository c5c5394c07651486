"""Terminal output of results and of the catalog (rich tables). Reads run folders; never trains."""

from __future__ import annotations

from pathlib import Path

from rich.markup import escape
from rich.table import Table

from deepstart.console import console
from deepstart.files import read_json


from deepstart.problems.metrics import split_text, text as _fmt  # noqa: F401 (used below)


def print_result(folder: Path) -> str:
    """The test score, then each published reference beside it, then where the run lives.
    Returns the run's status ("finished" or "diverged")."""
    metrics = read_json(folder / "metrics.json")
    config = read_json(folder / "config.json")
    metric = metrics["metric"]
    ours = metrics["test"][metric]
    status = "" if metrics["status"] == "finished" else f" [red]({metrics['status']})[/red]"
    rows = metrics.get("test_rows")
    console.print(f"\n[bold]test {metric} {_fmt(ours, metric)}[/bold] on {metrics['problem']} "
                  f"({f'{rows:,} test rows, ' if rows else ''}{config['model']}, "
                  f"{metrics['epochs']} epochs, {metrics['train_seconds']:.1f} s){status}")
    if metrics.get("best_epoch") is not None:  # --patience kept an earlier epoch's weights
        console.print(f"scored with the weights of epoch {metrics['best_epoch']}, the best "
                      f"validation {metrics.get('judged_by', metric)} of the {metrics['epochs']} "
                      f"trained (--patience {config.get('patience')})", soft_wrap=True)
    others = [n for n in metrics.get("metrics", [metric]) if n != metric]
    if others:  # the task's other metrics, then the validation scores, each saying its rows
        console.print("also: " + "; ".join(
            [split_text(metrics["test"], others, "test", rows)] +
            [split_text(metrics[s], metrics["metrics"], s, metrics.get(f"{s}_rows"))
             for s in ("val",) if metrics.get(s)]), soft_wrap=True, highlight=False)
    from deepstart.models.custom import result_lines

    for line in result_lines(metrics):  # parameters and FLOPs; the paper's figures when stated
        if line:
            console.print(line, soft_wrap=True, highlight=False)
    refs = metrics["references"]
    # the user's own data has no published scores, only baselines computed on its test part
    from deepstart.problems.user import looks_like_path

    kind = "baselines" if looks_like_path(config["problem"], check_disk=False) else "published"
    computed = sum("computed here" in r["source"] for r in refs)
    if kind == "published" and refs and computed == len(refs):
        kind = "references computed here"  # a problem with no published score on its split
    elif kind == "published" and computed:
        kind = "references, published and computed here"
    if refs:
        pick = max if metrics["greater_is_better"] else min
        best = pick(refs, key=lambda r: r["value"])
        beaten = sum(r["ours_at_least_as_good"] for r in refs)
        console.print(f"{_fmt(ours, metric)} — {kind}: best {_fmt(best['value'], metric)} "
                      f"({best['model']}; {best['source']}); ours is at least as good as "
                      f"{beaten} of {len(refs)}", soft_wrap=True)
        title = kind if kind != "published" else "published references"
        table = Table(title=title, title_justify="left", show_edge=False)
        for column in ("score", "model", "source", "ours vs it"):
            table.add_column(column, overflow="fold")
        for ref in refs:
            mark = "[green]✓[/green]" if ref["ours_at_least_as_good"] else "[red]✗[/red]"
            table.add_row(_fmt(ref["value"], metric), ref["model"], ref["source"],
                          f"{mark} {ref['difference']:+.4f}")
        console.print(table)
    from deepstart.diagnose import diagnose_folder

    print_diagnosis(diagnose_folder(folder))
    console.print(f"run folder: {folder}")
    return metrics["status"]


def print_diagnosis(diagnosis) -> None:
    """What limits the run, with its numbers, then the next steps as commands to copy."""
    from rich.markup import escape

    console.print(f"[bold]diagnosis: {escape(diagnosis.headline)}[/bold]  "
                  f"[dim]({escape(diagnosis.scores)})[/dim]", soft_wrap=True, highlight=False)
    for finding in diagnosis.findings:
        console.print(f"  {escape(finding.name)}: {escape(finding.evidence)}", soft_wrap=True,
                      highlight=False)
    for note in diagnosis.notes:
        console.print(f"  [dim]{escape(note)}[/dim]", soft_wrap=True, highlight=False)
    if diagnosis.steps:
        console.print("next steps:")
    for i, step in enumerate(diagnosis.steps, 1):
        console.print(f"  {i}. {escape(step.text)}", soft_wrap=True, highlight=False)
        if step.command:
            console.print(f"     [cyan]{escape(step.command)}[/cyan]", soft_wrap=True, highlight=False)


def _offline_cell(problem) -> str:
    if problem.available_offline():
        return "[green]yes[/green]"
    return f"[yellow]no[/yellow]: {problem.get_hint}" if problem.get_hint else "[yellow]no[/yellow]"


KIND_TITLES = {"tabular": "tables", "image": "images", "series": "series", "text": "text"}


def select_problems(kind: str | None = None, task: str | None = None, word: str | None = None):
    """The catalog's problems of `kind` and `task` whose texts hold `word` (each None: any)."""
    from deepstart.problems import all_problems

    return [p for p in all_problems() if (kind is None or p.kind == kind)
            and (task is None or p.task == task) and (word is None or p.matches(word))]


def print_problems(kind: str | None = None, task: str | None = None, word: str | None = None) -> int:
    """The catalog grouped by kind of input, one table each: for each problem its best reference
    and where that comes from. Returns how many problems were listed."""
    from deepstart.problems.markdown import short

    chosen = select_problems(kind, task, word)
    missing = []
    for group, title in KIND_TITLES.items():
        problems = [p for p in chosen if p.kind == group]
        if not problems:
            continue
        table = Table(title=f"{title} ({len(problems)})", title_justify="left")
        table.add_column("name", no_wrap=True)
        table.add_column("task", no_wrap=True)
        for column in ("size", "metric", "best reference", "its source"):
            table.add_column(column, overflow="fold", ratio=3 if column == "its source" else None)
        table.add_column("offline", no_wrap=True)
        for p in problems:
            best, practical = p.best_reference(), p.practical_reference()
            # what each model is, without its protocol (`deepstart problems NAME` has it all)
            best_text = f"{_fmt(best.value, p.metric)} {short(best.model)}" if best else "-"
            if practical is not None and practical is not best:  # what one machine reaches
                best_text += f"; practical: {_fmt(practical.value, p.metric)} {short(practical.model)}"
            offline = p.available_offline()
            if not offline:
                missing.append(p)
            table.add_row(p.name, p.task, p.size.split(";")[0], p.metric, escape(best_text),
                          escape(best.source) if best else "-",
                          "[green]yes[/green]" if offline else "[yellow]no[/yellow]")
        console.print(table)
    shown = f"{len(chosen)} problem(s)" + "".join(
        f" {label} {value!r}" for label, value in (("of kind", KIND_TITLES.get(kind, kind)),
                                                    ("for the task", task), ("matching", word))
        if value)
    console.print(f"{shown}; `deepstart problems NAME` shows one in full: its split, references "
                  "and recipes", soft_wrap=True, highlight=False)
    for p in missing:  # one line each, so the command can be copied whole
        console.print(f"{p.name} is not on this machine; make it available offline with: "
                      f"{p.get_hint} (or it downloads on first use)", soft_wrap=True)
    return len(chosen)


def gap_text(p) -> str:
    """Where the best network of the catalog stands against the best published score."""
    best, published = p.best_recipe(), p.best_published()
    computed = [r for r in p.references if r.computed]
    if best is None:
        here = "no recipe of this problem has been measured on the 2-core CPU yet"
    else:
        recipe, score = best
        here = f"the best network here reaches {_fmt(score, p.metric)} (--model {recipe.model})"
    if published is not None:
        from deepstart.problems.markdown import short

        there = f"the best published {_fmt(published.value, p.metric)} ({short(published.model)})"
        if best is not None:
            gap = abs(published.value - score)
            ahead = (score >= published.value) == p.greater_is_better or gap == 0
            there += f": {_fmt(gap, p.metric)} {'behind' if not ahead else 'ahead; compare the protocols'}"
        return f"{here}; {there}"
    if computed:
        pick = max if p.greater_is_better else min
        best = pick(computed, key=lambda r: r.value)
        from deepstart.problems.markdown import short

        return (f"{here}; no published score on this split: the best reference computed here is "
                f"{_fmt(best.value, p.metric)} ({short(best.model)})")
    return f"{here}; no reference to compare with"


def print_problem(p) -> None:
    console.print(f"[bold]{p.name}[/bold]: {p.title}")
    for label, value in (("task", p.task), ("input", p.kind), ("size", p.size),
                         ("metric", f"{p.metric} ({'higher' if p.greater_is_better else 'lower'} is better)"),
                         ("split", p.split), ("data from", p.origin),
                         ("offline now", _offline_cell(p)),
                         ("classes", ", ".join(p.class_names) or "-"),
                         ("recipe", " ".join(f"{k}={v}" for k, v in p.recipe.items()))):
        if label == "recipe" and any(r.settings == p.recipe for r in p.recipes):
            continue  # listed below with its measured claim
        console.print(f"  {label:<12} {value}", soft_wrap=True)
    for recipe in p.recipes:
        settings = " ".join(f"{k}={v}" for k, v in recipe.settings.items() if k != "model")
        console.print(f"  {'recipe':<12} --model {recipe.model}: {settings}", soft_wrap=True)
        console.print(f"  {'':<12} [dim]{escape(recipe.claim)}[/dim]", soft_wrap=True)
    best = p.best_recipe()
    command = f"deepstart run {p.name}" + (f" --model {best[0].model}" if best is not None
                                           and best[0].model != p.recipe.get("model") else "")
    console.print(f"  {'start from':<12} {command}", soft_wrap=True, highlight=False)
    console.print(f"  {'gap':<12} {escape(gap_text(p))}", soft_wrap=True, highlight=False)
    computed = sum(r.computed for r in p.references)
    title = ("references computed here" if computed == len(p.references) else "published references"
             + (" and ones computed here" if computed else ""))
    table = Table(title=title, title_justify="left")
    for column in ("score", "model", "source"):
        table.add_column(column, overflow="fold")
    for ref in p.references:
        table.add_row(_fmt(ref.value, p.metric), escape(ref.model) + (" [dim](practical)[/dim]" if
                      ref.practical else ""), escape(ref.source))
    console.print(table)


def print_data_report(problem, standardised: bool = True) -> None:
    """What was done to the user's own data: each column of a table, the images of a folder, or the
    series, with the split. Reads the problem's schema only."""
    schema = problem.schema
    console.print(f"[bold]{problem.name}[/bold]: {problem.size}; {problem.task}; {problem.split}",
                  soft_wrap=True)
    if "columns" in schema:
        _print_columns(schema, standardised)
    elif "image" in schema:
        _print_images(schema["image"])
    elif "series" in schema:
        _print_series(schema["series"])
    elif "sequence" in schema:
        _print_sequence(schema)
    for note in schema.get("data_notes", ()):  # what trains but may not mean what was meant
        console.print(f"[yellow]note:[/yellow] {escape(note)}", soft_wrap=True, highlight=False)


def _print_columns(schema: dict, standardised: bool) -> None:
    from deepstart.problems.columns import action_text

    target = schema["target"]
    classes = target["classes"]
    what = (f"{len(classes)} classes ({', '.join(classes[:10])}{', ...' if len(classes) > 10 else ''})"
            if classes else "numbers")
    line = f"target '{target['name']}': {target['task']}, {what} ({target['inferred']})"
    if target["rows_without_target"]:
        line += f"; {target['rows_without_target']} rows without a target dropped"
    console.print(line, soft_wrap=True)
    table = Table(title="columns (fitted on the training rows)", title_justify="left")
    table.add_column("column", overflow="fold")
    table.add_column("kind")
    table.add_column("missing (train)", justify="right")
    table.add_column("action", overflow="fold")
    table.add_column("features", justify="right")
    for e in schema["columns"]:
        action = action_text(e, standardised)
        if e.get("dropped"):
            action = f"[yellow]{action}[/yellow]"
        table.add_row(e["name"], e["kind"], str(e["missing"]), action, str(len(e["features"])))
    console.print(table)


def _print_sequence(schema: dict) -> None:
    info = schema["sequence"]
    if info["from"] == "table":
        target = schema["target"]
        cols = info["columns"]
        shown = ", ".join(cols[:4]) + (f", ..., {cols[-1]}" if len(cols) > 4 else "")
        console.print(f"target '{target['name']}': {target['task']} ({target['inferred']}); "
                      f"read as sequences ({info['rule']}): the {len(cols)} columns {shown}, "
                      f"{info['features_per_step']} per step", soft_wrap=True)
    else:
        console.print(f"{info['files']} files, one sequence each; the rows are the steps, the "
                      "columns the features", soft_wrap=True)
    table = Table(title="sequences", title_justify="left")
    for name in ("steps", "features", "lengths", "padded", "cut"):
        table.add_column(name, justify="right")
    table.add_row(f"{info['steps']} ({info['length_from']})", str(info["features"]),
                  f"{info['shortest']} to {info['longest']}", str(info["padded"]), str(info["cut"]))
    console.print(table)
    names = info["feature_names"]
    console.print(f"features per step: {', '.join(names[:12])}{', ...' if len(names) > 12 else ''}; "
                  f"scaled per feature over every step; shorter sequences {info['pad']}" + (
                      "; per class: " + ", ".join(f"{c} {n}" for c, n in zip(info["classes"],
                                                                            info["per_class"]))
                      if info["classes"] else ""), soft_wrap=True, highlight=False)


def _print_images(info: dict) -> None:
    console.print(f"images resized to {info['height']}x{info['width']} ({info['size_from']}), "
                  f"{info['color']} ({info['color_from']}); per class: " +
                  ", ".join(f"{c} {n}" for c, n in zip(info["classes"], info["per_class"])),
                  soft_wrap=True)
    skipped = info["skipped"]
    if skipped:
        console.print(f"[yellow]skipped {len(skipped)} file(s)[/yellow] (--strict refuses them):")
        for s in skipped:
            console.print(f"  {s['path']}: {s['why']}", soft_wrap=True)


def _print_series(info: dict) -> None:
    dates = (f"dates from '{info['date_column']}' ({info['frequency'] or 'irregular'})"
             if info["date_column"] else "no date column (rows in file order)")
    season = f"season {info['season']}" if info["season"] else "no season"
    console.print(f"series '{info['column']}': {info['values']} values, {dates}; {season} "
                  f"({info['season_from']}); horizon {info['horizon']}", soft_wrap=True)
    for note in info["notes"]:
        console.print(f"  {note}", soft_wrap=True)
    console.print(f"test: {info['test']}", soft_wrap=True)
    base = info["baselines"]
    line = f"baselines on those {info['test_values']} values: persistence RMSE {base['persistence']:.2f}"
    if "seasonal_naive" in base:
        line += f", seasonal naive RMSE {base['seasonal_naive']:.2f}"
    else:
        line += "; seasonal naive needs a season: pass --season M"
    console.print(line, soft_wrap=True)
