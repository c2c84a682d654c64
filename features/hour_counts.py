"""Orders paid per (merchant, clock hour) and per merchant-day, counted exactly by a dense grid or
a sort, and the surge flag read from them (the surge features and the peak-hour ratio)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

HOURS_PER_DAY = 24
# A merchant x hour count grid larger than this many cells per order falls back to a sort.
MAX_HOUR_CELLS_PER_ORDER = 40
HOUR_BLOCK_CELLS = 4_000_000  # merchant-hour cells counted at once (32 MB)


@dataclass(frozen=True)
class HourCounts:
    """Orders paid per (merchant, clock hour) that had any, sorted by merchant then hour."""

    merchant_code: np.ndarray
    hour: np.ndarray  # hours since the epoch
    orders: np.ndarray


def _hour_counts_by_sort(
    code: np.ndarray, hour: np.ndarray
) -> tuple[np.ndarray, np.ndarray, HourCounts]:
    """Per order: orders in its merchant-hour and its merchant-day; and the sparse hour table.

    Hour keys are laid out day by day, so each distinct merchant-hour key maps to its merchant-day
    key, whose count is the sum over its hours."""
    first_day = int(hour.min()) // HOURS_PER_DAY
    span_days = int(hour.max()) // HOURS_PER_DAY - first_day + 1
    span = span_days * HOURS_PER_DAY
    hour_key = code.astype(np.int64) * span + (hour - first_day * HOURS_PER_DAY)
    keys, inverse, counts = np.unique(hour_key, return_inverse=True, return_counts=True)
    day_of_key = keys // HOURS_PER_DAY
    day_start = np.flatnonzero(np.r_[True, day_of_key[1:] != day_of_key[:-1]])
    day_counts = np.add.reduceat(counts, day_start)
    day_of_hour = np.repeat(np.arange(len(day_start)), np.diff(np.r_[day_start, len(keys)]))
    table = HourCounts(keys // span, keys % span + first_day * HOURS_PER_DAY, counts)
    return counts[inverse], day_counts[day_of_hour][inverse], table


def _hour_counts_by_grid(
    code: np.ndarray, hour: np.ndarray, n_merchants: int
) -> tuple[np.ndarray, np.ndarray, HourCounts]:
    """The same as `_hour_counts_by_sort` for codes sorted ascending, without a sort: dense
    merchant x hour counts, a block of merchants at a time."""
    first_hour = int(hour.min()) // HOURS_PER_DAY * HOURS_PER_DAY
    span = (int(hour.max()) - first_hour) // HOURS_PER_DAY * HOURS_PER_DAY + HOURS_PER_DAY
    bounds = np.searchsorted(code, np.arange(n_merchants + 1))
    block = max(1, HOUR_BLOCK_CELLS // span)
    per_hour = np.empty(len(code), dtype=np.int64)
    per_day = np.empty(len(code), dtype=np.int64)
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    for m0 in range(0, n_merchants, block):
        m1 = min(m0 + block, n_merchants)
        rows = slice(bounds[m0], bounds[m1])
        local = (code[rows] - m0) * span + (hour[rows] - first_hour)
        counts = np.bincount(local, minlength=(m1 - m0) * span)
        per_hour[rows] = counts[local]
        per_day[rows] = counts.reshape(-1, HOURS_PER_DAY).sum(axis=1)[local // HOURS_PER_DAY]
        cells = np.flatnonzero(counts)
        parts.append((cells // span + m0, cells % span + first_hour, counts[cells]))
    table = HourCounts(*(np.concatenate([p[i] for p in parts]) for i in range(3)))
    return per_hour, per_day, table


def paid_hour_counts(
    merchant_code: np.ndarray, paid_hour: np.ndarray, n_merchants: int | None = None
) -> tuple[np.ndarray, np.ndarray, HourCounts]:
    """Per order, the orders paid in its merchant-hour and merchant-day, and the hour table.

    Dense counting beats sorting when the merchant x hour grid is not much larger than the orders
    (and needs codes sorted); a sparse table over a long span sorts instead. Both are exact."""
    n = len(merchant_code)
    if n == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, HourCounts(empty, empty, empty)
    n_merchants = int(merchant_code.max()) + 1 if n_merchants is None else n_merchants
    span = int(paid_hour.max()) - int(paid_hour.min()) + 2 * HOURS_PER_DAY
    is_sorted = n < 2 or not bool(np.any(merchant_code[1:] < merchant_code[:-1]))
    if is_sorted and n_merchants * span <= MAX_HOUR_CELLS_PER_ORDER * n:
        return _hour_counts_by_grid(merchant_code, paid_hour, n_merchants)
    return _hour_counts_by_sort(merchant_code, paid_hour)


def surge_flags(per_hour: np.ndarray, per_day: np.ndarray) -> np.ndarray:
    """An order is a surge order when its merchant-hour holds >= max(5, 3 x the mean hourly orders
    of that merchant's UTC day): it uses only that day, so it is point-in-time safe at midnight."""
    return per_hour >= np.maximum(5.0, 3.0 * per_day / HOURS_PER_DAY)
