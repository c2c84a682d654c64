"""The served tier: cuts on the predicted score, fitted for QWK and macro-F1 on held-out rows.

The regressor predicts the expected next score, which shrinks toward the middle on noisy labels;
cutting it at the rulebook's tier boundaries, or taking the expected-squared-cost tier of the
classifier's probabilities, then serves the middle tier to almost everyone (on real Olist sellers
a single tier for every seller). Cuts chosen on the validation snapshots of the training rows
(never the test rows) spread the served tiers as the labels spread, in score order.
"""

from __future__ import annotations

import numpy as np

from training.forecaster_model import tiers_from_cuts
from training.metrics import N_TIERS

CANDIDATE_QUANTILES = np.linspace(0.01, 0.99, 99)
MAX_PASSES = 6


def confusion(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """N_TIERS x N_TIERS counts, rows = truth."""
    cells = np.asarray(y_true, int) * N_TIERS + np.asarray(y_pred, int)
    return np.bincount(cells, minlength=N_TIERS * N_TIERS).reshape(N_TIERS, N_TIERS)


def qwk_from_confusion(matrix: np.ndarray) -> float:
    """Quadratic weighted kappa, as sklearn's `cohen_kappa_score(weights="quadratic")`."""
    n = matrix.sum()
    if n == 0:
        return 0.0
    codes = np.arange(N_TIERS)
    weights = (codes[:, None] - codes[None, :]) ** 2
    expected = np.outer(matrix.sum(axis=1), matrix.sum(axis=0)) / n
    denominator = (weights * expected).sum()
    return float(1.0 - (weights * matrix).sum() / denominator) if denominator else 0.0


def macro_f1_from_confusion(matrix: np.ndarray) -> float:
    """Macro F1 over all N_TIERS classes, 0 for a class neither true nor predicted."""
    hits = np.diag(matrix).astype(float)
    denominator = matrix.sum(axis=0) + matrix.sum(axis=1)
    f1 = np.divide(2 * hits, denominator, out=np.zeros(N_TIERS), where=denominator > 0)
    return float(f1.mean())


def decision_objective(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    matrix = confusion(y_true, y_pred)
    return qwk_from_confusion(matrix) + macro_f1_from_confusion(matrix)


def quantile_matching_cuts(score: np.ndarray, tier_codes: np.ndarray) -> tuple[float, ...]:
    """Cuts that serve each tier to the share of rows that hold it: the search's starting point."""
    shares = np.bincount(tier_codes, minlength=N_TIERS) / len(tier_codes)
    return tuple(float(c) for c in np.quantile(score, np.clip(np.cumsum(shares)[:-1], 0, 1)))


def fit_tier_cuts(score: np.ndarray, tier_codes: np.ndarray) -> tuple[float, ...]:
    """Coordinate ascent on QWK + macro-F1 over quantiles of the held-out predicted scores, from
    the quantile-matching cuts; a cut moves only on a strict gain, so ties keep the start."""
    score = np.asarray(score, float)
    tier_codes = np.asarray(tier_codes, int)
    if len(score) == 0:
        raise ValueError("fit_tier_cuts needs at least one held-out row")
    cuts = list(quantile_matching_cuts(score, tier_codes))
    candidates = np.unique(np.quantile(score, CANDIDATE_QUANTILES))
    best = decision_objective(tier_codes, tiers_from_cuts(score, tuple(cuts)))
    for _ in range(MAX_PASSES):
        moved = False
        for j in range(len(cuts)):
            low = cuts[j - 1] if j > 0 else -np.inf
            high = cuts[j + 1] if j + 1 < len(cuts) else np.inf
            for candidate in candidates[(candidates >= low) & (candidates <= high)]:
                trial = (*cuts[:j], float(candidate), *cuts[j + 1 :])
                value = decision_objective(tier_codes, tiers_from_cuts(score, trial))
                if value > best + 1e-12:
                    best, cuts[j], moved = value, float(candidate), True
        if not moved:
            break
    return tuple(cuts)
