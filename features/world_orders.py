"""Order-level simulation for the synthetic world: arrivals, the pick & pack queue, stage times and
outcomes, all vectorised over a chunk of merchants (no per-order Python loop)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.world_frame import orders_frame
from features.world_params import (
    CARRIERS,
    DISPATCH_SLA_HOURS,
    DIURNAL,
    REGION_WEIGHTS,
    REGION_XY_KM,
    ROUTE_BASE_HOURS,
    ROUTE_KM_PER_HOUR,
    TRANSIT_SPREAD,
    WORKING_HOURS,
    MerchantPaths,
    WorldConfig,
    primary_carrier,
)


def _rates(
    cfg: WorldConfig, paths: MerchantPaths, rows: slice, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Expected orders per merchant-hour: (organic, livestream)."""
    static = paths.static.iloc[rows]
    hours = cfg.days * 24
    hourly_base = static["base_orders_per_day"].to_numpy()[:, None] / 24.0
    demand = np.repeat(paths.demand_multiplier[rows], 24, axis=1)
    organic = hourly_base * np.tile(DIURNAL, cfg.days)[None, :] * demand
    live = np.zeros_like(organic)
    n_sessions = rng.poisson(static["livestreams_per_week"].to_numpy() * cfg.days / 7.0)
    merchant = np.repeat(np.arange(len(static)), n_sessions)
    start = rng.integers(0, cfg.days, len(merchant)) * 24 + rng.choice([18, 19, 20], len(merchant))
    duration = static["livestream_hours"].to_numpy()[merchant]
    burst = (hourly_base[:, 0] * static["burst_multiplier"].to_numpy())[merchant]
    for offset in range(int(duration.max(initial=0))):
        ok = (offset < duration) & (start + offset < hours)
        np.add.at(
            live,
            (merchant[ok], start[ok] + offset),
            burst[ok] * demand[merchant[ok], start[ok] + offset],
        )
    return organic, live


def _queue_completion(
    arrivals: np.ndarray,
    capacity: np.ndarray,
    order_merchant: np.ndarray,
    order_hour: np.ndarray,
    rank_in_hour: np.ndarray,
) -> np.ndarray:
    """FIFO pick & pack: hour (fractional) at which each order leaves the queue; inf past the end.

    Backlog follows the Lindley recursion B_h = max(0, B_{h-1} + a_h - c_h), solved in closed form
    with cumulative sums; completion inverts cumulative capacity with one global searchsorted."""
    s = np.cumsum(arrivals - capacity, axis=1)
    backlog = s - np.minimum(np.minimum.accumulate(s, axis=1), 0.0)
    backlog_before = np.concatenate([np.zeros((len(s), 1)), backlog[:, :-1]], axis=1)
    cum_cap = np.cumsum(capacity, axis=1)
    cap_before = cum_cap - capacity
    target = (
        cap_before[order_merchant, order_hour]
        + backlog_before[order_merchant, order_hour]
        + rank_in_hour
    )
    span = cum_cap[:, -1].max() + backlog.max() + arrivals.max() + 10.0
    offset = np.arange(len(s))[:, None] * span
    flat = (cum_cap + offset).ravel()
    pos = np.searchsorted(flat, target + order_merchant * span, side="left")
    n_hours = s.shape[1]
    hour = pos - order_merchant * n_hours
    inside = hour < n_hours
    safe = np.minimum(pos, len(flat) - 1)
    prev = np.where(hour > 0, flat[np.maximum(safe - 1, 0)], order_merchant * span)
    cap_here = np.maximum(capacity.ravel()[safe], 1e-9)
    frac = np.clip((target + order_merchant * span - prev) / cap_here, 0.0, 1.0)
    return np.where(inside, hour + frac, np.inf)


def _arrivals(organic: np.ndarray, live: np.ndarray, rng: np.random.Generator):
    """Poisson counts per merchant-hour, expanded to orders with their hour and rank in the hour."""
    n_organic, n_live = rng.poisson(organic), rng.poisson(live)
    counts = n_organic + n_live
    flat = counts.ravel()
    cell = np.repeat(np.arange(flat.size), flat)
    first_in_cell = np.repeat(np.cumsum(flat) - flat, flat)
    rank = np.arange(cell.size) - first_in_cell + 1
    live_share = np.repeat(np.where(flat > 0, n_live.ravel() / np.maximum(flat, 1), 0.0), flat)
    is_live = rng.random(cell.size) < live_share
    n_hours = counts.shape[1]
    return counts, cell // n_hours, cell % n_hours, rank, is_live


