"""(merchant, snapshot) rows: point-in-time stage features, the current LES, and the next window's label.

Features at snapshot T use events in [T - window, T); the label is the rulebook over [T, T + horizon).
A row whose label window runs past the data is kept (scoreable) but marked label_complete = False.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.catalogue import load_catalogue
from features.events import HOURS_PER_DAY, NO_DAY, OrderEvents, order_events
from features.rulebook import TIER_CODES, Rulebook, rulebook_inputs, score_les
from features.windows import WindowConfig, window_features

TREND_FEATURES = (
    "late_dispatch_rate",
    "pick_pack_hours_p90",
    "transit_hours_p90",
    "pickup_within_24h_of_ready_rate",
    "on_time_delivery_rate",
)
DAY = pd.Timedelta(days=1)


@dataclass(frozen=True)
class DatasetConfig:
    window_days: int = 30
    horizon_days: int = 30
    cadence_days: int = 7
    min_observations: int = 5
    first_snapshot: pd.Timestamp | None = None
    last_snapshot: pd.Timestamp | None = None


@dataclass(frozen=True)
class DataBounds:
    """First paid day and last event day (days since the epoch) of the whole order table.

    They anchor the snapshot grid and label completeness, so a table split by merchant gives the
    rows the whole table gives only when every part is built with the bounds of the whole."""

    first_paid_day: int
    last_event_day: int

    def union(self, other: DataBounds) -> DataBounds:
        return DataBounds(
            min(self.first_paid_day, other.first_paid_day),
            max(self.last_event_day, other.last_event_day),
        )


def data_bounds(events: OrderEvents) -> DataBounds:
    paid = events.day["paid"]
    return DataBounds(int(paid[paid != NO_DAY].min()), events.last_event_day)


def _day_to_ts(day: int) -> pd.Timestamp:
    return pd.Timestamp(day * HOURS_PER_DAY * 3_600_000_000_000, tz="UTC")


def snapshot_grid(
    events: OrderEvents, cfg: DatasetConfig, bounds: DataBounds | None = None
) -> pd.DatetimeIndex:
    """Midnights every `cadence_days`, from one full window after the first order to the midnight
    after the last event (so the newest state is always scoreable)."""
    bounds = bounds or data_bounds(events)
    first = _day_to_ts(bounds.first_paid_day) + cfg.window_days * DAY
    last = _day_to_ts(bounds.last_event_day) + DAY
    first = cfg.first_snapshot if cfg.first_snapshot is not None else first
    last = cfg.last_snapshot if cfg.last_snapshot is not None else last
    return pd.date_range(first, last, freq=f"{cfg.cadence_days}D")


def _features_at(
    events: OrderEvents, snapshots: pd.DatetimeIndex, cfg: DatasetConfig, rules: Rulebook
) -> pd.DataFrame:
    """Every catalogue feature at each snapshot; shared by training rows and the serving path."""
    window_cfg = WindowConfig(cfg.min_observations)
    current = window_features(events, snapshots, cfg.window_days, window_cfg)
    previous = window_features(
        events,
        snapshots - cfg.window_days * DAY,
        cfg.window_days,
        window_cfg,
        features=(*TREND_FEATURES, "orders_in_window"),
    )
    for name in TREND_FEATURES:
        current[f"{name}_trend"] = current[name].to_numpy() - previous[name].to_numpy()
    prev_orders = previous["orders_in_window"].to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        current["order_growth_rate"] = np.where(
            prev_orders >= cfg.min_observations,
            current["orders_in_window"].to_numpy() / prev_orders - 1.0,
            np.nan,
        )
    scored_window = (
        current
        if rules.window_days == cfg.window_days
        else window_features(
            events, snapshots, rules.window_days, window_cfg, features=rulebook_inputs(rules)
        )
    )
    les = score_les(scored_window, rules)
    current["current_les_score"] = les["les_score"].to_numpy()
    current["current_tier"] = les["les_tier"].to_numpy()
    current["current_tier_code"] = current["current_tier"].map(TIER_CODES).astype(float)
    first_paid = _first_paid_day(events)
    started = np.repeat(first_paid, len(snapshots)) < np.tile(
        (snapshots.as_unit("ns").asi8 // (HOURS_PER_DAY * 3_600_000_000_000)), len(first_paid)
    )
    columns = ["merchant_id", "snapshot_at", *load_catalogue().names, "current_tier"]
    return current.loc[started, columns].reset_index(drop=True)


def _first_paid_day(events: OrderEvents) -> np.ndarray:
    paid = np.where(events.day["paid"] == NO_DAY, np.iinfo(np.int64).max, events.day["paid"])
    first = np.full(len(events.merchant_ids), np.iinfo(np.int64).max)
    np.minimum.at(first, events.merchant_code, paid)
    return first


def _labels(
    events: OrderEvents,
    snapshots: pd.DatetimeIndex,
    cfg: DatasetConfig,
    rules: Rulebook,
    last_event_day: int,
) -> pd.DataFrame:
    """The rulebook over [T, T + horizon) for every merchant and snapshot."""
    window = window_features(
        events,
        snapshots + cfg.horizon_days * DAY,
        cfg.horizon_days,
        WindowConfig(cfg.min_observations),
        features=rulebook_inputs(rules),
    )
    les = score_les(window, rules)
    label_end = window["snapshot_at"]
    return pd.DataFrame(
        {
            "merchant_id": window["merchant_id"],
            "snapshot_at": label_end - cfg.horizon_days * DAY,
            "label_score": les["les_score"].to_numpy(),
            "label_tier": les["les_tier"].to_numpy(),
            "label_complete": (label_end <= _day_to_ts(last_event_day) + DAY).to_numpy(),
        }
    )


def build_dataset(
    orders: pd.DataFrame, cfg: DatasetConfig, rules: Rulebook, bounds: DataBounds | None = None
) -> pd.DataFrame:
    """Training and backtest rows: features, current tier and the next window's label.

    `bounds` defaults to those of `orders`; a part of a larger table passes the whole table's."""
    events = order_events(orders)
    bounds = bounds or data_bounds(events)
    snapshots = snapshot_grid(events, cfg, bounds)
    features = _features_at(events, snapshots, cfg, rules)
    labels = _labels(events, snapshots, cfg, rules, bounds.last_event_day)
    return features.merge(labels, on=["merchant_id", "snapshot_at"], how="left", validate="1:1")


