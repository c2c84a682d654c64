"""Typed view of features/catalogue.yaml: the one declaration of every model feature."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path

import pandas as pd
import yaml

from features.errors import LesError

FULFILMENT_STAGES = ("order_receipt", "pick_pack", "ship_transport", "order_delivery")
STAGES = (*FULFILMENT_STAGES, "demand_context")
DIRECTIONS = ("lower", "higher", "neutral")
# From this catalogue version on every feature has a declared range; a model registered under an
# earlier one carries a catalogue without ranges, read with every feature unbounded (only this
# code's catalogue, which must declare them, bounds the API).
RANGES_SINCE_VERSION = 2
# From this version on every unit declares its display and every feature an example value; an
# earlier catalogue (a model registered before) is read with ratios as shares, the rest as numbers,
# and no examples.
SEMANTICS_SINCE_VERSION = 3
DISPLAYS = ("share", "number")  # a share prints as a percentage, a number as it is


class CatalogueError(LesError, ValueError):
    """The catalogue file breaks its own rules; the message names the feature and field."""


@dataclass(frozen=True)
class Feature:
    name: str
    stage: str
    unit: str
    direction: str
    actionable: bool
    description: str
    denominator: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    integer: bool = False
    display: str = "number"
    trend_of: str | None = None  # a trend: this source feature's window minus the previous one's
    example: float | None = None

    @property
    def range_text(self) -> str:
        """The range as docs and API descriptions print it, e.g. `0..1`, `>= 0`, `any value`."""
        low, high = self.minimum, self.maximum
        if low is None and high is None:
            span = "any value"
        elif high is None:
            span = f">= {low:g}"
        elif low is None:
            span = f"<= {high:g}"
        else:
            span = f"{low:g}..{high:g}"
        return f"{span}, whole numbers" if self.integer else span


@dataclass(frozen=True)
class Catalogue:
    features: tuple[Feature, ...]
    version: int
    stage_labels: dict[str, str]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.features)

    @property
    def actionable_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.features if f.actionable)

    def feature(self, name: str) -> Feature:
        for f in self.features:
            if f.name == name:
                return f
        raise KeyError(f"{name!r} is not in the feature catalogue")

    def display_of(self, name: str, unit: str) -> str:
        """The declared display of `name`, or the default for its unit if not catalogued here
        (an explanation written by a model with features this code does not know)."""
        known = {f.name: f.display for f in self.features}
        return known.get(name) or default_display(unit)

    @property
    def trends(self) -> dict[str, str]:
        """Each trend feature -> the feature it is the window-over-window change of."""
        return {f.name: f.trend_of for f in self.features if f.trend_of is not None}

    def examples(self) -> dict[str, float]:
        """The example merchant: every feature that declares an example value, by name."""
        return {f.name: f.example for f in self.features if f.example is not None}

    def stage_of(self, name: str) -> str:
        return self.feature(name).stage

    def by_stage(self) -> dict[str, list[str]]:
        return {stage: [f.name for f in self.features if f.stage == stage] for stage in STAGES}

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame([f.__dict__ for f in self.features])


def read_declaration(packaged_name: str, path: Path | None = None) -> dict:
    """A declaration file (catalogue, rulebook): the packaged one, or a user's file of that shape."""
    if path is None:
        text = resources.files("features").joinpath(packaged_name).read_text()
    else:
        text = Path(path).read_text()
    return yaml.safe_load(text)


def load_catalogue(path: Path | None = None) -> Catalogue:
    """The packaged catalogue by default; a path lets tests and forks try another one."""
    raw = read_declaration("catalogue.yaml", path)
    version = int(raw["version"])
    units = _units(raw.get("units") or {})
    features = tuple(_feature(entry, units, version) for entry in raw["features"])
    catalogue = Catalogue(features, version, dict(raw["stages"]))
    _check(catalogue)
    return catalogue


@dataclass(frozen=True)
class _Range:
    minimum: float | None
    maximum: float | None
    integer: bool
    display: str | None = None


RANGE_KEYS = ("minimum", "maximum")


def _units(raw: dict) -> dict[str, _Range]:
    return {
        name: replace(_range(entry, f"unit {name}", False), display=entry.get("display"))
        for name, entry in raw.items()
    }


def default_display(unit: str) -> str:
    """How a value is shown when no catalogue declares it (one from before displays were
    declared, or a feature this code does not know): a ratio as a share."""
    return "share" if unit == "ratio" else "number"


