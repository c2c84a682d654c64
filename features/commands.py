"""The feature commands of `les`: thin wrappers that parse, call one function, summarise.

Declared as data (`COMMANDS`); the console script (`serving/cli.py`) builds the app. Errors are
raised, not printed: the one boundary in `features.console` makes each one red line and exit 2.
"""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich.table import Table

from features.console import (
    Command,
    EngineOption,
    SchedulerOption,
    console,
    counts_table,
    engine_config,
    engine_session,
    read_order_file,
    read_valid_orders,
    task_progress,
)
from features.dataset_config import DatasetConfig
from features.errors import LesError
from features.snapshots import midnight_utc
from features.world_params import WorldConfig

DATASET_DEFAULTS = DatasetConfig()
WORLD_DEFAULTS = WorldConfig()


class CommandInputError(LesError, ValueError):
    """A flag combination or value a feature command cannot act on."""


def window_end(text: str) -> pd.Timestamp:
    """The --end day: windows are whole UTC days, as the feature engine counts events per day."""
    return midnight_utc(text, "--end")


def validate(
    path: Annotated[Path, typer.Argument(help="Orders as .csv, .parquet or a parquet folder.")],
    rejected_out: Annotated[
        Path | None, typer.Option(help="Write rejected rows (with reject_reason) here.")
    ] = None,
) -> None:
    """Check orders against the contract. Exit 0: all valid; 1: some rejected; 2: unreadable,
    no rows, or --rejected-out cannot be written."""
    from features.io import write_table

    result = read_order_file(path)
    console.print(f"{len(result.valid):,} valid, {len(result.rejected):,} rejected rows")
    if result.ignored_columns:
        console.print(f"[yellow]columns outside the contract, ignored:[/] {result.ignored_columns}")
    if result.reason_counts:
        console.print(counts_table("Rejected rows by reason", result.reason_counts, "reason"))
    if rejected_out is not None and len(result.rejected):
        write_table(result.rejected, rejected_out)
        console.print(f"rejected rows -> {rejected_out}")
    raise typer.Exit(1 if len(result.rejected) else 0)


def generate(
    out: Annotated[Path, typer.Option(help="Folder for orders/merchants/changes parquet.")],
    merchants: Annotated[
        int, typer.Option(help="Number of merchants.")
    ] = WORLD_DEFAULTS.n_merchants,
    days: Annotated[int, typer.Option(help="Days of history.")] = WORLD_DEFAULTS.days,
    seed: Annotated[
        int, typer.Option(help="Random seed (same seed, same world).")
    ] = WORLD_DEFAULTS.seed,
    carrier_shock: Annotated[
        str | None,
        typer.Option(
            help="CARRIER:DATE[:FACTOR]: from DATE the carrier's transit takes FACTOR (2) times "
            "as long, e.g. JetLine:2026-06-01 (the drift scenario of docs/monitoring.md)."
        ),
    ] = None,
) -> None:
    """Write a synthetic livestream-commerce world with its latent truth."""
    from features.io import atomic_path, write_table
    from features.world import generate_world
    from features.world_params import CarrierShock

    try:
        shock = None if carrier_shock is None else CarrierShock.parse(carrier_shock)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--carrier-shock") from exc
    config = WorldConfig(n_merchants=merchants, days=days, seed=seed, carrier_shock=shock)
    with console.status("simulating orders"):
        world = generate_world(config)
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
    console.print(counts_table("Status mix", orders["status"].value_counts().to_dict(), "status"))
    console.print(f"written to {out}/")


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
    from features.io import write_table
    from features.rulebook import load_rulebook
    from features.rulebook_scoring import compute_les

    rulebook = load_rulebook(rules)
    end_at = window_end(end)
    start_at = end_at - pd.Timedelta(days=window_days or rulebook.window_days)
    table = compute_les(read_valid_orders(orders), start_at, end_at, rulebook)
    target = write_table(table, out or orders.with_name(f"les_{end_at:%Y-%m-%d}.parquet"))
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
    console.print(counts_table("Tier distribution", tiers, "tier"))
    console.print(f"{len(table):,} merchants -> {target}")


