"""Fit the two LightGBM boosters: a tier classifier and a next-window LES score regressor.

Native `lgb.train` boosters, saved in LightGBM's own text format: no pickled estimators, and the same
data and config give byte-identical model files.
"""

from __future__ import annotations

from dataclasses import dataclass

import lightgbm as lgb
import numpy as np
import pandas as pd

from training.config import TrainConfig
from training.metrics import N_TIERS
from training.splits import validation_split


@dataclass(frozen=True)
class Forecaster:
    """The trained pair plus the feature order they expect."""

    classifier: lgb.Booster
    regressor: lgb.Booster
    feature_names: tuple[str, ...]

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        return self.classifier.predict(feature_matrix(frame, self.feature_names))

    def predict_score(self, frame: pd.DataFrame) -> np.ndarray:
        return np.clip(self.regressor.predict(feature_matrix(frame, self.feature_names)), 0.0, 5.0)


def feature_matrix(frame: pd.DataFrame, feature_names: tuple[str, ...]) -> np.ndarray:
    """Columns in model order as float64; a missing column is all-NaN (unknown), never zero."""
    columns = frame.reindex(columns=list(feature_names))
    text = [c for c, dtype in columns.dtypes.items() if not pd.api.types.is_numeric_dtype(dtype)]
    if text:
        columns[text] = columns[text].apply(pd.to_numeric, errors="coerce")
    return columns.to_numpy(dtype=float, na_value=np.nan)


def class_weights(tier_codes: np.ndarray, power: float) -> np.ndarray:
    """Inverse-frequency weights damped by `power`, so rare Poor rows count more without dominating."""
    counts = np.bincount(tier_codes, minlength=N_TIERS).astype(float)
    weight_per_class = np.where(counts > 0, (counts.sum() / np.maximum(counts, 1)) ** power, 0.0)
    weights = weight_per_class[tier_codes]
    return weights / weights.mean()


def fit_forecaster(
    train: pd.DataFrame, feature_names: tuple[str, ...], config: TrainConfig
) -> Forecaster:
    """Early-stop each booster on the latest snapshots of `train`, then keep that many rounds."""
    fit_rows, valid_rows = validation_split(train["snapshot_at"], config.validation_share)
    x = feature_matrix(train, feature_names)
    tiers = train["label_tier_code"].to_numpy(dtype=int)
    scores = train["label_score"].to_numpy(dtype=float)
    weights = class_weights(tiers, config.class_weight_power)
    base = {**config.lgbm_params, "seed": config.seed}
    classifier = _fit_booster(
        {**base, "objective": "multiclass", "num_class": N_TIERS, "metric": "multi_logloss"},
        x,
        tiers,
        weights,
        fit_rows,
        valid_rows,
        feature_names,
        config,
    )
    regressor = _fit_booster(
        {**base, "objective": "regression", "metric": "l2"},
        x,
        scores,
        None,
        fit_rows,
        valid_rows,
        feature_names,
        config,
    )
    return Forecaster(classifier, regressor, feature_names)


def _fit_booster(
    params: dict,
    x: np.ndarray,
    y: np.ndarray,
    weights: np.ndarray | None,
    fit_rows: np.ndarray,
    valid_rows: np.ndarray,
    feature_names: tuple[str, ...],
    config: TrainConfig,
) -> lgb.Booster:
    names = list(feature_names)
    w_fit = None if weights is None else weights[fit_rows]
    fit_set = lgb.Dataset(
        x[fit_rows], y[fit_rows], weight=w_fit, feature_name=names, free_raw_data=False
    )
    callbacks = []
    valid_sets = []
    if valid_rows.any():
        w_val = None if weights is None else weights[valid_rows]
        valid_sets = [lgb.Dataset(x[valid_rows], y[valid_rows], weight=w_val, reference=fit_set)]
        callbacks = [lgb.early_stopping(config.early_stopping_rounds, verbose=False)]
    booster = lgb.train(
        params,
        fit_set,
        num_boost_round=config.max_boost_rounds,
        valid_sets=valid_sets,
        callbacks=callbacks,
    )
    best = booster.best_iteration or config.max_boost_rounds
    full_set = lgb.Dataset(x, y, weight=weights, feature_name=names)
    return lgb.train(params, full_set, num_boost_round=max(best, 1))


def booster_text(booster: lgb.Booster) -> str:
    """LightGBM's own text format: diffable, portable, byte-stable for a fixed seed."""
    return booster.model_to_string(num_iteration=-1)
