"""Reading and writing tables at the edges: CSV, a parquet file, or a folder of parquet files.

A folder table is `part-NNNNN.parquet` files, the layout both engines read and write. Every write
is all or nothing (a temporary sibling renamed into place), and one function, `table_format`,
decides how a path holds a table, so the readers, writers and the scorer agree on what a suffix
means.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import pandas as pd

from features.errors import LesError
from features.validation import ValidationResult, validate_orders

if TYPE_CHECKING:
    import dask.dataframe as dd

TMP_PREFIX = ".tmp-"  # hidden, so parquet readers and `part_files` skip a write in progress
PART_PATTERN = "part-{:05d}.parquet"
DEFAULT_ROWS_PER_FILE = 1_000_000

TableFormat = Literal["csv", "parquet", "folder"]


class TableReadError(LesError, OSError):
    """The path does not hold a readable table; the message names the path and format."""


def table_format(path: Path, *, folders: bool = True) -> TableFormat | None:
    """How `path` holds a table: an existing folder (when `folders`) is a folder of parquet parts,
    otherwise the suffix says; None for any other suffix (an output folder to be, or an error)."""
    path = Path(path)
    if folders and path.is_dir():
        return "folder"
    return {".parquet": "parquet", ".csv": "csv"}.get(path.suffix)


def _unknown_format(path: Path) -> TableReadError:
    """The one wording of a suffix no reader or writer knows."""
    return TableReadError(f"{path}: unknown table format {path.suffix!r} (use .csv or .parquet)")


def read_table(path: Path) -> pd.DataFrame:
    """The table at `path`; TableReadError naming the path and the problem when it is not one
    (empty, truncated, another format under the suffix, unreadable)."""
    import pyarrow as pa

    path = Path(path)
    if not path.exists():
        raise TableReadError(f"{path}: no such file or folder")
    fmt = table_format(path)
    if fmt in ("folder", "parquet"):
        try:
            return pd.read_parquet(path)
        except (pa.ArrowException, OSError) as exc:
            raise TableReadError(f"{path}: not a readable parquet table ({exc})") from exc
    if fmt == "csv":
        try:
            return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
        except pd.errors.EmptyDataError as exc:
            raise TableReadError(f"{path}: empty file (no header, no rows)") from exc
        except (pd.errors.ParserError, UnicodeDecodeError, OSError) as exc:
            raise TableReadError(f"{path}: not a readable CSV table ({exc})") from exc
    raise _unknown_format(path)


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
    fmt = table_format(path, folders=False)
    if fmt is None:
        raise _unknown_format(path)
    with atomic_path(path) as tmp:
        if fmt == "csv":
            frame.to_csv(tmp, index=False)
        else:
            frame.to_parquet(tmp, index=False)
    return path


def read_orders(path: Path) -> ValidationResult:
    """Read any supported table and split it by the contract."""
    return validate_orders(read_table(path))


def is_folder_target(path: Path) -> bool:
    """An output path without a table suffix is a folder of parquet parts."""
    return table_format(path, folders=False) is None


def part_files(folder: Path) -> list[Path]:
    """The parquet files of a folder table, in name order (hidden and _underscored ones skipped)."""
    return sorted(p for p in Path(folder).rglob("*.parquet") if not p.name.startswith(("_", ".")))


def prepare_folder(folder: Path) -> Path:
    """An empty folder for parquet parts: parts left by an earlier run are removed, nothing else."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise TableReadError(f"{folder}: exists and is a file; a partitioned output needs a folder")
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("part-*.parquet"):
        old.unlink()
    return folder


@contextmanager
def atomic_folder(folder: Path) -> Iterator[Path]:
    """Yield a temporary sibling folder to write parts into; when the body returns it takes the
    place of `folder`, when anything fails it is removed. Readers so see the old parts or the
    new ones, never a mix (a kill between the two renames leaves no `folder` and the old one
    under a hidden `.tmp-` name). What else `folder` held (a recipe, other files) is carried
    over; its `part-*.parquet` files are not, as `prepare_folder` removes them."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise TableReadError(f"{folder}: exists and is a file; a partitioned output needs a folder")
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp, old = temporary_sibling(folder), temporary_sibling(folder)
    tmp.mkdir()
    try:
        yield tmp
        if folder.is_dir():
            _carry_over(folder, tmp)
            os.rename(folder, old)
        os.rename(tmp, folder)
    except BaseException:
        if old.exists() and not folder.exists():
            os.rename(old, folder)
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    shutil.rmtree(old, ignore_errors=True)


def _carry_over(folder: Path, into: Path) -> None:
    """Copy what `prepare_folder` would have kept in `folder` (all but parts and unfinished
    writes) into the folder about to replace it."""
    for entry in folder.iterdir():
        if entry.match("part-*.parquet") or entry.name.startswith(TMP_PREFIX):
            continue
        if entry.is_dir():
            shutil.copytree(entry, into / entry.name, symlinks=True)
        else:
            shutil.copy2(entry, into / entry.name, follow_symlinks=False)


def write_parquet_folder(
    frame: pd.DataFrame, folder: Path, rows_per_file: int = DEFAULT_ROWS_PER_FILE
) -> tuple[Path, ...]:
    """A pandas table as a folder of parquet parts, the layout the Dask engine reads and writes;
    swapped in whole (see `atomic_folder`), so a failed or killed rewrite leaves the old parts."""
    folder = Path(folder)
    starts = range(0, max(len(frame), 1), max(rows_per_file, 1))
    names = [PART_PATTERN.format(i) for i in range(len(starts))]
    with atomic_folder(folder) as tmp:
        for name, start in zip(names, starts, strict=True):
            frame.iloc[start : start + rows_per_file].to_parquet(tmp / name, index=False)
    return tuple(folder / name for name in names)


def read_dask_table(path: Path) -> dd.DataFrame:
    """A parquet file, a folder of parquet files or a CSV as a Dask DataFrame, read lazily."""
    import dask.dataframe as dd

    path = Path(path)
    if not path.exists():
        raise TableReadError(f"{path}: no such file or folder")
    fmt = table_format(path)
    if fmt == "folder" and not part_files(path):
        raise TableReadError(f"{path}: folder holds no .parquet files")
    if fmt in ("folder", "parquet"):
        return dd.read_parquet(str(path))
    if fmt == "csv":
        return dd.read_csv(str(path), dtype=str, keep_default_na=False, na_values=[""])
    raise _unknown_format(path)
