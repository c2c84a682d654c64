"""Window features against a naive per-order reference, window edges, and missing stages."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.histograms import BIN_EDGES_HOURS, bin_index, histogram_quantiles
from features.windows import WindowConfig, compute_window_metrics

from .conftest import T0, random_orders

SNAPSHOT = T0 + pd.Timedelta(days=45)
WINDOW = 30


def naive_rates(orders: pd.DataFrame, merchant: str, end: pd.Timestamp, days: int) -> dict:
    """One merchant, one window, straight from the definitions in the catalogue."""
    start = end - pd.Timedelta(days=days)
    o = orders[orders["merchant_id"] == merchant]

    def inside(col: str) -> pd.Series:
        return (o[col] >= start) & (o[col] < end)

    shipped, delivered = o[inside("shipped_at")], o[inside("delivered_at")]
    status_in = inside("status_at")
    negative = (delivered["logistics_rating"] <= 2) | delivered["logistics_complaint"].fillna(False)
    return {
        "orders_in_window": inside("paid_at").sum(),
        "late_dispatch_rate": (shipped["shipped_at"] > shipped["ship_by"]).mean(),
        "dispatch_slack_share_mean": (
            (shipped["ship_by"] - shipped["shipped_at"])
            / (shipped["ship_by"] - shipped["paid_at"].fillna(shipped["created_at"]))
        )
        .clip(-1, 1)
        .mean(),
        "pickup_within_24h_of_ready_rate": (
            shipped["shipped_at"] - shipped["packed_at"] <= pd.Timedelta(hours=24)
        ).mean(),
        "valid_tracking_rate": shipped["tracking_valid"].astype(float).mean(),
        "on_time_delivery_rate": (delivered["delivered_at"] <= delivered["deliver_by"]).mean(),
        "logistics_negative_review_rate": negative.fillna(False).astype(float).mean(),
        "seller_fault_cancellation_rate": (
            status_in & (o["status"] == "cancelled") & (o["cancelled_by"] == "seller")
        ).sum()
        / inside("paid_at").sum(),
        "lost_parcel_rate": (status_in & (o["status"] == "lost")).sum() / len(shipped),
        "transit_hours_cv": (
            (delivered["delivered_at"] - delivered["shipped_at"]).dt.total_seconds() / 3600
        ).pipe(lambda s: s.std(ddof=0) / s.mean()),
        "backlog_orders_at_snapshot": (
            (o["paid_at"] < end)
            & ~(o["packed_at"] < end)
            & ~((o["status"] == "cancelled") & (o["status_at"] < end))
        ).sum(),
    }


def test_rates_match_the_naive_reference(orders: pd.DataFrame) -> None:
    features = compute_window_metrics(orders, pd.DatetimeIndex([SNAPSHOT]), WINDOW)
    for merchant in ["m0", "m1", "m2"]:
        row = features.set_index("merchant_id").loc[merchant]
        for name, expected in naive_rates(orders, merchant, SNAPSHOT, WINDOW).items():
            assert row[name] == pytest.approx(float(expected), rel=1e-9, abs=1e-12), name


def test_dispatch_slack_share_by_hand() -> None:
    """Allowance 48 h from payment to ship-by: dispatched after 12 h leaves 0.75 of it, after
    96 h is a whole allowance late again (-1), after 200 h still -1 (clipped); an order without a
    ship-by counts in no mean."""
    paid = T0 + pd.Timedelta(days=1)
    dispatched_after_hours = [12, 96, 200, 30, 24, 6]
    frame = random_orders(n=len(dispatched_after_hours), merchants=1, seed=3)
    frame["status"] = "delivered"
    frame["paid_at"] = paid
    frame["created_at"] = paid
    frame["accepted_at"] = paid
    frame["packed_at"] = paid + pd.Timedelta(hours=1)
    frame["shipped_at"] = [paid + pd.Timedelta(hours=h) for h in dispatched_after_hours]
    frame["ship_by"] = paid + pd.Timedelta(hours=48)
    frame.loc[5, "ship_by"] = pd.NaT
    row = compute_window_metrics(frame, pd.DatetimeIndex([paid + pd.Timedelta(days=20)]), WINDOW)
    shares = [0.75, -1.0, -1.0, 18 / 48, 0.5]
    assert row.iloc[0]["dispatch_slack_share_mean"] == pytest.approx(np.mean(shares))


def test_event_exactly_at_the_snapshot_is_excluded_and_at_window_start_included() -> None:
    orders = random_orders(n=40, merchants=1, seed=1)
    start = SNAPSHOT - pd.Timedelta(days=WINDOW)
    orders.loc[0, ["created_at", "paid_at"]] = [start, start]
    orders.loc[1, ["created_at", "paid_at"]] = [SNAPSHOT, SNAPSHOT]
    inside = ((orders["paid_at"] >= start) & (orders["paid_at"] < SNAPSHOT)).sum()
    features = compute_window_metrics(orders, pd.DatetimeIndex([SNAPSHOT]), WINDOW)
    assert features.loc[0, "orders_in_window"] == inside


def test_missing_packed_and_accepted_give_nan_not_zero(orders: pd.DataFrame) -> None:
    no_stages = orders.drop(columns=["packed_at", "accepted_at"])
    row = compute_window_metrics(no_stages, pd.DatetimeIndex([SNAPSHOT]), WINDOW).iloc[0]
    for name in (
        "pick_pack_hours_p90",
        "acceptance_delay_hours_p50",
        "accepted_within_1h_rate",
        "pickup_dwell_hours_p90",
        "surge_pick_pack_p90_ratio",
    ):
        assert np.isnan(row[name]), name
    assert row["late_dispatch_rate"] >= 0
    assert row["backlog_orders_at_snapshot"] >= 0


def test_features_under_the_observation_floor_are_nan(orders: pd.DataFrame) -> None:
    floor = WindowConfig(min_observations=10_000)
    row = compute_window_metrics(orders, pd.DatetimeIndex([SNAPSHOT]), WINDOW, floor).iloc[0]
    assert np.isnan(row["late_dispatch_rate"]) and np.isnan(row["transit_hours_p90"])
    assert row["orders_in_window"] > 0


@pytest.mark.parametrize("q", [0.5, 0.9])
def test_histogram_quantiles_are_close_to_exact(q: float) -> None:
    rng = np.random.default_rng(4)
    values = rng.lognormal(np.log(20), 1.0, 5000)
    counts = np.bincount(bin_index(values, BIN_EDGES_HOURS), minlength=len(BIN_EDGES_HOURS) - 1)
    estimate = histogram_quantiles(counts[None, :].astype(float), BIN_EDGES_HOURS, [q], 5)[0][0]
    assert estimate == pytest.approx(np.quantile(values, q), rel=0.04)


def test_windows_are_independent_of_other_merchants(orders: pd.DataFrame) -> None:
    snapshots = pd.DatetimeIndex([SNAPSHOT, SNAPSHOT + pd.Timedelta(days=7)])
    together = compute_window_metrics(orders, snapshots, WINDOW)
    alone = compute_window_metrics(orders[orders["merchant_id"] == "m2"], snapshots, WINDOW)
    pd.testing.assert_frame_equal(
        together[together["merchant_id"] == "m2"].reset_index(drop=True), alone
    )
