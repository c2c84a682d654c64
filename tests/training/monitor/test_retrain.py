"""The retrain split and the champion's unseen-holdout check (training/monitor/retrain.py)."""

from __future__ import annotations

import pandas as pd
import pytest

from training.monitor.retrain import RetrainError, check_champion_unseen, retrain_split


def test_the_holdout_is_the_last_horizon_and_training_labels_close_before_it() -> None:
    snapshots = pd.date_range("2026-01-05", periods=20, freq="7D", tz="UTC")
    rows = pd.DataFrame({"snapshot_at": snapshots.repeat(3), "merchant_id": ["a", "b", "c"] * 20})
    split = retrain_split(rows, 30)
    assert split.holdout["snapshot_at"].min() >= split.holdout_start
    assert split.holdout["snapshot_at"].max() == snapshots[-1]
    assert (split.holdout["snapshot_at"] > snapshots[-1] - pd.Timedelta(days=30)).all()
    assert (split.train["snapshot_at"] + pd.Timedelta(days=30) <= split.holdout_start).all()
    assert len(split.train) + len(split.holdout) < len(rows)  # the gap between them is dropped
    check_champion_unseen(split.holdout_start - pd.Timedelta(days=1), split)
    with pytest.raises(RetrainError, match="in-sample"):
        check_champion_unseen(split.holdout_start, split)
