"""Duration histograms per merchant and window, and the percentiles read from them.

Fixed bins make window histograms additive (a window is a difference of two cumulative histograms),
which is what lets percentiles roll without re-reading orders. Cubes are built a small block of
merchants at a time, over only the bins the block's events occupy, so they stay in cache.
"""

from __future__ import annotations

import numpy as np

from features.events import NO_DAY, OrderEvents
from features.window_grid import WindowRequest, make_grid

# Histogram bin edges in hours: [0, 0.05) then 64 log-spaced bins to 4000 h, then an overflow bin.
BIN_EDGES_HOURS = np.concatenate([[0.0], np.geomspace(0.05, 4000.0, 65), [8000.0]])
MAX_HIST_CELLS = 1_000_000  # cells of one merchant block's cube: small enough to stay in cache

# name -> (event day kind, duration value, optional mask value)
HIST_STREAMS: dict[str, tuple[str, str, str | None]] = {
    "accept_delay": ("accepted", "accept_delay_hours", None),
    "pick_pack": ("packed", "pick_pack_hours", None),
    "pick_pack_surge": ("packed", "pick_pack_hours", "surge"),
    "pick_pack_normal": ("packed", "pick_pack_hours", "not_surge"),
    "pickup_dwell": ("shipped", "pickup_dwell_hours", None),
    "transit_hist": ("delivered", "transit_hours", None),
}
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
CARRIER_HHI = "carrier_hhi"


