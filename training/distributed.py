"""Training on Dask: `lightgbm.dask` fits the same two boosters as `fit_forecaster`, on the workers.

The result is a plain `Forecaster` of two `lgb.Booster`s, so the logged MLflow model is the same
LightGBM text format and serves unchanged. `train_and_register_dask` trains from a Dask collection
that this process never holds: folds are picked per partition by `fold_masks`, test folds are scored
on the workers by `fold_outputs`, and only prediction and label columns come back for the shared
metrics (`backtest_folds`).

Early stopping is not run inside the distributed fit (workers stopping at different rounds would
leave LightGBM's network waiting); instead the fit runs `max_boost_rounds`, the validation loss of
every round is summed over the validation partitions on the workers, and the early-stopping rule of
`lgb.early_stopping` is applied to that curve. The chosen round count then fits all rows, as in
`fit_forecaster`.

Results match the pandas engine closely, not bit for bit: in data-parallel LightGBM each worker
bins and bags its own rows. The parity test states the tolerance.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from training.backtest import (
    ROW_ORDER,
    backtest_folds,
    fold_outputs,
    fold_predictions,
    trainable_rows,
)
from training.baselines import NaiveBaselines, fit_logistic, transition_counts
from training.config import TrainConfig
from training.decision import fit_tier_cuts
from training.fingerprint import combine_fingerprints, partition_fingerprint
from training.metrics import N_TIERS
from training.models import Forecaster, class_weights, feature_matrix
from training.splits import Fold, fold_masks, plan_folds, validation_split

if TYPE_CHECKING:
    import dask.dataframe as dd
    from distributed import Client
    from rich.progress import Progress

    from features.catalogue import Catalogue
    from features.io import DatasetRecipe
    from features.rulebook import Rulebook
    from training.pipeline import TrainResult
    from training.tracking import TrackingConfig

# Native LightGBM names -> the scikit-learn names the Dask estimators take.
SKLEARN_NAMES = {
    "num_iterations": "n_estimators",
    "feature_fraction": "colsample_bytree",
    "bagging_fraction": "subsample",
    "bagging_freq": "subsample_freq",
    "lambda_l1": "reg_alpha",
    "lambda_l2": "reg_lambda",
    "min_data_in_leaf": "min_child_samples",
    "min_sum_hessian_in_leaf": "min_child_weight",
    "seed": "random_state",
}
# lightgbm.dask sets each worker's thread count to that worker's own threads.
WORKER_DECIDES = ("num_threads", "n_jobs", "nthread", "num_thread", "nthreads")
LABELS = ("snapshot_at", "label_tier_code", "label_score")
WEIGHT = "_weight"
LOG_EPSILON = 1e-15  # LightGBM's floor on a probability inside multi_logloss
TRAIN_SIDE, TEST_SIDE = 0, 1  # the two masks of `fold_masks`
# Most rows with feature columns that any step brings to the client: the logistic baseline's
# training rows, the peer-reference rows and the global report's rows are samples of this size.
CLIENT_ROWS = 200_000


def estimator_params(params: dict[str, Any], n_estimators: int) -> dict[str, Any]:
    """LightGBM params as Dask estimator keyword arguments; names without a scikit-learn twin
    (objective, num_class, metric, deterministic, ...) pass through as LightGBM params. Thread
    counts are left to lightgbm.dask (each worker uses its own); they never change the result."""
    out = {
        SKLEARN_NAMES.get(name, name): value
        for name, value in params.items()
        if name not in WORKER_DECIDES
    }
    out["n_estimators"] = n_estimators
    return out


def early_stopping_rounds(curve: np.ndarray, patience: int) -> int:
    """The round count `lgb.early_stopping(patience)` keeps for this validation loss curve: the
    first strict minimum, found before `patience` rounds pass without a new one."""
    best, best_round = np.inf, 0
    for i, loss in enumerate(curve):
        if loss < best:
            best, best_round = loss, i
        elif i - best_round >= patience:
            break
    return best_round + 1


def partition_loss_curve(
    model_text: str, part: pd.DataFrame, feature_names: tuple[str, ...], target: str
) -> tuple[np.ndarray, float]:
    """Per boosting round, the weighted loss summed over this partition's rows, and their weight.

    Multiclass: multi_logloss (softmax of the raw scores); regression: squared error, as the
    boosters' own `metric`s, so summing partitions and dividing by the weight gives LightGBM's."""
    booster = lgb.Booster(model_str=model_text)
    rounds = booster.current_iteration()
    if len(part) == 0:
        return np.zeros(rounds), 0.0
    x = feature_matrix(part, feature_names)
    weight = part[WEIGHT].to_numpy(dtype=float)
    y = part[target].to_numpy()
    raw = np.zeros((len(part), booster.num_model_per_iteration()))
    losses = np.empty(rounds)
    rows = np.arange(len(part))
    for i in range(rounds):
        step = booster.predict(x, start_iteration=i, num_iteration=1, raw_score=True)
        raw += step.reshape(raw.shape)
        if target == "label_tier_code":
            shifted = raw - raw.max(axis=1, keepdims=True)
            log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
            loss = -np.maximum(log_p[rows, y.astype(int)], np.log(LOG_EPSILON))
        else:
            loss = (raw[:, 0] - y.astype(float)) ** 2
        losses[i] = float(np.sum(weight * loss))
    return losses, float(weight.sum())


def _model_frame(part: pd.DataFrame, feature_names: tuple[str, ...]) -> pd.DataFrame:
    """Features in model order as float64 (missing columns all-NaN) beside the label columns."""
    frame = pd.DataFrame(
        feature_matrix(part, feature_names), columns=list(feature_names), index=part.index
    )
    for column in LABELS:
        frame[column] = part[column].to_numpy()
    return frame


def _weighted(part: pd.DataFrame, per_class: dict[int, float], use_classes: bool) -> pd.DataFrame:
    weights = part["label_tier_code"].map(per_class) if use_classes else 1.0
    return part.assign(**{WEIGHT: weights}).astype({WEIGHT: float})


def _class_weight_table(counts: pd.Series, power: float) -> dict[int, float]:
    """`class_weights` of the whole label column (its value counts), as a class -> weight table to
    map per partition."""
    codes = np.repeat(counts.index.to_numpy(dtype=int), counts.to_numpy())
    weights = class_weights(codes, power)
    return {int(c): float(weights[codes == c][0]) for c in counts.index}


def fit_forecaster_dask(
    client: Client,
    train: dd.DataFrame,
    feature_names: tuple[str, ...],
    config: TrainConfig,
) -> Forecaster:
    """`fit_forecaster` with `lightgbm.dask`: the same split, weights, params and round choice."""
    frame = train.map_partitions(_model_frame, feature_names)
    snapshots = frame["snapshot_at"].unique().compute().sort_values(ignore_index=True)
    fit_snapshots, valid_snapshots = validation_split(snapshots, config.validation_share)
    cut = snapshots[valid_snapshots].min() if valid_snapshots.any() else None
    tier_counts = frame["label_tier_code"].value_counts().compute()
    per_class = _class_weight_table(tier_counts, config.class_weight_power)
    base = config.booster_params(int(tier_counts.sum()))
    fits, held_out = [], None
    for target, params, use_classes in (
        (
            "label_tier_code",
            {
                **base,
                "objective": "multiclass",
                "num_class": N_TIERS,
                "metric": "multi_logloss",
            },
            True,
        ),
        ("label_score", {**base, "objective": "regression", "metric": "l2"}, False),
    ):
        # Not persisted: the rows are re-read for each pass, so a dataset larger than the cluster's
        # memory trains, and no persisted future can be released under a later pass.
        weighted = frame.map_partitions(_weighted, per_class, use_classes)
        rounds = config.max_boost_rounds
        if cut is not None:
            fit_rows = weighted[weighted["snapshot_at"] < cut]
            first = _fit(client, fit_rows, feature_names, target, params, rounds)
            curve = _validation_curve(
                client, first, weighted[weighted["snapshot_at"] >= cut], feature_names, target
            )
            rounds = early_stopping_rounds(curve, config.early_stopping_rounds)
            held_out = (first, weighted[weighted["snapshot_at"] >= cut], rounds)
        fits.append(_fit(client, weighted, feature_names, target, params, rounds))
    booster, rows, rounds = held_out or (fits[1], frame, None)
    score, tiers = _held_out_scores(client, booster, rows, feature_names, rounds)
    return Forecaster(fits[0], fits[1], feature_names, fit_tier_cuts(score, tiers))


def partition_scores(
    model_text: str, part: pd.DataFrame, feature_names: tuple[str, ...], rounds: int | None
) -> tuple[np.ndarray, np.ndarray]:
    """This partition's predicted scores (clipped to the LES scale) and label tier codes."""
    booster = lgb.Booster(model_str=model_text)
    if len(part) == 0:
        return np.zeros(0), np.zeros(0, int)
    score = booster.predict(feature_matrix(part, feature_names), num_iteration=rounds)
    return np.clip(score, 0.0, 5.0), part["label_tier_code"].to_numpy(dtype=int)


