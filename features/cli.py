"""The feature commands of the `les` CLI: thin wrappers that parse, call one function, summarise.

`training/cli.py` adds the training commands to this same app; the console script points there.
"""

from __future__ import annotations

import errno
import os
import traceback
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import pandas as pd
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from typer.core import TyperGroup

if TYPE_CHECKING:
    from features.validation import ValidationResult

LOG_FILE_ENV = "LES_LOG_FILE"
DEFAULT_LOG_FILE = "les.log"
# Error classes of these packages are written for the user: their message is the whole story.
PROJECT_PACKAGES = ("features", "training", "serving")
OS_REASONS = {  # the problem in words, for the path an OSError names
    errno.EEXIST: "exists and is not a folder",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
    errno.EISDIR: "is a folder, not a file",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.EROFS: "read-only file system",
    errno.ENOSPC: "no space left on device",
}


class ErrorBoundary(TyperGroup):
    """The one error boundary of every `les` command (nested groups run inside it).

    Bad input (an unreadable or empty file, an output path that cannot be written, anything the
    project's own errors say) is one red line and exit 2; exit 1 stays `les validate`'s "rows
    rejected". Anything else is a bug: one line naming its type and the log that holds the full
    traceback, exit 1, so it is neither hidden nor dressed up as bad input."""

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


def is_expected_error(exc: BaseException) -> bool:
    """A file system error, an unreadable table, or one of the project's own errors."""
    import pyarrow as pa

    if isinstance(
        exc, OSError | pa.ArrowInvalid | pd.errors.EmptyDataError | pd.errors.ParserError
    ):
        return True
    return any(c.__module__.partition(".")[0] in PROJECT_PACKAGES for c in type(exc).__mro__)


def describe_error(exc: BaseException) -> str:
    """The line to print: an OSError as its path and the problem, anything else its message."""
    if isinstance(exc, OSError) and exc.filename is not None:
        reason = OS_REASONS.get(exc.errno or 0, exc.strerror or str(exc))
        target = f" -> {exc.filename2}" if exc.filename2 else ""
        return f"{exc.filename}{target}: {reason}"
    return str(exc) or type(exc).__name__


def log_traceback(exc: BaseException) -> str:
    """Append `exc`'s traceback to $LES_LOG_FILE (default ./les.log); the path, or why not."""
    path = Path(os.environ.get(LOG_FILE_ENV, DEFAULT_LOG_FILE))
    try:
        with path.open("a", encoding="utf-8") as log:
            log.write(f"{datetime.now(UTC).isoformat()} ERROR les: unexpected error\n")
            log.write("".join(traceback.format_exception(exc)))
    except OSError as err:
        return f"no log ({path}: {describe_error(err)})"
    return str(path)


app = typer.Typer(
    name="les",
    help="Predictive Logistics Experience Score: forecast a merchant's next LES tier.",
    no_args_is_help=True,
    add_completion=False,
    cls=ErrorBoundary,
)
ingest_app = typer.Typer(help="Convert a public dataset into the canonical order table.")
app.add_typer(ingest_app, name="ingest")
console = Console()


EngineOption = Annotated[
    str, typer.Option(help="pandas (this process) or dask (a cluster; see docs/scale-out.md).")
]
SchedulerOption = Annotated[
    str | None,
    typer.Option(help="Dask scheduler address (tcp://host:8786); default: a LocalCluster here."),
]


def engine_config(engine: str, scheduler: str | None, **options: object):
    """The typed engine config of the CLI flags; a bad combination exits 2 naming the flag."""
    from features.engine import EngineConfig, EngineError

    try:
        return EngineConfig(engine=engine, scheduler=scheduler, **options)
    except EngineError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from exc


@contextmanager
def engine_session(cfg):
    """`engine_client` for a command: an unreachable scheduler is one red line and exit 2."""
    from features.engine import UnreachableSchedulerError, cluster_summary, engine_client

    try:
        with engine_client(cfg) as client:
            if client is not None:
                console.print(cluster_summary(client))
            yield client
    except UnreachableSchedulerError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from exc


def _counts_table(title: str, counts: dict[str, int], key: str = "value") -> Table:
    table = Table(title=title)
    table.add_column(key)
    table.add_column("rows", justify="right")
    for name, n in sorted(counts.items(), key=lambda kv: -kv[1]):
        table.add_row(str(name), f"{n:,}")
    return table


