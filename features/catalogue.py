"""Typed view of features/catalogue.yaml: the one declaration of every model feature."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import pandas as pd
import yaml

FULFILMENT_STAGES = ("order_receipt", "pick_pack", "ship_transport", "order_delivery")
STAGES = (*FULFILMENT_STAGES, "demand_context")
DIRECTIONS = ("lower", "higher", "neutral")


class CatalogueError(ValueError):
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
    features = tuple(_feature(entry) for entry in raw["features"])
    catalogue = Catalogue(features, int(raw["version"]), dict(raw["stages"]))
    _check(catalogue)
    return catalogue


def _feature(entry: dict) -> Feature:
    try:
        return Feature(
            name=entry["name"],
            stage=entry["stage"],
            unit=entry["unit"],
            direction=entry["direction"],
            actionable=bool(entry["actionable"]),
            description=entry["description"],
            denominator=entry.get("denominator"),
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