def _held_out_scores(
    client: Client,
    booster: lgb.Booster,
    rows: dd.DataFrame,
    feature_names: tuple[str, ...],
    rounds: int | None,
) -> tuple[np.ndarray, np.ndarray]:
    """The regressor's scores and the labels of the held-out rows, for `fit_tier_cuts`: two
    columns of the validation snapshots come to the client, as in `fit_forecaster`."""
    from dask import delayed

    model_text = client.scatter(booster.model_to_string(num_iteration=-1), broadcast=True)
    parts = [
        delayed(partition_scores)(model_text, part, feature_names, rounds)
        for part in rows.to_delayed()
    ]
    results = client.gather(client.compute(parts))
    return np.concatenate([s for s, _ in results]), np.concatenate([t for _, t in results])


def _fit(
    client: Client,
    rows: dd.DataFrame,
    feature_names: tuple[str, ...],
    target: str,
    params: dict[str, Any],
    rounds: int,
) -> lgb.Booster:
    """One distributed LightGBM fit -> its booster, local to this process.

    DaskLGBMRegressor takes the multiclass objective as a plain LightGBM param: the Dask classifier
    label-encodes on each worker, which breaks when a worker's rows lack a tier and would drop
    absent tiers from the model; the native objective keeps all N_TIERS classes, as `lgb.train`."""
    from lightgbm.dask import DaskLGBMRegressor

    rows = non_empty(rows)
    model = DaskLGBMRegressor(client=client, **estimator_params(params, rounds))
    uses_weight = target == "label_tier_code"
    model.fit(
        rows[list(feature_names)],
        rows[target],
        sample_weight=rows[WEIGHT] if uses_weight else None,
    )
    return lgb.Booster(model_str=model.booster_.model_to_string(num_iteration=-1))


