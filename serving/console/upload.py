"""Order files dropped on the console: read them (the canonical CSV or parquet, or one platform's
exports), validate against the contract, build each merchant's features at its newest snapshot and
the weekly ones before it (the training code), and give the merchant pages; rows the contract
rejects are returned with their reasons, never dropped silently.

A shop's history often spans several files (TikTok Shop exports hold 90 days each), so an upload
may hold many; an order in more than one file is kept once, in its most advanced copy, by the same
rule `les ingest` applies to overlapping exports."""

from __future__ import annotations

import io
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from features.catalogue import Catalogue
from features.contract import ORDER_COLUMNS
from features.dataset import build_features_at
from features.errors import LesError
from features.ingest_core import (
    FILE_COLUMN,
    NO_ORDER_ID,
    REASON_COLUMN,
    STATUS_RANK,
    most_advanced,
    tag_files,
)
from features.policy import Policy, policy_from_text
from features.validation import validate_orders
from serving.console.data import ConsoleError, _records, merchant_view
from serving.scoring import ServedModel
from training.monitor.monitor import newest_snapshot

PARQUET_MAGIC = b"PAR1"
HISTORY_SNAPSHOTS = 8  # the newest snapshot and the weekly ones before it
MAX_REJECTED_SHOWN = 100
MAX_MERCHANTS = 20
MAX_FILES = 24  # two years of 30-day exports
CONTRACT_KEY = ("merchant_id", "order_id")  # one row per order and merchant
STAGE_TIMES = tuple(c.name for c in ORDER_COLUMNS if c.kind == "timestamp")
UploadedFile = tuple[str, bytes]  # (file name, body)


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
    superseded: int = 0  # copies of an order dropped for a more advanced one in another file
    deadline_versions: dict[str, int] = field(default_factory=dict)  # orders per policy version


def file_names(files: list[UploadedFile]) -> list[str]:
    """Each file's base name; a file without a name is `upload`, `upload-2`, ... A name given
    twice is refused: its rows could not be told apart."""
    if not files:
        raise ConsoleError("upload: no file was sent")
    if len(files) > MAX_FILES:
        raise ConsoleError(f"upload: {len(files)} files, at most {MAX_FILES} at once")
    names = [Path(n).name if n else f"upload-{i + 1}" for i, (n, _) in enumerate(files)]
    if len(names) == 1 and not files[0][0]:
        names = ["upload"]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ConsoleError(f"upload: the file name(s) {repeated} were sent more than once")
    return names


def checked_contract(files: list[UploadedFile]) -> Checked:
    """Contract files, one order kept per (merchant, order) across files; with several files the
    rows carry `source_file`, so a rejected row names the file it came from."""
    names = file_names(files)
    frames = [(name, read_upload(body, name)) for name, (_, body) in zip(names, files, strict=True)]
    rows = sum(len(frame) for _, frame in frames)
    superseded = 0
    if len(frames) == 1:
        combined = frames[0][1]
    else:
        combined, superseded = _most_advanced_copies(tag_files(frames))
    try:
        checked = validate_orders(combined)
    except ValueError as exc:  # a required column is missing: the message names it
        raise ConsoleError(f"{', '.join(names)}: {exc}") from exc
    return Checked(rows, checked.valid, checked.rejected, checked.reason_counts, superseded)


