"""Per-order event arrays: merchant-hour counts and the surge rule against a plain groupby (both the
dense-grid and the sort path), exact event days, and merchant order."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import features.hour_counts as hour_counts_module
from features.events import NAT, NO_DAY, NS_PER_DAY, _allowance_left, _stable_order, order_events
from features.hour_counts import HOURS_PER_DAY, paid_hour_counts, surge_flags

from .conftest import random_orders


def counts_reference(codes: np.ndarray, hour: np.ndarray) -> pd.DataFrame:
    frame = pd.DataFrame({"m": codes, "hour": hour, "day": hour // HOURS_PER_DAY})
    frame["per_hour"] = frame.groupby(["m", "hour"])["hour"].transform("size")
    frame["per_day"] = frame.groupby(["m", "day"])["day"].transform("size")
    frame["surge"] = frame["per_hour"] >= np.maximum(5.0, 3.0 * frame["per_day"] / HOURS_PER_DAY)
    return frame


@pytest.mark.parametrize("cells_per_order", [0, 10**9], ids=["sort", "dense-grid"])
@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(1, 400),
    merchants=st.integers(1, 5),
    hours_span=st.integers(1, 24 * 4),
    seed=st.integers(0, 2**32 - 1),
)
def test_hour_counts_and_surge_match_a_groupby(
    cells_per_order: int, n: int, merchants: int, hours_span: int, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    codes = np.sort(rng.integers(0, merchants, n))
    # Bursts: many orders share a few hours, so both surge outcomes occur.
    hour = 480_000 + rng.choice(rng.integers(0, hours_span, 6), n)
    old = hour_counts_module.MAX_HOUR_CELLS_PER_ORDER
    hour_counts_module.MAX_HOUR_CELLS_PER_ORDER = cells_per_order
    try:
        per_hour, per_day, table = paid_hour_counts(codes, hour, merchants)
    finally:
        hour_counts_module.MAX_HOUR_CELLS_PER_ORDER = old
    ref = counts_reference(codes, hour)
    np.testing.assert_array_equal(per_hour, ref["per_hour"])
    np.testing.assert_array_equal(per_day, ref["per_day"])
    np.testing.assert_array_equal(surge_flags(per_hour, per_day), ref["surge"])
    cells = ref.groupby(["m", "hour"]).size()
    np.testing.assert_array_equal(table.merchant_code, cells.index.get_level_values("m"))
    np.testing.assert_array_equal(table.hour, cells.index.get_level_values("hour"))
    np.testing.assert_array_equal(table.orders, cells.to_numpy())


def test_a_burst_is_a_surge_and_a_quiet_day_is_not() -> None:
    codes = np.zeros(30, dtype=np.int64)
    quiet_hours = np.r_[0:10, 11:21]  # one order an hour, never in the burst's hour
    hour = np.r_[np.full(10, 480_010), 480_000 + quiet_hours]  # 10 orders in one hour
    per_hour, per_day, _ = paid_hour_counts(codes, hour)
    flags = surge_flags(per_hour, per_day)
    assert flags[:10].all() and not flags[10:].any()


def test_event_days_are_exact_at_midnight_and_missing_stays_missing() -> None:
    orders = random_orders(n=20, merchants=2, seed=3)
    midnight = pd.Timestamp("2026-03-10", tz="UTC")
    orders.loc[0, "delivered_at"] = midnight
    orders.loc[1, "delivered_at"] = midnight - pd.Timedelta(nanoseconds=1)
    orders.loc[2, "delivered_at"] = pd.NaT
    events = order_events(orders)
    by_order = dict(zip(orders["order_id"].iloc[_stable_order(
        pd.factorize(orders["merchant_id"], sort=True)[0])], events.day["delivered"], strict=True))  # fmt: skip
    day = midnight.value // NS_PER_DAY
    assert by_order["o0"] == day and by_order["o1"] == day - 1 and by_order["o2"] == NO_DAY


@given(st.lists(st.integers(0, 70_000), max_size=300))
def test_stable_order_is_numpys_stable_argsort(codes: list[int]) -> None:
    array = np.asarray(codes, dtype=np.int64)
    np.testing.assert_array_equal(_stable_order(array), np.argsort(array, kind="stable"))


def test_late_dispatch_is_judged_at_the_event_the_order_names() -> None:
    orders = random_orders(n=3, merchants=1, seed=3)
    orders["ship_by"] = orders["paid_at"] + pd.Timedelta(hours=48)
    orders["packed_at"] = orders["paid_at"] + pd.Timedelta(hours=24)  # ready on time
    orders["shipped_at"] = orders["paid_at"] + pd.Timedelta(hours=60)  # scanned late
    orders["delivered_at"] = orders["shipped_at"] + pd.Timedelta(hours=30)
    orders["dispatch_event"] = pd.Categorical(
        ["packed_at", "shipped_at", None], categories=["shipped_at", "packed_at"]
    )
    events = order_events(orders)
    order = np.argsort(events.merchant_code, kind="stable")  # one merchant: frame order
    late = events.value["late_dispatch"][order]
    assert list(late) == [0.0, 1.0, 1.0]  # judged at RTS, at the scan, missing = the scan
    dispatched = events.day["dispatched"][order]
    np.testing.assert_array_equal(dispatched[0], events.day["packed"][order][0])
    np.testing.assert_array_equal(dispatched[1:], events.day["shipped"][order][1:])


def test_without_dispatch_events_the_dispatch_day_is_the_scan_day_itself() -> None:
    events = order_events(random_orders(n=50, seed=4))
    assert events.day["dispatched"] is events.day["shipped"]


@settings(max_examples=60, deadline=None)
@given(
    allowance_hours=st.floats(0.1, 500.0),
    first_hours=st.floats(0.0, 1000.0),
    later_by_hours=st.floats(0.0, 1000.0),
)
def test_the_allowance_left_falls_as_dispatch_comes_later_and_stays_in_range(
    allowance_hours: float, first_hours: float, later_by_hours: float
) -> None:
    """Dispatching later never leaves more of the allowance, the share stays in -1..1, and it is
    1 at once and 0 exactly at the deadline."""
    ns = 3_600_000_000_000
    start = np.array([0, 0, 0, 0], dtype=np.int64)
    deadline = np.full(4, int(allowance_hours * ns), dtype=np.int64)
    done = np.array(
        [
            int(first_hours * ns),
            int((first_hours + later_by_hours) * ns),
            0,
            int(allowance_hours * ns),
        ],
        dtype=np.int64,
    )
    share = _allowance_left(deadline, done, start)
    assert share[1] <= share[0]
    assert np.all((share >= -1.0) & (share <= 1.0))
    assert share[2] == 1.0 and share[3] == 0.0


def test_no_allowance_left_without_a_deadline_or_before_the_start() -> None:
    """Unknown deadline, unknown dispatch, or a deadline not after payment: NaN, never a share."""
    start = np.array([0, 0, 10, 0], dtype=np.int64)
    deadline = np.array([NAT, 100, 10, 100], dtype=np.int64)
    done = np.array([50, NAT, 5, 50], dtype=np.int64)
    share = _allowance_left(deadline, done, start)
    assert np.isnan(share[:3]).all() and share[3] == 0.5
