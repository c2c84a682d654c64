"""An order file dropped on the console: read it (the canonical CSV or parquet), validate it
against the contract, build each merchant's features at its newest snapshot and the weekly ones
before it (the training code), and give the merchant pages; rows the contract rejects are
returned with their reasons, never dropped silently."""

from __future__ import annotations

import io
from typing import Any

import pandas as pd

from features.catalogue import Catalogue
from features.dataset import build_features_at
from features.validation import validate_orders
from serving.console.data import ConsoleError, _records, merchant_view
from serving.scoring import ServedModel
from training.monitor.monitor import newest_snapshot

PARQUET_MAGIC = b"PAR1"
HISTORY_SNAPSHOTS = 8  # the newest snapshot and the weekly ones before it
MAX_REJECTED_SHOWN = 100
MAX_MERCHANTS = 20


def read_upload(body: bytes, filename: str) -> pd.DataFrame:
    """Parquet by its magic bytes, else CSV; a file that is neither is a ConsoleError."""
    if not body:
        raise ConsoleError(f"{filename or 'upload'}: the file is empty")
    try:
        if body[:4] == PARQUET_MAGIC:
            return pd.read_parquet(io.BytesIO(body))
        return pd.read_csv(io.BytesIO(body), dtype=str, keep_default_na=False, na_values=[""])
    except (ValueError, OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise ConsoleError(
            f"{filename or 'upload'}: not a readable CSV or parquet file ({exc})"
        ) from exc


def upload_view(
    served: ServedModel,
    body: bytes,
    filename: str,
    catalogue: Catalogue,
    max_advice: int,
) -> dict[str, Any]:
    raw = read_upload(body, filename)
    try:
        checked = validate_orders(raw)
    except ValueError as exc:  # a required column is missing: the message names it
        raise ConsoleError(f"{filename or 'upload'}: {exc}") from exc
    rejected = checked.rejected.head(MAX_REJECTED_SHOWN)
    result: dict[str, Any] = {
        "filename": filename,
        "rows": int(len(raw)),
        "valid_rows": int(len(checked.valid)),
        "rejected_rows": int(len(checked.rejected)),
        "reason_counts": checked.reason_counts,
        "rejected": _records(rejected.astype(str).where(rejected.notna(), None)),
        "merchants": [],
    }
    if checked.valid.empty:
        return result
    newest = newest_snapshot(checked.valid)
    cadence = pd.Timedelta(days=served.dataset_config.cadence_days)
    snapshots = [newest - k * cadence for k in range(HISTORY_SNAPSHOTS)][::-1]
    features = build_features_at(checked.valid, snapshots, served.dataset_config, served.rules)
    if features.empty:
        return result
    merchants = sorted(features["merchant_id"].astype(str).unique())[:MAX_MERCHANTS]
    features = features.assign(merchant_id=features["merchant_id"].astype(str))
    result["merchants"] = [
        merchant_view(served.model, features[features["merchant_id"] == m], catalogue, max_advice)
        for m in merchants
    ]
    return result
