"""Evaluation metrics for tier forecasts (ordinal classes) and score forecasts."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import (
    balanced_accuracy_score,
    brier_score_loss,
    cohen_kappa_score,
    f1_score,
    log_loss,
    mean_absolute_error,
    precision_score,
    recall_score,
    root_mean_squared_error,
)

N_TIERS = 4
POOR_CODE = 0
CLASS_CODES = list(range(N_TIERS))
ECE_BINS = 10  # equal-width top-label confidence bins of every ECE and reliability diagram

POOLED = "pooled"  # the scope of a metric over all test rows of all folds
SERVED_MODEL = "lightgbm"  # `training.backtest.MODEL`: the served forecaster's metrics
PERSISTENCE_MODEL = "persistence"  # `training.backtest.PERSISTENCE`


def proba_columns(model: str) -> list[str]:
    """A model's tier probability columns in backtest predictions, Poor first."""
    return [f"{model}_p{code}" for code in CLASS_CODES]


def proba_of(predictions: pd.DataFrame, model: str) -> np.ndarray:
    """A model's tier probabilities from backtest predictions, rows x N_TIERS."""
    return predictions[proba_columns(model)].to_numpy(float)


def metric_key(scope: str, model: str, metric: str) -> str:
    """The MLflow metric name of one backtest number: `<scope>.<model>.<metric>`, where the scope
    is `pooled` or `fold<n>`; written by the training run, read by the gate and `les models`."""
    return f"{scope}.{model}.{metric}"


def confidence_bins(proba: np.ndarray, n_bins: int = ECE_BINS) -> tuple[np.ndarray, np.ndarray]:
    """Each row's top-label confidence and its bin of equal width: what every ECE here bins by."""
    confidence = np.asarray(proba, float).max(axis=1)
    return confidence, np.minimum((confidence * n_bins).astype(int), n_bins - 1)


def reliability_bins(
    y_true: np.ndarray, proba: np.ndarray, n_bins: int = ECE_BINS
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Top-label confidence bins: (rows, summed confidence, summed hits) per bin; the ECE and the
    reliability diagram read the same bins."""
    confidence, bins = confidence_bins(proba, n_bins)
    hit = (proba.argmax(axis=1) == y_true).astype(float)
    counts = np.bincount(bins, minlength=n_bins)
    return counts, np.bincount(bins, confidence, n_bins), np.bincount(bins, hit, n_bins)


def expected_calibration_error(
    y_true: np.ndarray, proba: np.ndarray, n_bins: int = ECE_BINS
) -> float:
    """Top-label ECE: how far the stated confidence is from the hit rate, weighted by bin size."""
    counts, confidence, hits = reliability_bins(y_true, proba, n_bins)
    return float(np.abs(hits - confidence).sum() / max(counts.sum(), 1))


def ranked_probability_scores(y_true: np.ndarray, proba: np.ndarray) -> np.ndarray:
    """Each row's squared gaps between the forecast's and the outcome's cumulative tier
    distributions (summed over the N_TIERS - 1 cuts, not normalised): ordinal, so mass one tier
    away from the outcome costs less than mass two tiers away. Lower is better; 0 is perfect."""
    forecast = np.cumsum(np.asarray(proba, float), axis=1)[:, :-1]
    outcome = (np.asarray(y_true, int)[:, None] <= np.arange(proba.shape[1] - 1)).astype(float)
    return np.sum((forecast - outcome) ** 2, axis=1)


def ranked_probability_score(y_true: np.ndarray, proba: np.ndarray) -> float:
    """The mean of `ranked_probability_scores` over rows (RPS)."""
    return float(np.mean(ranked_probability_scores(y_true, proba))) if len(y_true) else 0.0


def tier_metrics(
    y_true: np.ndarray, y_pred: np.ndarray, proba: np.ndarray | None
) -> dict[str, float]:
    """Tier codes are ordinal (Poor 0 .. Excellent 3), so QWK rewards near misses."""
    y_true = np.asarray(y_true, int)
    y_pred = np.asarray(y_pred, int)
    metrics = {
        "macro_f1": f1_score(y_true, y_pred, labels=CLASS_CODES, average="macro", zero_division=0),
        "qwk": _qwk(y_true, y_pred),
        "balanced_accuracy": balanced_accuracy_score(y_true, y_pred),
        "poor_recall": recall_score(
            y_true, y_pred, labels=[POOR_CODE], average="macro", zero_division=0
        ),
        "poor_precision": precision_score(
            y_true, y_pred, labels=[POOR_CODE], average="macro", zero_division=0
        ),
    }
    if proba is not None:
        clipped = np.clip(proba, 1e-7, 1.0)
        clipped = clipped / clipped.sum(axis=1, keepdims=True)
        metrics["log_loss"] = log_loss(y_true, clipped, labels=CLASS_CODES)
        metrics["brier"] = brier_score_loss(y_true, proba, labels=CLASS_CODES)
        metrics["ece"] = expected_calibration_error(y_true, proba)
        metrics["rps"] = ranked_probability_score(y_true, proba)
    return {k: float(v) for k, v in metrics.items()}


def score_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    return {
        "score_mae": float(mean_absolute_error(y_true, y_pred)),
        "score_rmse": float(root_mean_squared_error(y_true, y_pred)),
    }


def _qwk(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    if len(np.unique(np.concatenate([y_true, y_pred]))) < 2:
        return 1.0 if np.array_equal(y_true, y_pred) else 0.0
    return cohen_kappa_score(y_true, y_pred, weights="quadratic", labels=CLASS_CODES)
