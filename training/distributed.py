"""Training on Dask: `lightgbm.dask` fits the same two boosters as `fit_forecaster`, on the workers.

The result is a plain `Forecaster` of two `lgb.Booster`s, so the logged MLflow model is the same
LightGBM text format and serves unchanged. `training.distributed_backtest.train_and_register_dask`
trains from a Dask collection that this process never holds: folds are picked per partition by `fold_masks`, test folds are scored
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

from features.rulebook import MAX_POINTS
from training.config import TrainConfig
from training.decision import fit_tier_cuts
from training.models import (
    Forecaster,
    class_weights,
    classifier_params,
    feature_matrix,
    regressor_params,
)
from training.splits import validation_split

if TYPE_CHECKING:
    import dask.dataframe as dd
    from distributed import Client

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
        ("label_tier_code", classifier_params(base), True),
        ("label_score", regressor_params(base), False),
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
    return np.clip(score, 0.0, MAX_POINTS), part["label_tier_code"].to_numpy(dtype=int)


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


def non_empty(frame: dd.DataFrame) -> dd.DataFrame:
    """The partitions that hold rows. A fold filter leaves empty ones, which a LightGBM worker (no
    rows, no Dataset) and `fold_outputs` (a booster predicts shape (0,) for no rows) cannot take."""
    lengths = frame.map_partitions(len).compute()
    return frame.partitions[[i for i, n in enumerate(lengths) if n]]