def bin_index(hours: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Bin of each duration; negatives fall in the first bin, beyond the last edge in the last."""
    return np.clip(np.searchsorted(edges, hours, side="right") - 1, 0, len(edges) - 2)


def cumulative_histograms(
    code: np.ndarray, interval: np.ndarray, bins: np.ndarray, n_merchants: int, n_bins: int,
    n_intervals: int,
) -> np.ndarray:  # fmt: skip
    """[merchant, bin, breakpoint j] = events before breakpoint j in each bin."""
    flat = np.bincount(
        (code * n_bins + bins) * n_intervals + interval,
        minlength=n_merchants * n_bins * n_intervals,
    )
    return np.cumsum(flat.reshape(n_merchants, n_bins, n_intervals), axis=2, dtype=np.int32)


def window_histograms(
    cum: np.ndarray, end_index: np.ndarray, start_index: np.ndarray
) -> np.ndarray:
    """[merchant, window, bin] event counts in each window of a cumulative cube."""
    return np.transpose(cum[:, :, end_index] - cum[:, :, start_index], (0, 2, 1))


def histogram_quantiles(
    counts: np.ndarray, edges: np.ndarray, qs: list[float], min_observations: int
) -> list[np.ndarray]:
    """Quantiles of each histogram row (last axis = bins) with linear interpolation inside the
    bin; NaN below the observation floor. One cumulative sum serves every q."""
    cum = np.cumsum(counts, axis=-1)
    total = cum[..., -1]
    enough = total >= max(min_observations, 1)
    out = []
    for q in qs:
        target = q * total
        idx = np.argmax(cum >= target[..., None], axis=-1)
        before = np.where(
            idx > 0, np.take_along_axis(cum, np.maximum(idx - 1, 0)[..., None], -1)[..., 0], 0.0
        )
        in_bin = np.take_along_axis(counts, idx[..., None], -1)[..., 0]
        with np.errstate(invalid="ignore", divide="ignore"):
            share = np.where(in_bin > 0, (target - before) / in_bin, 0.0)
        value = edges[idx] + share * (edges[idx + 1] - edges[idx])
        out.append(np.where(enough, value, np.nan))
    return out


def concentration_hhi(counts: np.ndarray, min_observations: int) -> np.ndarray:
    """Herfindahl index of category counts (last axis); NaN below the observation floor.

    Squared shares are added smallest first, one after another: the sum is then the same to the
    last bit whatever the category codes and however many absent categories pad the axis, so a
    table split by merchant gives exactly the index of the whole table."""
    total = counts.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        squared = np.sort(counts / total[..., None], axis=-1) ** 2
    hhi = np.cumsum(squared, axis=-1)[..., -1] if counts.shape[-1] else np.zeros(total.shape)
    return np.where(total >= max(min_observations, 1), hhi, np.nan)


def _merchant_blocks(code: np.ndarray, n_merchants: int, cells_per_merchant: int):
    """(first merchant, end merchant, row slice) blocks of merchant-sorted events."""
    block = max(1, MAX_HIST_CELLS // max(cells_per_merchant, 1))
    starts = np.arange(0, n_merchants, block)
    bounds = np.searchsorted(code, np.r_[starts, n_merchants])
    for i, m0 in enumerate(starts):
        yield int(m0), int(min(m0 + block, n_merchants)), slice(bounds[i], bounds[i + 1])


def _stream_events(
    events: OrderEvents, values: dict[str, np.ndarray], stream: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Merchant code, event day and duration of the events a histogram stream counts."""
    day_kind, value_name, mask_name = HIST_STREAMS[stream]
    days, hours = events.day[day_kind], values[value_name]
    keep = (days != NO_DAY) & ~np.isnan(hours)
    if mask_name is not None:
        keep &= values[mask_name] == 1
    return events.merchant_code[keep], days[keep], hours[keep]


def percentile_features(
    events: OrderEvents,
    values: dict[str, np.ndarray],
    requests: list[WindowRequest],
    wanted: list[frozenset[str]],
    day_range: tuple[int, int],
    min_observations: int,
) -> list[dict[str, np.ndarray]]:
    """Per request, its wanted QUANTILES (and CARRIER_HHI) as [merchant, window] arrays.

    Each stream is binned once on the grid of just the requests that read it."""
    n_m = len(events.merchant_ids)
    out: list[dict[str, np.ndarray]] = [{} for _ in requests]
    for stream in HIST_STREAMS:
        users = [
            i
            for i, w in enumerate(wanted)
            if any(QUANTILES[f][0] == stream for f in w & QUANTILES.keys())
        ]
        if not users:
            continue
        grid = make_grid([requests[i] for i in users], day_range)
        code, days, hours = _stream_events(events, values, stream)
        interval, bins = grid.interval(days), bin_index(hours, BIN_EDGES_HOURS)
        reads = [
            sorted(f for f in wanted[i] if QUANTILES.get(f, ("",))[0] == stream) for i in users
        ]
        for i, names in zip(users, reads, strict=True):
            for name in names:
                out[i][name] = np.full((n_m, len(requests[i].ends)), np.nan)
        n_bins = len(BIN_EDGES_HOURS) - 1
        for m0, m1, rows in _merchant_blocks(code, n_m, n_bins * grid.n_intervals):
            if rows.start == rows.stop:
                continue
            b = bins[rows]
            lo, hi = int(b.min()), int(b.max())
            cum = cumulative_histograms(
                code[rows] - m0, interval[rows], b - lo, m1 - m0, hi - lo + 1, grid.n_intervals
            )
            edges = BIN_EDGES_HOURS[lo : hi + 2]
            for u, (i, names) in enumerate(zip(users, reads, strict=True)):
                end, start = grid.windows[u]
                qs = [QUANTILES[name][1] for name in names]
                counts = window_histograms(cum, end, start)
                for name, value in zip(
                    names, histogram_quantiles(counts, edges, qs, min_observations), strict=True
                ):
                    out[i][name][m0:m1] = value
    _carrier_concentration(events, values, requests, wanted, day_range, min_observations, out)
    return out


def _carrier_concentration(
    events: OrderEvents,
    values: dict[str, np.ndarray],
    requests: list[WindowRequest],
    wanted: list[frozenset[str]],
    day_range: tuple[int, int],
    min_observations: int,
    out: list[dict[str, np.ndarray]],
) -> None:
    """Carrier Herfindahl index of shipped parcels per [merchant, window], into `out`."""
    users = [i for i, w in enumerate(wanted) if CARRIER_HHI in w]
    carrier = values["carrier_code"]
    n_m = len(events.merchant_ids)
    for i in users:
        out[i][CARRIER_HHI] = np.full((n_m, len(requests[i].ends)), np.nan)
    if not users or not np.isfinite(carrier).any():
        return
    n_carriers = int(np.nanmax(carrier)) + 1
    grid = make_grid([requests[i] for i in users], day_range)
    days = events.day["shipped"]
    keep = (days != NO_DAY) & ~np.isnan(carrier)
    code, interval = events.merchant_code[keep], grid.interval(days[keep])
    category = carrier[keep].astype(np.int64)
    for m0, m1, rows in _merchant_blocks(code, n_m, n_carriers * grid.n_intervals):
        cum = cumulative_histograms(
            code[rows] - m0, interval[rows], category[rows], m1 - m0, n_carriers, grid.n_intervals
        )
        for u, i in enumerate(users):
            end, start = grid.windows[u]
            counts = window_histograms(cum, end, start)
            out[i][CARRIER_HHI][m0:m1] = concentration_hhi(counts, min_observations)
