"""Rolling-origin time splits: train on the past, test on the next horizon, never overlap labels.

A row at snapshot T has a label over [T, T + horizon) (events from the snapshot midnight up to,
not including, the window end). A test fold starting at cut C holds snapshots in [C, C + fold
length); training snapshots are before C - horizon (a gap of one horizon), so every
training label window ends before C and no label window touches the test period. Folds are one
horizon long; `plan_folds` shortens them, then drops some, when the history is too short for that.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.errors import LesError

# A shortened backtest still trains each fold on at least this many snapshots.
MIN_TRAIN_SNAPSHOTS = 3


class SplitError(LesError, ValueError):
    """Not enough history for the requested backtest."""


@dataclass(frozen=True)
class Fold:
    """One backtest fold; boundaries are snapshot times (UTC)."""

    number: int
    train_end: pd.Timestamp  # training snapshots are < train_end
    test_start: pd.Timestamp  # test snapshots are in [test_start, test_end)
    test_end: pd.Timestamp


@dataclass(frozen=True)
class FoldPlan:
    """The folds a backtest runs, and what was asked for: a short history gets fewer or shorter
    folds, and the run says so."""

    folds: list[Fold]
    requested_folds: int
    horizon_days: int
    fold_days: int

    @property
    def shrunk(self) -> bool:
        return len(self.folds) < self.requested_folds or self.fold_days < self.horizon_days

    def describe(self) -> str:
        first, last = self.folds[0], self.folds[-1]
        text = (
            f"{len(self.folds)} fold(s) of {self.fold_days} days, test snapshots "
            f"{first.test_start.date()}..{(last.test_end - pd.Timedelta(days=1)).date()}"
        )
        if self.shrunk:
            text += (
                f" (asked for {self.requested_folds} of {self.horizon_days} days; the history "
                "is too short for that)"
            )
        return text


def rolling_origin_folds(
    snapshots: pd.Series, n_folds: int, horizon_days: int, fold_days: int | None = None
) -> list[Fold]:
    """The last `n_folds` periods of `fold_days` (default: one horizon) become test periods,
    oldest first."""
    unique = _unique_snapshots(snapshots)
    horizon = pd.Timedelta(days=horizon_days)
    length = pd.Timedelta(days=fold_days or horizon_days)
    last = pd.Timestamp(unique[-1])
    folds = []
    for k in range(n_folds):
        test_end = last + pd.Timedelta(days=1) - k * length
        test_start = test_end - length
        train_end = test_start - horizon
        folds.append(Fold(n_folds - k, train_end, test_start, test_end))
    folds.sort(key=lambda f: f.number)
    first = pd.Timestamp(unique[0])
    if fold_days is not None and fold_days != horizon_days:
        if not _evaluable(unique, folds):
            raise SplitError(
                f"{n_folds} folds of {fold_days} days with a {horizon_days}-day horizon need "
                f"more history: snapshots span {first.date()}..{last.date()}"
            )
        return folds
    if folds[0].train_end <= first + horizon:
        raise SplitError(
            f"{n_folds} folds of {horizon_days} days need more history: snapshots span "
            f"{first.date()}..{last.date()}, the first fold would train on almost nothing"
        )
    return folds


def plan_folds(snapshots: pd.Series, n_folds: int, horizon_days: int) -> FoldPlan:
    """`n_folds` folds of one horizon when the history allows; else the most folds (then the
    longest, in steps of the snapshot spacing) whose every test period holds a snapshot and whose
    first fold trains on MIN_TRAIN_SNAPSHOTS snapshots. SplitError when not even one such fold."""
    try:
        return FoldPlan(
            rolling_origin_folds(snapshots, n_folds, horizon_days),
            n_folds,
            horizon_days,
            horizon_days,
        )
    except SplitError as too_short:
        unique = _unique_snapshots(snapshots)
        spacing = (
            max(int(np.median(np.diff(unique)) / np.timedelta64(1, "D")), 1)
            if len(unique) > 1
            else 1
        )
        for count in range(n_folds, 0, -1):
            for days in range(horizon_days, 0, -spacing):
                try:
                    folds = rolling_origin_folds(snapshots, count, horizon_days, days)
                except SplitError:
                    continue
                return FoldPlan(folds, n_folds, horizon_days, days)
        raise SplitError(
            f"{too_short}; not even one shorter fold trains on {MIN_TRAIN_SNAPSHOTS} snapshots "
            f"and tests on one {horizon_days} days later"
        ) from None


def _unique_snapshots(snapshots: pd.Series) -> np.ndarray:
    unique = np.sort(pd.to_datetime(snapshots).unique())
    if len(unique) == 0:
        raise SplitError("the dataset has no trainable snapshots")
    return unique


def _evaluable(unique: np.ndarray, folds: list[Fold]) -> bool:
    """Every fold tests at least one snapshot and the first trains on MIN_TRAIN_SNAPSHOTS."""
    times = pd.DatetimeIndex(unique)
    trains = int((times < folds[0].train_end).sum())
    tests = [((times >= f.test_start) & (times < f.test_end)).any() for f in folds]
    return trains >= MIN_TRAIN_SNAPSHOTS and all(tests)


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