def _read_orders(path: Path) -> ValidationResult:
    """`read_orders`, or exit 2 naming the path: unreadable, outside the contract, or no rows."""
    from features.contract import ContractError
    from features.io import TableReadError, read_orders

    try:
        result = read_orders(path)
    except TableReadError as exc:
        console.print(f"[red]error:[/] {exc}", soft_wrap=True)
        raise typer.Exit(2) from exc
    except ContractError as exc:
        console.print(f"[red]error:[/] {path}: {exc}", soft_wrap=True)
        raise typer.Exit(2) from exc
    if not len(result.valid) + len(result.rejected):
        console.print(f"[red]error:[/] {path}: no rows (a header only?)", soft_wrap=True)
        raise typer.Exit(2)
    return result


def _read_valid_orders(path: Path) -> pd.DataFrame:
    """The contract-valid orders of `path`; none at all is exit 2, since nothing can be built."""
    result = _read_orders(path)
    if not len(result.valid):
        console.print(
            f"[red]error:[/] {path}: no valid rows, all {len(result.rejected):,} rejected by the "
            f"contract (see `les validate {path}`)",
            soft_wrap=True,
        )
        raise typer.Exit(2)
    if len(result.rejected):
        console.print(
            f"[yellow]{len(result.rejected):,} rows rejected by the contract were left "
            f"out (see `les validate {path}`)[/]"
        )
    return result.valid


@app.command()
def validate(
    path: Annotated[Path, typer.Argument(help="Orders as .csv, .parquet or a parquet folder.")],
    rejected_out: Annotated[
        Path | None, typer.Option(help="Write rejected rows (with reject_reason) here.")
    ] = None,
) -> None:
    """Check orders against the contract. Exit 0: all valid; 1: some rejected; 2: unreadable,
    no rows, or --rejected-out cannot be written."""
    from features.io import write_table

    result = _read_orders(path)
    console.print(f"{len(result.valid):,} valid, {len(result.rejected):,} rejected rows")
    if result.ignored_columns:
        console.print(f"[yellow]columns outside the contract, ignored:[/] {result.ignored_columns}")
    if result.reason_counts:
        console.print(_counts_table("Rejected rows by reason", result.reason_counts, "reason"))
    if rejected_out is not None and len(result.rejected):
        write_table(result.rejected, rejected_out)
        console.print(f"rejected rows -> {rejected_out}")
    raise typer.Exit(1 if len(result.rejected) else 0)


@app.command()
def generate(
    out: Annotated[Path, typer.Option(help="Folder for orders/merchants/changes parquet.")],
    merchants: Annotated[int, typer.Option(help="Number of merchants.")] = 600,
    days: Annotated[int, typer.Option(help="Days of history.")] = 240,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same world).")] = 7,
) -> None:
    """Write a synthetic livestream-commerce world with its latent truth."""
    from features.io import atomic_path, write_table
    from features.world import WorldConfig, generate_world

    with console.status("simulating orders"):
        world = generate_world(WorldConfig(n_merchants=merchants, days=days, seed=seed))
    with ExitStack() as renames:  # all three written before any is renamed: one world, not two
        for name in ("orders", "merchants", "changes"):
            tmp = renames.enter_context(atomic_path(out / f"{name}.parquet"))
            write_table(getattr(world, name), tmp)
    orders = world.orders
    delivered = orders[orders["status"] == "delivered"]
    p2d_days = (delivered["delivered_at"] - delivered["created_at"]).dt.total_seconds() / 86400
    console.print(
        f"{len(orders):,} orders, {merchants} merchants, {len(world.changes)} change "
        f"events, {orders['created_at'].min():%Y-%m-%d}..{orders['created_at'].max():%Y-%m-%d}"
    )
    console.print(
        f"median purchase-to-delivery {p2d_days.median():.1f} days; on time "
        f"{(delivered['delivered_at'] <= delivered['deliver_by']).mean():.1%}"
    )
    console.print(_counts_table("Status mix", orders["status"].value_counts().to_dict(), "status"))
    console.print(f"written to {out}/")