def _most_advanced_copies(tagged: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """One row per (merchant, order) that names both: the furthest status, then the most stage
    times, then the later file (`les ingest`'s rule). Rows missing either id pass through for
    the validator to reject with its reason."""
    missing = [c for c in CONTRACT_KEY if c not in tagged]
    if missing:  # the validator names the missing column
        return tagged, 0
    keyed = tagged[list(CONTRACT_KEY)].notna().all(axis=1).to_numpy()
    rows = tagged[keyed].reset_index(drop=True)
    key = rows["merchant_id"].astype(str) + "\x1f" + rows["order_id"].astype(str)
    status = (
        rows["status"].astype("string") if "status" in rows else pd.Series("", index=rows.index)
    )
    rank = status.map(STATUS_RANK).fillna(0)
    filled = rows[[c for c in STAGE_TIMES if c in rows]].notna().sum(axis=1)
    kept, superseded = most_advanced(rows.assign(_key=key), "_key", rank, filled)
    combined = pd.concat([rows.iloc[kept], tagged[~keyed]], ignore_index=True)
    return combined, superseded


def uploaded_policy(policy: UploadedFile | None) -> Policy | None:
    """The shop's own deadline terms, a policy YAML as `les ingest --policy FILE` reads it; every
    problem names the file and the field."""
    if policy is None:
        return None
    name = Path(policy[0] or "policy.yaml").name
    try:
        return policy_from_text(policy[1].decode("utf-8-sig"), name)
    except UnicodeDecodeError as exc:
        raise ConsoleError(f"{name}: not a UTF-8 policy file ({exc})") from exc
    except LesError as exc:
        raise ConsoleError(str(exc)) from exc


def checked_export(
    files: list[UploadedFile],
    layout: str,
    market: str | None,
    shop_id: str | None,
    policy: UploadedFile | None = None,
) -> Checked:
    """A platform's exports, converted by its `les ingest` reader (overlapping exports included)
    with the shop's own `policy` file when given; orders it sets aside are the rejected rows
    (their `aside_reason` as `reject_reason`)."""
    from features.export_layouts import read_export_layout

    rules = uploaded_policy(policy)
    names = file_names(files)
    for name, (_, body) in zip(names, files, strict=True):
        if not body:
            raise ConsoleError(f"{name}: the file is empty")
    with tempfile.TemporaryDirectory(prefix="les-upload-") as tmp:
        paths = [Path(tmp) / (n if Path(n).suffix else f"{n}.csv") for n in names]
        for path, (_, body) in zip(paths, files, strict=True):
            path.write_bytes(body)
        try:
            result = read_export_layout(layout, paths, market, shop_id, rules)
        except LesError as exc:
            message = str(exc)
            for path, name in zip(paths, names, strict=True):
                message = message.replace(str(path), name)
            raise ConsoleError(message.replace(tmp + "/", "")) from exc
    aside = result.aside.rename(columns={REASON_COLUMN: "reject_reason"})
    if FILE_COLUMN in aside:
        aside[FILE_COLUMN] = aside[FILE_COLUMN].astype(str).map(lambda p: Path(p).name)
    rows = result.orders_in + int((result.aside[REASON_COLUMN] == NO_ORDER_ID).sum())
    return Checked(
        rows,
        result.orders,
        aside,
        result.reason_counts,
        result.superseded,
        dict(result.deadline_versions),
    )


def upload_view(
    served: ServedModel,
    files: list[UploadedFile],
    catalogue: Catalogue,
    max_advice: int,
    layout: str = "contract",
    market: str | None = None,
    shop_id: str | None = None,
    policy: UploadedFile | None = None,
) -> dict[str, Any]:
    """`layout` "contract" (the les order table) or one of the platform export layouts; `files`
    are one shop's (or several merchants') files of that layout; `policy` the shop's own deadline
    terms for exports."""
    if layout == "contract":
        if policy is not None:
            raise ConsoleError(
                "policy: deadline terms apply to platform exports; the les order contract "
                "carries ship_by and deliver_by itself"
            )
        checked = checked_contract(files)
    else:
        checked = checked_export(files, layout, market, shop_id, policy)
    rejected = checked.rejected.head(MAX_REJECTED_SHOWN)
    names = file_names(files)
    result: dict[str, Any] = {
        "filename": ", ".join(names),
        "files": names,
        "superseded_copies": int(checked.superseded),
        "policy": Path(policy[0] or "policy.yaml").name if policy is not None else None,
        "deadline_versions": {str(k): int(v) for k, v in checked.deadline_versions.items()},
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
