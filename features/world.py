"""A synthetic livestream-commerce world: merchants with latent IT and logistics quality, bursty
livestream demand queueing against pick & pack capacity, carriers, promises and outcomes. Rates
and change shares are calibrated to real Olist sellers, volumes to livestream sellers.

The latent truth and every change event are returned beside the orders, so tests can check that
effects land where the research says (IT -> receipt and pick & pack; logistics -> ship & deliver).
Calibration targets and measured figures: docs/calibration.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from features.world_orders import simulate_orders
from features.world_params import CHANGE_KINDS, MerchantPaths, WorldConfig, primary_carrier


@dataclass(frozen=True)
class World:
    orders: pd.DataFrame
    merchants: pd.DataFrame
    changes: pd.DataFrame


def draw_merchants(cfg: WorldConfig, rng: np.random.Generator) -> pd.DataFrame:
    """Static traits. Pick & pack capacity is a multiple of base demand, but never below
    `min_capacity_margin` x the mean demand with livestreams: a seller whose queue grows without
    bound from day one would not stay on a marketplace, so lasting overload comes from change
    events, and surges only queue for a day or two."""
    n = cfg.n_merchants
    it = rng.beta(*cfg.it_quality_beta, n)
    logistics = rng.beta(*cfg.logistics_quality_beta, n)
    base = np.clip(rng.lognormal(np.log(cfg.median_orders_per_day), 0.75, n), 0.6, 400)
    headroom = rng.lognormal(np.log(cfg.pack_headroom_median), 0.3, n) * (0.45 + 1.1 * it)
    livestreams = rng.choice([0, 1, 2, 3, 4], n, p=[0.15, 0.3, 0.3, 0.15, 0.1])
    hours = rng.choice([2, 3], n)
    burst = rng.uniform(10, 35, n)
    mean_daily_demand = mean_daily_demand_orders(base, livestreams, hours, burst)
    return pd.DataFrame(
        {
            "merchant_id": [f"M{i:05d}" for i in range(n)],
            "it_quality_start": it,
            "logistics_quality_start": logistics,
            "base_orders_per_day": base,
            "pack_capacity_per_hour": np.maximum(
                base * headroom, cfg.min_capacity_margin * mean_daily_demand
            )
            / 12.0,  # 12 working hours a day
            "livestreams_per_week": livestreams,
            "livestream_hours": hours,
            "burst_multiplier": burst,
            "home_region": rng.integers(0, 8, n),
        }
    )


def mean_daily_demand_orders(
    base_orders_per_day: ArrayLike,
    livestreams_per_week: ArrayLike,
    livestream_hours: ArrayLike,
    burst_multiplier: ArrayLike,
) -> ArrayLike:
    """Mean orders per day with livestreams: each livestream hour sells `burst_multiplier` times
    the base hourly rate. Capacity is set against it, and benchmarks read it back."""
    return base_orders_per_day * (
        1.0 + livestreams_per_week * livestream_hours * burst_multiplier / (7 * 24)
    )


def draw_changes(
    cfg: WorldConfig, merchants: pd.DataFrame, rng: np.random.Generator
) -> pd.DataFrame:
    """Each merchant may upgrade, switch carrier, grow or decay, at a day in the middle half."""
    n = len(merchants)
    probability = np.array([cfg.abrupt_change_probability] * 2 + [cfg.drift_probability] * 3)
    happens = rng.random((n, len(CHANGE_KINDS))) < probability
    day = rng.integers(cfg.days // 4, 3 * cfg.days // 4, (n, len(CHANGE_KINDS)))
    size = np.column_stack(
        [
            rng.uniform(0.25, 0.5, n),  # it_upgrade: it_quality + size
            rng.normal(0.0, 0.4, n),  # carrier_switch: logistics_quality + size
            rng.uniform(0.25, 0.6, n),  # demand_growth: log demand per 30 days
            rng.uniform(0.3, 0.5, n),  # it_decay: it_quality - size over drift_days
            rng.uniform(0.3, 0.5, n),  # logistics_decay: logistics_quality - size over drift_days
        ]
    )
    m_idx, k_idx = np.nonzero(happens)
    return pd.DataFrame(
        {
            "merchant_index": m_idx,
            "merchant_id": merchants["merchant_id"].to_numpy()[m_idx],
            "kind": np.array(CHANGE_KINDS)[k_idx],
            "change_day": day[m_idx, k_idx],
            "change_at": pd.Timestamp(cfg.start, tz="UTC")
            + pd.to_timedelta(day[m_idx, k_idx], "D"),
            "size": size[m_idx, k_idx],
        }
    )


def _ramp(days: np.ndarray, start: np.ndarray, length: float) -> np.ndarray:
    return np.clip((days[None, :] - start[:, None]) / length, 0.0, 1.0)


def merchant_paths(
    cfg: WorldConfig, merchants: pd.DataFrame, changes: pd.DataFrame
) -> MerchantPaths:
    """Turn change events into day-by-day latent parameters."""
    n, days = len(merchants), np.arange(cfg.days)
    it = np.repeat(merchants["it_quality_start"].to_numpy()[:, None], cfg.days, axis=1)
    lq = np.repeat(merchants["logistics_quality_start"].to_numpy()[:, None], cfg.days, axis=1)
    log_demand = np.zeros((n, cfg.days))
    for kind in CHANGE_KINDS:
        c = changes.loc[changes["kind"] == kind]
        m, start, size = (
            c["merchant_index"].to_numpy(),
            c["change_day"].to_numpy(),
            c["size"].to_numpy()[:, None],
        )
        if kind == "it_upgrade":
            it[m] += size * _ramp(days, start, 1.0)
        elif kind == "carrier_switch":
            lq[m] += size * _ramp(days, start, 1.0)
        elif kind == "demand_growth":
            log_demand[m] += size * np.clip(days[None, :] - start[:, None], 0, None) / 30.0
        elif kind == "it_decay":
            it[m] -= size * _ramp(days, start, cfg.drift_days)
        else:
            lq[m] -= size * _ramp(days, start, cfg.drift_days)
    return MerchantPaths(
        np.clip(it, 0.02, 0.99),
        np.clip(lq, 0.02, 0.99),
        np.exp(np.minimum(log_demand, np.log(2.5))),
        merchants,
    )


def generate_world(cfg: WorldConfig) -> World:
    """Deterministic for a config: the same seed gives identical frames."""
    rng = np.random.default_rng(cfg.seed)
    merchants = draw_merchants(cfg, rng)
    changes = draw_changes(cfg, merchants, rng)
    paths = merchant_paths(cfg, merchants, changes)
    orders = simulate_orders(cfg, paths, rng)
    merchants = merchants.assign(
        it_quality_end=paths.it_quality[:, -1],
        logistics_quality_end=paths.logistics_quality[:, -1],
        it_quality_mean=paths.it_quality.mean(axis=1),
        logistics_quality_mean=paths.logistics_quality.mean(axis=1),
        primary_carrier_start=primary_carrier(paths.logistics_quality[:, 0]),
        primary_carrier_end=primary_carrier(paths.logistics_quality[:, -1]),
    )
    return World(orders, merchants, changes.drop(columns="merchant_index"))
