"""Window requests and the day grid they share.

Every window [end - window_days, end) of every request starts and ends on a breakpoint day, so an
event's interval between breakpoints decides every window it falls in. Several requests (the
current window, the previous one, the label window) share one grid: events are binned once and
each window is one difference of two cumulative cells.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.events import NO_DAY, NS_PER_DAY


@dataclass(frozen=True)
class WindowRequest:
    """Windows of `window_days` ending at each of `ends`; `features` None means every
    single-window catalogue feature."""

    ends: pd.DatetimeIndex
    window_days: int
    features: tuple[str, ...] | None = None

    def end_days(self) -> np.ndarray:
        ns = pd.DatetimeIndex(self.ends).as_unit("ns").asi8
        return ns // NS_PER_DAY

    def wants(self, feature: str) -> bool:
        return self.features is None or feature in self.features


@dataclass(frozen=True)
class Grid:
    """Breakpoint days, a day -> interval lookup over the events' days, and the breakpoint
    indices (end, start) of each request's windows."""

    breakpoints: np.ndarray
    first_day: int
    lookup: np.ndarray
    windows: tuple[tuple[np.ndarray, np.ndarray], ...]

    @property
    def n_intervals(self) -> int:
        return len(self.breakpoints) + 1

    def interval(self, days: np.ndarray) -> np.ndarray:
        """Breakpoints on or before each day (any value for NO_DAY: callers mask those)."""
        offset = np.clip(days - self.first_day, 0, len(self.lookup) - 1)
        return self.lookup[np.where(days == NO_DAY, 0, offset)]

    def keys(self, code: np.ndarray, days: np.ndarray, n_merchants: int) -> np.ndarray:
        """Flat (merchant, interval) cell of each event; a missing day goes to one spare cell
        past the last merchant's, dropped by `cumulative`."""
        spare = n_merchants * self.n_intervals
        return np.where(days == NO_DAY, spare, code * self.n_intervals + self.interval(days))

    def cumulative(
        self, keys: np.ndarray, weight: np.ndarray | None, n_merchants: int
    ) -> np.ndarray:
        """[merchant, breakpoint j] = sum of weight over events before breakpoint j."""
        n_cells = n_merchants * self.n_intervals
        flat = np.bincount(keys, weights=weight, minlength=n_cells + 1)[:n_cells]
        return np.cumsum(flat.reshape(n_merchants, self.n_intervals), axis=1)

    def window_sums(self, cum: np.ndarray) -> list[np.ndarray]:
        """Per request, [merchant, window] differences of a cumulative array."""
        return [cum[:, end] - cum[:, start] for end, start in self.windows]


def make_grid(requests: list[WindowRequest], day_range: tuple[int, int]) -> Grid:
    """The grid of `requests`; `day_range` (first, last known event day) bounds the lookup."""
    ends = [r.end_days() for r in requests]
    starts = [e - r.window_days for e, r in zip(ends, requests, strict=True)]
    breakpoints = np.unique(np.concatenate([*ends, *starts, np.zeros(0, dtype=np.int64)]))
    first, last = day_range
    lookup = np.searchsorted(breakpoints, np.arange(first, last + 1), side="right")
    windows = tuple(
        (np.searchsorted(breakpoints, e), np.searchsorted(breakpoints, s))
        for e, s in zip(ends, starts, strict=True)
    )
    return Grid(breakpoints, first, lookup, windows)
