"""How sure a backtest edge is: a paired bootstrap over merchants.

A pooled backtest on a thousand real sellers moves by a few hundredths of QWK from one resample of
sellers to the next, so "the model beats persistence by 0.01" may be noise. Merchants, not rows,
are resampled: a merchant's snapshots share its orders, so rows are not independent. Both forecasts
are scored on the same resampled rows (paired), which cancels the sellers' own difficulty.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from training.decision import macro_f1_from_confusion, qwk_from_confusion
from training.metrics import N_TIERS

DEFAULT_RESAMPLES = 500
DEFAULT_LEVEL = 0.9
# metric -> True when a higher value is better; an edge is always "how much better the model is"
HIGHER_IS_BETTER = {"qwk": True, "macro_f1": True, "score_mae": False, "rps": False}


def resample_weights(groups: np.ndarray, n_resamples: int, seed: int) -> np.ndarray:
    """(n_resamples x rows) row weights: each resample draws as many merchants as there are, with
    replacement, and a row weighs as often as its merchant was drawn."""
    codes, uniques = pd.factorize(pd.Series(groups), sort=True)
    rng = np.random.default_rng(seed)
    n_groups = len(uniques)
    draws = rng.multinomial(n_groups, np.full(n_groups, 1.0 / n_groups), size=n_resamples)
    return draws[:, codes].astype(float)


def weighted_confusions(y_true: np.ndarray, y_pred: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """(resamples x N_TIERS x N_TIERS) confusion matrices, one per row of `weights`."""
    cells = np.asarray(y_true, int) * N_TIERS + np.asarray(y_pred, int)
    one_hot = np.zeros((len(cells), N_TIERS * N_TIERS))
    one_hot[np.arange(len(cells)), cells] = 1.0
    return (weights @ one_hot).reshape(len(weights), N_TIERS, N_TIERS)


def tier_metric_samples(
    y_true: np.ndarray, y_pred: np.ndarray, weights: np.ndarray
) -> dict[str, np.ndarray]:
    matrices = weighted_confusions(y_true, y_pred, weights)
    return {
        "qwk": np.array([qwk_from_confusion(m) for m in matrices]),
        "macro_f1": np.array([macro_f1_from_confusion(m) for m in matrices]),
    }


def row_mean_samples(per_row: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The weighted mean of a per-row loss in each resample."""
    return weights @ np.asarray(per_row, float) / weights.sum(axis=1)


def ranked_probability_per_row(y_true: np.ndarray, proba: np.ndarray) -> np.ndarray:
    """Each row's RPS (`training.metrics.ranked_probability_score` is their mean)."""
    forecast = np.cumsum(np.asarray(proba, float), axis=1)[:, :-1]
    outcome = (np.asarray(y_true, int)[:, None] <= np.arange(proba.shape[1] - 1)).astype(float)
    return np.sum((forecast - outcome) ** 2, axis=1)


def edge_row(
    metric: str,
    baseline: str,
    samples: tuple[np.ndarray, np.ndarray],
    pooled: tuple[float, float],
    level: float,
) -> dict[str, object]:
    """The pooled edge (positive: the model is better) and the central `level` interval of the
    resampled edges, from (model, baseline) resampled values and pooled values."""
    sign = 1.0 if HIGHER_IS_BETTER[metric] else -1.0
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(sign * (samples[0] - samples[1]), [tail, 1.0 - tail])
    edge = sign * (pooled[0] - pooled[1])
    return {"metric": metric, "baseline": baseline, "edge": edge, "low": low, "high": high}


def backtest_edges(
    predictions: pd.DataFrame,
    model: str,
    tier_baseline: str,
    proba_baselines: tuple[str, ...],
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 42,
    level: float = DEFAULT_LEVEL,
) -> pd.DataFrame:
    """One row per (metric, baseline): the pooled edge of `model` over the baseline on the backtest
    `predictions` and its merchant-bootstrap interval. QWK and macro-F1 compare served tiers, score
    MAE the predicted scores (where the baseline has one), RPS the tier probabilities."""
    y_true = predictions["label_tier_code"].to_numpy(int)
    weights = resample_weights(predictions["merchant_id"].to_numpy(), n_resamples, seed)
    every_row = np.ones((1, len(predictions)))
    pair = (model, tier_baseline)
    tiers = [predictions[f"{m}_tier"].to_numpy(int) for m in pair]
    drawn = [tier_metric_samples(y_true, t, weights) for t in tiers]
    pooled = [tier_metric_samples(y_true, t, every_row) for t in tiers]
    rows = [
        edge_row(
            metric,
            tier_baseline,
            (drawn[0][metric], drawn[1][metric]),
            (float(pooled[0][metric][0]), float(pooled[1][metric][0])),
            level,
        )
        for metric in ("qwk", "macro_f1")
    ]
    losses: list[tuple[str, str, np.ndarray, np.ndarray]] = []
    if f"{tier_baseline}_score" in predictions:
        label = predictions["label_score"].to_numpy(float)
        errors = [np.abs(predictions[f"{m}_score"].to_numpy(float) - label) for m in pair]
        losses.append(("score_mae", tier_baseline, *errors))
    model_rps = ranked_probability_per_row(y_true, _proba(predictions, model))
    for baseline in proba_baselines:
        baseline_rps = ranked_probability_per_row(y_true, _proba(predictions, baseline))
        losses.append(("rps", baseline, model_rps, baseline_rps))
    for metric, baseline, model_loss, baseline_loss in losses:
        samples = (row_mean_samples(model_loss, weights), row_mean_samples(baseline_loss, weights))
        means = (float(model_loss.mean()), float(baseline_loss.mean()))
        rows.append(edge_row(metric, baseline, samples, means, level))
    return pd.DataFrame(rows)


def _proba(predictions: pd.DataFrame, model: str) -> np.ndarray:
    return predictions[[f"{model}_p{code}" for code in range(N_TIERS)]].to_numpy(float)
