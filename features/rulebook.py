"""The LES rulebook: window metrics -> points per metric -> weighted score (0-5) -> tier.

The metrics are catalogue features computed by the same window code as the model's inputs, so a
score and a feature can never disagree on a definition. See features/rulebook.yaml for the sources.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from features.catalogue import FULFILMENT_STAGES, load_catalogue, read_declaration

TIERS = ("Excellent", "Good", "Needs attention", "Poor")
INSUFFICIENT = "Insufficient data"
TIER_CODES = {"Poor": 0, "Needs attention": 1, "Good": 2, "Excellent": 3}


class RulebookError(ValueError):
    """The rulebook is inconsistent; the message names the metric and field."""


@dataclass(frozen=True)
class Metric:
    feature: str
    stage: str
    weight: float
    bands: tuple[tuple[float, float], ...]  # (value, points), sorted by value
    source: str = ""  # the platform precedent this metric follows


@dataclass(frozen=True)
class Rulebook:
    version: int
    window_days: int
    min_orders: int
    min_metric_denominator: int
    tiers: dict[str, float]  # tier -> lowest score of the tier
    metrics: tuple[Metric, ...]

    def with_overrides(self, **changes: object) -> Rulebook:
        """A validated copy with some fields replaced (window, minimums, tiers, metrics)."""
        rules = dataclasses.replace(self, **changes)
        check_rulebook(rules)
        return rules


def load_rulebook(path: Path | None = None) -> Rulebook:
    """The packaged rulebook by default; a user's YAML of the same shape otherwise."""
    raw = read_declaration("rulebook.yaml", path)
    try:
        metrics = tuple(
            Metric(
                m["feature"],
                m["stage"],
                float(m["weight"]),
                tuple((float(v), float(p)) for v, p in m["bands"]),
                str(m.get("source", "")),
            )
            for m in raw["metrics"]
        )
        rules = Rulebook(
            int(raw["version"]),
            int(raw["window_days"]),
            int(raw["min_orders"]),
            int(raw["min_metric_denominator"]),
            {str(k): float(v) for k, v in raw["tiers"].items()},
            metrics,
        )
    except KeyError as exc:
        raise RulebookError(f"rulebook {path or 'rulebook.yaml'} lacks field {exc}") from exc
    check_rulebook(rules)
    return rules


def check_rulebook(rules: Rulebook) -> None:
    names = set(load_catalogue().names)
    total = sum(m.weight for m in rules.metrics)
    if abs(total - 1.0) > 1e-9:
        raise RulebookError(f"metric weights must sum to 1, got {total}")
    for m in rules.metrics:
        if m.feature not in names:
            raise RulebookError(f"metric {m.feature!r} is not a catalogue feature")
        if m.stage not in FULFILMENT_STAGES:
            raise RulebookError(f"metric {m.feature}: stage {m.stage!r} not in {FULFILMENT_STAGES}")
        if m.weight <= 0:
            raise RulebookError(f"metric {m.feature}: weight must be > 0, got {m.weight}")
        values = [v for v, _ in m.bands]
        points = [p for _, p in m.bands]
        if len(m.bands) < 2 or values != sorted(values) or len(set(values)) != len(values):
            raise RulebookError(f"metric {m.feature}: bands need >= 2 strictly increasing values")
        if not all(0 <= p <= 5 for p in points):
            raise RulebookError(f"metric {m.feature}: band points must lie in 0..5")
        if not (np.all(np.diff(points) >= 0) or np.all(np.diff(points) <= 0)):
            raise RulebookError(f"metric {m.feature}: band points must be monotone")
    if set(rules.tiers) != set(TIERS):
        raise RulebookError(f"tiers must be exactly {TIERS}, got {sorted(rules.tiers)}")
    cuts = [rules.tiers[t] for t in TIERS]
    if cuts != sorted(cuts, reverse=True) or len(set(cuts)) != len(cuts):
        raise RulebookError(f"tier cut-offs must strictly descend from Excellent to Poor: {cuts}")
    if rules.window_days < 1 or rules.min_orders < 0 or rules.min_metric_denominator < 0:
        raise RulebookError("window_days must be >= 1 and the minimums >= 0")


def metric_points(values: pd.Series, bands: tuple[tuple[float, float], ...]) -> pd.Series:
    """Piecewise-linear between band points, flat outside them; NaN stays NaN."""
    xs = np.array([v for v, _ in bands])
    ys = np.array([p for _, p in bands])
    raw = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    points = np.interp(raw, xs, ys)
    return pd.Series(np.where(np.isnan(raw), np.nan, points), index=values.index)