def _display(entry: dict, declared: _Range | None, version: int) -> str:
    """The feature's own display, else its unit's; a catalogue from before displays were declared
    shows ratios as shares."""
    display = entry.get("display", declared.display if declared else None)
    if display is None and version >= SEMANTICS_SINCE_VERSION:
        raise CatalogueError(
            f"{entry['name']}: no display: declare one of {DISPLAYS} on the feature or its unit"
        )
    if display is None:
        return default_display(entry["unit"])
    if display not in DISPLAYS:
        raise CatalogueError(f"{entry['name']}: display {display!r} is not one of {DISPLAYS}")
    return display


def _example(entry: dict, version: int) -> float | None:
    example = entry.get("example")
    if example is None and version >= SEMANTICS_SINCE_VERSION:
        raise CatalogueError(f"{entry['name']}: no example value (every feature declares one)")
    if example is not None and (isinstance(example, bool) or not isinstance(example, int | float)):
        raise CatalogueError(f"{entry['name']}: example must be a number, got {example!r}")
    return None if example is None else float(example)


def _range(entry: dict, where: str, integer: bool) -> _Range:
    """`minimum` and `maximum` (numbers, or null for an open side), both declared, min <= max."""
    missing = [key for key in RANGE_KEYS if key not in entry]
    if missing:
        raise CatalogueError(f"{where}: a range declares both minimum and maximum, lacks {missing}")
    bounds = []
    for key in RANGE_KEYS:
        bound = entry[key]
        if bound is not None and (isinstance(bound, bool) or not isinstance(bound, int | float)):
            raise CatalogueError(f"{where}: {key} must be a number or null, got {bound!r}")
        bounds.append(None if bound is None else float(bound))
    low, high = bounds
    if low is not None and high is not None and low > high:
        raise CatalogueError(f"{where}: minimum {low:g} is above maximum {high:g}")
    return _Range(low, high, bool(entry.get("integer", integer)))


def _feature(entry: dict, units: dict[str, _Range], version: int) -> Feature:
    try:
        name, unit = entry["name"], entry["unit"]
        declared = units.get(unit)
        if any(key in entry for key in RANGE_KEYS):
            bounds = _range(entry, name, declared.integer if declared else False)
        elif declared is not None:
            bounds = replace(declared, integer=bool(entry.get("integer", declared.integer)))
        elif version >= RANGES_SINCE_VERSION:
            raise CatalogueError(
                f"{name}: no range: declare minimum and maximum on the feature or on unit "
                f"{unit!r} under `units`"
            )
        else:
            bounds = _Range(None, None, False)
        return Feature(
            name=name,
            stage=entry["stage"],
            unit=unit,
            direction=entry["direction"],
            actionable=bool(entry["actionable"]),
            description=entry["description"],
            denominator=entry.get("denominator"),
            minimum=bounds.minimum,
            maximum=bounds.maximum,
            integer=bounds.integer,
            display=_display(entry, declared, version),
            trend_of=entry.get("trend_of"),
            example=_example(entry, version),
        )
    except KeyError as exc:
        raise CatalogueError(
            f"catalogue entry {entry.get('name', entry)!r} lacks field {exc}"
        ) from exc


def _check(catalogue: Catalogue) -> None:
    names = catalogue.names
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise CatalogueError(f"duplicate feature names: {duplicates}")
    for f in catalogue.features:
        if f.stage not in STAGES:
            raise CatalogueError(f"{f.name}: stage {f.stage!r} is not one of {STAGES}")
        if f.direction not in DIRECTIONS:
            raise CatalogueError(f"{f.name}: direction {f.direction!r} is not one of {DIRECTIONS}")
        if f.stage == "demand_context" and f.actionable:
            raise CatalogueError(f"{f.name}: demand context is never actionable")
        if f.denominator is not None and f.denominator not in names:
            raise CatalogueError(
                f"{f.name}: denominator {f.denominator!r} is not a catalogue feature"
            )
        if f.trend_of is not None and (f.trend_of not in names or f.trend_of == f.name):
            raise CatalogueError(
                f"{f.name}: trend_of {f.trend_of!r} is not another catalogue feature"
            )
        if f.example is not None:
            _check_example(f)


def _check_example(f: Feature) -> None:
    """An example is a value the API accepts: inside the range, whole when the feature is."""
    low = -math.inf if f.minimum is None else f.minimum
    high = math.inf if f.maximum is None else f.maximum
    if not low <= f.example <= high or (f.integer and not f.example.is_integer()):
        raise CatalogueError(f"{f.name}: example {f.example:g} is outside its range {f.range_text}")
