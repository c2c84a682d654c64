"""Fit the two LightGBM boosters: a tier classifier and a next-window LES score regressor.

Native `lgb.train` boosters, saved in LightGBM's own text format: no pickled estimators, and the same
data and config give byte-identical model files.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from features.rulebook import MAX_POINTS
from training.config import TrainConfig
from training.decision import fit_tier_cuts
from training.forecaster_model import served_tier_codes
from training.metrics import N_TIERS
from training.splits import validation_split


@dataclass(frozen=True)
class Forecaster:
    """The trained pair, the feature order they expect and the served tier's score cuts (empty
    for a model logged before cuts existed: `served_tier_codes` then reads the probabilities)."""

    classifier: lgb.Booster
    regressor: lgb.Booster
    feature_names: tuple[str, ...]
    tier_cuts: tuple[float, ...] = ()

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        return self.classifier.predict(feature_matrix(frame, self.feature_names))

    def predict_score(self, frame: pd.DataFrame) -> np.ndarray:
        return np.clip(
            self.regressor.predict(feature_matrix(frame, self.feature_names)), 0.0, MAX_POINTS
        )

    def predict_tier_codes(self, frame: pd.DataFrame) -> np.ndarray:
        return served_tier_codes(
            self.predict_proba(frame), self.predict_score(frame), self.tier_cuts
        )


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


def classifier_params(base: dict[str, Any]) -> dict[str, Any]:
    """The tier classifier's LightGBM params on either engine: multiclass over all N_TIERS."""
    return {**base, "objective": "multiclass", "num_class": N_TIERS, "metric": "multi_logloss"}


def regressor_params(base: dict[str, Any]) -> dict[str, Any]:
    """The score regressor's LightGBM params on either engine: squared error."""
    return {**base, "objective": "regression", "metric": "l2"}


def fit_forecaster(
    train: pd.DataFrame, feature_names: tuple[str, ...], config: TrainConfig
) -> Forecaster:
    """Early-stop each booster on the latest snapshots of `train`, then keep that many rounds; the
    tier cuts are fitted on the early-stopped regressor's predictions for those same held-out
    snapshots (in-sample predictions only when the rows hold a single snapshot)."""
    fit_rows, valid_rows = validation_split(train["snapshot_at"], config.validation_share)
    x = feature_matrix(train, feature_names)
    tiers = train["label_tier_code"].to_numpy(dtype=int)
    scores = train["label_score"].to_numpy(dtype=float)
    weights = class_weights(tiers, config.class_weight_power)
    params = config.booster_params(len(train))
    classifier, _ = _fit_booster(
        classifier_params(params),
        x,
        tiers,
        weights,
        fit_rows,
        valid_rows,
        feature_names,
        config,
    )
    regressor, held_out_score = _fit_booster(
        regressor_params(params),
        x,
        scores,
        None,
        fit_rows,
        valid_rows,
        feature_names,
        config,
    )
    held_out = valid_rows if valid_rows.any() else np.ones(len(train), bool)
    cuts = fit_tier_cuts(np.clip(held_out_score, 0.0, MAX_POINTS), tiers[held_out])
    return Forecaster(classifier, regressor, feature_names, cuts)


def _fit_booster(
    params: dict,
    x: np.ndarray,
    y: np.ndarray,
    weights: np.ndarray | None,
    fit_rows: np.ndarray,
    valid_rows: np.ndarray,
    feature_names: tuple[str, ...],
    config: TrainConfig,
) -> tuple[lgb.Booster, np.ndarray]:
    """The booster refitted on all rows, and the early-stopped one's predictions for the
    validation rows (the final booster's for all rows when there is no validation split)."""
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
    final = lgb.train(params, full_set, num_boost_round=max(best, 1))
    if valid_rows.any():
        return final, booster.predict(x[valid_rows], num_iteration=max(best, 1))
    return final, final.predict(x)


def booster_text(booster: lgb.Booster) -> str:
    """LightGBM's own text format: diffable, portable, byte-stable for a fixed seed."""
    return booster.model_to_string(num_iteration=-1)
