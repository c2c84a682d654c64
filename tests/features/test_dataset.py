"""Point-in-time correctness: nothing after T changes a feature at T; serving equals training."""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from features.catalogue import FULFILMENT_STAGES, load_catalogue
from features.dataset import (
    build_dataset,
    build_snapshot_features,
    dataset_summary,
    default_threads,
)
from features.dataset_config import DatasetConfig
from features.rulebook import load_rulebook

from .conftest import T0, random_orders

CFG = DatasetConfig(window_days=14, horizon_days=14, cadence_days=7, min_observations=3)
RULES = load_rulebook().with_overrides(window_days=14, min_orders=5)
STAGES = ("accepted_at", "packed_at", "shipped_at", "delivered_at", "status_at")


def features_at(orders: pd.DataFrame, snapshot: pd.Timestamp) -> pd.DataFrame:
    rows = build_snapshot_features(orders, snapshot, CFG, RULES)
    assert len(rows), "no rows at the snapshot: a point-in-time comparison would be vacuous"
    return rows.sort_values("merchant_id", ignore_index=True)


def tamper_after(
    orders: pd.DataFrame, snapshot: pd.Timestamp, rng: np.random.Generator, delete: bool
) -> pd.DataFrame:
    """Move or delete every event that happens after the snapshot, keeping stage order."""
    out = orders.copy()
    for column in STAGES:
        later = (out[column] >= snapshot).fillna(False)
        if delete:
            out.loc[later, column] = pd.NaT
        else:
            shift = pd.to_timedelta(rng.uniform(0, 200, later.sum()), unit="h")
            out.loc[later, column] = out.loc[later, column] + shift
    if delete:
        undone = out["delivered_at"].isna() & (out["status"] == "delivered")
        out.loc[undone, "status"] = "in_transit"
        out.loc[undone, "status_at"] = pd.NaT
        later_status = orders["status_at"] >= snapshot
        out.loc[later_status, "status"] = "in_transit"
        out.loc[later_status, "cancelled_by"] = "none"
        # a review is known from the delivery it rates (contract), so only undone deliveries lose it
        out.loc[out["delivered_at"].isna(), ["logistics_rating", "logistics_complaint"]] = pd.NA
    else:
        for i, column in enumerate(STAGES[:-1]):
            for later_col in STAGES[i + 1 : -1]:
                bad = (out[later_col] < out[column]).fillna(False)
                out.loc[bad, later_col] = out.loc[bad, column]
    return out


@given(seed=st.integers(0, 10_000), offset_days=st.integers(15, 40), delete=st.booleans())
@settings(max_examples=25, deadline=None)
def test_changing_or_deleting_events_after_t_leaves_features_at_t_unchanged(
    seed: int, offset_days: int, delete: bool
) -> None:
    orders = random_orders(n=300, merchants=3, seed=seed, days=50)
    snapshot = T0 + pd.Timedelta(days=offset_days)
    before = features_at(orders, snapshot)
    after = features_at(
        tamper_after(orders, snapshot, np.random.default_rng(seed), delete), snapshot
    )
    pd.testing.assert_frame_equal(before, after)


def test_orders_created_after_t_do_not_exist_at_t() -> None:
    orders = random_orders(n=300, merchants=3, seed=5, days=50)
    snapshot = T0 + pd.Timedelta(days=30)
    pd.testing.assert_frame_equal(
        features_at(orders, snapshot),
        features_at(orders[orders["created_at"] < snapshot], snapshot),
    )


def test_serving_path_equals_training_rows() -> None:
    orders = random_orders(n=800, merchants=4, seed=2, days=70)
    dataset = build_dataset(orders, CFG, RULES)
    snapshot = dataset["snapshot_at"].unique()[3]
    served = features_at(orders, snapshot)
    offline = dataset[dataset["snapshot_at"] == snapshot].sort_values(
        "merchant_id", ignore_index=True
    )
    pd.testing.assert_frame_equal(served, offline[served.columns])


def test_serving_path_accepts_a_snapshot_typed_by_hand() -> None:
    """A user's '2026-..' string parses at microsecond resolution; the rows must not vanish."""
    orders = random_orders(n=800, merchants=4, seed=2, days=70)
    dataset = build_dataset(orders, CFG, RULES)
    snapshot = pd.Timestamp(dataset["snapshot_at"].unique()[3])
    typed = str(snapshot.date())
    assert pd.Timestamp(typed).unit != "ns"
    served = build_snapshot_features(orders, typed, CFG, RULES)
    assert len(served) == (dataset["snapshot_at"] == snapshot).sum() > 0
    assert served["snapshot_at"].dtype == dataset["snapshot_at"].dtype


def test_dataset_columns_labels_and_completeness() -> None:
    orders = random_orders(n=800, merchants=4, seed=2, days=70)
    dataset = build_dataset(orders, CFG, RULES)
    assert list(dataset.columns[:2]) == ["merchant_id", "snapshot_at"]
    assert set(load_catalogue().names) <= set(dataset.columns)
    assert {"current_tier", "label_score", "label_tier", "label_complete"} <= set(dataset.columns)
    last_event = orders[["created_at", "delivered_at", "status_at"]].max().max()
    label_end = dataset["snapshot_at"] + pd.Timedelta(days=CFG.horizon_days)
    assert (
        dataset["label_complete"] == (label_end <= last_event.normalize() + pd.Timedelta(days=1))
    ).all()
    assert (dataset["snapshot_at"] == dataset["snapshot_at"].dt.normalize()).all()
    summary = dataset_summary(dataset)
    assert summary["rows"] == len(dataset) and summary["trainable_rows"] > 0


