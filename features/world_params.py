"""The synthetic world's parameters: its configuration, carriers, change kinds, the per-merchant
latent paths and the fixed simulation constants, read by both `world` (merchants and their paths)
and `world_orders` (orders from those paths)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

CHANGE_KINDS = ("it_upgrade", "carrier_switch", "demand_growth", "it_decay", "logistics_decay")
CARRIERS = ("JetLine", "FastCargo", "RegioPost", "SwiftExpress", "BudgetShip", "CheapHaul")


@dataclass(frozen=True)
class CarrierShock:
    """From `start` (a date), every parcel `carrier` picks up spends `transit_factor` times as
    long in transit: the drift scenario of docs/monitoring.md. Promises do not move with it."""

    carrier: str
    start: str
    transit_factor: float = 2.0

    def __post_init__(self) -> None:
        if self.carrier not in CARRIERS:
            raise ValueError(f"carrier_shock.carrier: {self.carrier!r} is not one of {CARRIERS}")
        if not self.transit_factor > 0:
            raise ValueError("carrier_shock.transit_factor: must be > 0")
        pd.Timestamp(self.start)  # a ValueError naming the text when it is not a date

    @classmethod
    def parse(cls, text: str) -> CarrierShock:
        """CARRIER:DATE[:FACTOR], as `les generate --carrier-shock` takes it."""
        parts = text.split(":")
        if len(parts) not in (2, 3):
            raise ValueError(f"--carrier-shock {text!r}: expected CARRIER:DATE[:FACTOR]")
        try:
            factor = float(parts[2]) if len(parts) == 3 else 2.0
        except ValueError as exc:
            raise ValueError(f"--carrier-shock {text!r}: FACTOR is not a number") from exc
        return cls(parts[0], parts[1], factor)


@dataclass(frozen=True)
class WorldConfig:
    n_merchants: int = 600
    days: int = 240
    seed: int = 7
    start: str = "2026-01-01"
    median_orders_per_day: float = 9.0  # livestream-sized sellers, not Olist's: see the docs
    # Knobs below are set from real Olist sellers (benchmarks/calibration_real.py):
    it_quality_beta: tuple[float, float] = (2.6, 1.6)  # late dispatch 9%, as Olist's
    logistics_quality_beta: tuple[float, float] = (5.0, 1.6)  # 6-10% late, narrow seller spread
    pack_headroom_median: float = 4.0  # capacity / base demand; low tail makes surges queue
    min_capacity_margin: float = 1.25  # capacity >= this x mean demand: no seller ~100% late
    abrupt_change_probability: float = 0.12  # per merchant: it_upgrade, carrier_switch
    # per merchant and kind (demand_growth, it_decay, logistics_decay): about 7% of merchants then
    # see their late rate move > 10 points between halves, as Olist sellers do beyond noise
    drift_probability: float = 0.1
    drift_days: float = 90.0  # a decay takes this long, so it shows in trends before the score
    merchant_chunk: int = 500  # merchants simulated at once; bounds memory, fixed for determinism
    carrier_shock: CarrierShock | None = None  # None: the default world, bit for bit


@dataclass(frozen=True)
class MerchantPaths:
    """Latent parameters per merchant and day ([merchant, day] arrays) plus static traits."""

    it_quality: np.ndarray
    logistics_quality: np.ndarray
    demand_multiplier: np.ndarray
    static: pd.DataFrame


def primary_carrier(logistics_quality: np.ndarray) -> np.ndarray:
    """Better logistics quality means a better carrier: carriers are ordered best first."""
    index = np.clip(((1.0 - logistics_quality) * len(CARRIERS)).astype(int), 0, len(CARRIERS) - 1)
    return np.array(CARRIERS)[index]


REGION_XY_KM = np.array(
    [
        [0, 0],
        [400, 150],
        [900, 300],
        [1500, 200],
        [300, 900],
        [800, 1300],
        [1600, 1100],
        [2200, 1600],
    ],
    dtype=float,
)
REGION_WEIGHTS = np.array([0.28, 0.2, 0.14, 0.1, 0.1, 0.08, 0.06, 0.04])
DIURNAL = np.array(
    [
        0.2,
        0.1,
        0.1,
        0.1,
        0.1,
        0.2,
        0.4,
        0.7,
        0.9,
        1.1,
        1.2,
        1.3,
        1.4,
        1.2,
        1.1,
        1.1,
        1.2,
        1.3,
        1.5,
        1.8,
        2.0,
        1.8,
        1.2,
        0.6,
    ]
)
DIURNAL = DIURNAL / DIURNAL.mean()
WORKING_HOURS = (np.arange(24) >= 8) & (np.arange(24) < 20)
DISPATCH_SLA_HOURS = 48.0
# A route's standard transit: hand-over plus distance; sets purchase-to-delivery near Olist's 10 days.
ROUTE_BASE_HOURS = 40.0
ROUTE_KM_PER_HOUR = 5.0
# Transit noise sigma = a + b x (1 - logistics quality): every carrier has some spread (Olist's best
# sellers are still 2-3% late), poor logistics adds more.
TRANSIT_SPREAD = (0.2, 0.3)
