"""The feature commands of the `les` CLI: thin wrappers that parse, call one function, print a summary.

`training/cli.py` adds the training commands to this same app; the console script points there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

app = typer.Typer(
    name="les",
    help="Predictive Logistics Experience Score: forecast a merchant's next LES tier.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console()

# --- validate ----------------------------------------------------------------------------------

# --- generate ----------------------------------------------------------------------------------

# --- score-window ------------------------------------------------------------------------------

# --- features / build-dataset ------------------------------------------------------------------

# --- ingest ------------------------------------------------------------------------------------
