"""Small contract-valid order frames for feature tests, and a tiny synthetic world."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.contract import CANCELLED_BY, CHANNELS, STATUSES
from features.world import generate_world
from features.world_params import WorldConfig

T0 = pd.Timestamp("2026-03-01", tz="UTC")


def hours(h: float | np.ndarray) -> pd.Timedelta:
    return pd.to_timedelta(h, unit="h")


def random_orders(n: int = 600, merchants: int = 4, seed: int = 0, days: int = 60) -> pd.DataFrame:
    """Every stage present, promises known, a mix of statuses; times spread over `days`."""
    rng = np.random.default_rng(seed)
    created = T0 + hours(rng.uniform(0, days * 24, n))
    paid = created + hours(rng.uniform(0, 0.5, n))
    accepted = paid + hours(rng.exponential(1.5, n))
    packed = accepted + hours(rng.exponential(20, n))
    shipped = packed + hours(rng.exponential(12, n))
    delivered = shipped + hours(rng.gamma(3, 30, n))
    status = rng.choice(
        ["delivered", "cancelled", "lost", "returned"], n, p=[0.85, 0.07, 0.03, 0.05]
    )
    cancelled_by = np.where(status == "cancelled", rng.choice(["seller", "buyer"], n), "none")
    frame = pd.DataFrame(
        {
            "order_id": pd.array([f"o{i}" for i in range(n)], dtype="string"),
            "merchant_id": pd.array(
                [f"m{i}" for i in rng.integers(0, merchants, n)], dtype="string"
            ),
            "channel": pd.Categorical(
                rng.choice(["livestream", "storefront"], n), categories=CHANNELS
            ),
            "created_at": created,
            "paid_at": paid,
            "accepted_at": accepted,
            "packed_at": packed,
            "shipped_at": shipped,
            "delivered_at": delivered,
            "status_at": delivered,
            "ship_by": paid + hours(48),
            "deliver_by": paid + hours(24 * 6),
            "carrier": pd.array(rng.choice(["A", "B", "C"], n), dtype="string"),
            "tracking_valid": pd.array(rng.random(n) < 0.95, dtype="boolean"),
            "status": pd.Categorical(status, categories=STATUSES),
            "cancelled_by": pd.Categorical(cancelled_by, categories=CANCELLED_BY),
            "logistics_rating": pd.array(rng.integers(1, 6, n), dtype="Int8"),
            "logistics_complaint": pd.array(rng.random(n) < 0.05, dtype="boolean"),
            "origin_region": pd.array(["R0"] * n, dtype="string"),
            "destination_region": pd.array(["R1"] * n, dtype="string"),
        }
    )
    cancelled = status == "cancelled"
    frame.loc[cancelled, ["packed_at", "shipped_at", "delivered_at"]] = pd.NaT
    frame.loc[cancelled, "status_at"] = frame.loc[cancelled, "accepted_at"] + hours(2)
    lost = status == "lost"
    frame.loc[lost, "delivered_at"] = pd.NaT
    frame.loc[lost, "status_at"] = frame.loc[lost, "shipped_at"] + hours(24 * 10)
    returned = status == "returned"
    frame.loc[returned, "status_at"] = frame.loc[returned, "delivered_at"] + hours(72)
    frame.loc[cancelled | lost, ["logistics_rating", "logistics_complaint"]] = pd.NA
    return frame


@pytest.fixture(scope="session")
def orders() -> pd.DataFrame:
    return random_orders()


@pytest.fixture(scope="session")
def small_world():
    return generate_world(WorldConfig(n_merchants=80, days=150, seed=3))
