"""The LES rulebook: window metrics -> points per metric -> weighted score (0-5) -> tier.

The metrics are catalogue features computed by the same window code as the model's inputs, so a
score and a feature can never disagree on a definition. features/rulebook.yaml cites each metric's
platform precedent; docs/rulebook.md is generated from it by `rulebook_markdown`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from features.catalogue import FULFILMENT_STAGES, Catalogue, load_catalogue, read_declaration
from features.events import order_events
from features.windows import window_features

TIERS = ("Excellent", "Good", "Needs attention", "Poor")
INSUFFICIENT = "Insufficient data"
TIER_CODES = {"Poor": 0, "Needs attention": 1, "Good": 2, "Excellent": 3}
MAX_POINTS = 5.0
TIER_DECIMALS = 9  # a weighted mean within float noise of a cut-off has reached it
SCALAR_FIELDS = ("version", "window_days", "min_orders", "min_metric_denominator")
BASE = (*SCALAR_FIELDS, "metrics")  # fields a user's file replaces whole
FILE_FIELDS = (*BASE, "tiers", "weights", "bands")

Band = tuple[float, float]  # (metric value, points)


class RulebookError(ValueError):
    """The rulebook is inconsistent or unreadable; the message names the field."""


class MetricFrameError(ValueError):
    """A frame to score lacks a column the rulebook reads or holds non-numbers in it."""


@dataclass(frozen=True)
class Metric:
    """One scored metric: a catalogue feature, its fulfilment stage, weight and points bands."""

    feature: str
    stage: str
    weight: float
    bands: tuple[Band, ...]  # sorted by value; points monotone toward the better direction
    source: str = ""  # the platform precedent (PLATFORM_METRICS.md)
    denominator: str | None = None  # the catalogue's observation count for this metric


@dataclass(frozen=True)
class Rulebook:
    """The typed rulebook; change it with `with_overrides` (validated) or `dataclasses.replace`."""

    version: int
    window_days: int
    min_orders: int
    min_metric_denominator: int
    tiers: dict[str, float]  # tier -> lowest score of the tier
    metrics: tuple[Metric, ...]

    def with_overrides(
        self,
        *,
        window_days: int | None = None,
        min_orders: int | None = None,
        min_metric_denominator: int | None = None,
        tiers: Mapping[str, float] | None = None,
        weights: Mapping[str, float] | None = None,
        bands: Mapping[str, Sequence[Sequence[float]]] | None = None,
    ) -> Rulebook:
        """A validated copy: scalars replaced; cut-offs, weights and bands replaced by name.
        Weights must still sum to 1, so change them in pairs (or all at once)."""
        scalars = dict(window_days=window_days, min_orders=min_orders)
        scalars |= dict(min_metric_denominator=min_metric_denominator)
        weights, bands = _mapping(weights, "weights"), _mapping(bands, "bands")
        unknown = sorted((set(weights) | set(bands)) - {m.feature for m in self.metrics})
        if unknown:
            raise RulebookError(f"weights/bands name metrics the rulebook does not have: {unknown}")
        rules = dataclasses.replace(
            self,
            **{k: _number(v, k, whole=True) for k, v in scalars.items() if v is not None},
            tiers=self.tiers
            | {t: _number(v, f"tiers.{t}") for t, v in _mapping(tiers, "tiers").items()},
            metrics=tuple(_overridden(m, weights, bands) for m in self.metrics),
        )
        check_rulebook(rules)
        return rules


def load_rulebook(path: Path | None = None) -> Rulebook:
    """The packaged rulebook; with `path`, a user's YAML laid over it. Scalars and `metrics`
    replace; `tiers`, `weights` and `bands` replace by name, so a file may hold only a change."""
    try:
        user = {} if path is None else read_declaration("rulebook.yaml", Path(path))
        user = _mapping(user, "the rulebook file")
        unknown = sorted(set(user) - set(FILE_FIELDS))
        if unknown:
            raise RulebookError(f"unknown field(s) {unknown}; a rulebook file sets {FILE_FIELDS}")
        raw = read_declaration("rulebook.yaml") | {k: v for k, v in user.items() if k in BASE}
        return _from_mapping(raw, load_catalogue()).with_overrides(
            tiers=user.get("tiers"), weights=user.get("weights"), bands=user.get("bands")
        )
    except (RulebookError, OSError, yaml.YAMLError) as exc:
        if path is None:
            raise
        raise RulebookError(f"rulebook file {path}: {exc}") from exc


def _from_mapping(raw: Mapping, catalogue: Catalogue) -> Rulebook:
    missing = [k for k in (*BASE, "tiers") if k not in raw]
    if missing or not isinstance(raw["metrics"], list):
        raise RulebookError(f"the rulebook lacks field(s) {missing} or a list of metrics")
    return Rulebook(
        *(_number(raw[k], k, whole=True) for k in SCALAR_FIELDS),
        tiers={t: _number(v, f"tiers.{t}") for t, v in _mapping(raw["tiers"], "tiers").items()},
        metrics=tuple(_metric(entry, i, catalogue) for i, entry in enumerate(raw["metrics"])),
    )


def _metric(entry: object, index: int, catalogue: Catalogue) -> Metric:
    entry = _mapping(entry, f"metrics[{index}]")
    field = f"metrics[{index}] ({entry.get('feature', '?')})"
    missing = [k for k in ("feature", "stage", "weight", "bands") if k not in entry]
    if missing:
        raise RulebookError(f"{field} lacks field(s) {missing}")
    feature = str(entry["feature"])
    declared = catalogue.feature(feature).denominator if feature in catalogue.names else None
    return Metric(
        feature=feature,
        stage=str(entry["stage"]),
        weight=_number(entry["weight"], f"{field}.weight"),
        bands=_bands(entry["bands"], f"{field}.bands"),
        source=str(entry.get("source", "")),
        denominator=entry.get("denominator", declared),
    )


def _overridden(m: Metric, weights: Mapping, bands: Mapping) -> Metric:
    weight = _number(weights.get(m.feature, m.weight), f"weights.{m.feature}")
    return dataclasses.replace(
        m, weight=weight, bands=_bands(bands.get(m.feature, m.bands), f"bands.{m.feature}")
    )


def _mapping(value: object, field: str) -> Mapping:
    if value is not None and not isinstance(value, Mapping):
        raise RulebookError(f"{field} must be a mapping of name -> value, got {value!r}")
    return value or {}


def _number(value: object, field: str, whole: bool = False) -> float:
    """A finite number (an int when `whole`) from YAML or code; True/False are not numbers."""
    try:
        number = math.nan if isinstance(value, bool) else float(value)
    except (TypeError, ValueError):
        number = math.nan
    if not math.isfinite(number) or (whole and not number.is_integer()):
        raise RulebookError(f"{field} must be a finite {'whole ' * whole}number, got {value!r}")
    return int(number) if whole else number


def _bands(value: object, field: str) -> tuple[Band, ...]:
    pairs = isinstance(value, Sequence) and not isinstance(value, str)
    if not pairs or not all(isinstance(p, Sequence) and len(p) == 2 for p in value):
        raise RulebookError(f"{field} must be a list of [value, points] pairs, got {value!r}")
    return tuple(
        (_number(v, f"{field}[{i}] value"), _number(p, f"{field}[{i}] points"))
        for i, (v, p) in enumerate(value)
    )


def check_rulebook(rules: Rulebook, catalogue: Catalogue | None = None) -> None:
    """Raise RulebookError naming the first broken field; scoring relies on every rule here."""
    catalogue = catalogue or load_catalogue()
    for name, least in (("window_days", 1), ("min_orders", 0), ("min_metric_denominator", 0)):
        if getattr(rules, name) < least:
            raise RulebookError(f"{name} must be >= {least}, got {getattr(rules, name)}")
    features = [m.feature for m in rules.metrics]
    if not features or len(set(features)) != len(features):
        raise RulebookError(f"metrics must name distinct catalogue features, got {features}")
    for m in rules.metrics:
        _check_metric(m, catalogue)
    total = math.fsum(m.weight for m in rules.metrics)
    if abs(total - 1.0) > 1e-9:
        weights = ", ".join(f"{m.feature} {m.weight:g}" for m in rules.metrics)
        raise RulebookError(f"metric weights must sum to 1, got {total:.12g} ({weights})")
    if set(rules.tiers) != set(TIERS):
        raise RulebookError(f"tiers must name exactly {TIERS}, got {sorted(rules.tiers)}")
    cuts = [rules.tiers[t] for t in TIERS]
    if cuts[-1] != 0:
        raise RulebookError(f"tiers.Poor must be 0 (Poor is every lower score), got {cuts[-1]}")
    if not all(a > b for a, b in zip(cuts, cuts[1:], strict=False)) or not cuts[0] <= MAX_POINTS:
        raise RulebookError(
            f"tier cut-offs must strictly descend from <= 5 to Poor 0: {rules.tiers}"
        )


def _check_metric(m: Metric, catalogue: Catalogue) -> None:
    where = f"metric {m.feature!r}:"
    if m.feature not in catalogue.names:
        raise RulebookError(f"{where} not a feature of features/catalogue.yaml")
    declared = catalogue.feature(m.feature)
    if m.stage not in FULFILMENT_STAGES or m.stage != declared.stage:
        raise RulebookError(f"{where} stage {m.stage!r} must be the catalogue's {declared.stage!r}")
    if not m.weight > 0:
        raise RulebookError(f"{where} weight must be > 0, got {m.weight}")
    if m.denominator != declared.denominator:
        raise RulebookError(f"{where} denominator must be the catalogue's {declared.denominator!r}")
    values, points = np.array(m.bands, dtype=float).reshape(-1, 2).T
    if len(values) < 2 or not np.all(np.diff(values) > 0):
        raise RulebookError(f"{where} bands need >= 2 strictly increasing values, got {m.bands}")
    if not np.all((points >= 0) & (points <= MAX_POINTS)):
        raise RulebookError(f"{where} band points must lie in 0..5, got {points.tolist()}")
    better = {"higher": 1, "lower": -1}.get(declared.direction, 0)
    if better == 0 or not np.all(better * np.diff(points) >= 0):
        raise RulebookError(
            f"{where} band points must improve toward the catalogue's better side "
            f"({declared.direction}), got {points.tolist()}"
        )


def metric_points(values: pd.Series, bands: Sequence[Band]) -> pd.Series:
    """Piecewise-linear between band points, flat outside them (never below 0 or above 5);
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
    """The window features score_les reads: each metric, its denominator, and the order count."""
    names = ["orders_in_window"]
    for m in rules.metrics:
        names += [m.feature] + ([m.denominator] if m.denominator else [])
    return tuple(dict.fromkeys(names))


