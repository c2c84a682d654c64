"""The `les` console script: the feature commands plus training, registry and report commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.panel import Panel
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from features.cli import app, console

__all__ = ["app"]


def _progress() -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


@app.command()
def train(
    dataset: Annotated[
        Path | None,
        typer.Option(help="(merchant, snapshot) dataset parquet from `les build-dataset`."),
    ] = None,
    orders: Annotated[
        Path | None,
        typer.Option(help="Order events; the dataset is built first with default settings."),
    ] = None,
    config: Annotated[
        Path | None, typer.Option(help="Training config YAML (see training/config.py for keys).")
    ] = None,
    experiment: Annotated[str | None, typer.Option(help="MLflow experiment name.")] = None,
) -> None:
    """Backtest, train and register the LES forecaster; gate the `champion` alias."""
    from training.config import load_train_config

    if (dataset is None) == (orders is None):
        raise typer.BadParameter("give exactly one of --dataset or --orders")
    train_config = load_train_config(config, experiment_name=experiment)
    frame = _load_or_build_dataset(dataset, orders)
    _train_and_report(frame, train_config)


@app.command()
def models(
    name: Annotated[str, typer.Option(help="Registered model name.")] = "les-forecaster",
) -> None:
    """List registered versions, aliases and headline backtest metrics."""
    from training.tracking import RegistryError, activate, list_versions, resolve_tracking

    tracking = resolve_tracking()
    try:
        rows = list_versions(activate(tracking), name)
    except RegistryError as exc:
        console.print(f"[red]{exc}[/] (tracking store: {tracking.tracking_uri})")
        raise typer.Exit(2) from exc
    table = Table(title=f"{name} in {tracking.tracking_uri}")
    for column in ("version", "aliases", "macro_f1", "qwk", "persistence_macro_f1", "fingerprint"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            *[
                _fmt(row[c])
                for c in (
                    "version",
                    "aliases",
                    "macro_f1",
                    "qwk",
                    "persistence_macro_f1",
                    "fingerprint",
                )
            ]
        )
    console.print(table)


@app.command()
def promote(
    version: Annotated[str, typer.Argument(help="Model version to make champion.")],
    name: Annotated[str, typer.Option(help="Registered model name.")] = "les-forecaster",
) -> None:
    """Move the `champion` alias to VERSION by hand (overrides the gate)."""
    from training.tracking import CHAMPION, RegistryError, activate, resolve_tracking, set_alias

    try:
        set_alias(activate(resolve_tracking()), name, CHAMPION, version)
    except RegistryError as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from exc
    console.print(f"{name} version {version} is now [bold]{CHAMPION}[/]")


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="Working folder for the world and dataset.")] = Path(
        "out"
    ),
    merchants: Annotated[int, typer.Option(help="Merchants in the synthetic world.")] = 600,
    days: Annotated[int, typer.Option(help="Days of order history.")] = 240,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 7,
) -> None:
    """The main job: synthetic world -> features -> train -> backtest -> register -> report."""
    from features.dataset import DatasetConfig, build_dataset
    from features.io import write_table
    from features.rulebook import load_rulebook
    from features.world import WorldConfig, generate_world
    from training.config import load_train_config

    with console.status("generating the synthetic livestream-commerce world"):
        world = generate_world(WorldConfig(n_merchants=merchants, days=days, seed=seed))
    write_table(world.orders, out / "world" / "orders.parquet")
    write_table(world.merchants, out / "world" / "merchants.parquet")
    console.print(f"world: {len(world.orders):,} orders, {merchants} merchants, {days} days")
    with console.status("building (merchant, snapshot) features and labels"):
        dataset = build_dataset(world.orders, DatasetConfig(), load_rulebook())
    write_table(dataset, out / "dataset.parquet")
    console.print(f"dataset: {len(dataset):,} rows -> {out / 'dataset.parquet'}")
    _train_and_report(dataset, load_train_config())


def _load_or_build_dataset(dataset: Path | None, orders: Path | None):
    from features.dataset import DatasetConfig, build_dataset
    from features.io import read_orders, read_table
    from features.rulebook import load_rulebook

    if dataset is not None:
        return read_table(dataset)
    result = read_orders(orders)
    if len(result.rejected):
        console.print(
            f"[yellow]{len(result.rejected):,} order rows rejected by the contract "
            f"(run `les validate {orders}` for reasons)[/]"
        )
    with console.status("building (merchant, snapshot) features and labels"):
        return build_dataset(result.valid, DatasetConfig(), load_rulebook())


def _train_and_report(frame, train_config) -> None:
    from features.catalogue import load_catalogue
    from features.rulebook import load_rulebook
    from training.pipeline import TrainingError, train_and_register
    from training.splits import SplitError
    from training.tracking import resolve_tracking

    tracking = resolve_tracking()
    try:
        with _progress() as progress:
            result = train_and_register(
                frame, train_config, load_rulebook(), load_catalogue(), tracking, progress
            )
    except (SplitError, TrainingError) as exc:
        console.print(f"[red]cannot train:[/] {exc}")
        raise typer.Exit(2) from exc
    console.print(_metrics_table(result))
    if result.decision.promoted:
        console.print(
            Panel(
                f"{result.model_name} v{result.model_version} is [bold green]champion"
                f"[/] ({result.model_uri})",
                style="green",
            )
        )
    else:
        reasons = "\n".join(f"- {r}" for r in result.decision.reasons)
        console.print(
            Panel(
                f"[bold]NOT PROMOTED[/]: v{result.model_version} stays "
                f"[bold]{result.decision.alias}[/]\n{reasons}",
                style="bold red",
            )
        )
    console.print(
        f"MLflow run {result.run_id}; browse with:\n  mlflow ui --backend-store-uri "
        f"{tracking.tracking_uri}"
    )


def _metrics_table(result) -> Table:
    pooled = result.backtest.pooled_metrics
    table = Table(
        title=f"Pooled rolling-origin backtest ({len(result.backtest.folds)} folds, "
        f"{int(pooled['rows'].iloc[0]):,} test rows)"
    )
    table.add_column("metric")
    for model in pooled.index:
        table.add_column(model, justify="right")
    for metric in [c for c in pooled.columns if c != "rows"]:
        table.add_row(metric, *[_fmt(pooled.loc[m, metric]) for m in pooled.index])
    return table


def _fmt(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


# Commands defined in their own modules register themselves on `app` when imported.
from training import report_cli  # noqa: E402,F401
