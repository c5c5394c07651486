"""The one rich console everything prints through (so tests can capture and silence it)."""

from rich.console import Console

# Not a terminal (a pipe, a CI log): rich would wrap at 80 columns; 120 keeps a table row on a line.
console = Console(highlight=False)
if not console.is_terminal:
    console = Console(highlight=False, width=120)
