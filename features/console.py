"""What every room's CLI commands share: the terminal, the one error boundary, progress bars, the
engine flags, and the declaration of a command.

Rooms declare their commands as `Command` data (`features/commands.py`, `training/commands.py`,
...); the console script (`serving/cli.py`) builds the one app from them with `build_app`, so no
command is registered by an import side effect.
"""

from __future__ import annotations

import errno
import os
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import pandas as pd
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from typer.core import TyperGroup

from features.errors import LesError
from features.progress import Advance

if TYPE_CHECKING:
    from features.engine import EngineConfig
    from features.validation import ValidationResult

LOG_FILE_ENV = "LES_LOG_FILE"
DEFAULT_LOG_FILE = "les.log"
APP_HELP = "Predictive Logistics Experience Score: forecast a merchant's next LES tier."
OS_REASONS = {  # the problem in words, for the path an OSError names
    errno.EEXIST: "exists and is not a folder",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
    errno.EISDIR: "is a folder, not a file",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.EROFS: "read-only file system",
    errno.ENOSPC: "no space left on device",
}
console = Console()


@dataclass(frozen=True)
class Command:
    """One `les` command as a room declares it; `group` nests it (`les ingest olist`)."""

    name: str
    function: Callable[..., Any]
    group: str | None = None


class ErrorBoundary(TyperGroup):
    """The one error boundary of every `les` command (nested groups run inside it).

    Bad input (an unreadable or empty file, an output path that cannot be written, any `LesError`)
    is one red line and exit 2; exit 1 stays `les validate`'s "rows rejected". Anything else is a
    bug: one line naming its type and the log that holds the full traceback, exit 1, so it is
    neither hidden nor dressed up as bad input."""

    def invoke(self, ctx: typer.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, typer.TyperException):  # exits and usage errors
            raise
        except Exception as exc:
            if not is_expected_error(exc):
                log = log_traceback(exc)
                console.print(
                    f"[red]unexpected {type(exc).__name__}:[/] {escape(str(exc))} (a bug in les; "
                    f"the full traceback is in {log})",
                    soft_wrap=True,
                )
                raise typer.Exit(1) from exc
            console.print(f"[red]error:[/] {escape(describe_error(exc))}", soft_wrap=True)
            raise typer.Exit(2) from exc


def build_app(
    commands: Iterable[Command],
    groups: Mapping[str, str],
    callback: Callable[..., None] | None = None,
) -> typer.Typer:
    """The `les` app: every declared command, each group (name -> help) as a nested app."""
    app = typer.Typer(
        name="les", help=APP_HELP, no_args_is_help=True, add_completion=False, cls=ErrorBoundary
    )
    if callback is not None:
        app.callback()(callback)
    nested = {name: typer.Typer(help=text, no_args_is_help=True) for name, text in groups.items()}
    for name, group in nested.items():
        app.add_typer(group, name=name)
    for command in commands:
        target = app if command.group is None else nested[command.group]
        target.command(command.name)(command.function)
    return app


def is_expected_error(exc: BaseException) -> bool:
    """A file system error, an unreadable table, or a `LesError`."""
    import pyarrow as pa

    return isinstance(
        exc, LesError | OSError | pa.ArrowInvalid | pd.errors.EmptyDataError | pd.errors.ParserError
    )


def describe_error(exc: BaseException) -> str:
    """The line to print: an OSError as its path and the problem, anything else its message."""
    if isinstance(exc, OSError) and exc.filename is not None:
        reason = OS_REASONS.get(exc.errno or 0, exc.strerror or str(exc))
        target = f" -> {exc.filename2}" if exc.filename2 else ""
        return f"{exc.filename}{target}: {reason}"
    return str(exc) or type(exc).__name__


def log_file() -> Path:
    """Where library records and bug tracebacks go: $LES_LOG_FILE, default ./les.log."""
    return Path(os.environ.get(LOG_FILE_ENV, DEFAULT_LOG_FILE))


def log_traceback(exc: BaseException) -> str:
    """Append `exc`'s traceback to the log file; the path, or why not."""
    path = log_file()
    try:
        with path.open("a", encoding="utf-8") as log:
            log.write(f"{datetime.now(UTC).isoformat()} ERROR les: unexpected error\n")
            log.write("".join(traceback.format_exception(exc)))
    except OSError as err:
        return f"no log ({path}: {describe_error(err)})"
    return str(path)


EngineOption = Annotated[
    str, typer.Option(help="pandas (this process) or dask (a cluster; see docs/scale-out.md).")
]
SchedulerOption = Annotated[
    str | None,
    typer.Option(help="Dask scheduler address (tcp://host:8786); default: a LocalCluster here."),
]


def engine_config(engine: str, scheduler: str | None, **options: object) -> EngineConfig:
    """The typed engine config of the CLI flags; a bad combination is an `EngineError`."""
    from features.engine import EngineConfig

    return EngineConfig(engine=engine, scheduler=scheduler, **options)


@contextmanager
def engine_session(cfg: EngineConfig) -> Iterator[Any]:
    """`engine_client` for a command, printing the cluster it runs on."""
    from features.engine import cluster_summary, engine_client

    with engine_client(cfg) as client:
        if client is not None:
            console.print(cluster_summary(client))
        yield client


@contextmanager
def task_progress() -> Iterator[Advance]:
    """A rich progress bar with one line per step; yields the `advance(step, total)` callback
    that library code takes (it never sees rich)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    tasks: dict[str, int] = {}
    with Progress(
        "{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as progress:

        def advance(step: str, total: int) -> None:
            if step not in tasks:
                tasks[step] = progress.add_task(step, total=total)
            progress.advance(tasks[step])

        yield advance


def counts_table(title: str, counts: Mapping[str, int], key: str = "value") -> Table:
    table = Table(title=title)
    table.add_column(key)
    table.add_column("rows", justify="right")
    for name, n in sorted(counts.items(), key=lambda kv: -kv[1]):
        table.add_row(str(name), f"{n:,}")
    return table


class OrderFileError(LesError, ValueError):
    """An order file that yields nothing to build from."""


def read_order_file(path: Path) -> ValidationResult:
    """`read_orders`, refusing a file with no rows at all (a header only)."""
    from features.contract import ContractError
    from features.io import read_orders

    try:
        result = read_orders(path)
    except ContractError as exc:
        raise OrderFileError(f"{path}: {exc}") from exc
    if not len(result.valid) + len(result.rejected):
        raise OrderFileError(f"{path}: no rows (a header only?)")
    return result


def read_valid_orders(path: Path) -> pd.DataFrame:
    """The contract-valid orders of `path`, saying how many were left out; none is an error,
    since nothing can be built."""
    result = read_order_file(path)
    if not len(result.valid):
        raise OrderFileError(
            f"{path}: no valid rows, all {len(result.rejected):,} rejected by the contract "
            f"(see `les validate {path}`)"
        )
    if len(result.rejected):
        console.print(
            f"[yellow]{len(result.rejected):,} rows rejected by the contract were left "
            f"out (see `les validate {path}`)[/]"
        )
    return result.valid
