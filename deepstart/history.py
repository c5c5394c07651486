"""History: one row per epoch (loss, metric, validation loss and metric, learning rate, seconds)."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

from deepstart.files import atomic_path, write_text


class History:
    def __init__(self, rows: list[dict] | None = None, metric: str = "accuracy"):
        self.rows: list[dict] = list(rows or [])
        self.metric = metric

    def append(self, row: dict) -> None:
        self.rows.append(row)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, key: str) -> list[float]:
        return [row.get(key, math.nan) for row in self.rows]

    def columns(self) -> list[str]:
        seen: dict[str, None] = {}
        for row in self.rows:
            seen.update(dict.fromkeys(row))
        return list(seen)

    def best(self, key: str, greater_is_better: bool) -> tuple[int, float] | None:
        values = [(i, v) for i, v in enumerate(self[key]) if not math.isnan(v)]
        if not values:
            return None
        return (max if greater_is_better else min)(values, key=lambda p: p[1])

    def to_csv(self, path: str | Path | None = None) -> str:
        buf = io.StringIO()
        # a run that diverged in its first epoch has no rows: the header still names the epoch
        writer = csv.DictWriter(buf, fieldnames=self.columns() or ["epoch"], lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.rows)
        if path is not None:
            write_text(path, buf.getvalue())
        return buf.getvalue()

    @classmethod
    def from_csv(cls, path: str | Path, metric: str = "accuracy") -> History:
        """The rows `to_csv` wrote; a damaged file (not UTF-8, no epoch column, a value that is not
        a number) is a DeepstartError that names it and the line."""
        from deepstart.errors import DeepstartError
        from deepstart.files import RESTORE, read_text

        path = Path(path)
        text = read_text(path)
        if text == "\n":  # no rows, as deepstart before 2026-12 wrote them (no header either)
            return cls([], metric)
        reader = csv.DictReader(io.StringIO(text, newline=""))
        if "epoch" not in (reader.fieldnames or ()):
            raise DeepstartError(f"{path}: no header line with an epoch column, so the file is "
                                 f"damaged; {RESTORE}.")
        rows = []
        for r in reader:
            try:
                if None in r or None in r.values():  # more or fewer values than columns
                    raise ValueError("not one value per column")
                rows.append({k: (int(v) if k == "epoch" else float(v)) for k, v in r.items() if v != ""})
            except ValueError as e:
                raise DeepstartError(f"{path}: line {reader.line_num} is not a row of numbers ({e}), "
                                     f"so the file is damaged; {RESTORE}.") from None
        return cls(rows, metric)

    def _repr_html_(self) -> str:
        from deepstart.notebook import history_html

        return history_html(self)

    def plot(self, path: str | Path, title: str = "") -> Path:
        """Loss and metric curves, training and validation, side by side (PNG)."""
        import matplotlib.pyplot as plt

        fig = self.figure(title)
        path = Path(path)
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=100)
        plt.close(fig)
        return path

    def figure(self, title: str = ""):
        """The matplotlib figure of `plot` (the report embeds it without a file)."""
        from deepstart.console import offscreen_figures

        offscreen_figures()
        import matplotlib.pyplot as plt
        from matplotlib.ticker import MaxNLocator

        epochs = self["epoch"]
        fig, axes = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
        for ax, key in zip(axes, ("loss", self.metric)):
            for prefix, style in (("", "-"), ("val_", "--")):
                values = self[prefix + key]
                if any(not math.isnan(v) for v in values):
                    label = ("validation " if prefix else "training ") + key
                    ax.plot(epochs, values, style, marker="o" if len(epochs) < 30 else None,
                            ms=3, label=label)
            ax.set_xlabel("epoch")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # no epoch 1.25
            ax.set_ylabel(key)
            ax.grid(alpha=0.3)
            if ax.lines:
                ax.legend()
            else:
                ax.text(0.5, 0.5, "no completed epoch", ha="center", transform=ax.transAxes)
        if title:
            fig.suptitle(title)
        return fig