@app.command("score-window")
def score_window(
    orders: Annotated[Path, typer.Option(help="Order table (.csv/.parquet/folder).")],
    end: Annotated[str, typer.Option(help="Window end date (exclusive, UTC), e.g. 2026-08-01.")],
    window_days: Annotated[
        int | None, typer.Option(min=1, help="Window length in days; default: the rulebook's.")
    ] = None,
    rules: Annotated[
        Path | None,
        typer.Option(help="A rulebook YAML laid over the packaged one (any subset of its fields)."),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(help="Output .parquet or .csv; default les_<end>.parquet beside the orders."),
    ] = None,
) -> None:
    """Score every merchant's LES and tier over one window [end - window, end), by the rulebook."""
    from features.io import TableReadError, write_table
    from features.rulebook import RulebookError, compute_les, load_rulebook

    try:
        rulebook = load_rulebook(rules)
        end_at = pd.Timestamp(end)
        start_at = end_at - pd.Timedelta(days=window_days or rulebook.window_days)
        table = compute_les(_read_valid_orders(orders), start_at, end_at, rulebook)
        target = write_table(table, out or orders.with_name(f"les_{end_at:%Y-%m-%d}.parquet"))
    except (RulebookError, TableReadError, ValueError) as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from exc
    preview = Table(title=f"LES over {start_at:%Y-%m-%d}..{end_at:%Y-%m-%d} (first 10)")
    for column in ("merchant_id", "orders_in_window", "les_score", "les_tier"):
        preview.add_column(
            column, justify="right" if column.startswith(("orders", "les_s")) else "left"
        )
    for row in table.head(10).itertuples():
        score = "-" if pd.isna(row.les_score) else f"{row.les_score:.2f}"
        preview.add_row(str(row.merchant_id), f"{row.orders_in_window:,.0f}", score, row.les_tier)
    console.print(preview)
    tiers = table["les_tier"].value_counts().to_dict()
    console.print(_counts_table("Tier distribution", tiers, "tier"))
    console.print(f"{len(table):,} merchants -> {target}")


@app.command("rulebook")
def rulebook_command(
    markdown: Annotated[
        bool, typer.Option("--markdown", help="Print docs/rulebook.md instead of a table.")
    ] = False,
    rules: Annotated[
        Path | None, typer.Option(help="A rulebook YAML laid over the packaged one.")
    ] = None,
) -> None:
    """The LES rulebook: metrics, stages, weights, bands, tier cut-offs and their precedents."""
    from features.rulebook import RulebookError, load_rulebook, rulebook_markdown

    try:
        rulebook = load_rulebook(rules)
    except RulebookError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from exc
    if markdown:
        typer.echo(rulebook_markdown(rulebook), nl=False)
        return
    table = Table(title=f"LES rulebook v{rulebook.version}: last {rulebook.window_days} days")
    for column in ("metric", "stage", "weight", "bands (value -> points)"):
        table.add_column(column, no_wrap=column == "metric", overflow="fold")
    for m in rulebook.metrics:
        bands = "; ".join(f"{v:g}->{p:g}" for v, p in m.bands)
        table.add_row(m.feature, m.stage, f"{m.weight:g}", bands)
    console.print(table)
    cut_offs = ", ".join(f"{tier} >= {score:g}" for tier, score in rulebook.tiers.items())
    console.print(
        f"tiers: {cut_offs}; below {rulebook.min_orders} orders: Insufficient data; a metric "
        f"with < {rulebook.min_metric_denominator} observations is left out"
    )


@app.command("features")
def features_command(
    list_: Annotated[bool, typer.Option("--list", help="Print the feature catalogue.")] = True,
) -> None:
    """The feature catalogue: every model feature with its stage, unit and meaning."""
    from features.catalogue import load_catalogue

    catalogue = load_catalogue()
    table = Table(title=f"Feature catalogue v{catalogue.version} ({len(catalogue.names)} features)")
    for column in ("name", "stage", "unit", "direction", "actionable", "description"):
        table.add_column(column, overflow="fold")
    for f in catalogue.features:
        table.add_row(
            f.name,
            catalogue.stage_labels[f.stage],
            f.unit,
            f.direction,
            "yes" if f.actionable else "no",
            f.description,
        )
    console.print(table)


@app.command("build-dataset")
def build_dataset_command(
    orders: Annotated[Path, typer.Option(help="Order table (.csv/.parquet/folder).")],
    out: Annotated[Path, typer.Option(help="Output parquet of (merchant, snapshot) rows.")],
    window_days: Annotated[int, typer.Option(help="Feature window length.")] = 30,
    horizon_days: Annotated[int, typer.Option(help="Label window length after a snapshot.")] = 30,
    cadence_days: Annotated[int, typer.Option(help="Days between snapshots.")] = 7,
    min_orders: Annotated[
        int | None, typer.Option(help="Override the rulebook's minimum orders per window.")
    ] = None,
    engine: EngineOption = "pandas",
    scheduler: SchedulerOption = None,
) -> None:
    """Build point-in-time features and next-window labels for every merchant and snapshot.

    --out without a .parquet/.csv suffix writes a folder of parquet parts (required by dask).
    The recipe (these settings and the rulebook's version and hash) is written beside it, so
    `les train` records it in the model and serving builds the same features."""
    from features.dataset import DatasetConfig, build_dataset, dataset_summary
    from features.distributed import is_folder_target, write_parquet_folder
    from features.io import DatasetRecipe, write_recipe, write_table
    from features.rulebook import load_rulebook

    rules = load_rulebook()
    overrides = {"window_days": horizon_days}
    if min_orders is not None:
        overrides["min_orders"] = min_orders
    rules = rules.with_overrides(**overrides)
    cfg = DatasetConfig(
        window_days=window_days, horizon_days=horizon_days, cadence_days=cadence_days
    )
    engine_cfg = engine_config(engine, scheduler)
    if engine_cfg.is_dask:
        s = _build_dataset_dask(engine_cfg, orders, out, cfg, rules)
    else:
        valid = _read_valid_orders(orders)
        with console.status(f"building features for {len(valid):,} orders"):
            dataset = build_dataset(valid, cfg, rules)
        if is_folder_target(out):
            write_parquet_folder(dataset, out)
        else:
            write_table(dataset, out)
        s = dataset_summary(dataset)
    recipe = write_recipe(DatasetRecipe.of(cfg, rules), out)
    console.print(
        f"{s['rows']:,} rows, {s['merchants']:,} merchants, {s['snapshots']} snapshots; "
        f"{s['trainable_rows']:,} trainable, {s['insufficient_label_rows']:,} with "
        f"insufficient data, {s['incomplete_label_rows']:,} with an open label window"
    )
    console.print(_counts_table("Label tiers (complete windows)", s["label_distribution"], "tier"))
    console.print(f"-> {out} (recipe: {recipe})")