def score_les(metric_frame: pd.DataFrame, rules: Rulebook) -> pd.DataFrame:
    """Per row: each metric's value and points, the weighted LES and the tier. A metric counts
    when present and backed by >= min_metric_denominator observations (if the frame has its
    denominator column); weights are renormalised over the metrics that count."""
    if "orders_in_window" not in metric_frame:
        raise MetricFrameError("the frame to score lacks column 'orders_in_window'")
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
    orders = _floats(metric_frame["orders_in_window"], "orders_in_window")
    scored = (orders >= rules.min_orders) & (counted_weight > 0)
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
    merchant_id, window_start, window_end, orders_in_window, each metric's value and points,
    les_score, les_tier. Only the features the rulebook reads are computed."""
    start, end = _whole_day(window_start, "window_start"), _whole_day(window_end, "window_end")
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
    return pd.concat([head, score_les(metrics, rules)], axis=1)


def _whole_day(value: object, field: str) -> pd.Timestamp:
    """Windows are whole UTC days because the feature engine counts events per UTC day."""
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise RulebookError(f"{field} must be a date or UTC timestamp, got {value!r}") from exc
    if ts is pd.NaT:
        raise RulebookError(f"{field} must be a date or UTC timestamp, got {value!r}")
    ts = (ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")).as_unit("ns")
    if ts != ts.normalize():
        raise RulebookError(f"{field} must be a whole day (midnight UTC), got {ts}")
    return ts


def rulebook_markdown(rules: Rulebook) -> str:
    """docs/rulebook.md, generated from the rulebook so the documentation cannot drift from it."""
    catalogue = load_catalogue()
    cut_offs = ", ".join(f"{t} >= {rules.tiers[t]:g}" for t in TIERS[:-1])
    lines = [
        f"# The LES rulebook (version {rules.version})",
        "",
        "Generated from `features/rulebook.yaml` by `les rulebook --markdown`; a test keeps this "
        "file in sync. Precedents come from platform seller documentation and third-party guides "
        "(the Douyin ones from reposts of the platform's rules, not its official page).",
        "",
        "## How a window is scored",
        f"- Window: the last {rules.window_days} days before the scoring date; a metric counts the "
        "events that happened in [end - window, end) (orders paid, shipped, delivered in it).",
        f"- Minimums: below {rules.min_orders} orders paid in the window the tier is "
        f"*{INSUFFICIENT}* and there is no score; a metric backed by fewer than "
        f"{rules.min_metric_denominator} observations (its denominator) is left out.",
        "- Points: piecewise-linear between the band points (value -> points), flat outside them, "
        "so improving a metric never lowers the score.",
        "- Score: the weighted mean of the points of the metrics that count, weights renormalised "
        f"over them; 0-5. Tiers: {cut_offs}, Poor below.",
        "",
        "## Metrics",
        "| metric | stage | weight | better | counted over | definition | bands (value -> points) |",
        "|---|---|---|---|---|---|---|",
    ]
    for m in rules.metrics:
        f = catalogue.feature(m.feature)
        bands = "; ".join(f"{v:g} -> {p:g}" for v, p in m.bands)
        lines.append(
            f"| `{m.feature}` | {catalogue.stage_labels[m.stage]} | {m.weight:g} | {f.direction} "
            f"| `{m.denominator}` | {f.description} | {bands} |"
        )
    lines += ["", "## Precedents", *(f"- `{m.feature}`: {m.source}" for m in rules.metrics)]
    return "\n".join([*lines, "", *OVERRIDES_DOC]) + "\n"


OVERRIDES_DOC = (
    "## Changing the rules",
    "From code, `load_rulebook().with_overrides(window_days=..., min_orders=..., tiers={...}, "
    "weights={...}, bands={...})` returns a validated copy (tiers, weights and bands by name; "
    "weights must still sum to 1). From a file, `les score-window --rules FILE` (or "
    "`load_rulebook(FILE)`) lays a YAML with any of those fields, `version`, "
    "`min_metric_denominator` or a whole `metrics` list over the packaged rulebook.",
)
