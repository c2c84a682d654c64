"""What a (merchant, snapshot) dataset is built with: the DatasetConfig, the data bounds that
anchor the snapshot grid, and the grid itself (midnights every cadence_days)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd

from features.events import NO_DAY, NS_PER_DAY, OrderEvents

DAY = pd.Timedelta(days=1)
HISTORY_WINDOWS = 3


@dataclass(frozen=True)
class DatasetConfig:
    window_days: int = 30
    horizon_days: int = 30
    cadence_days: int = 7
    min_observations: int = 5
    first_snapshot: pd.Timestamp | None = None
    last_snapshot: pd.Timestamp | None = None
    # The `*_history` features look back this many days (0: 3 x window_days), so a sparse seller
    # whose last window holds too few orders to score still shows its record.
    history_days: int = 0

    @property
    def history_window_days(self) -> int:
        return self.history_days or HISTORY_WINDOWS * self.window_days

    def to_dict(self) -> dict[str, object]:
        """Plain JSON values (snapshots as ISO text), so the recipe can travel in a file."""
        raw = dataclasses.asdict(self)
        return {k: v.isoformat() if isinstance(v, pd.Timestamp) else v for k, v in raw.items()}

    @classmethod
    def from_dict(cls, raw: Mapping[str, object]) -> DatasetConfig:
        """The inverse of `to_dict`; an absent key keeps its default (a recipe from older code),
        an unknown one is refused (a recipe from newer code would be misread)."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise ValueError(f"unknown DatasetConfig field(s) {unknown}; known: {sorted(known)}")
        values = {
            k: pd.Timestamp(v) if k.endswith("_snapshot") and v is not None else v
            for k, v in raw.items()
        }
        return cls(**values)


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


def day_to_ts(day: int) -> pd.Timestamp:
    return pd.Timestamp(day * NS_PER_DAY, tz="UTC")


def snapshot_grid(
    events: OrderEvents, cfg: DatasetConfig, bounds: DataBounds | None = None
) -> pd.DatetimeIndex:
    """Midnights every `cadence_days`, from one full window after the first order to the midnight
    after the last event (so the newest state is always scoreable)."""
    bounds = bounds or data_bounds(events)
    first = day_to_ts(bounds.first_paid_day) + cfg.window_days * DAY
    last = day_to_ts(bounds.last_event_day) + DAY
    first = cfg.first_snapshot if cfg.first_snapshot is not None else first
    last = cfg.last_snapshot if cfg.last_snapshot is not None else last
    return pd.date_range(first, last, freq=f"{cfg.cadence_days}D")
