"""Reading and writing tables at the edges: CSV, a parquet file, or a folder of parquet files.

A dataset from `les build-dataset` also carries its recipe (`DatasetRecipe`: the DatasetConfig and
the rulebook it was built with) in a JSON file beside it, `<file>.recipe.json` or `<folder>/_recipe.
json` (underscored, so parquet readers skip it). One mechanism for every layout the CLI writes
(CSV, a parquet file, a folder of parts from either engine), and readable without pyarrow.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from features.dataset import DatasetConfig
from features.rulebook import Rulebook
from features.validation import ValidationResult, validate_orders

TABLE_SUFFIXES = (".parquet", ".csv")
RECIPE_SUFFIX = ".recipe.json"
FOLDER_RECIPE = "_recipe.json"
FEATURE_FIELDS = ("window_days", "min_observations", "history_days")  # of DatasetConfig
TMP_PREFIX = ".tmp-"  # hidden, so parquet readers and `part_files` skip a write in progress


class TableReadError(OSError):
    """The path does not hold a readable table; the message names the path and format."""


class RecipeError(ValueError):
    """A recorded recipe is unreadable or disagrees with this code; the message says which."""


def read_table(path: Path) -> pd.DataFrame:
    """The table at `path`; TableReadError naming the path and the problem when it is not one
    (empty, truncated, another format under the suffix, unreadable)."""
    import pyarrow as pa

    path = Path(path)
    if not path.exists():
        raise TableReadError(f"{path}: no such file or folder")
    if path.is_dir() or path.suffix == ".parquet":
        try:
            return pd.read_parquet(path)
        except (pa.ArrowException, OSError) as exc:
            raise TableReadError(f"{path}: not a readable parquet table ({exc})") from exc
    if path.suffix == ".csv":
        try:
            return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
        except pd.errors.EmptyDataError as exc:
            raise TableReadError(f"{path}: empty file (no header, no rows)") from exc
        except (pd.errors.ParserError, UnicodeDecodeError, OSError) as exc:
            raise TableReadError(f"{path}: not a readable CSV table ({exc})") from exc
    raise TableReadError(f"{path}: unknown table format {path.suffix!r} (use .csv or .parquet)")


def temporary_sibling(final: Path) -> Path:
    """A fresh hidden name in `final`'s folder that keeps its suffix: a rename from it is atomic
    (same file system) and a reader of the folder skips it."""
    final = Path(final)
    return final.with_name(f"{TMP_PREFIX}{uuid.uuid4().hex[:12]}-{final.name}")


@contextmanager
def atomic_path(final: Path) -> Iterator[Path]:
    """Yield a temporary path to write instead of `final`; when the body returns it replaces
    `final` in one rename, when anything fails it is removed. A killed process, a full disk or
    a failing writer so leaves `final` as it was, never truncated. A body that writes nothing
    leaves `final` as it was, too."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_sibling(final)
    try:
        yield tmp
        if tmp.exists():
            os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text_atomic(path: Path, text: str) -> Path:
    """`Path.write_text`, all or nothing (see `atomic_path`)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def write_table(frame: pd.DataFrame, path: Path) -> Path:
    """`frame` as CSV or parquet by the suffix, written all or nothing (see `atomic_path`)."""
    path = Path(path)
    if path.suffix not in TABLE_SUFFIXES:
        raise TableReadError(f"{path}: unknown table format {path.suffix!r} (use .csv or .parquet)")
    with atomic_path(path) as tmp:
        if path.suffix == ".csv":
            frame.to_csv(tmp, index=False)
        else:
            frame.to_parquet(tmp, index=False)
    return path


def read_orders(path: Path) -> ValidationResult:
    """Read any supported table and split it by the contract."""
    return validate_orders(read_table(path))


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
    if dataset.is_dir() or dataset.suffix not in TABLE_SUFFIXES:
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
