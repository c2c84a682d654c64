"""Applying the rulebook: metric values -> points -> the weighted LES (0-5) -> tier, per row, and
the rulebook over a window of orders (`compute_les`, what `les score-window` prints)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from features.errors import LesError
from features.events import order_events
from features.rulebook import INSUFFICIENT, MAX_POINTS, TIERS, Band, Rulebook, RulebookError
from features.snapshots import midnight_utc
from features.windows import window_features

TIER_DECIMALS = 9  # a weighted mean within float noise of a cut-off has reached it


class MetricFrameError(LesError, ValueError):
    """A frame to score lacks a column the rulebook reads or holds non-numbers in it."""


def metric_points(values: pd.Series, bands: Sequence[Band]) -> pd.Series:
    """Piecewise-linear between band points, flat outside them (never below 0 or above MAX_POINTS);
    NaN stays NaN because an unmeasured metric is left out, not scored as zero."""
    raw = _floats(values, str(values.name))
    xs = np.array([v for v, _ in bands], dtype=float)
    ys = np.array([p for _, p in bands], dtype=float)
    points = np.where(np.isnan(raw), np.nan, np.interp(raw, xs, ys))
    return pd.Series(points, index=values.index, name=values.name)


def tier_from_score(scores: pd.Series, rules: Rulebook) -> pd.Series:
    """Score -> tier: a score reaching a cut-off is in that tier, anything below Needs attention
    (a regressed score below 0 too) is Poor, and NaN is Insufficient data."""
    raw = np.round(_floats(scores, str(scores.name)), TIER_DECIMALS)
    cuts = np.array([rules.tiers[t] for t in TIERS[:-1]])
    index = (raw[:, None] < cuts[None, :]).sum(axis=1)  # cut-offs above the score
    tiers = np.asarray(TIERS, dtype=object)[index]
    tiers[np.isnan(raw)] = INSUFFICIENT
    return pd.Series(tiers, index=scores.index, dtype=object)


def rulebook_inputs(rules: Rulebook) -> tuple[str, ...]:
    """The window features score_les reads: each metric, its denominator, the order count and the
    count the minimum applies to."""
    names = ["orders_in_window", rules.min_orders_basis]
    for m in rules.metrics:
        names += [m.feature] + ([m.denominator] if m.denominator else [])
    return tuple(dict.fromkeys(names))


def score_les(metric_frame: pd.DataFrame, rules: Rulebook) -> pd.DataFrame:
    """Per row: each metric's value and points, the weighted LES and the tier. A row is scored
    only with >= min_orders of its min_orders_basis (delivered orders). A metric counts when
    present and backed by >= min_metric_denominator observations (if the frame has its
    denominator column); weights are renormalised over the metrics that count."""
    if rules.min_orders_basis not in metric_frame:
        raise MetricFrameError(f"the frame to score lacks column {rules.min_orders_basis!r}")
    n = len(metric_frame)
    out = pd.DataFrame(index=metric_frame.index)
    weighted, counted_weight = np.zeros(n), np.zeros(n)
    for m in rules.metrics:  # a handful of metrics, each vectorised over the rows
        values = metric_frame.get(m.feature, pd.Series(np.nan, index=metric_frame.index))
        points = metric_points(values.rename(m.feature), m.bands).to_numpy()
        if m.denominator is not None and m.denominator in metric_frame:
            observed = _floats(metric_frame[m.denominator], m.denominator)
            points = np.where(observed >= rules.min_metric_denominator, points, np.nan)
        out[m.feature] = _floats(values, m.feature)
        out[f"{m.feature}_points"] = points
        counts = ~np.isnan(points)
        weighted += np.where(counts, points * m.weight, 0.0)
        counted_weight += np.where(counts, m.weight, 0.0)
    basis = _floats(metric_frame[rules.min_orders_basis], rules.min_orders_basis)
    scored = (basis >= rules.min_orders) & (counted_weight > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        # clipped to the scale: all points 5 over the counted weight can divide to 5 + 1 ulp
        mean_points = np.clip(weighted / counted_weight, 0.0, MAX_POINTS)
        out["les_score"] = np.where(scored, mean_points, np.nan)
    out["les_tier"] = tier_from_score(out["les_score"], rules)
    return out


def _floats(values: pd.Series, column: str) -> np.ndarray:
    try:
        numbers = pd.to_numeric(values, errors="raise")
    except (TypeError, ValueError) as exc:
        raise MetricFrameError(f"column {column!r} must be numeric: {exc}") from exc
    return np.asarray(numbers.to_numpy(dtype=float, na_value=np.nan), dtype=float)


def compute_les(
    orders: pd.DataFrame,
    window_start: pd.Timestamp,
    window_end: pd.Timestamp,
    rules: Rulebook,
) -> pd.DataFrame:
    """The rulebook over the events in [start, end) for every merchant with orders paid in it:
    merchant_id, window_start, window_end, orders_in_window, the min_orders basis, each metric's
    value and points, les_score, les_tier. Only the features the rulebook reads are computed."""
    start, end = midnight_utc(window_start, "window_start"), midnight_utc(window_end, "window_end")
    if end <= start:
        raise RulebookError(
            f"window_end {end:%Y-%m-%d} must be after window_start {start:%Y-%m-%d}"
        )
    metrics = window_features(
        order_events(orders), pd.DatetimeIndex([end]), (end - start).days,
        features=rulebook_inputs(rules),
    )  # fmt: skip
    metrics = metrics.loc[metrics["orders_in_window"] > 0].reset_index(drop=True)
    head = pd.DataFrame({"merchant_id": metrics["merchant_id"], "window_start": start})
    head["window_end"] = end
    head["orders_in_window"] = metrics["orders_in_window"]
    head[rules.min_orders_basis] = metrics[rules.min_orders_basis]
    return pd.concat([head, score_les(metrics, rules)], axis=1)
