"""Reading and writing tables at the edges: CSV, a parquet file, or a folder of parquet files."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from features.validation import ValidationResult, validate_orders


class TableReadError(OSError):
    """The path does not hold a readable table; the message names the path and format."""


def read_table(path: Path) -> pd.DataFrame:
    path = Path(path)
    if not path.exists():
        raise TableReadError(f"{path}: no such file or folder")
    if path.is_dir() or path.suffix == ".parquet":
        return pd.read_parquet(path)
    if path.suffix == ".csv":
        return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    raise TableReadError(f"{path}: unknown table format {path.suffix!r} (use .csv or .parquet)")


def write_table(frame: pd.DataFrame, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".csv":
        frame.to_csv(path, index=False)
    elif path.suffix == ".parquet":
        frame.to_parquet(path, index=False)
    else:
        raise TableReadError(f"{path}: unknown table format {path.suffix!r} (use .csv or .parquet)")
    return path


def read_orders(path: Path) -> ValidationResult:
    """Read any supported table and split it by the contract."""
    return validate_orders(read_table(path))
