"""The recipe of a dataset: the DatasetConfig and the rulebook its rows were built with.

A dataset from `les build-dataset` carries it in a JSON file beside it, `<file>.recipe.json` or
`<folder>/_recipe.json` (underscored, so parquet readers skip it). One mechanism for every layout
the CLI writes (CSV, a parquet file, a folder of parts from either engine), readable without
pyarrow.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from features.dataset_config import DatasetConfig
from features.errors import LesError
from features.io import table_format, write_text_atomic
from features.rulebook import Rulebook

RECIPE_SUFFIX = ".recipe.json"
FOLDER_RECIPE = "_recipe.json"
FEATURE_FIELDS = ("window_days", "min_observations", "history_days")  # of DatasetConfig


class RecipeError(LesError, ValueError):
    """A recorded recipe is unreadable or disagrees with this code; the message says which."""


def rulebook_sha256(rules: Rulebook) -> str:
    """The content hash of every field that scores (canonical JSON): a changed band, weight or
    cut-off changes the hash even when nobody bumped the version; a reworded precedent does not."""
    content = dataclasses.asdict(rules)
    content["metrics"] = [{k: v for k, v in m.items() if k != "source"} for m in content["metrics"]]
    text = json.dumps(content, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class DatasetRecipe:
    """How a dataset's rows were built: enough to build the same features again from orders.

    The rulebook is recorded by version and content hash plus the two fields `les build-dataset`
    overrides (its window is the label horizon, and --min-orders). A recipe recorded before
    recipes existed has no hash and no overrides (`legacy`)."""

    config: DatasetConfig
    rulebook_version: int
    rulebook_sha256: str | None = None
    rulebook_window_days: int | None = None
    rulebook_min_orders: int | None = None

    @classmethod
    def of(cls, config: DatasetConfig, rules: Rulebook) -> DatasetRecipe:
        """The recipe of rows built by `build_dataset(orders, config, rules)`. The snapshot range
        is left out: it bounds one build's grid, it does not define a feature."""
        features_only = dataclasses.replace(config, first_snapshot=None, last_snapshot=None)
        return cls(
            features_only,
            rules.version,
            rulebook_sha256(rules),
            rules.window_days,
            rules.min_orders,
        )

    @classmethod
    def legacy(cls, rulebook_version: int) -> DatasetRecipe:
        """What rows from before recipes were built with: DatasetConfig() and the rulebook."""
        return cls(DatasetConfig(), rulebook_version)

    def rulebook(self, base: Rulebook) -> Rulebook:
        """`base` (this code's rulebook) with the recipe's overrides, checked to be the very
        rulebook the rows were built with; RecipeError naming both versions and hashes if not."""
        if base.version != self.rulebook_version:
            raise RecipeError(
                f"built under rulebook version {self.rulebook_version}, this code's rulebook is "
                f"version {base.version}"
            )
        rules = base.with_overrides(
            window_days=self.rulebook_window_days, min_orders=self.rulebook_min_orders
        )
        found = rulebook_sha256(rules)
        if self.rulebook_sha256 is not None and found != self.rulebook_sha256:
            raise RecipeError(
                f"built under rulebook version {self.rulebook_version} with content sha256 "
                f"{self.rulebook_sha256[:12]}, this code's rulebook version {base.version} hashes "
                f"{found[:12]} (same version, other bands, weights or cut-offs)"
            )
        return rules

    def to_dict(self) -> dict[str, object]:
        return {
            "dataset": self.config.to_dict(),
            "rulebook": {
                "version": self.rulebook_version,
                "sha256": self.rulebook_sha256,
                "window_days": self.rulebook_window_days,
                "min_orders": self.rulebook_min_orders,
            },
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, object]) -> DatasetRecipe:
        """The inverse of `to_dict`; RecipeError names what is missing or malformed."""
        try:
            rules = raw["rulebook"]
            return cls(
                DatasetConfig.from_dict(raw["dataset"]),
                int(rules["version"]),
                rules.get("sha256"),
                rules.get("window_days"),
                rules.get("min_orders"),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise RecipeError(f"malformed dataset recipe {dict(raw)!r}: {exc}") from exc


def feature_differences(found: DatasetRecipe, expected: DatasetRecipe) -> list[str]:
    """Each field that changes a feature's value in which `found` differs from `expected`, as
    'name found != expected'. Cadence, horizon and the snapshot range only choose which rows and
    labels exist; a field only one side records (a legacy recipe has no hash) cannot differ."""
    ours, theirs = _feature_fields(found), _feature_fields(expected)
    return [
        f"{name} {ours[name]} != {theirs[name]}"
        for name in ours
        if None not in (ours[name], theirs[name]) and ours[name] != theirs[name]
    ]


def _feature_fields(recipe: DatasetRecipe) -> dict[str, object]:
    raw = recipe.to_dict()
    fields = {k: raw["dataset"][k] for k in FEATURE_FIELDS}
    return fields | {f"rulebook_{k}": v for k, v in raw["rulebook"].items()}


def recipe_path(dataset: Path) -> Path:
    """Where a dataset's recipe lives: beside a file, inside a folder of parts."""
    dataset = Path(dataset)
    if table_format(dataset) in (None, "folder"):
        return dataset / FOLDER_RECIPE
    return dataset.with_name(dataset.name + RECIPE_SUFFIX)


def write_recipe(recipe: DatasetRecipe, dataset: Path) -> Path:
    return write_text_atomic(recipe_path(dataset), json.dumps(recipe.to_dict(), indent=2) + "\n")


def read_recipe(dataset: Path) -> DatasetRecipe | None:
    """The recipe recorded with `dataset`, or None when there is none (a dataset written before
    recipes, or by other code): callers then say so and assume `DatasetConfig()` defaults."""
    path = recipe_path(dataset)
    if not path.is_file():
        return None
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise RecipeError(f"{path}: unreadable dataset recipe ({exc})") from exc
    if not isinstance(raw, Mapping):
        raise RecipeError(f"{path}: a dataset recipe is a JSON object, got {type(raw).__name__}")
    return DatasetRecipe.from_dict(raw)