def test_label_at_t_equals_current_score_at_t_plus_horizon() -> None:
    """The label is the rulebook's verdict on the next window, by the same code."""
    orders = random_orders(n=800, merchants=4, seed=7, days=70)
    dataset = build_dataset(orders, CFG, RULES)
    shifted = dataset[["merchant_id", "snapshot_at", "current_les_score"]].assign(
        snapshot_at=dataset["snapshot_at"] - pd.Timedelta(days=CFG.horizon_days)
    )
    joined = dataset.merge(shifted, on=["merchant_id", "snapshot_at"], suffixes=("", "_next"))
    assert len(joined) > 0
    np.testing.assert_allclose(joined["label_score"], joined["current_les_score_next"])


def test_trend_is_this_window_minus_the_previous() -> None:
    orders = random_orders(n=800, merchants=2, seed=9, days=70)
    dataset = build_dataset(orders, CFG, RULES).set_index(["merchant_id", "snapshot_at"])
    m, t = dataset.index[-1]
    previous = dataset.loc[(m, t - pd.Timedelta(days=14)), "late_dispatch_rate"]
    expected = dataset.loc[(m, t), "late_dispatch_rate"] - previous
    assert dataset.loc[(m, t), "late_dispatch_rate_trend"] == expected


def test_threads_split_merchants_without_changing_a_row(small_world) -> None:
    """Merchant runs built in parallel threads give the single-thread dataset, cell for cell,
    whatever the split (4 parts of an 80-merchant world, and more parts than merchants)."""
    orders = small_world.orders.sample(frac=1.0, random_state=5)  # merchants interleaved
    cfg, rules = DatasetConfig(), load_rulebook()
    single = build_dataset(orders, cfg, rules, threads=1)
    assert len(single) > 1000 and single["merchant_id"].nunique() == 80
    for threads in (4, 500):
        pd.testing.assert_frame_equal(build_dataset(orders, cfg, rules, threads=threads), single)


def test_default_threads_keep_small_tables_in_one_thread() -> None:
    assert default_threads(1_000) == 1
    assert 1 <= default_threads(10_000_000) <= len(os.sched_getaffinity(0))


@given(seed=st.integers(0, 10_000))
@settings(max_examples=15, deadline=None)
def test_current_stage_points_add_up_to_the_current_score(seed: int) -> None:
    """Each stage's share of the current LES, so the four columns sum to it (and are all missing
    when the window is too thin to score)."""
    dataset = build_dataset(random_orders(n=600, merchants=4, seed=seed, days=60), CFG, RULES)
    points = dataset[[f"current_les_points_{s}" for s in FULFILMENT_STAGES]]
    scored = dataset["current_les_score"].notna()
    assert scored.any()
    np.testing.assert_allclose(points[scored].sum(axis=1), dataset.loc[scored, "current_les_score"])
    assert points[~scored].isna().all(axis=None)
    on_scale = points[scored].stack().between(0.0, 5.0)  # never 5 + 1 ulp from the division
    assert on_scale.all() and dataset.loc[scored, "current_les_score"].between(0.0, 5.0).all()


def test_history_rates_cover_three_windows() -> None:
    """`<metric>_history` is the rulebook metric over HISTORY_WINDOWS x the window: the same rate
    as a dataset whose window is that long."""
    orders = random_orders(n=900, merchants=3, seed=5, days=90)
    dataset = build_dataset(orders, CFG, RULES)
    assert CFG.history_window_days == 3 * CFG.window_days
    long = dataclasses.replace(CFG, window_days=CFG.history_window_days)
    wide = build_dataset(orders, long, RULES).set_index(["merchant_id", "snapshot_at"])
    joined = dataset.set_index(["merchant_id", "snapshot_at"]).join(wide, rsuffix="_wide")
    for metric in ("late_dispatch_rate", "on_time_delivery_rate"):
        known = joined[f"{metric}_wide"].notna()  # where the long window itself is rated
        assert known.sum() >= 10
        np.testing.assert_allclose(
            joined.loc[known, f"{metric}_history"], joined.loc[known, f"{metric}_wide"]
        )


def test_a_merchant_that_ships_nothing_has_no_scored_row_or_label() -> None:
    """Every order buyer-cancelled: plenty of paid orders, none delivered, so neither the current
    tier nor the label may be scored (the label was once 5.0 on the cancellation rate alone)."""
    paid = T0 + pd.to_timedelta(np.arange(120) * 12, unit="h")
    cancelled = pd.DataFrame(
        {
            "order_id": [f"z{k}" for k in range(len(paid))],
            "merchant_id": "m-cancelled",
            "channel": "storefront",
            "created_at": paid,
            "paid_at": paid,
            "status": "cancelled",
            "cancelled_by": "buyer",
            "status_at": paid + pd.Timedelta(hours=2),
        }
    )
    orders = pd.concat([random_orders(n=300, merchants=2, seed=3, days=60), cancelled])
    dataset = build_dataset(orders.reset_index(drop=True), CFG, RULES)
    mine = dataset[dataset["merchant_id"] == "m-cancelled"]
    assert len(mine) and (mine["orders_in_window"] >= RULES.min_orders).any()
    assert (mine["label_tier"] == "Insufficient data").all() and mine["label_score"].isna().all()
    assert (mine["current_tier"] == "Insufficient data").all()
    assert mine["current_les_score"].isna().all()
    others = dataset[dataset["merchant_id"] != "m-cancelled"]
    scored = others["label_score"].notna()
    assert scored.any(), "no other merchant is scored: the test would be vacuous"
