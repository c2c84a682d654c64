"""What `les train` trains on: the dataset and its recipe, or one built from orders, checked
before any MLflow run starts."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from features.console import console, read_valid_orders, task_progress
from training.checks import TrainingError

if TYPE_CHECKING:
    from features.recipe import DatasetRecipe
    from training.config import TrainConfig


def dataset_recipe(dataset: Path | None) -> DatasetRecipe:
    """The recipe recorded with --dataset. A dataset without one (written before recipes, or by
    other code) is taken, with a yellow line saying so, to have the `les build-dataset` defaults,
    as --orders are built; an unreadable recipe is a `RecipeError`."""
    from features.dataset_config import DatasetConfig
    from features.recipe import DatasetRecipe, read_recipe, recipe_path
    from features.rulebook import load_rulebook

    recipe = None if dataset is None else read_recipe(dataset)
    if recipe is None and dataset is not None:
        console.print(
            f"[yellow]{dataset} records no recipe ({recipe_path(dataset)}): assuming the "
            "`les build-dataset` defaults and this code's rulebook[/]",
            soft_wrap=True,
        )
    return recipe or DatasetRecipe.of(DatasetConfig(), load_rulebook())


def load_or_build_dataset(
    dataset: Path | None, orders: Path | None, recipe: DatasetRecipe
) -> pd.DataFrame:
    """The --dataset table, or the dataset built in this process from the valid --orders."""
    from features.dataset import build_dataset
    from features.io import read_table
    from features.rulebook import load_rulebook

    if dataset is not None:
        return read_table(dataset)
    assert orders is not None
    valid = read_valid_orders(orders)
    with console.status("building (merchant, snapshot) features and labels"):
        return build_dataset(valid, recipe.config, recipe.rulebook(load_rulebook()))


def check_dataset_columns(frame: Any, train_config: TrainConfig, source: str) -> None:
    """Labels present and every model feature numeric, from the schema (pandas or Dask), before
    the backtest: a bad dataset is refused at once and starts no MLflow run."""
    from features.catalogue import load_catalogue
    from training.checks import check_dataset, model_feature_names

    features = model_feature_names(load_catalogue(), train_config)
    try:
        check_dataset(frame.columns, frame.dtypes, features)
    except TrainingError as exc:
        raise TrainingError(f"cannot train: {source}: {exc}") from exc


@contextmanager
def dask_dataset(client: Any, dataset: Path | None, orders: Path | None) -> Iterator[Any]:
    """The dataset as a Dask collection, never held in this process; from --orders it is built on
    the cluster into a folder beside them (storage the workers share), removed after training."""
    from features.dataset_config import DatasetConfig
    from features.distributed import build_dataset_dask
    from features.io import read_dask_table
    from features.rulebook import load_rulebook

    folder = None if orders is None else orders.with_name(f"{orders.stem}.dataset")
    try:
        if folder is not None:
            assert orders is not None
            with task_progress() as advance:
                built = build_dataset_dask(
                    client, orders, folder, DatasetConfig(), load_rulebook(), advance=advance
                )
            if built.rejected_orders:
                console.print(
                    f"[yellow]{built.rejected_orders:,} order rows rejected by the contract "
                    f"(run `les validate {orders}` for reasons)[/]"
                )
        yield read_dask_table(folder or dataset)
    finally:
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
