from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from training.splits import (
    MIN_TRAIN_SNAPSHOTS,
    SplitError,
    fold_masks,
    plan_folds,
    rolling_origin_folds,
    validation_split,
)


def weekly(n: int) -> pd.Series:
    return pd.Series(pd.date_range("2026-01-05", periods=n, freq="7D", tz="UTC"))


@given(n=st.integers(20, 80), n_folds=st.integers(1, 4), horizon=st.sampled_from([14, 28, 30]))
@settings(max_examples=40, deadline=None)
def test_no_training_label_window_reaches_the_test_period(
    n: int, n_folds: int, horizon: int
) -> None:
    snapshots = weekly(n)
    try:
        folds = rolling_origin_folds(snapshots, n_folds, horizon)
    except SplitError:
        return
    for fold in folds:
        train, test = fold_masks(snapshots, fold)
        assert test.any()
        label_ends = snapshots[train] + pd.Timedelta(days=horizon)
        assert (label_ends < fold.test_start).all()
        assert (snapshots[test] >= fold.test_start).all()
        assert (snapshots[test] < fold.test_end).all()


def test_folds_are_consecutive_horizons_ending_at_the_last_snapshot() -> None:
    snapshots = weekly(40)
    folds = rolling_origin_folds(snapshots, 3, 28)
    assert [f.number for f in folds] == [1, 2, 3]
    assert folds[-1].test_end == snapshots.iloc[-1] + pd.Timedelta(days=1)
    for earlier, later in zip(folds, folds[1:], strict=False):
        assert earlier.test_end == later.test_start
        assert later.train_end == later.test_start - pd.Timedelta(days=28)


def test_too_little_history_is_a_clear_error() -> None:
    with pytest.raises(SplitError, match="need more history"):
        rolling_origin_folds(weekly(10), 3, 30)


def test_validation_rows_are_the_latest_snapshots() -> None:
    snapshots = weekly(10)
    fit, valid = validation_split(snapshots, 0.2)
    assert valid.sum() == 2 and (fit | valid).all() and not (fit & valid).any()
    assert snapshots[valid].min() > snapshots[fit].max()


def monthly(n: int) -> pd.Series:
    return pd.Series(pd.date_range("2026-01-01", periods=n, freq="30D", tz="UTC"))


def test_a_long_history_gets_the_folds_asked_for() -> None:
    plan = plan_folds(weekly(40), 3, 28)
    assert not plan.shrunk and plan.fold_days == 28
    assert plan.folds == rolling_origin_folds(weekly(40), 3, 28)
    assert "asked for" not in plan.describe()


def test_eight_months_with_a_90_day_horizon_shrink_the_folds_and_say_so() -> None:
    snapshots = monthly(8)
    for n_folds in (1, 3):
        with pytest.raises(SplitError, match="almost nothing"):
            rolling_origin_folds(snapshots, n_folds, 90)
        plan = plan_folds(snapshots, n_folds, 90)
        assert plan.shrunk and plan.fold_days < 90
        assert f"asked for {n_folds} of 90 days" in plan.describe()
        first_train, _ = fold_masks(snapshots, plan.folds[0])
        assert first_train.sum() >= MIN_TRAIN_SNAPSHOTS
        for fold in plan.folds:
            train, test = fold_masks(snapshots, fold)
            assert test.any()
            assert (snapshots[train] + pd.Timedelta(days=90) < fold.test_start).all()


def test_no_fold_at_all_is_still_a_clear_error() -> None:
    with pytest.raises(SplitError, match="not even one shorter fold"):
        plan_folds(monthly(4), 1, 90)


@given(n=st.integers(4, 30), n_folds=st.integers(1, 4), horizon=st.sampled_from([30, 60, 90]))
@settings(max_examples=60, deadline=None)
def test_shrunk_folds_never_leak_labels_into_the_test_period(
    n: int, n_folds: int, horizon: int
) -> None:
    snapshots = monthly(n)
    try:
        plan = plan_folds(snapshots, n_folds, horizon)
    except SplitError:
        return
    assert 1 <= len(plan.folds) <= n_folds and plan.fold_days <= horizon
    for fold in plan.folds:
        train, test = fold_masks(snapshots, fold)
        assert test.any() and train.any()
        assert (snapshots[train] + pd.Timedelta(days=horizon) < fold.test_start).all()
