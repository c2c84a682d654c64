"""The training room's `les` commands: train, models, promote, demo.

Declared as `COMMANDS`; the console script (`serving/cli.py`) builds the one app from every room's
declarations. Bad input is raised as a `LesError`, which the error boundary prints as one line.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from features.console import (
    Command,
    EngineOption,
    SchedulerOption,
    console,
    engine_config,
    engine_session,
)
from features.world_params import WorldConfig
from training.config import TrainConfig
from training.train_console import fmt, train_and_report
from training.train_inputs import (
    check_dataset_columns,
    dask_dataset,
    dataset_recipe,
    load_or_build_dataset,
)

TRAIN_DEFAULTS = TrainConfig()
WORLD_DEFAULTS = WorldConfig()
ModelNameOption = Annotated[str, typer.Option(help="Registered model name.")]
VERSION_COLUMNS = ("version", "aliases", "macro_f1", "qwk", "persistence_macro_f1", "fingerprint")


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
    engine: EngineOption = "pandas",
    scheduler: SchedulerOption = None,
) -> None:
    """Backtest, train and register the LES forecaster; gate the `champion` alias.

    The model records the dataset's recipe (the `les build-dataset` settings and rulebook), so
    serving, `les explain` and `les report` build its features the same way; a training config
    whose horizon_days is not the dataset's is refused.

    With --engine dask the dataset (a parquet file or folder) stays on the cluster: every booster
    is fitted by lightgbm.dask and test folds are scored by the workers (--orders are turned into
    features there first); the logged model is the same and serves unchanged."""
    from training.config import load_train_config

    if (dataset is None) == (orders is None):
        raise typer.BadParameter("give exactly one of --dataset or --orders")
    train_config = load_train_config(config, experiment_name=experiment)
    engine_cfg = engine_config(engine, scheduler)
    recipe = dataset_recipe(dataset)
    source = str(dataset) if dataset is not None else f"the dataset built from {orders}"
    if not engine_cfg.is_dask:
        frame = load_or_build_dataset(dataset, orders, recipe)
        check_dataset_columns(frame, train_config, source)
        train_and_report(frame, train_config, recipe)
        return
    from training.distributed_backtest import train_and_register_dask

    with engine_session(engine_cfg) as client, dask_dataset(client, dataset, orders) as frame:
        check_dataset_columns(frame, train_config, source)
        fit = partial(train_and_register_dask, client, recipe=recipe)
        train_and_report(frame, train_config, recipe, fit)


def models(name: ModelNameOption = TRAIN_DEFAULTS.registered_model_name) -> None:
    """List registered versions, aliases and headline backtest metrics."""
    from training.tracking import activate, list_versions, resolve_tracking

    tracking = resolve_tracking(create=False)
    rows = list_versions(activate(tracking), name)
    table = Table(title=f"{name} in {tracking.tracking_uri}")
    for column in VERSION_COLUMNS:
        table.add_column(column)
    for row in rows:
        table.add_row(*[fmt(row[c]) for c in VERSION_COLUMNS])
    console.print(table)


def promote(
    version: Annotated[str, typer.Argument(help="Model version to make champion.")],
    name: ModelNameOption = TRAIN_DEFAULTS.registered_model_name,
) -> None:
    """Move the `champion` alias to VERSION by hand (overrides the gate)."""
    from training.tracking import CHAMPION, activate, resolve_tracking, set_alias

    set_alias(activate(resolve_tracking(create=False)), name, CHAMPION, version)
    console.print(f"{name} version {version} is now [bold]{CHAMPION}[/]")


def demo(
    out: Annotated[Path, typer.Option(help="Working folder for the world and dataset.")] = Path(
        "out"
    ),
    merchants: Annotated[
        int, typer.Option(help="Merchants in the synthetic world.")
    ] = WORLD_DEFAULTS.n_merchants,
    days: Annotated[int, typer.Option(help="Days of order history.")] = WORLD_DEFAULTS.days,
    seed: Annotated[int, typer.Option(help="Random seed.")] = WORLD_DEFAULTS.seed,
) -> None:
    """The main job: synthetic world -> features -> train -> backtest -> register -> report."""
    from features.dataset import build_dataset
    from features.dataset_config import DatasetConfig
    from features.io import write_table
    from features.recipe import DatasetRecipe, write_recipe
    from features.rulebook import load_rulebook
    from features.world import generate_world
    from training.config import load_train_config
    from training.reports.commands import write_demo_reports

    with console.status("generating the synthetic livestream-commerce world"):
        world = generate_world(WorldConfig(n_merchants=merchants, days=days, seed=seed))
    write_table(world.orders, out / "world" / "orders.parquet")
    write_table(world.merchants, out / "world" / "merchants.parquet")
    console.print(f"world: {len(world.orders):,} orders, {merchants} merchants, {days} days")
    recipe = DatasetRecipe.of(DatasetConfig(), load_rulebook())
    with console.status("building (merchant, snapshot) features and labels"):
        dataset = build_dataset(world.orders, recipe.config, load_rulebook())
    write_recipe(recipe, write_table(dataset, out / "dataset.parquet"))
    console.print(f"dataset: {len(dataset):,} rows -> {out / 'dataset.parquet'}")
    result = train_and_report(dataset, load_train_config(), recipe)
    write_demo_reports(result.model_uri, dataset, out)


COMMANDS: tuple[Command, ...] = (
    Command("train", train),
    Command("models", models),
    Command("promote", promote),
    Command("demo", demo),
)
