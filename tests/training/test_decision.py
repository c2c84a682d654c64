"""The served tier's decision rule: score cuts fitted for QWK + macro-F1 on held-out training rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import cohen_kappa_score, f1_score

from features.catalogue import load_catalogue
from features.rulebook import load_rulebook
from training.backtest import MODEL, run_backtest, trainable_rows
from training.checks import model_feature_names
from training.config import load_train_config
from training.decision import (
    confusion,
    fit_tier_cuts,
    macro_f1_from_confusion,
    quantile_matching_cuts,
    qwk_from_confusion,
)
from training.forecaster_model import served_tier_codes, tiers_from_cuts
from training.metrics import CLASS_CODES
from training.splits import fold_masks

from .conftest import make_dataset

tiers = st.lists(st.integers(0, 3), min_size=2, max_size=60)


@settings(max_examples=200, deadline=None)
@given(tiers, st.randoms(use_true_random=False))
def test_confusion_metrics_equal_sklearn(y_true: list[int], rng) -> None:
    y_pred = [rng.randrange(4) for _ in y_true]
    matrix = confusion(np.array(y_true), np.array(y_pred))
    expected_f1 = f1_score(y_true, y_pred, labels=CLASS_CODES, average="macro", zero_division=0)
    assert macro_f1_from_confusion(matrix) == pytest.approx(expected_f1)
    if len(set(y_true) | set(y_pred)) > 1 and len(set(y_true)) > 1 < len(set(y_pred)):
        expected_qwk = cohen_kappa_score(y_true, y_pred, weights="quadratic", labels=CLASS_CODES)
        assert qwk_from_confusion(matrix) == pytest.approx(expected_qwk)


def test_cuts_separate_tiers_that_the_score_orders() -> None:
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 4, 400)
    score = 1.0 + codes * 0.3 + rng.uniform(0, 0.2, 400)  # shrunk to 1..2.1, still in order
    cuts = fit_tier_cuts(score, codes)
    np.testing.assert_array_equal(tiers_from_cuts(score, cuts), codes)
    assert list(cuts) == sorted(cuts) and len(cuts) == 3


def test_cuts_beat_the_rulebook_boundaries_on_a_shrunk_score() -> None:
    """The expected score of noisy labels sits between tiers; fixed cuts serve one tier to all."""
    rng = np.random.default_rng(1)
    codes = rng.choice(4, 600, p=[0.1, 0.2, 0.3, 0.4])
    score = 3.0 + 0.25 * codes + rng.normal(0, 0.2, 600)
    rulebook_like = (2.0, 3.0, 4.0)
    fitted = fit_tier_cuts(score, codes)
    for metric in (qwk_from_confusion, macro_f1_from_confusion):
        assert metric(confusion(codes, tiers_from_cuts(score, fitted))) > metric(
            confusion(codes, tiers_from_cuts(score, rulebook_like))
        )


def test_quantile_matching_serves_each_tier_its_share() -> None:
    score = np.arange(100, dtype=float)
    codes = np.repeat([0, 1, 2, 3], [10, 20, 30, 40])
    served = tiers_from_cuts(score, quantile_matching_cuts(score, codes))
    np.testing.assert_array_equal(np.bincount(served, minlength=4), [10, 20, 30, 40])


def test_a_model_without_cuts_keeps_the_probability_rule() -> None:
    proba = np.array([[0.1, 0.1, 0.4, 0.4], [0.7, 0.1, 0.1, 0.1]])
    score = np.array([0.5, 4.9])
    np.testing.assert_array_equal(served_tier_codes(proba, score, ()), [2, 1])
    np.testing.assert_array_equal(served_tier_codes(proba, score, (1.0, 2.0, 3.0)), [0, 3])


def test_the_decision_rule_never_sees_test_labels() -> None:
    """Leakage: rewriting every test row's label leaves each fold's served tiers unchanged, so the
    cuts (like the boosters) were fitted on that fold's training rows only."""
    rows = trainable_rows(make_dataset(n_merchants=60, n_snapshots=30, seed=4))
    config = load_train_config(n_folds=2, max_boost_rounds=60)
    names = model_feature_names(load_catalogue(), config)
    rules = load_rulebook()
    before = run_backtest(rows, names, config, rules)
    for fold in before.folds:
        tampered = rows.copy()
        test = fold_masks(tampered["snapshot_at"], fold)[1]
        later = tampered["snapshot_at"] >= fold.test_start  # this fold's and later folds' rows
        tampered.loc[later, "label_tier_code"] = 3 - tampered.loc[later, "label_tier_code"]
        tampered.loc[later, "label_score"] = 5.0 - tampered.loc[later, "label_score"]
        after = run_backtest(tampered, names, config, rules)
        keys = ["merchant_id", "snapshot_at"]
        was = before.predictions.query("fold == @fold.number").set_index(keys)
        now = after.predictions.query("fold == @fold.number").set_index(keys)
        assert len(was) == int(test.sum()) > 0
        pd.testing.assert_series_equal(was[f"{MODEL}_tier"], now[f"{MODEL}_tier"])
        pd.testing.assert_series_equal(was[f"{MODEL}_score"], now[f"{MODEL}_score"])


def test_model_file_clips_to_the_rulebook_scale() -> None:
    """forecaster_model.py is loaded by MLflow without the les package, so it keeps its own copy
    of the score's upper bound; it must be the rulebook's."""
    from features.rulebook import MAX_POINTS
    from training import forecaster_model

    assert forecaster_model.SCORE_MAX == MAX_POINTS
