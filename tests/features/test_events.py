"""Per-order event arrays: the vectorised surge rule against a plain groupby, and merchant order."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from features.events import HOURS_PER_DAY, _stable_order, surge_flags


def surge_reference(merchant_code: np.ndarray, paid_hours: np.ndarray) -> np.ndarray:
    frame = pd.DataFrame({"m": merchant_code, "hour": np.floor(paid_hours).astype(np.int64)})
    frame["day"] = frame["hour"] // HOURS_PER_DAY
    per_hour = frame.groupby(["m", "hour"])["hour"].transform("size")
    per_day_mean = frame.groupby(["m", "day"])["day"].transform("size") / HOURS_PER_DAY
    return (per_hour >= np.maximum(5.0, 3.0 * per_day_mean)).to_numpy()


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 400),
    merchants=st.integers(1, 5),
    hours_span=st.integers(1, 24 * 4),
    seed=st.integers(0, 2**32 - 1),
)
def test_surge_flags_match_a_groupby(n: int, merchants: int, hours_span: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, merchants, n)
    # Bursts: many orders share a few hours, so both outcomes occur.
    hours = 480_000 + rng.choice(rng.uniform(0, hours_span, 6), n) + rng.uniform(0, 0.9, n)
    np.testing.assert_array_equal(surge_flags(codes, hours), surge_reference(codes, hours))


def test_a_burst_is_a_surge_and_a_quiet_day_is_not() -> None:
    codes = np.zeros(30, dtype=np.int64)
    quiet_hours = np.r_[0:10, 11:21]  # one order an hour, never in the burst's hour
    hours = np.r_[np.full(10, 480_010.5), 480_000.5 + quiet_hours]  # 10 orders in one hour
    flags = surge_flags(codes, hours)
    assert flags[:10].all() and not flags[10:].any()


@given(st.lists(st.integers(0, 70_000), max_size=300))
def test_stable_order_is_numpys_stable_argsort(codes: list[int]) -> None:
    array = np.asarray(codes, dtype=np.int64)
    np.testing.assert_array_equal(_stable_order(array), np.argsort(array, kind="stable"))
