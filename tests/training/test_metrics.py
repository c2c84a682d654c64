from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import brier_score_loss

from training.metrics import (
    expected_calibration_error,
    ranked_probability_score,
    tier_metrics,
)


def test_perfect_forecast_scores_perfectly() -> None:
    y = np.array([0, 1, 2, 3, 3, 2])
    proba = np.eye(4)[y]
    m = tier_metrics(y, y, proba)
    assert m["macro_f1"] == pytest.approx(1.0)
    assert m["qwk"] == pytest.approx(1.0)
    assert m["brier"] == pytest.approx(0.0)
    assert m["ece"] == pytest.approx(0.0)
    assert m["poor_recall"] == pytest.approx(1.0)


def test_qwk_punishes_far_misses_more_than_near_misses() -> None:
    y = np.array([0, 1, 2, 3] * 5)
    near = np.clip(y + np.array([1, 0, 0, -1] * 5), 0, 3)
    far = 3 - y
    assert tier_metrics(y, near, None)["qwk"] > tier_metrics(y, far, None)["qwk"]


def test_brier_of_uniform_forecast() -> None:
    y = np.array([0, 1, 2, 3])
    assert brier_score_loss(y, np.full((4, 4), 0.25), labels=[0, 1, 2, 3]) == pytest.approx(0.75)


def test_ece_of_overconfident_forecast() -> None:
    y = np.array([0, 1, 0, 1])
    proba = np.tile([0.9, 0.1, 0.0, 0.0], (4, 1))
    assert expected_calibration_error(y, proba) == pytest.approx(0.4)


def test_poor_precision_and_recall() -> None:
    y = np.array([0, 0, 1, 2])
    pred = np.array([0, 1, 0, 2])
    m = tier_metrics(y, pred, None)
    assert m["poor_recall"] == pytest.approx(0.5)
    assert m["poor_precision"] == pytest.approx(0.5)


def test_ranked_probability_score_by_hand() -> None:
    # Row 1: cumulative forecast (0.1, 0.3, 0.6) against outcome Good (0, 0, 1): 0.01 + 0.09 + 0.16.
    # Row 2: all mass on Poor, outcome Excellent: (1, 1, 1) against (0, 0, 0) = 3, the worst case.
    proba = np.array([[0.1, 0.2, 0.3, 0.4], [1.0, 0.0, 0.0, 0.0]])
    assert ranked_probability_score(np.array([2, 3]), proba) == pytest.approx((0.26 + 3.0) / 2)
    assert tier_metrics(np.array([2, 3]), np.array([3, 0]), proba)["rps"] == pytest.approx(1.63)


def test_ranked_probability_score_is_ordinal() -> None:
    """Unlike the Brier score, mass one tier from the outcome costs less than two tiers away."""
    y = np.array([0])
    one_away, two_away = np.array([[0.0, 1.0, 0.0, 0.0]]), np.array([[0.0, 0.0, 1.0, 0.0]])
    assert ranked_probability_score(y, one_away) == pytest.approx(1.0)
    assert ranked_probability_score(y, two_away) == pytest.approx(2.0)
    assert brier_score_loss(y, one_away, labels=[0, 1, 2, 3]) == brier_score_loss(
        y, two_away, labels=[0, 1, 2, 3]
    )
    assert ranked_probability_score(y, np.eye(4)[y]) == 0.0


def test_brier_is_the_multiclass_mean_squared_distance_to_the_one_hot_truth() -> None:
    """scikit-learn's multiclass `brier_score_loss` is the sum over classes, averaged over rows:
    the number the retired `multiclass_brier` logged, so the metric did not change."""
    from sklearn.metrics import brier_score_loss

    rng = np.random.default_rng(3)
    proba = rng.dirichlet(np.ones(4), size=200)
    y_true = rng.integers(0, 4, 200)
    by_hand = float(np.mean(np.sum((proba - np.eye(4)[y_true]) ** 2, axis=1)))
    assert brier_score_loss(y_true, proba, labels=[0, 1, 2, 3]) == pytest.approx(by_hand, abs=1e-12)
    assert tier_metrics(y_true, proba.argmax(axis=1), proba)["brier"] == pytest.approx(by_hand)
