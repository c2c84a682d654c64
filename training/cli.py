"""The `les` console script: the feature commands plus training, registry and report commands."""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Annotated

import typer
from rich.panel import Panel
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from features.cli import (
    DEFAULT_LOG_FILE,
    LOG_FILE_ENV,
    EngineOption,
    SchedulerOption,
    _counts_table,
    app,
    console,
    engine_config,
    engine_session,
    task_progress,
)
from training.registered import DEFAULT_MODEL_URI

__all__ = ["app"]


# Libraries that log progress and notices of their own; their records go to the log file.
LIBRARY_LOGGERS = ("mlflow", "alembic", "distributed", "lightgbm", "urllib3")
SERVER_COMMANDS = ("serve",)  # the server's log is its output
LOG_HANDLER_NAME = "les-library-log"


@app.callback()
def _quiet_libraries(ctx: typer.Context) -> None:
    """Keep the terminal to les's own progress and tables: MLflow's download bars and notices are
    off, and library log records go to $LES_LOG_FILE (default ./les.log, created only when a
    library logs something)."""
    if ctx.invoked_subcommand in SERVER_COMMANDS:
        return
    route_library_logs(Path(os.environ.get(LOG_FILE_ENV, DEFAULT_LOG_FILE)))


def route_library_logs(log_file: Path) -> None:
    os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"
    from mlflow.utils import logging_utils

    logging_utils.disable_logging()  # MLflow's own stderr notices ("Created version ...")
    handler = logging.FileHandler(log_file, delay=True, encoding="utf-8")
    handler.set_name(LOG_HANDLER_NAME)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    for name in LIBRARY_LOGGERS:
        logger = logging.getLogger(name)
        # the terminal's handlers, and ours of an earlier command in this process, make way
        for old in [h for h in logger.handlers if _routed_away(h)]:
            logger.removeHandler(old)
        logger.addHandler(handler)
        logger.propagate = False


def _routed_away(handler: logging.Handler) -> bool:
    is_terminal = type(handler) is logging.StreamHandler
    return is_terminal or handler.get_name() == LOG_HANDLER_NAME


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
    recipe = _dataset_recipe(dataset)
    source = str(dataset) if dataset is not None else f"the dataset built from {orders}"
    if not engine_cfg.is_dask:
        frame = _load_or_build_dataset(dataset, orders, recipe)
        _check_dataset(frame, train_config, source)
        _train_and_report(frame, train_config, recipe)
        return
    from training.distributed import train_and_register_dask

    with engine_session(engine_cfg) as client, _dask_dataset(client, dataset, orders) as frame:
        _check_dataset(frame, train_config, source)
        train = partial(train_and_register_dask, client, recipe=recipe)
        _train_and_report(frame, train_config, recipe, train)


@app.command()
def models(
    name: Annotated[str, typer.Option(help="Registered model name.")] = "les-forecaster",
) -> None:
    """List registered versions, aliases and headline backtest metrics."""
    from training.tracking import RegistryError, activate, list_versions, resolve_tracking

    try:
        tracking = resolve_tracking(create=False)
        rows = list_versions(activate(tracking), name)
    except RegistryError as exc:
        console.print(f"[red]{exc}[/]", soft_wrap=True)
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
        set_alias(activate(resolve_tracking(create=False)), name, CHAMPION, version)
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
    from features.io import DatasetRecipe, write_recipe, write_table
    from features.rulebook import load_rulebook
    from features.world import WorldConfig, generate_world
    from training.config import load_train_config

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
    result = _train_and_report(dataset, load_train_config(), recipe)
    from training.report_cli import write_demo_reports

    write_demo_reports(result.model_uri, dataset, out)


