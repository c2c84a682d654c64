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

from features.events import NO_DAY, OrderEvents, order_events
from features.histograms import CARRIER_HHI, QUANTILES, percentile_features
from features.hour_counts import HOURS_PER_DAY
from features.window_grid import Grid, WindowRequest, make_grid


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
    "late_dispatch": ("dispatched", "late_dispatch"),
    "dispatch_slack": ("dispatched", "dispatch_slack_share"),
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


def _sum_windows(
    events: OrderEvents, values: dict[str, np.ndarray], grid: Grid
) -> tuple[list[dict[str, np.ndarray]], list[np.ndarray]]:
    """Per request, window sums and event counts of every stream as [merchant, window] arrays;
    and the backlog at each window's end (paid before T minus left pick & pack before T).

    One key per event and day kind serves every stream counted on that day."""
    n_m, n_req = len(events.merchant_ids), len(grid.windows)
    sums: list[dict[str, np.ndarray]] = [{} for _ in range(n_req)]
    cum_at_end: dict[str, np.ndarray] = {}
    computed: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # day kinds sharing one array
    for day_kind in dict.fromkeys([*(k for k, _ in SUM_STREAMS.values()), "backlog_exit"]):
        days = events.day[day_kind]
        if id(days) not in computed:
            keys = grid.keys(events.merchant_code, days, n_m)
            computed[id(days)] = keys, grid.cumulative(keys, None, n_m)
        keys, count = computed[id(days)]
        if day_kind in ("paid", "backlog_exit"):
            cum_at_end[day_kind] = count
        for name, (kind, value_name) in SUM_STREAMS.items():
            if kind != day_kind:
                continue
            if value_name is None:
                total = n = count
            else:
                weight = values[value_name]
                known = ~np.isnan(weight)
                total = grid.cumulative(keys, np.where(known, weight, 0.0), n_m)
                n = grid.cumulative(keys, known.astype(float), n_m)
            for r, (s, c) in enumerate(
                zip(grid.window_sums(total), grid.window_sums(n), strict=True)
            ):
                sums[r][f"{name}_sum"], sums[r][f"{name}_n"] = s, c
    backlog = cum_at_end["paid"] - cum_at_end["backlog_exit"]
    return sums, [backlog[:, end].astype(float) for end, _ in grid.windows]


def _peak_and_active_hours(
    events: OrderEvents, grid: Grid, request: int
) -> tuple[np.ndarray, np.ndarray]:
    """Busiest single hour in each window and the number of hours with any order, from the
    merchant-hour table (sorted by merchant and hour, so merchant-intervals are runs)."""
    n_m = len(events.merchant_ids)
    table = events.paid_hours
    days = table.hour // HOURS_PER_DAY
    interval = grid.interval(days)
    end, start = grid.windows[request]
    active_cum = grid.cumulative(grid.keys(table.merchant_code, days, n_m), None, n_m)
    active = (active_cum[:, end] - active_cum[:, start]).astype(float)
    peak_by_interval = np.zeros((n_m, grid.n_intervals))
    if len(interval):
        run = np.flatnonzero(
            np.r_[True, (np.diff(table.merchant_code) != 0) | (np.diff(interval) != 0)]
        )
        peak_by_interval[table.merchant_code[run], interval[run]] = np.maximum.reduceat(
            table.orders, run
        )
    peak = np.zeros_like(active)
    for w, (a, b) in enumerate(zip(start, end, strict=True)):
        if b > a:
            peak[:, w] = peak_by_interval[:, a + 1 : b + 1].max(axis=1)
    return peak, active


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
            "dispatch_slack_share_mean": _rate(
                s["dispatch_slack_sum"], s["dispatch_slack_n"], floor
            ),
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
    "carrier_concentration_hhi": (CARRIER_HHI,),
}
BURSTINESS = "burstiness_peak_hour_ratio"


def _day_range(events: OrderEvents) -> tuple[int, int]:
    """First and last known event day, which bound every grid's day lookup."""
    known = [d[d != NO_DAY] for d in events.day.values()]
    known = [d for d in known if len(d)]
    if not known:
        return 0, 0
    return min(int(d.min()) for d in known), max(int(d.max()) for d in known)


def window_feature_arrays(
    events: OrderEvents, requests: list[WindowRequest], cfg: WindowConfig | None = None
) -> list[dict[str, np.ndarray]]:
    """For each request, its features as flat arrays in (merchant, window end) order.

    All requests share one pass over the events: one grid for the sums, and one per histogram
    stream over just the requests that read it (labels need no percentiles, so theirs are never
    built)."""
    cfg = cfg or WindowConfig()
    values = derived_values(events)
    day_range = _day_range(events)
    grid = make_grid(requests, day_range)
    wanted = [
        frozenset(
            x for f in (NEEDS if r.features is None else r.features) for x in NEEDS.get(f, ())
        )
        for r in requests
    ]
    sums, backlogs = _sum_windows(events, values, grid)
    hists = percentile_features(events, values, requests, wanted, day_range, cfg.min_observations)
    out = []
    for r, request in enumerate(requests):
        n_w = len(request.ends)
        h = {name: hists[r].get(name, np.full((len(events.merchant_ids), n_w), np.nan))
             for name in (*QUANTILES, CARRIER_HHI)}  # fmt: skip
        if request.wants(BURSTINESS):
            peak, active = _peak_and_active_hours(events, grid, r)
        else:
            peak = active = np.full_like(backlogs[r], np.nan)
        columns = _assemble(
            sums[r], h, backlogs[r], peak, active, request.window_days, cfg.min_observations
        )
        names = columns if request.features is None else request.features
        out.append({name: np.asarray(columns[name], dtype=float).reshape(-1) for name in names})
    return out


def window_features(
    events: OrderEvents,
    ends: pd.DatetimeIndex,
    window_days: int,
    cfg: WindowConfig | None = None,
    features: tuple[str, ...] | None = None,
) -> pd.DataFrame:
    """One row per (merchant, snapshot) with every single-window catalogue feature, or only
    `features`."""
    ends = pd.DatetimeIndex(ends)
    request = WindowRequest(ends, window_days, features)
    columns = window_feature_arrays(events, [request], cfg)[0]
    n_w = len(ends)
    frame = pd.DataFrame(
        {
            "merchant_id": pd.array(np.repeat(events.merchant_ids, n_w), dtype="string"),
            "snapshot_at": pd.to_datetime(
                np.tile(ends.as_unit("ns").asi8, len(events.merchant_ids)), unit="ns", utc=True
            ),
        }
    )
    for name, values in columns.items():
        frame[name] = values
    return frame


def compute_window_metrics(
    orders: pd.DataFrame,
    snapshots: pd.DatetimeIndex,
    window_days: int,
    cfg: WindowConfig | None = None,
) -> pd.DataFrame:
    """Window features for orders straight from the contract table (reads the orders once)."""
    return window_features(order_events(orders), snapshots, window_days, cfg)
