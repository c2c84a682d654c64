"""An order file dropped on the console: read it (the canonical CSV or parquet), validate it
against the contract, build each merchant's features at its newest snapshot and the weekly ones
before it (the training code), and give the merchant pages; rows the contract rejects are
returned with their reasons, never dropped silently."""

from __future__ import annotations

import io
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from features.catalogue import Catalogue
from features.dataset import build_features_at
from features.errors import LesError
from features.ingest_core import NO_ORDER_ID, REASON_COLUMN
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


@dataclass(frozen=True)
class Checked:
    """Contract-valid orders and the rows set aside, with `reject_reason`."""

    rows: int
    valid: pd.DataFrame
    rejected: pd.DataFrame
    reason_counts: dict[str, int]


def checked_contract(body: bytes, filename: str) -> Checked:
    raw = read_upload(body, filename)
    try:
        checked = validate_orders(raw)
    except ValueError as exc:  # a required column is missing: the message names it
        raise ConsoleError(f"{filename or 'upload'}: {exc}") from exc
    return Checked(len(raw), checked.valid, checked.rejected, checked.reason_counts)


def checked_export(
    body: bytes, filename: str, layout: str, market: str | None, shop_id: str | None
) -> Checked:
    """A platform export, converted by its `les ingest` reader; orders it sets aside are the
    rejected rows (their `aside_reason` as `reject_reason`)."""
    from features.export_layouts import read_export_layout

    if not body:
        raise ConsoleError(f"{filename or 'upload'}: the file is empty")
    name = Path(filename or "upload").name
    with tempfile.TemporaryDirectory(prefix="les-upload-") as tmp:
        path = Path(tmp) / (name if Path(name).suffix else f"{name}.csv")
        path.write_bytes(body)
        try:
            result = read_export_layout(layout, [path], market, shop_id)
        except LesError as exc:
            raise ConsoleError(str(exc).replace(str(path), name)) from exc
    aside = result.aside.rename(columns={REASON_COLUMN: "reject_reason"})
    rows = result.orders_in + int((result.aside[REASON_COLUMN] == NO_ORDER_ID).sum())
    return Checked(rows, result.orders, aside, result.reason_counts)


def upload_view(
    served: ServedModel,
    body: bytes,
    filename: str,
    catalogue: Catalogue,
    max_advice: int,
    layout: str = "contract",
    market: str | None = None,
    shop_id: str | None = None,
) -> dict[str, Any]:
    """`layout` "contract" (the les order table) or one of the platform export layouts."""
    if layout == "contract":
        checked = checked_contract(body, filename)
    else:
        checked = checked_export(body, filename, layout, market, shop_id)
    rejected = checked.rejected.head(MAX_REJECTED_SHOWN)
    result: dict[str, Any] = {
        "filename": filename,
        "layout": layout,
        "rows": int(checked.rows),
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