@app.command()
def score(
    dataset: Annotated[
        Path,
        typer.Option(help="(merchant, snapshot) dataset: a .parquet file or a folder of parts."),
    ],
    out: Annotated[
        Path,
        typer.Option(help="Forecasts: a .parquet file, or a folder of parts (dask: a folder)."),
    ],
    model: Annotated[
        str, typer.Option(help="MLflow model URI (default: the registered champion).")
    ] = DEFAULT_MODEL_URI,
    snapshot: Annotated[
        str, typer.Option(help="latest (each merchant's newest row), all, or a date YYYY-MM-DD.")
    ] = "latest",
    explain: Annotated[
        bool, typer.Option("--explain", help="Add the base score and the points of each stage.")
    ] = False,
    engine: EngineOption = "pandas",
    scheduler: SchedulerOption = None,
) -> None:
    """Batch forecasts for a dataset: tier, tier probabilities and score per (merchant, snapshot).

    With --explain each row also carries the base score and the points of every stage; base +
    stages + bounds = predicted score. Memory is bounded by one chunk on either engine."""
    import pyarrow as pa

    from features.distributed import is_folder_target
    from features.io import TableReadError
    from training.batch_scoring import dataset_files, score_dask, score_pandas
    from training.report_cli import _load_model
    from training.scoring import ScoringInputError, parse_snapshot

    engine_cfg = engine_config(engine, scheduler)
    try:
        choice = parse_snapshot(snapshot)
        dataset_files(dataset)
        if engine_cfg.is_dask and not is_folder_target(out):
            raise ScoringInputError(f"--out {out}: the dask engine writes a folder (no suffix)")
    except (ScoringInputError, TableReadError) as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from exc
    loaded = _load_model(model)
    console.print(f"scoring {choice.describe()} with {loaded.model_name} v{loaded.model_version}")
    try:
        if engine_cfg.is_dask:
            with engine_session(engine_cfg) as client, task_progress() as advance:
                run = score_dask(client, loaded, dataset, out, choice, explain, advance)
        else:
            with task_progress() as advance:
                run = score_pandas(loaded, dataset, out, choice, explain, advance)
    except (ScoringInputError, TableReadError) as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from exc
    except pa.ArrowInvalid as exc:  # pyarrow's message names no file
        console.print(f"[red]error:[/] {dataset}: not a readable parquet table ({exc})")
        raise typer.Exit(2) from exc
    if not run.summary.rows:
        console.print(f"[red]error:[/] no row of {dataset} matches {choice.describe()}")
        raise typer.Exit(2)
    s = run.summary
    console.print(f"{s.rows:,} rows scored, {s.merchants:,} merchants")
    console.print(_counts_table("Forecast tiers", s.tiers, "tier"))
    console.print(f"-> {out}")


def _dataset_recipe(dataset: Path | None):
    """The recipe recorded with --dataset. A dataset without one (written before recipes, or by
    other code) is taken, with a yellow line saying so, to have the `les build-dataset` defaults,
    as --orders are built; an unreadable recipe is exit 2."""
    from features.dataset import DatasetConfig
    from features.io import DatasetRecipe, RecipeError, read_recipe, recipe_path
    from features.rulebook import load_rulebook

    try:
        recipe = None if dataset is None else read_recipe(dataset)
    except RecipeError as exc:
        console.print(f"[red]error:[/] {exc}", soft_wrap=True)
        raise typer.Exit(2) from exc
    if recipe is None and dataset is not None:
        console.print(
            f"[yellow]{dataset} records no recipe ({recipe_path(dataset)}): assuming the "
            "`les build-dataset` defaults and this code's rulebook[/]",
            soft_wrap=True,
        )
    return recipe or DatasetRecipe.of(DatasetConfig(), load_rulebook())


def _load_or_build_dataset(dataset: Path | None, orders: Path | None, recipe):
    from features.cli import _read_valid_orders
    from features.dataset import build_dataset
    from features.io import read_table
    from features.rulebook import load_rulebook

    if dataset is not None:
        return read_table(dataset)
    valid = _read_valid_orders(orders)
    with console.status("building (merchant, snapshot) features and labels"):
        return build_dataset(valid, recipe.config, recipe.rulebook(load_rulebook()))


