"""The LES rulebook: window metrics -> points per metric -> weighted score (0-5) -> tier.

This module is the typed rulebook, its loading and its checks; `rulebook_scoring` applies it and
`rulebook_docs` writes docs/rulebook.md from it. The metrics are catalogue features computed by the
same window code as the model's inputs, so a score and a feature can never disagree on a
definition. features/rulebook.yaml cites each metric's platform precedent.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from features.catalogue import FULFILMENT_STAGES, Catalogue, load_catalogue, read_declaration
from features.errors import LesError

TIERS = ("Excellent", "Good", "Needs attention", "Poor")
INSUFFICIENT = "Insufficient data"
TIER_CODES = {"Poor": 0, "Needs attention": 1, "Good": 2, "Excellent": 3}
# The points scale, and so the score, is 0..MAX_POINTS: the catalogue's `points` unit declares it.
MAX_POINTS: float = load_catalogue().feature("current_les_score").maximum
SCALAR_FIELDS = ("version", "window_days", "min_orders", "min_metric_denominator")
BASE = (*SCALAR_FIELDS, "min_orders_basis", "metrics")  # fields a user's file replaces whole
FILE_FIELDS = (*BASE, "tiers", "weights", "bands")

Band = tuple[float, float]  # (metric value, points)


class RulebookError(LesError, ValueError):
    """The rulebook is inconsistent or unreadable; the message names the field."""


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
    min_orders_basis: str  # the catalogue count min_orders applies to (delivered orders)
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
        **{k: _number(raw[k], k, whole=True) for k in SCALAR_FIELDS},
        min_orders_basis=str(raw["min_orders_basis"]),
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
    # min_orders >= 1: a row with nothing of its basis (no delivery) has no logistics to score
    for name, least in (("window_days", 1), ("min_orders", 1), ("min_metric_denominator", 0)):
        if getattr(rules, name) < least:
            raise RulebookError(f"{name} must be >= {least}, got {getattr(rules, name)}")
    basis = rules.min_orders_basis
    if basis not in catalogue.names:
        raise RulebookError(f"min_orders_basis {basis!r}: not a feature of features/catalogue.yaml")
    if catalogue.feature(basis).unit != "orders":
        raise RulebookError(f"min_orders_basis {basis!r} must be a count of orders")
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
            f"tier cut-offs must strictly descend from <= {MAX_POINTS:g} to Poor 0: {rules.tiers}"
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
        raise RulebookError(
            f"{where} band points must lie in 0..{MAX_POINTS:g}, got {points.tolist()}"
        )
    better = {"higher": 1, "lower": -1}.get(declared.direction, 0)
    if better == 0 or not np.all(better * np.diff(points) >= 0):
        raise RulebookError(
            f"{where} band points must improve toward the catalogue's better side "
            f"({declared.direction}), got {points.tolist()}"
        )
