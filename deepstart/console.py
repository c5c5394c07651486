"""The one rich console everything prints through (so tests can capture and silence it)."""

from rich.console import Console

# Not a terminal (a pipe, a CI log): rich would wrap at 80 columns; 120 keeps a table row on a line.
console = Console(highlight=False)
if not console.is_terminal:
    console = Console(highlight=False, width=120)


def offscreen_figures() -> None:
    """Draw figures off-screen (matplotlib's Agg) when nobody chose a backend: a script, a CI job,
    the server. A backend already in use is kept: in Jupyter (ipykernel sets MPLBACKEND to its
    inline backend) or wherever pyplot is imported, switching to Agg would make the user's own
    plots after a fit silently stop showing."""
    import os
    import sys

    if "matplotlib.pyplot" in sys.modules or os.environ.get("MPLBACKEND") or "ipykernel" in sys.modules:
        return
    import matplotlib

    matplotlib.use("Agg")
