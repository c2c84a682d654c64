"""Forecasts and their exact TreeSHAP attribution to the fulfilment stages, in score points.

LightGBM's native `pred_contrib` gives exact TreeSHAP values (the shap package agrees: see
benchmarks/bench_explain.py) at a fraction of the cost, so the HTTP service and batch scoring call
this module. Stage grouping reads the model's own catalogue: a feature's stage is declared once.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.catalogue import STAGES, Catalogue
from features.rulebook import MAX_POINTS
from training.explain.registered import RegisteredForecaster
from training.forecaster_model import proba_column, served_tier_codes
from training.models import feature_matrix

SCORE_BOUNDS = (0.0, MAX_POINTS)
KEY_COLUMNS = ("merchant_id", "snapshot_at")


def points_column(stage: str) -> str:
    return f"{stage}_points"


def stage_matrix(feature_names: tuple[str, ...], catalogue: Catalogue) -> np.ndarray:
    """(features x stages) 0/1 matrix: contributions @ matrix = per-stage sums."""
    index = {stage: i for i, stage in enumerate(STAGES)}
    matrix = np.zeros((len(feature_names), len(STAGES)))
    for row, name in enumerate(feature_names):
        matrix[row, index[catalogue.stage_of(name)]] = 1.0
    return matrix


def stage_sums(
    contributions: np.ndarray, feature_names: tuple[str, ...], catalogue: Catalogue
) -> np.ndarray:
    """(rows x stages) sums of per-feature contributions (the base column, last, left out): the one
    place feature attributions become stage attributions."""
    return contributions[:, :-1] @ stage_matrix(feature_names, catalogue)


def score_contributions(model: RegisteredForecaster, x: np.ndarray) -> np.ndarray:
    """(rows x features+1) TreeSHAP values of the score regressor; the last column is the base."""
    return np.asarray(model.forecaster.regressor.predict(x, pred_contrib=True))


def tier_contributions(
    model: RegisteredForecaster, x: np.ndarray, tier_codes: np.ndarray
) -> np.ndarray:
    """(rows x features+1) TreeSHAP values of each row's tier log-odds (the classifier's raw score)."""
    width = x.shape[1] + 1
    blocks = np.asarray(model.forecaster.classifier.predict(x, pred_contrib=True))
    blocks = blocks.reshape(len(x), len(model.tiers_by_code), width)
    return blocks[np.arange(len(x)), tier_codes]


def predict_matrix(model: RegisteredForecaster, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(tier probabilities, served score) for a feature matrix in model order."""
    proba = np.asarray(model.forecaster.classifier.predict(x)).reshape(
        len(x), len(model.tiers_by_code)
    )
    score = np.clip(model.forecaster.regressor.predict(x), *SCORE_BOUNDS)
    return proba, score


def predict_frame(model: RegisteredForecaster, features: pd.DataFrame) -> pd.DataFrame:
    """Served tier (the model's score cuts), tier probabilities and predicted score per row."""
    x = feature_matrix(features, model.forecaster.feature_names)
    proba, score = predict_matrix(model, x)
    out = features.loc[:, [c for c in KEY_COLUMNS if c in features]].reset_index(drop=True)
    codes = served_tier_codes(proba, score, model.forecaster.tier_cuts)
    out["tier"] = np.asarray(model.tiers_by_code, dtype=object)[codes]
    for code, tier in enumerate(model.tiers_by_code):
        out[proba_column(tier)] = proba[:, code]
    out["predicted_score"] = score
    return out


def stage_attribution_frame(model: RegisteredForecaster, features: pd.DataFrame) -> pd.DataFrame:
    """Base score + one column of points per stage + bounds = predicted score, row by row.

    `bounds_points` is the (almost always zero) correction when the regressor's raw output falls
    outside the 0..5 LES scale and the served score is clipped; it keeps the sum exact."""
    names = model.forecaster.feature_names
    x = feature_matrix(features, names)
    contributions = score_contributions(model, x)
    raw = contributions.sum(axis=1)
    served = np.clip(raw, *SCORE_BOUNDS)
    stages = stage_sums(contributions, names, model.catalogue)
    out = features.loc[:, [c for c in KEY_COLUMNS if c in features]].reset_index(drop=True)
    out["base_score"] = contributions[:, -1]
    for i, stage in enumerate(STAGES):
        out[points_column(stage)] = stages[:, i]
    out["bounds_points"] = served - raw
    out["predicted_score"] = served
    return out


def tier_attribution_frame(
    model: RegisteredForecaster, features: pd.DataFrame, tier_codes: np.ndarray
) -> pd.DataFrame:
    """Per-stage log-odds contributions to each row's given tier (usually the forecast tier)."""
    names = model.forecaster.feature_names
    contributions = tier_contributions(model, feature_matrix(features, names), tier_codes)
    stages = stage_sums(contributions, names, model.catalogue)
    out = features.loc[:, [c for c in KEY_COLUMNS if c in features]].reset_index(drop=True)
    out["tier"] = np.asarray(model.tiers_by_code, dtype=object)[tier_codes]
    out["base_log_odds"] = contributions[:, -1]
    for i, stage in enumerate(STAGES):
        out[f"{stage}_log_odds"] = stages[:, i]
    out["tier_log_odds"] = contributions.sum(axis=1)
    return out
