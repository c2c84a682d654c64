"""The simulated orders as an order table: canonical contract columns and dtypes."""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.contract import CANCELLED_BY, CHANNELS, DISPATCH_EVENTS, STATUSES
from features.events import NS_PER_HOUR
from features.world_params import CARRIERS, REGION_WEIGHTS, primary_carrier


def _timestamps(hours: np.ndarray, start: pd.Timestamp) -> pd.Series:
    ns = np.where(
        np.isnan(hours),
        np.iinfo(np.int64).min,
        start.value + np.round(np.nan_to_num(hours) * NS_PER_HOUR).astype(np.int64),
    )
    return pd.Series(pd.DatetimeIndex(ns.view("datetime64[ns]")).tz_localize("UTC"))


def _nullable_bool(values: np.ndarray) -> pd.arrays.BooleanArray:
    return pd.arrays.BooleanArray(values == 1, np.isnan(values))


def orders_frame(
    o: dict[str, np.ndarray],
    merchant_ids: np.ndarray,
    first_order: int,
    start: pd.Timestamp,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """Canonical contract columns and dtypes (features/contract.py)."""
    n = len(o["m"])
    carrier = np.where(
        o["own_carrier"],
        primary_carrier(o["lq"]),
        np.array(CARRIERS)[rng.integers(0, len(CARRIERS), n)],
    )
    carrier = o.get("carrier", carrier)  # a carrier shock drew each order's carrier already
    organic = np.where(rng.random(n) < 0.6, "storefront", "short_video")
    regions = np.array([f"R{i}" for i in range(len(REGION_WEIGHTS))])
    frame = pd.DataFrame(
        {
            "order_id": pd.array(
                np.char.add("O", np.arange(first_order, first_order + n).astype(str)),
                dtype="string",
            ),
            "merchant_id": pd.array(merchant_ids[o["m"]], dtype="string"),
            "channel": pd.Categorical(
                np.where(o["is_live"], "livestream", organic), categories=CHANNELS
            ),
        }
    )
    for column, key in (
        ("created_at", "created"),
        ("paid_at", "paid"),
        ("accepted_at", "accepted"),
        ("packed_at", "packed"),
        ("shipped_at", "shipped"),
        ("delivered_at", "delivered"),
        ("status_at", "status_at"),
        ("ship_by", "ship_by"),
        ("deliver_by", "deliver_by"),
    ):
        frame[column] = _timestamps(o[key], start)
    # the world's platform judges late dispatch at the carrier scan, the contract's default
    frame["dispatch_event"] = pd.Categorical.from_codes(np.full(n, -1), DISPATCH_EVENTS)
    frame["carrier"] = pd.array(np.where(np.isnan(o["shipped"]), None, carrier), dtype="string")
    frame["tracking_valid"] = _nullable_bool(o["tracking"])
    frame["status"] = pd.Categorical(o["status"], categories=STATUSES)
    frame["cancelled_by"] = pd.Categorical(o["cancelled_by"], categories=CANCELLED_BY)
    frame["logistics_rating"] = pd.array(
        np.where(np.isnan(o["rating"]), None, o["rating"]), dtype="Int8"
    )
    frame["logistics_complaint"] = _nullable_bool(o["complaint"])
    frame["origin_region"] = pd.array(regions[o["origin"]], dtype="string")
    frame["destination_region"] = pd.array(regions[o["destination"]], dtype="string")
    return frame
