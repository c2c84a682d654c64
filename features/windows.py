"""Rolling window features at snapshot times, from the per-order events read once.

Events are aggregated once into merchant x day-interval cells whose edges are the window boundaries
(snapshot days and window starts; with daily snapshots these are merchant-days), cumulated over time,
and each window is one difference of two cumulative cells. Cost grows with orders + merchants x
snapshots, never with orders x snapshots. Durations go into fixed log-spaced histogram bins from which
window percentiles are read.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.events import HOURS_PER_DAY, NO_DAY, OrderEvents, merchant_time_key, order_events

# Histogram bin edges in hours: [0, 0.05) then 64 log-spaced bins to 4000 h, then an overflow bin.
BIN_EDGES_HOURS = np.concatenate([[0.0], np.geomspace(0.05, 4000.0, 65), [8000.0]])
MAX_HIST_CELLS = 24_000_000  # bounds the memory of one merchant chunk's histogram cube


@dataclass(frozen=True)
class WindowConfig:
    """Observation floor: a feature backed by fewer events is NaN (unknown), never zero."""

    min_observations: int = 5


# name -> (event day kind, value); sums and counts of the value over the window's events.
SUM_STREAMS: dict[str, tuple[str, str | None]] = {
    "paid": ("paid", None),
    "livestream": ("paid", "livestream"),
    "accepted_1h": ("accepted", "accepted_within_1h"),
    "seller_cancel": ("seller_cancel", None),
    "late_dispatch": ("shipped", "late_dispatch"),
    "pickup_12h": ("shipped", "picked_up_within_12h_of_ready"),
    "pickup_24h": ("shipped", "picked_up_within_24h_of_ready"),
    "tracking_valid": ("shipped", "tracking_valid"),
    "shipped": ("shipped", None),
    "lost": ("lost", None),
    "delivered": ("delivered", None),
    "on_time": ("delivered", "on_time"),
    "days_late": ("delivered", "days_late"),
    "route_on_time": ("delivered", "route_on_time"),
    "transit": ("delivered", "transit_hours"),
    "transit_sq": ("delivered", "transit_hours_sq"),
    "negative_review": ("delivered", "negative_review"),
    "logistics_return": ("logistics_return", None),
}
# name -> (event day kind, duration value, optional mask value)
HIST_STREAMS: dict[str, tuple[str, str, str | None]] = {
    "accept_delay": ("accepted", "accept_delay_hours", None),
    "pick_pack": ("packed", "pick_pack_hours", None),
    "pick_pack_surge": ("packed", "pick_pack_hours", "surge"),
    "pick_pack_normal": ("packed", "pick_pack_hours", "not_surge"),
    "pickup_dwell": ("shipped", "pickup_dwell_hours", None),
    "transit_hist": ("delivered", "transit_hours", None),
}


def derived_values(events: OrderEvents) -> dict[str, np.ndarray]:
    """Flags the windows count, from the measured quantities (NaN where unknown)."""
    v = events.value

    def within(hours: np.ndarray, limit: float) -> np.ndarray:
        return np.where(np.isnan(hours), np.nan, (hours <= limit).astype(float))

    return {
        **v,
        "accepted_within_1h": within(v["accept_delay_hours"], 1.0),
        "picked_up_within_12h_of_ready": within(v["pickup_dwell_hours"], 12.0),
        "picked_up_within_24h_of_ready": within(v["pickup_dwell_hours"], 24.0),
        "transit_hours_sq": v["transit_hours"] ** 2,
        "not_surge": 1.0 - v["surge"],
    }


def _day_number(ts: pd.Timestamp) -> int:
    return int(ts.value // (HOURS_PER_DAY * 3_600_000_000_000))


def _cumulative(
    code: np.ndarray,
    interval: np.ndarray,
    weight: np.ndarray | None,
    n_merchants: int,
    n_intervals: int,
) -> np.ndarray:
    """[merchant, breakpoint j] = sum of weight over events before breakpoint j."""
    flat = np.bincount(
        code * n_intervals + interval, weights=weight, minlength=n_merchants * n_intervals
    )
    return np.cumsum(flat.reshape(n_merchants, n_intervals), axis=1)


@dataclass(frozen=True)
class _Grid:
    """Breakpoint days and, per requested window, the breakpoint indices of its end and start."""

    breakpoints: np.ndarray
    end_index: np.ndarray
    start_index: np.ndarray

    def interval(self, days: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.breakpoints, days, side="right")

    @property
    def n_intervals(self) -> int:
        return len(self.breakpoints) + 1


def _grid(ends: pd.DatetimeIndex, window_days: int) -> _Grid:
    end_days = np.array([_day_number(t) for t in ends], dtype=np.int64)
    start_days = end_days - window_days
    breakpoints = np.unique(np.concatenate([end_days, start_days]))
    return _Grid(
        breakpoints,
        np.searchsorted(breakpoints, end_days),
        np.searchsorted(breakpoints, start_days),
    )


def _window_sums(
    events: OrderEvents,
    values: dict[str, np.ndarray],
    grid: _Grid,
    intervals: dict[str, np.ndarray],
) -> dict[str, np.ndarray]:
    """Per stream, window sums and event counts as [merchant, window] arrays."""
    n_m = len(events.merchant_ids)
    out = {}
    for name, (day_kind, value_name) in SUM_STREAMS.items():
        days = events.day[day_kind]
        weight = np.ones(len(days)) if value_name is None else values[value_name]
        keep = (days != NO_DAY) & ~np.isnan(weight)
        interval = intervals[day_kind][keep]
        for suffix, w in (("sum", weight[keep]), ("n", None)):
            cum = _cumulative(events.merchant_code[keep], interval, w, n_m, grid.n_intervals)
            out[f"{name}_{suffix}"] = cum[:, grid.end_index] - cum[:, grid.start_index]
    return out


def _backlog(events: OrderEvents, grid: _Grid, intervals: dict[str, np.ndarray]) -> np.ndarray:
    """Orders paid before T minus orders that left pick & pack (or were cancelled) before T."""
    n_m = len(events.merchant_ids)
    total = np.zeros((n_m, grid.n_intervals))
    for kind, sign in (("paid", 1.0), ("backlog_exit", -1.0)):
        days = events.day[kind]
        keep = days != NO_DAY
        total += sign * _cumulative(
            events.merchant_code[keep], intervals[kind][keep], None, n_m, grid.n_intervals
        )
    return total[:, grid.end_index]


def _peak_and_active_hours(events: OrderEvents, grid: _Grid) -> tuple[np.ndarray, np.ndarray]:
    """Busiest single hour in the window and the number of hours with any order."""
    n_m = len(events.merchant_ids)
    hour = np.floor(events.value["paid_hours"]).astype(np.int64)
    key = merchant_time_key(events.merchant_code, hour)
    keys, counts = np.unique(key, return_counts=True)
    span = int(hour.max() - hour.min()) + 1 if len(hour) else 1
    first_hour = hour.min() if len(hour) else 0
    code = keys // span
    interval = grid.interval((keys % span + first_hour) // HOURS_PER_DAY)
    active_cum = _cumulative(code, interval, None, n_m, grid.n_intervals)
    active = active_cum[:, grid.end_index] - active_cum[:, grid.start_index]
    peak_by_interval = np.zeros((n_m, grid.n_intervals))
    np.maximum.at(peak_by_interval, (code, interval), counts)
    peak = np.zeros_like(active)
    for w, (a, b) in enumerate(zip(grid.start_index, grid.end_index, strict=True)):
        if b > a:
            peak[:, w] = peak_by_interval[:, a + 1 : b + 1].max(axis=1)
    return peak, active


QUANTILES: dict[str, tuple[str, float]] = {
    "acceptance_delay_hours_p50": ("accept_delay", 0.5),
    "acceptance_delay_hours_p90": ("accept_delay", 0.9),
    "pick_pack_hours_p50": ("pick_pack", 0.5),
    "pick_pack_hours_p90": ("pick_pack", 0.9),
    "surge_pick_pack_hours_p90": ("pick_pack_surge", 0.9),
    "normal_pick_pack_hours_p90": ("pick_pack_normal", 0.9),
    "pickup_dwell_hours_p50": ("pickup_dwell", 0.5),
    "pickup_dwell_hours_p90": ("pickup_dwell", 0.9),
    "transit_hours_p50": ("transit_hist", 0.5),
    "transit_hours_p90": ("transit_hist", 0.9),
}


def _hist_features(
    events: OrderEvents,
    values: dict[str, np.ndarray],
    grid: _Grid,
    cfg: WindowConfig,
    wanted: frozenset[str],
    intervals: dict[str, np.ndarray],
) -> dict[str, np.ndarray]:
    """Percentiles and carrier concentration per [merchant, window], merchant chunk by chunk."""
    from features.histograms import (
        bin_index,
        concentration_hhi,
        histogram_quantile,
        window_histograms,
    )

    n_m, n_w = len(events.merchant_ids), len(grid.end_index)
    out = {name: np.full((n_m, n_w), np.nan) for name in [*QUANTILES, "carrier_hhi"]}
    n_bins = len(BIN_EDGES_HOURS) - 1
    chunk = max(1, MAX_HIST_CELLS // (n_bins * grid.n_intervals))
    carrier = values["carrier_code"]
    n_carriers = int(np.nanmax(carrier)) + 1 if np.isfinite(carrier).any() else 0
    for m0 in range(0, n_m, chunk):
        m1 = min(m0 + chunk, n_m)
        rows = slice(*np.searchsorted(events.merchant_code, [m0, m1]))
        code = events.merchant_code[rows] - m0
        hists = {}
        for name, (day_kind, value_name, mask_name) in HIST_STREAMS.items():
            if not any(QUANTILES[f][0] == name for f in wanted if f in QUANTILES):
                continue
            days, hours = events.day[day_kind][rows], values[value_name][rows]
            keep = (days != NO_DAY) & ~np.isnan(hours)
            if mask_name is not None:
                keep &= values[mask_name][rows] == 1
            hists[name] = window_histograms(
                code[keep],
                intervals[day_kind][rows][keep],
                bin_index(hours[keep], BIN_EDGES_HOURS),
                m1 - m0,
                n_bins,
                grid.n_intervals,
                grid.end_index,
                grid.start_index,
            )
        for feature, (stream, q) in QUANTILES.items():
            if feature not in wanted:
                continue
            out[feature][m0:m1] = histogram_quantile(
                hists[stream], BIN_EDGES_HOURS, q, cfg.min_observations
            )
        if n_carriers and "carrier_hhi" in wanted:
            days, c = events.day["shipped"][rows], carrier[rows]
            keep = (days != NO_DAY) & ~np.isnan(c)
            counts = window_histograms(
                code[keep],
                intervals["shipped"][rows][keep],
                c[keep].astype(np.int64),
                m1 - m0,
                n_carriers,
                grid.n_intervals,
                grid.end_index,
                grid.start_index,
            )
            out["carrier_hhi"][m0:m1] = concentration_hhi(counts, cfg.min_observations)
    return out


def _rate(numerator: np.ndarray, denominator: np.ndarray, floor: int) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator >= max(floor, 1), numerator / denominator, np.nan)


def _assemble(
    s: dict[str, np.ndarray],
    h: dict[str, np.ndarray],
    backlog: np.ndarray,
    peak: np.ndarray,
    active: np.ndarray,
    window_days: int,
    floor: int,
) -> dict[str, np.ndarray]:
    """Catalogue features from the window sums: the one place each definition lives."""
    paid = s["paid_n"]
    transit_n = s["transit_n"]
    with np.errstate(invalid="ignore", divide="ignore"):
        transit_mean = s["transit_sum"] / transit_n
        transit_sd = np.sqrt(np.maximum(s["transit_sq_sum"] / transit_n - transit_mean**2, 0.0))
        return {
            "acceptance_delay_hours_p50": h["acceptance_delay_hours_p50"],
            "acceptance_delay_hours_p90": h["acceptance_delay_hours_p90"],
            "accepted_within_1h_rate": _rate(s["accepted_1h_sum"], s["accepted_1h_n"], floor),
            "seller_fault_cancellation_rate": _rate(s["seller_cancel_n"], paid, floor),
            "pick_pack_hours_p50": h["pick_pack_hours_p50"],
            "pick_pack_hours_p90": h["pick_pack_hours_p90"],
            "late_dispatch_rate": _rate(s["late_dispatch_sum"], s["late_dispatch_n"], floor),
            "backlog_orders_at_snapshot": backlog,
            "backlog_days_of_demand": np.where(paid > 0, backlog / (paid / window_days), np.nan),
            "surge_pick_pack_p90_ratio": h["surge_pick_pack_hours_p90"]
            / h["normal_pick_pack_hours_p90"],
            "pickup_dwell_hours_p50": h["pickup_dwell_hours_p50"],
            "pickup_dwell_hours_p90": h["pickup_dwell_hours_p90"],
            "pickup_within_12h_of_ready_rate": _rate(s["pickup_12h_sum"], s["pickup_12h_n"], floor),
            "pickup_within_24h_of_ready_rate": _rate(s["pickup_24h_sum"], s["pickup_24h_n"], floor),
            "transit_hours_p50": h["transit_hours_p50"],
            "transit_hours_p90": h["transit_hours_p90"],
            "transit_hours_cv": np.where(
                transit_n >= max(floor, 2), transit_sd / transit_mean, np.nan
            ),
            "route_on_time_transit_rate": _rate(
                s["route_on_time_sum"], s["route_on_time_n"], floor
            ),
            "valid_tracking_rate": _rate(s["tracking_valid_sum"], s["tracking_valid_n"], floor),
            "lost_parcel_rate": _rate(s["lost_n"], s["shipped_n"], floor),
            "carrier_concentration_hhi": h["carrier_hhi"],
            "on_time_delivery_rate": _rate(s["on_time_sum"], s["on_time_n"], floor),
            "days_late_mean": _rate(s["days_late_sum"], s["days_late_n"], floor),
            "logistics_negative_review_rate": _rate(
                s["negative_review_sum"], s["negative_review_n"], floor
            ),
            "logistics_return_rate": _rate(s["logistics_return_n"], s["delivered_n"], floor),
            "orders_in_window": paid,
            "accepted_orders_in_window": s["accepted_1h_n"],
            "shipped_orders_in_window": s["shipped_n"],
            "delivered_orders_in_window": s["delivered_n"],
            "livestream_order_share": _rate(s["livestream_sum"], paid, floor),
            "burstiness_peak_hour_ratio": np.where(
                paid >= max(floor, 1), peak / (paid / np.maximum(active, 1)), np.nan
            ),
        }


# Window features that need more than sums: the histogram streams or the busiest-hour table.
NEEDS: dict[str, tuple[str, ...]] = {
    **{name: (name,) for name in QUANTILES},
    "surge_pick_pack_p90_ratio": ("surge_pick_pack_hours_p90", "normal_pick_pack_hours_p90"),
    "carrier_concentration_hhi": ("carrier_hhi",),
}


def window_features(
    events: OrderEvents,
    ends: pd.DatetimeIndex,
    window_days: int,
    cfg: WindowConfig | None = None,
    features: tuple[str, ...] | None = None,
) -> pd.DataFrame:
    """One row per (merchant, snapshot) with every single-window catalogue feature, or only
    `features`: labels need no percentiles, so their histograms are never built."""
    cfg = cfg or WindowConfig()
    ends = pd.DatetimeIndex(ends)
    grid = _grid(ends, window_days)
    values = derived_values(events)
    n_m, n_w = len(events.merchant_ids), len(ends)
    every = features is None
    wanted = frozenset(x for f in (NEEDS if every else features) for x in NEEDS.get(f, ()))
    intervals = {kind: grid.interval(days) for kind, days in events.day.items()}
    sums = _window_sums(events, values, grid, intervals)
    hists = _hist_features(events, values, grid, cfg, wanted, intervals)
    backlog = _backlog(events, grid, intervals)
    if every or "burstiness_peak_hour_ratio" in features:
        peak, active = _peak_and_active_hours(events, grid)
    else:
        peak = active = np.full((n_m, n_w), np.nan)
    columns = _assemble(sums, hists, backlog, peak, active, window_days, cfg.min_observations)
    frame = pd.DataFrame(
        {
            "merchant_id": pd.array(np.repeat(events.merchant_ids, n_w), dtype="string"),
            "snapshot_at": np.tile(ends, n_m),
        }
    )
    for name in columns if every else features:
        frame[name] = np.asarray(columns[name], dtype=float).reshape(n_m * n_w)
    return frame


def compute_window_metrics(
    orders: pd.DataFrame,
    snapshots: pd.DatetimeIndex,
    window_days: int,
    cfg: WindowConfig | None = None,
) -> pd.DataFrame:
    """Window features for orders straight from the contract table (reads the orders once)."""
    return window_features(order_events(orders), snapshots, window_days, cfg)