def rulebook_command(
    markdown: Annotated[
        bool, typer.Option("--markdown", help="Print docs/rulebook.md instead of a table.")
    ] = False,
    rules: Annotated[
        Path | None, typer.Option(help="A rulebook YAML laid over the packaged one.")
    ] = None,
) -> None:
    """The LES rulebook: metrics, stages, weights, bands, tier cut-offs and their precedents."""
    from features.rulebook import load_rulebook
    from features.rulebook_docs import rulebook_markdown

    rulebook = load_rulebook(rules)
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
        f"tiers: {cut_offs}; below {rulebook.min_orders} {rulebook.min_orders_basis}: "
        f"Insufficient data; a metric with < {rulebook.min_metric_denominator} observations "
        "is left out"
    )


def features_command(
    stage: Annotated[
        str | None, typer.Option(help="Only this stage's features, e.g. pick_pack.")
    ] = None,
) -> None:
    """The feature catalogue: every model feature with its stage, unit and meaning."""
    from features.catalogue import load_catalogue

    catalogue = load_catalogue()
    if stage is not None and stage not in catalogue.stage_labels:
        raise CommandInputError(
            f"--stage {stage!r}: not a stage; one of {', '.join(catalogue.stage_labels)}"
        )
    shown = [f for f in catalogue.features if stage is None or f.stage == stage]
    table = Table(title=f"Feature catalogue v{catalogue.version} ({len(shown)} features)")
    for column in ("name", "stage", "unit", "direction", "actionable", "description"):
        table.add_column(column, overflow="fold")
    for f in shown:
        table.add_row(
            f.name,
            catalogue.stage_labels[f.stage],
            f.unit,
            f.direction,
            "yes" if f.actionable else "no",
            f.description,
        )
    console.print(table)


def build_dataset_command(
    orders: Annotated[Path, typer.Option(help="Order table (.csv/.parquet/folder).")],
    out: Annotated[Path, typer.Option(help="Output parquet of (merchant, snapshot) rows.")],
    window_days: Annotated[
        int, typer.Option(help="Feature window length.")
    ] = DATASET_DEFAULTS.window_days,
    horizon_days: Annotated[
        int, typer.Option(help="Label window length after a snapshot.")
    ] = DATASET_DEFAULTS.horizon_days,
    cadence_days: Annotated[
        int, typer.Option(help="Days between snapshots.")
    ] = DATASET_DEFAULTS.cadence_days,
    min_orders: Annotated[
        int | None,
        typer.Option(
            help="Override the rulebook's minimum per label window; it counts the rulebook's "
            "min_orders_basis (delivered orders)."
        ),
    ] = None,
    engine: EngineOption = "pandas",
    scheduler: SchedulerOption = None,
) -> None:
    """Build point-in-time features and next-window labels for every merchant and snapshot.

    --out without a .parquet/.csv suffix writes a folder of parquet parts (required by dask).
    The recipe (these settings and the rulebook's version and hash) is written beside it, so
    `les train` records it in the model and serving builds the same features."""
    from features.dataset import build_dataset, dataset_summary
    from features.io import is_folder_target, write_parquet_folder, write_table
    from features.recipe import DatasetRecipe, write_recipe
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
        valid = read_valid_orders(orders)
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
    console.print(counts_table("Label tiers (complete windows)", s["label_distribution"], "tier"))
    console.print(f"-> {out} (recipe: {recipe})")


def _build_dataset_dask(engine_cfg, orders: Path, out: Path, cfg, rules) -> dict[str, object]:
    """The dask engine's build: merchant partitions on the cluster, a folder of parts at `out`."""
    from features.distributed import build_dataset_dask
    from features.io import is_folder_target

    if not is_folder_target(out):
        raise CommandInputError(f"--out {out}: the dask engine writes a folder (no suffix)")
    with engine_session(engine_cfg) as client, task_progress() as advance:
        result = build_dataset_dask(client, orders, out, cfg, rules, advance=advance)
    if result.rejected_orders:
        console.print(
            f"[yellow]{result.rejected_orders:,} rows rejected by the contract were left "
            f"out (see `les validate {orders}`)[/]"
        )
    return result.summary


COMMANDS: tuple[Command, ...] = (
    Command("validate", validate),
    Command("generate", generate),
    Command("score-window", score_window),
    Command("rulebook", rulebook_command),
    Command("features", features_command),
    Command("build-dataset", build_dataset_command),
)
