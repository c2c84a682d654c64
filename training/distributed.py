"""Training on Dask: `lightgbm.dask` fits the same two boosters as `fit_forecaster`, on the workers.

The result is a plain `Forecaster` of two `lgb.Booster`s, so the logged MLflow model is the same
LightGBM text format and serves unchanged; `train_and_register(..., fit=DaskTrainer(client))` runs
the backtest folds, the final fit, logging and the gate exactly as with the pandas engine.

Early stopping is not run inside the distributed fit (workers stopping at different rounds would
leave LightGBM's network waiting); instead the fit runs `max_boost_rounds`, the validation loss of
every round is summed over the validation partitions on the workers, and the early-stopping rule of
`lgb.early_stopping` is applied to that curve. The chosen round count then fits all rows, as in
`fit_forecaster`.

Results match the pandas engine closely, not bit for bit: in data-parallel LightGBM each worker
bins and bags its own rows. The parity test states the tolerance.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from training.config import TrainConfig
from training.metrics import N_TIERS
from training.models import Forecaster, class_weights, feature_matrix
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


@dataclass(frozen=True)
class DaskTrainer:
    """`fit_forecaster`'s signature on a Dask cluster: pass as `fit=` to `train_and_register`."""

    client: Client
    npartitions: int | None = None  # a pandas frame is split this many ways (default: per worker)

    def __call__(
        self,
        train: pd.DataFrame | dd.DataFrame,
        feature_names: tuple[str, ...],
        config: TrainConfig,
    ) -> Forecaster:
        return fit_forecaster_dask(self.client, train, feature_names, config, self.npartitions)


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


def _class_weight_table(frame: dd.DataFrame, power: float) -> dict[int, float]:
    """`class_weights` of the whole label column, as a class -> weight table to map per partition."""
    counts = frame["label_tier_code"].value_counts().compute()
    codes = np.repeat(counts.index.to_numpy(dtype=int), counts.to_numpy())
    weights = class_weights(codes, power)
    return {int(c): float(weights[codes == c][0]) for c in counts.index}


def fit_forecaster_dask(
    client: Client,
    train: pd.DataFrame | dd.DataFrame,
    feature_names: tuple[str, ...],
    config: TrainConfig,
    npartitions: int | None = None,
) -> Forecaster:
    """`fit_forecaster` with `lightgbm.dask`: the same split, weights, params and round choice."""
    import dask.dataframe as dd

    if isinstance(train, pd.DataFrame):
        n = npartitions or len(client.nthreads())
        train = dd.from_pandas(train, npartitions=n, sort=False)
    frame = train.map_partitions(_model_frame, feature_names)
    snapshots = frame["snapshot_at"].unique().compute().sort_values(ignore_index=True)
    fit_snapshots, valid_snapshots = validation_split(snapshots, config.validation_share)
    cut = snapshots[valid_snapshots].min() if valid_snapshots.any() else None
    per_class = _class_weight_table(frame, config.class_weight_power)
    base = {**config.lgbm_params, "seed": config.seed}
    fits = []
    for target, params, use_classes in (
        (
            "label_tier_code",
            {**base, "objective": "multiclass", "num_class": N_TIERS, "metric": "multi_logloss"},
            True,
        ),
        ("label_score", {**base, "objective": "regression", "metric": "l2"}, False),
    ):
        weighted = client.persist(frame.map_partitions(_weighted, per_class, use_classes))
        rounds = config.max_boost_rounds
        if cut is not None:
            fit_rows = weighted[weighted["snapshot_at"] < cut]
            first = _fit(client, fit_rows, feature_names, target, params, rounds)
            curve = _validation_curve(
                client, first, weighted[weighted["snapshot_at"] >= cut], feature_names, target
            )
            rounds = early_stopping_rounds(curve, config.early_stopping_rounds)
        fits.append(_fit(client, weighted, feature_names, target, params, rounds))
    return Forecaster(fits[0], fits[1], feature_names)


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
