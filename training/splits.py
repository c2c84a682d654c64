"""Rolling-origin time splits: train on the past, test on the next horizon, never overlap labels.

A row at snapshot T has a label over (T, T + horizon]. A test fold starting at cut C holds snapshots in
[C, C + horizon); training snapshots are before C - horizon (a gap of one horizon), so every training
label window ends before C and no label window touches the test period.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


class SplitError(ValueError):
    """Not enough history for the requested backtest."""


@dataclass(frozen=True)
class Fold:
    """One backtest fold; boundaries are snapshot times (UTC)."""

    number: int
    train_end: pd.Timestamp  # training snapshots are < train_end
    test_start: pd.Timestamp  # test snapshots are in [test_start, test_end)
    test_end: pd.Timestamp


def rolling_origin_folds(snapshots: pd.Series, n_folds: int, horizon_days: int) -> list[Fold]:
    """The last `n_folds` horizons of the data become test periods, oldest first."""
    unique = np.sort(pd.to_datetime(snapshots).unique())
    if len(unique) == 0:
        raise SplitError("the dataset has no trainable snapshots")
    horizon = pd.Timedelta(days=horizon_days)
    last = pd.Timestamp(unique[-1])
    folds = []
    for k in range(n_folds):
        test_end = last + pd.Timedelta(days=1) - k * horizon
        test_start = test_end - horizon
        train_end = test_start - horizon
        folds.append(Fold(n_folds - k, train_end, test_start, test_end))
    folds.sort(key=lambda f: f.number)
    first = pd.Timestamp(unique[0])
    if folds[0].train_end <= first + horizon:
        raise SplitError(
            f"{n_folds} folds of {horizon_days} days need more history: snapshots span "
            f"{first.date()}..{last.date()}, the first fold would train on almost nothing"
        )
    return folds


def fold_masks(snapshots: pd.Series, fold: Fold) -> tuple[np.ndarray, np.ndarray]:
    """Boolean masks (train, test) over rows for one fold."""
    times = pd.to_datetime(snapshots)
    train = (times < fold.train_end).to_numpy()
    test = ((times >= fold.test_start) & (times < fold.test_end)).to_numpy()
    return train, test


def validation_split(snapshots: pd.Series, share: float) -> tuple[np.ndarray, np.ndarray]:
    """Split training rows by time: the latest `share` of snapshots validate early stopping."""
    times = pd.to_datetime(snapshots)
    unique = np.sort(times.unique())
    n_val = max(1, int(round(len(unique) * share)))
    if len(unique) - n_val < 1:
        return np.ones(len(times), bool), np.zeros(len(times), bool)
    cut = unique[-n_val]
    valid = (times >= cut).to_numpy()
    return ~valid, valid
