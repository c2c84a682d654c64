"""The backtest and the training run on Dask: folds picked per partition, test folds scored on the
workers, and only prediction and label columns (plus bounded samples) brought to this process.

The boosters themselves are fitted by `training.distributed.fit_forecaster_dask`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from features.progress import Advance
from training.backtest import (
    ROW_ORDER,
    backtest_folds,
    fold_outputs,
    fold_predictions,
    trainable_rows,
)
from training.baselines import NaiveBaselines, fit_logistic, transition_counts
from training.checks import check_trainable, model_feature_names
from training.config import TrainConfig
from training.distributed import fit_forecaster_dask, non_empty
from training.fingerprint import combine_fingerprints, partition_fingerprint
from training.metrics import N_TIERS
from training.splits import Fold, fold_masks, plan_folds

if TYPE_CHECKING:
    import dask.dataframe as dd
    from distributed import Client

    from features.catalogue import Catalogue
    from features.recipe import DatasetRecipe
    from features.rulebook import Rulebook
    from training.pipeline import TrainResult
    from training.tracking import TrackingConfig

TRAIN_SIDE, TEST_SIDE = 0, 1  # the two masks of `fold_masks`
# Most rows with feature columns that any step brings to the client: the logistic baseline's
# training rows, the peer-reference rows and the global report's rows are samples of this size.
CLIENT_ROWS = 200_000


def train_and_register_dask(
    client: Client,
    dataset: dd.DataFrame,
    config: TrainConfig,
    rules: Rulebook,
    catalogue: Catalogue,
    tracking: TrackingConfig,
    advance: Advance | None = None,
    client_rows: int = CLIENT_ROWS,
    recipe: DatasetRecipe | None = None,
) -> TrainResult:
    """`train_and_register` for a dataset that stays a Dask collection (a folder of parts larger
    than this process): the same folds, fits, metrics, logging and gate.

    The client receives per-partition fingerprints and counts, the test folds' prediction and
    label columns, two aggregates per training fold (persistence's fallback) and samples of at
    most `client_rows` rows for the logistic baseline, the peer medians and the global report."""
    from training.pipeline import TrainedForecaster, register_trained
    from training.run_logging import REPORT_SNAPSHOTS

    rows = dataset.map_partitions(trainable_rows)
    tiers = rows["label_tier"].value_counts().compute()
    check_trainable(int(tiers.sum()), tiers.index[tiers > 0])
    names = model_feature_names(catalogue, config)
    snapshots = rows["snapshot_at"].unique().compute()
    plan = plan_folds(snapshots, config.n_folds, config.horizon_days)
    backtest = backtest_folds(
        plan,
        lambda fold: predict_fold_dask(client, rows, fold, names, config, rules, client_rows),
        advance,
    )
    forecaster = fit_forecaster_dask(client, rows, names, config)
    newest = sorted(snapshots.unique())[-REPORT_SNAPSHOTS:]
    trained = TrainedForecaster(
        forecaster,
        backtest,
        dataset_fingerprint_dask(client, dataset),
        client_sample(rows, client_rows, config.seed),
        client_sample(rows[rows["snapshot_at"].isin(newest)], client_rows, config.seed),
        int(tiers.sum()),
    )
    return register_trained(trained, config, rules, catalogue, tracking, recipe)


def predict_fold_dask(
    client: Client,
    rows: dd.DataFrame,
    fold: Fold,
    feature_names: tuple[str, ...],
    config: TrainConfig,
    rules: Rulebook,
    client_rows: int = CLIENT_ROWS,
) -> pd.DataFrame:
    """One backtest fold on the cluster: what `backtest._predict_fold` computes in process.

    The logistic baseline is fitted on `client_sample` of the fold's training rows (all of them up
    to `client_rows`, so small datasets get the pandas engine's baseline); both models are then
    sent to the workers, which score their own test partitions."""
    from dask import delayed

    train = rows.map_partitions(fold_part, fold, TRAIN_SIDE)
    test = non_empty(rows.map_partitions(fold_part, fold, TEST_SIDE))
    forecaster = fit_forecaster_dask(client, train, feature_names, config)
    logistic = fit_logistic(
        client_sample(train, client_rows, config.seed), feature_names, config.seed
    )
    models = client.scatter([forecaster, logistic], broadcast=True, hash=False)
    parts = [delayed(fold_outputs)(part, *models) for part in test.to_delayed()]
    outputs = pd.concat(client.gather(client.compute(parts)), ignore_index=True)
    return fold_predictions(in_row_order(outputs), naive_baselines_dask(train), fold, rules)


def naive_baselines_dask(train: dd.DataFrame) -> NaiveBaselines:
    """`NaiveBaselines.of` computed on the workers: per-partition transition counts summed, and the
    mean label score; two aggregates, not the label columns."""
    import dask

    counts = train.map_partitions(
        lambda part: pd.DataFrame(transition_counts(part).reshape(1, -1)),
        meta=pd.DataFrame({i: pd.Series(dtype="int64") for i in range(N_TIERS * (N_TIERS + 1))}),
    ).sum()
    totals, mean = dask.compute(counts, train["label_score"].mean())
    return NaiveBaselines(totals.to_numpy(dtype=int).reshape(N_TIERS + 1, N_TIERS), float(mean))


def fold_part(part: pd.DataFrame, fold: Fold, side: int) -> pd.DataFrame:
    """This partition's rows of one side of a fold (TRAIN_SIDE or TEST_SIDE), by `fold_masks`."""
    return part.loc[fold_masks(part["snapshot_at"], fold)[side]]


def client_sample(frame: dd.DataFrame, limit: int, seed: int) -> pd.DataFrame:
    """At most `limit` rows of `frame` in this process, in trainable-row order: all of them when
    they fit (then the very rows the pandas engine uses), else a seeded uniform sample."""
    n = len(frame)
    picked = frame if n <= limit else frame.sample(frac=limit / n, random_state=seed)
    sample = picked.compute()
    if len(sample) > limit:  # per-partition rounding can add a row per partition
        sample = sample.sample(limit, random_state=seed)
    return in_row_order(sample)


def in_row_order(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows gathered from partitions, in the order `trainable_rows` gives the pandas engine."""
    return frame.sort_values(list(ROW_ORDER), kind="stable", ignore_index=True)


def dataset_fingerprint_dask(client: Client, dataset: dd.DataFrame) -> dict[str, object]:
    """`dataset_fingerprint` of a collection: one `partition_fingerprint` per partition."""
    from dask import delayed

    parts = [delayed(partition_fingerprint)(part) for part in dataset.to_delayed()]
    return combine_fingerprints(client.gather(client.compute(parts)))
