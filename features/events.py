"""Orders -> per-order event quantities: when each fulfilment event happened and what it measured.

Every window metric is a sum (or a duration histogram) of one of these over the events whose day falls
in the window, so each order is read exactly once here and never again per snapshot.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.contract import STAGE_TIMESTAMPS

NS_PER_HOUR = 3_600_000_000_000
HOURS_PER_DAY = 24
NO_DAY = np.iinfo(np.int64).min  # event did not happen (yet)


@dataclass(frozen=True)
class OrderEvents:
    """Column arrays over orders sorted by merchant; `merchant_ids[code]` names a merchant."""

    merchant_ids: np.ndarray
    merchant_code: np.ndarray
    day: dict[str, np.ndarray]  # event kind -> day number (days since epoch) or NO_DAY
    value: dict[str, np.ndarray]  # measured quantity -> float array (NaN where unknown)
    last_event_day: int

    def __len__(self) -> int:
        return len(self.merchant_code)


def _hours(orders: pd.DataFrame, column: str) -> np.ndarray:
    """Hours since the epoch as float; NaN for a missing timestamp or a missing column."""
    if column not in orders:
        return np.full(len(orders), np.nan)
    ts = pd.to_datetime(orders[column], utc=True).astype("datetime64[ns, UTC]")
    ns = ts.array.asi8.astype(float)
    ns[ts.isna().to_numpy()] = np.nan
    return ns / NS_PER_HOUR


def _text(orders: pd.DataFrame, column: str) -> np.ndarray:
    """A categorical or text column as a NumPy string array, through its few categories only."""
    values = orders[column].astype("category")
    labels = np.asarray(values.cat.categories.astype(str), dtype=object)
    codes = values.cat.codes.to_numpy()
    return np.where(codes >= 0, labels[np.maximum(codes, 0)], "")


def _day(hours: np.ndarray) -> np.ndarray:
    out = np.full(len(hours), NO_DAY, dtype=np.int64)
    known = ~np.isnan(hours)
    out[known] = np.floor(hours[known] / HOURS_PER_DAY).astype(np.int64)
    return out


def _flag(orders: pd.DataFrame, column: str) -> np.ndarray:
    """Nullable boolean -> float 1/0 with NaN for unknown."""
    if column not in orders:
        return np.full(len(orders), np.nan)
    return orders[column].astype("boolean").astype("Float64").to_numpy(dtype=float, na_value=np.nan)


def _numeric(orders: pd.DataFrame, column: str) -> np.ndarray:
    """An optional numeric column as float, all-NaN when the source does not have it."""
    if column not in orders:
        return np.full(len(orders), np.nan)
    values = pd.to_numeric(orders[column], errors="coerce")
    return values.to_numpy(dtype=float, na_value=np.nan)


def _status_hours(orders: pd.DataFrame, stages: dict[str, np.ndarray]) -> np.ndarray:
    """When the terminal status became known: status_at, else the latest stage the order reached."""
    status_at = _hours(orders, "status_at")
    latest = np.fmax.reduce(np.column_stack(list(stages.values())), axis=1)
    return np.where(np.isnan(status_at), latest, status_at)


def merchant_time_key(merchant_code: np.ndarray, unit: np.ndarray) -> np.ndarray:
    """One int64 per (merchant, hour or day): 1-D keys make np.unique a plain sort, not a row sort."""
    span = int(unit.max() - unit.min()) + 1 if len(unit) else 1
    return merchant_code.astype(np.int64) * span + (unit - (unit.min() if len(unit) else 0))


def surge_flags(merchant_code: np.ndarray, paid_hours: np.ndarray) -> np.ndarray:
    """An order is a surge order when its merchant-hour holds >= max(5, 3 x the mean hourly orders
    of that merchant's UTC day): it uses only that day, so it is point-in-time safe at midnight.

    One sort serves both counts: hour keys are laid out day by day, so each distinct merchant-hour
    key maps to its merchant-day key, whose count is the sum over its hours."""
    hour = np.floor(paid_hours).astype(np.int64)
    day = hour // HOURS_PER_DAY
    first_day = int(day.min()) if len(day) else 0
    span_days = int(day.max()) - first_day + 1 if len(day) else 1
    hour_key = merchant_code.astype(np.int64) * (span_days * HOURS_PER_DAY) + (
        hour - first_day * HOURS_PER_DAY
    )
    keys, hour_inverse, hour_counts = np.unique(hour_key, return_inverse=True, return_counts=True)
    day_of_key = keys // HOURS_PER_DAY  # merchant-day key, non-decreasing along `keys`
    day_start = np.flatnonzero(np.r_[True, day_of_key[1:] != day_of_key[:-1]])
    day_counts = np.add.reduceat(hour_counts, day_start) if len(keys) else hour_counts
    day_of_hour = np.repeat(np.arange(len(day_start)), np.diff(np.r_[day_start, len(keys)]))
    per_hour = hour_counts[hour_inverse]
    per_day_mean = day_counts[day_of_hour][hour_inverse] / HOURS_PER_DAY
    return per_hour >= np.maximum(5.0, 3.0 * per_day_mean)


def _stable_order(codes: np.ndarray) -> np.ndarray:
    """Stable argsort of merchant codes; codes that fit 16 bits use NumPy's radix sort (linear)."""
    if len(codes) and int(codes.max()) < 2**16:
        return np.argsort(codes.astype(np.uint16), kind="stable")
    return np.argsort(codes, kind="stable")


def order_events(orders: pd.DataFrame) -> OrderEvents:
    """Read every order once into event days and measured quantities, sorted by merchant.

    Computed in the input's row order and only the resulting NumPy arrays are permuted: reordering
    the frame itself (timestamps, categoricals) cost more than all the arithmetic."""
    codes, merchant_ids = pd.factorize(orders["merchant_id"], sort=True)
    day, value = _event_arrays(orders, codes)
    if len(codes) > 1 and bool(np.any(codes[1:] < codes[:-1])):
        by_merchant = _stable_order(codes)
        codes = codes[by_merchant]
        day = {k: v[by_merchant] for k, v in day.items()}
        value = {k: v[by_merchant] for k, v in value.items()}
    known_days = np.concatenate([d[d != NO_DAY] for d in day.values()])
    last = int(known_days.max()) if len(known_days) else 0
    return OrderEvents(
        np.asarray(merchant_ids, dtype=object), codes.astype(np.int64), day, value, last
    )


def _event_arrays(
    orders: pd.DataFrame, codes: np.ndarray
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Event days and measured quantities per order, in the frame's row order."""
    h = {c: _hours(orders, c) for c in (*STAGE_TIMESTAMPS, "ship_by", "deliver_by")}
    paid = np.where(np.isnan(h["paid_at"]), h["created_at"], h["paid_at"])
    stages = {k: h[k] for k in STAGE_TIMESTAMPS}
    status = _text(orders, "status")
    cancelled_by = _text(orders, "cancelled_by")
    status_hours = _status_hours(orders, stages)
    rating = _numeric(orders, "logistics_rating")
    complaint = _flag(orders, "logistics_complaint")
    negative = ((rating <= 2) | (complaint == 1)).astype(float)
    exit_hours = np.where(np.isnan(h["packed_at"]), h["shipped_at"], h["packed_at"])
    exit_hours = np.where(np.isnan(exit_hours) & (status == "cancelled"), status_hours, exit_hours)
    transit = h["delivered_at"] - h["shipped_at"]
    days_late = (h["delivered_at"] - h["deliver_by"]) / HOURS_PER_DAY
    carrier_codes, _ = (
        pd.factorize(orders["carrier"]) if "carrier" in orders else (np.full(len(orders), -1), None)
    )
    day = {
        "paid": _day(paid),
        "accepted": _day(h["accepted_at"]),
        "packed": _day(h["packed_at"]),
        "shipped": _day(h["shipped_at"]),
        "delivered": _day(h["delivered_at"]),
        "seller_cancel": _day(
            np.where((status == "cancelled") & (cancelled_by == "seller"), status_hours, np.nan)
        ),
        "lost": _day(np.where(status == "lost", status_hours, np.nan)),
        "logistics_return": _day(
            np.where((status == "returned") & (negative == 1), status_hours, np.nan)
        ),
        "backlog_exit": _day(exit_hours),
    }
    value = {
        "paid_hours": paid,
        "livestream": (_text(orders, "channel") == "livestream").astype(float),
        "accept_delay_hours": h["accepted_at"] - paid,
        "pick_pack_hours": h["packed_at"] - paid,
        "surge": surge_flags(codes, paid).astype(float),
        "late_dispatch": np.where(
            np.isnan(h["ship_by"]), np.nan, (h["shipped_at"] > h["ship_by"]).astype(float)
        ),
        "pickup_dwell_hours": h["shipped_at"] - h["packed_at"],
        "tracking_valid": _flag(orders, "tracking_valid"),
        "carrier_code": np.where(carrier_codes >= 0, carrier_codes, np.nan).astype(float),
        "on_time": np.where(
            np.isnan(h["deliver_by"]), np.nan, (h["delivered_at"] <= h["deliver_by"]).astype(float)
        ),
        "days_late": np.where(days_late > 0, days_late, np.nan),
        "transit_hours": transit,
        "route_on_time": np.where(
            np.isnan(transit + h["deliver_by"] + h["ship_by"]),
            np.nan,
            (transit <= h["deliver_by"] - h["ship_by"]).astype(float),
        ),
        "negative_review": negative,
    }
    return day, value
