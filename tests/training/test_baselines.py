"""Persistence: next = current, and its fallback for merchants with no current tier or score."""

from __future__ import annotations

import numpy as np
import pandas as pd

from training.baselines import PersistenceFallback, persistence_scores, persistence_tiers


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
