"""The naive baselines: persistence and its fallback, the migration matrix, climatology."""

from __future__ import annotations

import numpy as np
import pandas as pd

from training.baselines import (
    NO_CURRENT_TIER,
    NaiveBaselines,
    PersistenceFallback,
    most_likely_tiers,
    persistence_scores,
    persistence_tiers,
    transition_counts,
)
from training.metrics import N_TIERS


def test_fallback_is_the_majority_tier_and_mean_score_lowest_code_on_a_tie() -> None:
    train = pd.DataFrame(
        {"label_tier_code": [2, 2, 3, 1, 1], "label_score": [1.0, 2.0, 3.0, 4.0, 5.0]}
    )
    assert PersistenceFallback.of(train) == PersistenceFallback(1, 3.0)
    assert PersistenceFallback.of(train.iloc[:3]) == PersistenceFallback(2, 2.0)


def test_persistence_keeps_the_current_tier_and_score_and_falls_back_only_when_unknown() -> None:
    test = pd.DataFrame(
        {"current_tier_code": [0.0, np.nan, 3.0], "current_les_score": [4.5, 2.0, np.nan]}
    )
    fallback = PersistenceFallback(2, 3.25)
    np.testing.assert_array_equal(persistence_tiers(test, fallback), [0, 2, 3])
    np.testing.assert_array_equal(persistence_scores(test, fallback), [4.5, 2.0, 3.25])


# Current tiers Poor, Poor, none (insufficient data), Excellent x3 -> next tiers as labelled.
MIGRATION_TRAIN = pd.DataFrame(
    {
        "current_tier_code": [0.0, 0.0, np.nan, 3.0, 3.0, 3.0],
        "label_tier_code": [0, 1, 3, 3, 3, 2],
        "label_score": [1.0, 2.0, 5.0, 4.5, 4.5, 3.5],
    }
)


def test_transition_counts_keep_no_current_tier_as_its_own_state() -> None:
    expected = np.zeros((N_TIERS + 1, N_TIERS), int)
    expected[0] = [1, 1, 0, 0]
    expected[3] = [0, 0, 1, 2]
    expected[NO_CURRENT_TIER] = [0, 0, 0, 1]
    np.testing.assert_array_equal(transition_counts(MIGRATION_TRAIN), expected)


def test_migration_matrix_and_climatology_by_hand() -> None:
    naive = NaiveBaselines.of(MIGRATION_TRAIN)
    test = pd.DataFrame({"current_tier_code": [3.0, np.nan, 1.0]})
    # Laplace-smoothed rows: Excellent (0,0,1,2)+1 over 7, no tier (0,0,0,1)+1 over 5, Good unseen.
    expected = np.array([[1, 1, 2, 3], [1, 1, 1, 2], [1, 1, 1, 1]]) / np.array([[7], [5], [4]])
    np.testing.assert_allclose(naive.migration_proba(test), expected)
    np.testing.assert_array_equal(most_likely_tiers(naive.migration_proba(test)), [3, 3, 0])
    np.testing.assert_allclose(naive.climatology_proba(2), [[0.2, 0.2, 0.2, 0.4]] * 2)
    assert naive.fallback == PersistenceFallback.of(MIGRATION_TRAIN)