def _check_dataset(frame, train_config, source: str) -> None:
    """Labels present and every model feature numeric, from the schema (pandas or Dask), before
    the backtest: a bad dataset is exit 2 at once and starts no MLflow run."""
    from features.catalogue import load_catalogue
    from training.pipeline import TrainingError, check_dataset, model_feature_names

    features = model_feature_names(load_catalogue(), train_config)
    try:
        check_dataset(frame.columns, frame.dtypes, features)
    except TrainingError as exc:
        console.print(f"[red]cannot train:[/] {source}: {exc}", soft_wrap=True)
        raise typer.Exit(2) from exc


@contextmanager
def _dask_dataset(client, dataset: Path | None, orders: Path | None) -> Iterator[object]:
    """The dataset as a Dask collection, never held in this process; from --orders it is built on
    the cluster into a folder beside them (storage the workers share), removed after training."""
    import shutil

    from features.contract import ContractError
    from features.dataset import DatasetConfig
    from features.distributed import NoValidOrdersError, build_dataset_dask, read_dask_table
    from features.io import TableReadError
    from features.rulebook import load_rulebook

    folder = None if orders is None else orders.with_name(f"{orders.stem}.dataset")
    try:
        if folder is not None:
            with task_progress() as advance:
                built = build_dataset_dask(
                    client, orders, folder, DatasetConfig(), load_rulebook(), advance=advance
                )
            if built.rejected_orders:
                console.print(
                    f"[yellow]{built.rejected_orders:,} order rows rejected by the contract "
                    f"(run `les validate {orders}` for reasons)[/]"
                )
        frame = read_dask_table(folder or dataset)
    except (ContractError, TableReadError, NoValidOrdersError) as exc:
        console.print(f"[red]error:[/] {exc}")
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
        raise typer.Exit(2) from exc
    try:
        yield frame
    finally:
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)


def _train_and_report(frame, train_config, recipe, train=None):
    """Train, register and gate with `train` (`train_and_register` for a pandas frame, a bound
    `train_and_register_dask` for a Dask collection), then print the metrics and the decision.
    The dataset's `recipe` must match the config's horizon and this code's rulebook (exit 2)."""
    from features.catalogue import load_catalogue
    from features.io import RecipeError
    from features.rulebook import load_rulebook
    from training.pipeline import TrainingError, check_horizon, train_and_register
    from training.splits import SplitError
    from training.tracking import resolve_tracking

    try:
        check_horizon(train_config, recipe)
        rules = recipe.rulebook(load_rulebook())
        tracking = resolve_tracking()
        with _progress() as progress:
            result = (train or partial(train_and_register, recipe=recipe))(
                frame, train_config, rules, load_catalogue(), tracking, progress
            )
    except RecipeError as exc:
        console.print(f"[red]cannot train:[/] the dataset was {exc}; rebuild it", soft_wrap=True)
        raise typer.Exit(2) from exc
    except (SplitError, TrainingError) as exc:
        console.print(f"[red]cannot train:[/] {exc}", soft_wrap=True)
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
    return result


TABLE_METRICS = ("macro_f1", "qwk", "rps", "ece", "score_mae")


def _metrics_table(result) -> Table:
    """One row per model (served forecast, its decision diagnostics, the baselines) and the
    headline metrics (80 columns wide); every metric is in the MLflow run."""
    pooled = result.backtest.pooled_metrics
    table = Table(
        title=f"Pooled rolling-origin backtest: {result.backtest.plan.describe()}; "
        f"{int(pooled['rows'].iloc[0]):,} test rows"
    )
    table.add_column("model", no_wrap=True)
    metrics = [m for m in TABLE_METRICS if m in pooled.columns]
    for metric in metrics:
        table.add_column(metric, justify="right")
    for model in pooled.index:
        table.add_row(model, *[_fmt(pooled.loc[model, metric]) for metric in metrics])
    return table


def _fmt(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


# Commands defined in their own modules register themselves on `app` when imported.
from training import report_cli  # noqa: E402,F401