def _validation_curve(
    client: Client,
    booster: lgb.Booster,
    valid: dd.DataFrame,
    feature_names: tuple[str, ...],
    target: str,
) -> np.ndarray:
    """The weighted mean validation loss after each round, summed over partitions on the workers."""
    from dask import delayed

    model_text = client.scatter(booster.model_to_string(num_iteration=-1), broadcast=True)
    parts = [
        delayed(partition_loss_curve)(model_text, part, feature_names, target)
        for part in valid.to_delayed()
    ]
    results = client.gather(client.compute(parts))
    total = sum(losses for losses, _ in results)
    weight = sum(w for _, w in results)
    return np.asarray(total) / max(weight, 1e-12)


def train_and_register_dask(
    client: Client,
    dataset: dd.DataFrame,
    config: TrainConfig,
    rules: Rulebook,
    catalogue: Catalogue,
    tracking: TrackingConfig,
    progress: Progress | None = None,
    client_rows: int = CLIENT_ROWS,
    recipe: DatasetRecipe | None = None,
) -> TrainResult:
    """`train_and_register` for a dataset that stays a Dask collection (a folder of parts larger
    than this process): the same folds, fits, metrics, logging and gate.

    The client receives per-partition fingerprints and counts, the test folds' prediction and
    label columns, two aggregates per training fold (persistence's fallback) and samples of at
    most `client_rows` rows for the logistic baseline, the peer medians and the global report."""
    from training.pipeline import (
        REPORT_SNAPSHOTS,
        TrainedForecaster,
        check_trainable,
        model_feature_names,
        register_trained,
    )

    rows = dataset.map_partitions(trainable_rows)
    tiers = rows["label_tier"].value_counts().compute()
    check_trainable(int(tiers.sum()), tiers.index[tiers > 0])
    names = model_feature_names(catalogue, config)
    snapshots = rows["snapshot_at"].unique().compute()
    plan = plan_folds(snapshots, config.n_folds, config.horizon_days)
    backtest = backtest_folds(
        plan,
        lambda fold: predict_fold_dask(client, rows, fold, names, config, rules, client_rows),
        progress,
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


def non_empty(frame: dd.DataFrame) -> dd.DataFrame:
    """The partitions that hold rows. A fold filter leaves empty ones, which a LightGBM worker (no
    rows, no Dataset) and `fold_outputs` (a booster predicts shape (0,) for no rows) cannot take."""
    lengths = frame.map_partitions(len).compute()
    return frame.partitions[[i for i, n in enumerate(lengths) if n]]


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