def _stage_hours(
    cfg: WorldConfig, paths: MerchantPaths, rows: slice, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Stage times in hours since the world's start, before outcomes cut them short."""
    static = paths.static.iloc[rows]
    organic, live = _rates(cfg, paths, rows, rng)
    it_hourly = np.repeat(paths.it_quality[rows], 24, axis=1)
    it_start = static["it_quality_start"].to_numpy()[:, None]
    capacity = (
        static["pack_capacity_per_hour"].to_numpy()[:, None]
        * (0.55 + 0.9 * it_hourly)
        / (0.55 + 0.9 * it_start)
        * np.tile(WORKING_HOURS, cfg.days)[None, :]
    )
    counts, m, hour, rank, is_live = _arrivals(organic, live, rng)
    day = hour // 24
    it = paths.it_quality[rows][m, day]
    lq = paths.logistics_quality[rows][m, day]
    n = len(m)
    created = hour + rng.random(n)
    paid = created + rng.exponential(0.15, n)
    surge_load = np.minimum(counts[m, hour] / np.maximum(organic[m, hour], 0.05) / 10.0, 3.0)
    accept_delay = rng.lognormal(np.log(0.08 + 3.0 * (1 - it) ** 2), 0.9) * (
        1 + (1 - it) * surge_load
    )
    accepted = paid + accept_delay
    completion = _queue_completion(counts.astype(float), capacity, m, hour, rank)
    packed = np.maximum(completion, accepted) + rng.lognormal(
        np.log(0.3 + 4.0 * (1 - it) ** 2), 0.5
    )
    own_carrier = rng.random(n) < 0.85
    order_lq = np.where(own_carrier, lq, rng.uniform(0.2, 0.9, n))
    shipped = packed + rng.lognormal(np.log(2.0 + 30.0 * (1 - order_lq) ** 2), 0.7)
    origin = static["home_region"].to_numpy()[m]
    destination = rng.choice(len(REGION_WEIGHTS), n, p=REGION_WEIGHTS)
    dist_km = np.linalg.norm(REGION_XY_KM[origin] - REGION_XY_KM[destination], axis=1)
    route_hours = ROUTE_BASE_HOURS + dist_km / ROUTE_KM_PER_HOUR
    transit = (
        route_hours
        * (0.75 + 0.7 * (1 - order_lq))
        * rng.lognormal(0.0, TRANSIT_SPREAD[0] + TRANSIT_SPREAD[1] * (1 - order_lq))
    )
    shock = _carrier_shock(cfg, rows, own_carrier, order_lq, shipped)
    if shock is not None:
        carrier, shocked = shock
        transit = np.where(shocked, transit * cfg.carrier_shock.transit_factor, transit)
    return {
        **({} if shock is None else {"carrier": carrier}),
        "m": m,
        "it": it,
        "lq": order_lq,
        "own_carrier": own_carrier,
        "is_live": is_live,
        "created": created,
        "paid": paid,
        "accepted": accepted,
        "packed": packed,
        "shipped": shipped,
        "delivered": shipped + transit,
        "ship_by": paid + DISPATCH_SLA_HOURS,
        "deliver_by": paid + DISPATCH_SLA_HOURS + route_hours * 1.35 + 24.0,
        "origin": origin,
        "destination": destination,
    }


def _carrier_shock(
    cfg: WorldConfig, rows: slice, own: np.ndarray, order_lq: np.ndarray, shipped: np.ndarray
) -> tuple[np.ndarray, np.ndarray] | None:
    """Each order's carrier and whether the shock lengthens its transit; None without a shock.
    Other-carrier orders draw their carrier from a stream of their own, so every other draw of a
    shocked world is the default world's."""
    shock = cfg.carrier_shock
    if shock is None:
        return None
    other = np.random.default_rng([cfg.seed, rows.start]).integers(0, len(CARRIERS), len(own))
    carrier = np.where(own, primary_carrier(order_lq), np.array(CARRIERS)[other])
    start_hour = pd.Timestamp(shock.start, tz="UTC") - pd.Timestamp(cfg.start, tz="UTC")
    shocked = (carrier == shock.carrier) & (shipped >= start_hour / pd.Timedelta(hours=1))
    return carrier, shocked


def _outcomes(
    t: dict[str, np.ndarray], end_hour: float, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Cancellations, losses, damage, returns and ratings; then cut everything at the world's end."""
    n, it, lq = len(t["m"]), t["it"], t["lq"]
    nan = np.full(n, np.nan)
    pack_wait = t["packed"] - t["paid"]
    buyer_cancel = rng.random(n) < 0.02
    seller_p = 0.003 + 0.2 * np.clip((pack_wait - 48.0) / 96.0, 0, 1) * (1.2 - it)
    seller_cancel = ~buyer_cancel & (rng.random(n) < seller_p)
    cancel_at = np.where(
        buyer_cancel,
        t["paid"] + rng.uniform(0.2, 20.0, n),
        t["paid"] + np.minimum(pack_wait, 60.0 + rng.uniform(0, 24, n)),
    )
    cancelled = buyer_cancel | seller_cancel
    lost = ~cancelled & (rng.random(n) < 0.001 + 0.03 * (1 - lq) ** 2)
    damaged = ~cancelled & ~lost & (rng.random(n) < 0.005 + 0.06 * (1 - lq) ** 2)
    returned = ~cancelled & ~lost & (rng.random(n) < 0.015 + 0.5 * damaged)
    status_at = np.select(
        [cancelled, lost, returned],
        [cancel_at, t["shipped"] + 15 * 24.0, t["delivered"] + rng.uniform(48, 240, n)],
        nan,
    )
    stage = {k: t[k].copy() for k in ("accepted", "packed", "shipped", "delivered")}
    for key in ("packed", "shipped", "delivered"):
        stage[key][cancelled] = np.nan
    stage["accepted"][cancelled & (stage["accepted"] > cancel_at)] = np.nan
    stage["delivered"][lost] = np.nan
    days_late = np.clip((stage["delivered"] - t["deliver_by"]) / 24.0, 0, 5)
    latent = 4.7 - 0.7 * np.nan_to_num(days_late) - 3.0 * damaged + rng.normal(0, 0.7, n)
    rated = ~np.isnan(stage["delivered"]) & (rng.random(n) < 0.55)
    rating = np.where(rated, np.clip(np.round(latent), 1, 5), np.nan)
    complaint = np.where(
        rated, ((rating <= 2) & ((days_late > 0) | damaged)) | (rng.random(n) < 0.01), np.nan
    )
    tracking = np.where(
        np.isnan(stage["shipped"]), np.nan, rng.random(n) >= 0.005 + 0.15 * (1 - lq) ** 2
    )
    return _cut_at_end(
        {
            **t,
            **stage,
            "status_at": status_at,
            "cancelled": cancelled,
            "seller_cancel": seller_cancel,
            "lost": lost,
            "returned": returned,
            "rating": rating,
            "complaint": complaint,
            "tracking": tracking,
        },
        end_hour,
    )


def _cut_at_end(o: dict[str, np.ndarray], end_hour: float) -> dict[str, np.ndarray]:
    """The data ends at the world's end: later events are unknown and open orders are in transit."""
    for key in ("paid", "accepted", "packed", "shipped", "delivered", "status_at"):
        o[key] = np.where(o[key] <= end_hour, o[key], np.nan)
    known_terminal = ~np.isnan(o["status_at"])
    delivered = ~np.isnan(o["delivered"])
    status = np.select(
        [
            o["cancelled"] & known_terminal,
            o["lost"] & known_terminal,
            o["returned"] & known_terminal,
            delivered,
        ],
        ["cancelled", "lost", "returned", "delivered"],
        "in_transit",
    )
    o["status"] = status
    o["status_at"] = np.where(status == "delivered", o["delivered"], o["status_at"])
    o["status_at"] = np.where(status == "in_transit", np.nan, o["status_at"])
    o["cancelled_by"] = np.where(
        status == "cancelled", np.where(o["seller_cancel"], "seller", "buyer"), "none"
    )
    for key in ("rating", "complaint"):
        o[key] = np.where(delivered, o[key], np.nan)
    return o


def simulate_orders(
    cfg: WorldConfig, paths: MerchantPaths, rng: np.random.Generator
) -> pd.DataFrame:
    """Merchant chunk by merchant chunk, so memory stays bounded for very large worlds."""
    start = pd.Timestamp(cfg.start, tz="UTC")
    merchant_ids = paths.static["merchant_id"].to_numpy()
    frames, first_order = [], 0
    chunk_rngs = rng.spawn(-(-len(merchant_ids) // cfg.merchant_chunk))
    for k, m0 in enumerate(range(0, len(merchant_ids), cfg.merchant_chunk)):
        rows = slice(m0, min(m0 + cfg.merchant_chunk, len(merchant_ids)))
        times = _stage_hours(cfg, paths, rows, chunk_rngs[k])
        outcome = _outcomes(times, cfg.days * 24.0, chunk_rngs[k])
        frames.append(orders_frame(outcome, merchant_ids[rows], first_order, start, chunk_rngs[k]))
        first_order += len(times["m"])
    orders = pd.concat(frames, ignore_index=True)
    return orders.sort_values("created_at", kind="stable", ignore_index=True)
