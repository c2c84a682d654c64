"""What a dataset must hold before training starts: checked up front, so a bad dataset is one line
and no MLflow run, not a failure minutes into the backtest."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import pandas as pd

from features.catalogue import Catalogue
from features.errors import LesError
from features.recipe import DatasetRecipe
from training.config import TrainConfig

LABEL_COLUMNS = ("merchant_id", "snapshot_at", "label_tier", "label_complete")


class TrainingError(LesError, RuntimeError):
    """The dataset cannot train a forecaster (too few rows, tiers or snapshots)."""


def model_feature_names(catalogue: Catalogue, config: TrainConfig) -> tuple[str, ...]:
    excluded = set(config.excluded_features)
    return tuple(n for n in catalogue.names if n not in excluded)


def check_horizon(config: TrainConfig, recipe: DatasetRecipe) -> None:
    """The folds are cut `horizon_days` apart so no label window reaches into a test fold, and
    the model is served as a forecast of that horizon: both must be the labels' own horizon."""
    recorded = recipe.config.horizon_days
    if config.horizon_days != recorded:
        raise TrainingError(
            f"the training config's horizon_days {config.horizon_days} disagrees with the "
            f"dataset's recorded horizon_days {recorded}; rebuild the dataset with "
            f"--horizon-days {config.horizon_days} or set horizon_days: {recorded}"
        )


def check_trainable(n_rows: int, tiers: Iterable[object]) -> None:
    """Raise TrainingError unless `n_rows` trainable rows hold at least two label `tiers`."""
    if n_rows < 50:
        raise TrainingError(
            f"only {n_rows} trainable rows (complete, sufficient labels); need >= 50"
        )
    present = sorted(str(t) for t in tiers)
    if len(present) < 2:
        raise TrainingError(f"labels hold a single tier {present}; a forecaster needs at least two")


def check_dataset(
    columns: Iterable[str], dtypes: Mapping[str, object], features: Iterable[str]
) -> None:
    """Raise TrainingError naming the columns unless the dataset holds the label columns and every
    model feature as a numeric column: checked from the schema alone (a pandas or a Dask frame),
    before a backtest that would fail on them minutes later inside an MLflow run."""
    present = set(columns)
    features = tuple(features)
    missing = [c for c in (*LABEL_COLUMNS, *features) if c not in present]
    if missing:
        raise TrainingError(
            f"the dataset lacks the columns {missing}; build it with `les build-dataset`"
        )
    not_numeric = [
        f"{name} ({dtypes[name]})"
        for name in features
        if not pd.api.types.is_numeric_dtype(dtypes[name])
    ]
    if not_numeric:
        raise TrainingError(
            f"feature columns are not numeric: {', '.join(not_numeric)}; a model feature holds "
            "numbers (missing values as empty)"
        )