def _build_dataset_dask(engine_cfg, orders: Path, out: Path, cfg, rules) -> dict[str, object]:
    """The dask engine's build: merchant partitions on the cluster, a folder of parts at `out`."""
    from features.contract import ContractError
    from features.distributed import NoValidOrdersError, build_dataset_dask, is_folder_target
    from features.io import TableReadError

    if not is_folder_target(out):
        console.print(f"[red]error:[/] --out {out}: the dask engine writes a folder (no suffix)")
        raise typer.Exit(2)
    with engine_session(engine_cfg) as client, task_progress() as advance:
        try:
            result = build_dataset_dask(client, orders, out, cfg, rules, advance=advance)
        except (ContractError, TableReadError, NoValidOrdersError) as exc:
            console.print(f"[red]error:[/] {exc}")
            raise typer.Exit(2) from exc
    if result.rejected_orders:
        console.print(
            f"[yellow]{result.rejected_orders:,} rows rejected by the contract were left "
            f"out (see `les validate {orders}`)[/]"
        )
    return result.summary


@contextmanager
def task_progress():
    """A rich progress bar with one line per step; yields the `advance(step, total)` callback."""
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


@ingest_app.command("olist")
def ingest_olist(
    directory: Annotated[Path, typer.Argument(help="Folder with the Olist CSV files.")],
    out: Annotated[Path, typer.Option(help="Output parquet in the canonical contract.")],
) -> None:
    """Convert the public Olist Brazilian e-commerce CSVs into canonical orders (docs/olist.md).

    Every (order, seller) row is written, including rows the contract rejects; the summary
    counts them by reason. Exit 0: written; 2: the folder is not in the Olist layout, or holds
    no rows.
    """
    from features.io import TableReadError, write_table
    from features.olist import OLIST_TABLES, OlistFormatError, read_olist, summarise_olist

    try:
        for table in OLIST_TABLES:  # pandas' own message for an empty file names none
            path = directory / table.file_name
            if path.is_file() and not path.stat().st_size:
                raise TableReadError(f"{path}: empty file (no header, no rows)")
        result = read_olist(directory)
        if not len(result.orders):
            raise OlistFormatError(f"{directory}: no (order, seller) rows to write")
        write_table(result.orders, out)
    except (OlistFormatError, TableReadError) as exc:
        console.print(f"[red]error:[/] {exc}", soft_wrap=True)
        raise typer.Exit(2) from exc
    s = summarise_olist(result)
    span = (
        f"{s.first_created_at:%Y-%m-%d}..{s.last_created_at:%Y-%m-%d}"
        if s.first_created_at is not None
        else "no dates"
    )
    console.print(
        f"{s.rows:,} (order, seller) rows, {s.sellers:,} sellers, created {span}; "
        f"{s.rejected_rows:,} rows the contract rejects; {s.unattributed_orders:,} orders "
        f"without items (no seller) and {s.orphan_item_rows:,} item rows without a known order "
        f"or seller kept aside, not written"
    )
    console.print(_counts_table("Status mix", s.status_counts, "status"))
    if s.rejected_by_reason:
        console.print(
            _counts_table("Rows the contract rejects, by reason", s.rejected_by_reason, "reason")
        )
    if s.orphan_items_by_reason:
        console.print(
            _counts_table("Item rows kept aside, by reason", s.orphan_items_by_reason, "reason")
        )
    console.print(f"-> {out}")
