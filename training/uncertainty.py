"""How sure a backtest figure is: a paired bootstrap over merchants for the edges, and the ECE that
chance alone gives a perfectly calibrated forecast on the same rows.

A pooled backtest on a thousand real sellers moves by a few hundredths of QWK from one resample of
sellers to the next, so "the model beats persistence by 0.01" may be noise. Merchants, not rows,
are resampled: a merchant's snapshots share its orders, so rows are not independent. Both forecasts
are scored on the same resampled rows (paired), which cancels the sellers' own difficulty.

Every metric here is a function of per-merchant sums (confusion counts, summed losses, rows), so a
resample is its merchant draw counts times those sums: memory grows with merchants, not test rows,
and resamples are drawn in chunks.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd

from training.decision import macro_f1_from_confusion, qwk_from_confusion
from training.metrics import (
    ECE_BINS,
    N_TIERS,
    confidence_bins,
    proba_of,
    ranked_probability_scores,
)

DEFAULT_RESAMPLES = 500
DEFAULT_LEVEL = 0.9
RESAMPLE_CHUNK_CELLS = 2_000_000  # resamples x merchants (or rows) per chunk of draws
CELLS = N_TIERS * N_TIERS
# metric -> True when a higher value is better; an edge is always "how much better the model is"
HIGHER_IS_BETTER = {"qwk": True, "macro_f1": True, "score_mae": False, "rps": False}


def merchant_draws(n_merchants: int, n_resamples: int, seed: int) -> Iterator[np.ndarray]:
    """Chunks of (resamples x merchants) draw counts: each resample draws as many merchants as
    there are, with replacement."""
    rng = np.random.default_rng(seed)
    chunk = max(1, RESAMPLE_CHUNK_CELLS // max(n_merchants, 1))
    uniform = np.full(n_merchants, 1.0 / n_merchants)
    for start in range(0, n_resamples, chunk):
        size = min(chunk, n_resamples - start)
        yield rng.multinomial(n_merchants, uniform, size=size).astype(float)


def merchant_confusions(
    merchant_codes: np.ndarray, y_true: np.ndarray, y_pred: np.ndarray, n_merchants: int
) -> np.ndarray:
    """(merchants x N_TIERS^2) confusion counts of each merchant's rows, rows = truth."""
    cells = np.asarray(y_true, int) * N_TIERS + np.asarray(y_pred, int)
    counts = np.bincount(merchant_codes * CELLS + cells, minlength=n_merchants * CELLS)
    return counts.reshape(n_merchants, CELLS).astype(float)


def tier_metrics_of(confusions: np.ndarray) -> dict[str, np.ndarray]:
    """QWK and macro-F1 of each flattened confusion matrix (one per row)."""
    matrices = confusions.reshape(-1, N_TIERS, N_TIERS)
    return {
        "qwk": np.array([qwk_from_confusion(m) for m in matrices]),
        "macro_f1": np.array([macro_f1_from_confusion(m) for m in matrices]),
    }


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
    codes, merchants = pd.factorize(predictions["merchant_id"], sort=True)
    n_merchants = len(merchants)
    y_true = predictions["label_tier_code"].to_numpy(int)
    pair = (model, tier_baseline)
    confusions = [
        merchant_confusions(codes, y_true, predictions[f"{m}_tier"].to_numpy(int), n_merchants)
        for m in pair
    ]
    losses: list[tuple[str, str, np.ndarray, np.ndarray]] = []
    if f"{tier_baseline}_score" in predictions:
        label = predictions["label_score"].to_numpy(float)
        errors = [np.abs(predictions[f"{m}_score"].to_numpy(float) - label) for m in pair]
        losses.append(("score_mae", tier_baseline, *errors))
    model_rps = ranked_probability_scores(y_true, proba_of(predictions, model))
    for baseline in proba_baselines:
        baseline_rps = ranked_probability_scores(y_true, proba_of(predictions, baseline))
        losses.append(("rps", baseline, model_rps, baseline_rps))
    loss_sums = np.column_stack(
        [np.bincount(codes, loss, n_merchants) for _, _, *pair_loss in losses for loss in pair_loss]
        + [np.bincount(codes, minlength=n_merchants).astype(float)]
    )
    sums = np.hstack([*confusions, loss_sums])  # merchants x statistics
    drawn = np.vstack([draws @ sums for draws in merchant_draws(n_merchants, n_resamples, seed)])
    pooled = sums.sum(axis=0, keepdims=True)
    rows = []
    tiers_drawn = [tier_metrics_of(drawn[:, k * CELLS : (k + 1) * CELLS]) for k in range(2)]
    tiers_pooled = [tier_metrics_of(pooled[:, k * CELLS : (k + 1) * CELLS]) for k in range(2)]
    for metric in ("qwk", "macro_f1"):
        samples = (tiers_drawn[0][metric], tiers_drawn[1][metric])
        whole = (float(tiers_pooled[0][metric][0]), float(tiers_pooled[1][metric][0]))
        rows.append(edge_row(metric, tier_baseline, samples, whole, level))
    means_drawn = drawn[:, 2 * CELLS : -1] / drawn[:, -1:]
    means_pooled = pooled[0, 2 * CELLS : -1] / pooled[0, -1]
    for k, (metric, baseline, _, _) in enumerate(losses):
        samples = (means_drawn[:, 2 * k], means_drawn[:, 2 * k + 1])
        whole = (float(means_pooled[2 * k]), float(means_pooled[2 * k + 1]))
        rows.append(edge_row(metric, baseline, samples, whole, level))
    return pd.DataFrame(rows)


def ece_noise_floor(
    proba: np.ndarray,
    n_draws: int = DEFAULT_RESAMPLES,
    seed: int = 42,
    level: float = DEFAULT_LEVEL,
) -> tuple[float, float]:
    """The ECE that a forecast with these very probabilities, perfectly calibrated, shows on these
    rows by chance alone: (mean, upper `level` quantile) over outcomes drawn from `proba` itself.
    On a few hundred sellers it is several hundredths, so an ECE target can sit inside it.

    Rows are drawn independently. One merchant's overlapping label windows and a marketplace-wide
    shift make real rows move together, which raises the chance ECE, so this is a floor under the
    noise, not the noise itself. Drawn from the forecast, the outcome is the top label with
    probability the top confidence, so each draw needs one Bernoulli per row; rows are drawn in
    chunks, memory stays bounded."""
    confidence, bins = confidence_bins(proba, ECE_BINS)
    n_rows = len(confidence)
    if n_rows == 0:
        return 0.0, 0.0
    rng = np.random.default_rng(seed)
    stated = np.bincount(bins, confidence, ECE_BINS)
    hits = np.zeros((n_draws, ECE_BINS))
    chunk = max(1, RESAMPLE_CHUNK_CELLS // max(n_draws, 1))
    for start in range(0, n_rows, chunk):
        part = slice(start, start + chunk)
        drawn = rng.random((n_draws, len(confidence[part]))) < confidence[part]
        hits += drawn @ np.eye(ECE_BINS)[bins[part]]
    ece = np.abs(hits - stated).sum(axis=1) / n_rows
    return float(ece.mean()), float(np.quantile(ece, level))