def tier_from_score(scores: pd.Series, rules: Rulebook) -> pd.Series:
    """Score -> tier by the cut-offs; a NaN score is Insufficient data."""
    raw = pd.to_numeric(scores, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    tiers = np.full(len(raw), INSUFFICIENT, dtype=object)
    for tier in reversed(TIERS):  # Poor first, so better tiers overwrite
        tiers[raw >= rules.tiers[tier]] = tier
    tiers[np.isnan(raw)] = INSUFFICIENT
    return pd.Series(tiers, index=scores.index, dtype=object)


def rulebook_inputs(rules: Rulebook) -> tuple[str, ...]:
    """The window features score_les reads: each metric, its denominator, and the order count."""
    denominators = {f.name: f.denominator for f in load_catalogue().features}
    names = ["orders_in_window"]
    for m in rules.metrics:
        names += [m.feature] + ([denominators[m.feature]] if denominators.get(m.feature) else [])
    return tuple(dict.fromkeys(names))


def score_les(metric_frame: pd.DataFrame, rules: Rulebook) -> pd.DataFrame:
    """Per row: each metric's value and points, the weighted LES and the tier."""
    denominators = {f.name: f.denominator for f in load_catalogue().features}
    out = pd.DataFrame(index=metric_frame.index)
    weighted = np.zeros(len(metric_frame))
    weight_present = np.zeros(len(metric_frame))
    for m in rules.metrics:
        values = (
            metric_frame[m.feature]
            if m.feature in metric_frame
            else pd.Series(np.nan, index=metric_frame.index)
        )
        points = metric_points(values, m.bands)
        denominator = denominators.get(m.feature)
        if denominator is not None and denominator in metric_frame:
            enough = (
                pd.to_numeric(metric_frame[denominator]).fillna(0) >= rules.min_metric_denominator
            )
            points = points.where(enough)
        out[m.feature] = values
        out[f"{m.feature}_points"] = points
        present = points.notna().to_numpy()
        weighted += np.where(present, points.fillna(0).to_numpy() * m.weight, 0.0)
        weight_present += np.where(present, m.weight, 0.0)
    orders = pd.to_numeric(metric_frame["orders_in_window"]).fillna(0).to_numpy()
    sufficient = (orders >= rules.min_orders) & (weight_present > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        score = np.where(sufficient, weighted / weight_present, np.nan)
    out["les_score"] = score
    out["les_tier"] = tier_from_score(out["les_score"], rules)
    return out


def compute_les(
    orders: pd.DataFrame,
    window_start: pd.Timestamp,
    window_end: pd.Timestamp,
    rules: Rulebook,
) -> pd.DataFrame:
    """The rulebook over one window [start, end) for every merchant with orders in it."""
    from features.windows import compute_window_metrics

    start, end = _whole_day(window_start, "window_start"), _whole_day(window_end, "window_end")
    if end <= start:
        raise RulebookError(f"window_end {end} must be after window_start {start}")
    days = (end - start).days
    metrics = compute_window_metrics(orders, pd.DatetimeIndex([end]), days)
    metrics = metrics.loc[metrics["orders_in_window"] > 0].reset_index(drop=True)
    scored = score_les(metrics, rules)
    head = pd.DataFrame(
        {
            "merchant_id": metrics["merchant_id"],
            "window_start": start,
            "window_end": end,
            "orders_in_window": metrics["orders_in_window"],
        }
    )
    return pd.concat([head, scored], axis=1)


def _whole_day(value: object, field: str) -> pd.Timestamp:
    ts = pd.Timestamp(value)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    if ts != ts.normalize():
        raise RulebookError(f"{field} must be a whole day (midnight UTC), got {ts}")
    return ts


def rulebook_markdown(rules: Rulebook) -> str:
    """docs/rulebook.md, generated from the rulebook so the documentation cannot drift from it."""
    from features.catalogue import load_catalogue

    catalogue = load_catalogue()
    lines = [
        f"# The LES rulebook (version {rules.version})",
        "",
        "Generated from `features/rulebook.yaml` by `features.rulebook.rulebook_markdown`; "
        "a test keeps this file in sync.",
        "",
        f"- Window: the last {rules.window_days} days before the scoring date (events in "
        "[end - window, end)).",
        f"- Minimum: {rules.min_orders} orders in the window, else the tier is "
        f"*{INSUFFICIENT}*; a metric with fewer than {rules.min_metric_denominator} observations "
        "is left out and the other weights are renormalised.",
        "- Points: piecewise-linear between band points (value -> points), flat outside them, so "
        "improving a metric never lowers the score. LES = weighted mean of points, 0-5.",
        "- Tiers (lowest score of each): "
        + ", ".join(f"{t} >= {rules.tiers[t]:g}" for t in TIERS)
        + ".",
        "",
        "| metric | stage | weight | definition | bands (value -> points) | precedent |",
        "|---|---|---|---|---|---|",
    ]
    for m in rules.metrics:
        bands = "; ".join(f"{v:g} -> {p:g}" for v, p in m.bands)
        definition = catalogue.feature(m.feature).description
        stage = catalogue.stage_labels[m.stage]
        lines.append(
            f"| `{m.feature}` | {stage} | {m.weight:g} | {definition} | {bands} | {m.source} |"
        )
    return "\n".join(lines) + "\n"