def build_snapshot_features(
    orders: pd.DataFrame, snapshot_at: pd.Timestamp, cfg: DatasetConfig, rules: Rulebook
) -> pd.DataFrame:
    """One row per merchant at one snapshot, by exactly the code that builds training rows."""
    snapshot = pd.Timestamp(snapshot_at)
    snapshot = (
        snapshot.tz_localize("UTC") if snapshot.tzinfo is None else snapshot.tz_convert("UTC")
    )
    if snapshot != snapshot.normalize():
        raise ValueError(f"snapshot_at must be a midnight UTC, got {snapshot}")
    snapshot = snapshot.as_unit("ns")  # the resolution training rows carry
    return _features_at(order_events(orders), pd.DatetimeIndex([snapshot]), cfg, rules)


def dataset_summary(dataset: pd.DataFrame) -> dict[str, object]:
    """The figures `les build-dataset` prints: size, label mix, trainable and insufficient rows."""
    trainable = dataset["label_complete"] & (dataset["label_tier"] != "Insufficient data")
    return {
        "rows": len(dataset),
        "merchants": dataset["merchant_id"].nunique(),
        "snapshots": dataset["snapshot_at"].nunique(),
        "label_distribution": dataset.loc[dataset["label_complete"], "label_tier"]
        .value_counts()
        .to_dict(),
        "trainable_rows": int(trainable.sum()),
        "insufficient_label_rows": int(
            (dataset["label_complete"] & (dataset["label_tier"] == "Insufficient data")).sum()
        ),
        "incomplete_label_rows": int((~dataset["label_complete"]).sum()),
    }
