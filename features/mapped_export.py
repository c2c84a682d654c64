"""Any back office's order export -> canonical orders, driven by an `ExportMapping`.

Shopee, Shopify and the Douyin shop report are packaged mappings (`features/layouts/`); every
other layout is a user's `les ingest csv --mapping FILE`. What the layout does not carry stays
missing; orders whose times cannot be read, whose status words no rule knows, or that the contract
rejects are set aside with their reason and counted (docs/ingest.md).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from features.export_files import read_text_table
from features.export_mapping import ExportMapping, MappingError, StatusRule, TimeColumn
from features.ingest_core import (
    STATUS_RANK,
    IngestResult,
    add_reason,
    collapse_orders,
    keep_or_set_aside,
    most_advanced,
    tag_files,
)
from features.layout_match import closest_layout
from features.local_time import localise
from features.policy import Policy, deadlines

END_OF_DAY = pd.Timedelta(days=1) - pd.Timedelta(seconds=1)
TERMINAL = ("cancelled", "lost", "returned")


def require_columns(frame: pd.DataFrame, mapping: ExportMapping, name: str) -> tuple[str, ...]:
    """The layout's identifying columns must all be there (else name them and the layout the
    file resembles most); other mapped columns that are absent read as blank and are returned."""
    must = dict.fromkeys([mapping.order_id, mapping.times["created_at"].column, *mapping.required])
    if mapping.merchant_column:
        must[mapping.merchant_column] = None
    if missing := [c for c in must if c not in frame.columns]:
        raise MappingError(
            f"{name}: not in the {mapping.layout} layout; missing columns {missing}. "
            f"{closest_layout(frame.columns)}"
        )
    return tuple(c for c in mapping.columns if c not in frame.columns)


def parse_times(
    text: pd.Series, spec: TimeColumn, zone: str | None
) -> tuple[pd.Series, np.ndarray, int, int]:
    """UTC times of one column, the rows that did not read, and the daylight-saving counts."""
    if "%z" in spec.time_format:
        utc = pd.to_datetime(text, format=spec.time_format, errors="coerce", utc=True)
        ambiguous = nonexistent = 0
    else:
        naive = pd.to_datetime(text, format=spec.time_format, errors="coerce")
        if spec.end_of_day:
            naive = naive + END_OF_DAY
        local = localise(naive, zone or "UTC")
        utc, ambiguous, nonexistent = local.utc, local.ambiguous, local.nonexistent
    bad = (text.notna() & utc.isna()).to_numpy()
    return utc, bad, ambiguous, nonexistent


def rule_matches(orders: pd.DataFrame, rule: StatusRule) -> np.ndarray:
    """Rows where every condition of the rule holds (an absent column is blank)."""
    hit = np.ones(len(orders), dtype=bool)
    for column, words in rule.when.items():
        values = _column(orders, column).str.lower()
        hit &= values.isin(words).fillna(False).to_numpy(dtype=bool)
    for column in rule.present:
        hit &= _column(orders, column).notna().to_numpy()
    for column in rule.absent:
        hit &= _column(orders, column).isna().to_numpy()
    return hit


def status_of(orders: pd.DataFrame, mapping: ExportMapping) -> tuple[pd.Series, pd.Series]:
    """Contract status by the first matching rule, and the set-aside reason of the others."""
    rules = mapping.status
    matches = [rule_matches(orders, r) for r in rules]
    status = np.select(matches, [np.array(r.status, dtype=object) for r in rules], default=None)
    aside = np.select(matches, [np.array(r.aside or "", dtype=object) for r in rules], default="")
    words_in = list(dict.fromkeys(c for r in rules for c in r.when))
    words = pd.Series("", index=orders.index, dtype=object)
    for i, column in enumerate(words_in):
        words = words + ("/" if i else "") + _column(orders, column).fillna("").astype(str)
    unmatched = ~np.any(matches, axis=0) if matches else np.ones(len(orders), dtype=bool)
    reasons = pd.Series(aside, index=orders.index, dtype=object)
    reasons = reasons.mask(unmatched, "unknown_status:" + words)
    return pd.Series(status, index=orders.index, dtype="string"), reasons


def _column(orders: pd.DataFrame, column: str) -> pd.Series:
    if column in orders:
        return orders[column].astype("string")
    return pd.Series(pd.NA, index=orders.index, dtype="string")


def _mapped(orders: pd.DataFrame, value_map, fallback: str | None) -> pd.Series:
    if value_map.column is None:
        return pd.Series(value_map.default or fallback, index=orders.index, dtype=object)
    words = _column(orders, value_map.column).str.strip().str.lower()
    return words.map(value_map.values).fillna(value_map.default or fallback).astype(object)


def contract_frame(
    orders: pd.DataFrame,
    times: dict[str, pd.Series],
    status: pd.Series,
    mapping: ExportMapping,
    merchant_id: str | None,
) -> pd.DataFrame:
    """The contract columns of the collapsed orders (missing where the layout has nothing)."""
    nat = pd.Series(pd.NaT, index=orders.index, dtype="datetime64[ns, UTC]")
    t = {name: times.get(name, nat) for name in ("created_at", "paid_at", "accepted_at")}
    t |= {n: times.get(n, nat) for n in ("packed_at", "shipped_at", "delivered_at", "status_at")}
    terminal = status.isin(TERMINAL).to_numpy()
    latest = pd.concat([t[n] for n in t if n != "status_at"], axis=1).max(axis=1)
    status_at = t["status_at"].fillna(latest).where(terminal, t["delivered_at"])
    status_at = status_at.where(terminal | status.eq("delivered").to_numpy())
    merchant = (
        orders[mapping.merchant_column]
        if merchant_id is None and mapping.merchant_column
        else merchant_id
    )
    tracking = pd.Series(pd.NA, index=orders.index, dtype="boolean")
    if mapping.tracking:
        shipped = t["shipped_at"].notna().to_numpy()
        tracking = tracking.mask(
            _column(orders, mapping.tracking).notna().to_numpy() & shipped, True
        )
    cancelled_by = _mapped(orders, mapping.cancelled_by, None)
    return pd.DataFrame(
        {
            "order_id": orders[mapping.order_id],
            "merchant_id": merchant,
            "channel": _mapped(orders, mapping.channel, "unknown"),
            **{k: v for k, v in t.items() if k != "status_at"},
            "status_at": status_at,
            "ship_by": times.get("ship_by", nat),
            "deliver_by": times.get("deliver_by", nat),
            "carrier": _text(orders, mapping.text.get("carrier")),
            "tracking_valid": tracking,
            "status": status,
            "cancelled_by": cancelled_by.where(status.eq("cancelled").to_numpy(), "none"),
            "logistics_rating": pd.NA,
            "logistics_complaint": pd.NA,
            "origin_region": _text(orders, mapping.text.get("origin_region")),
            "destination_region": _text(orders, mapping.text.get("destination_region")),
        },
        index=orders.index,
    )


def _text(orders: pd.DataFrame, column: str | None) -> pd.Series:
    return (
        _column(orders, column) if column else pd.Series(pd.NA, index=orders.index, dtype="string")
    )


def convert_mapped(
    frames: list[tuple[str, pd.DataFrame]],
    mapping: ExportMapping,
    merchant_id: str | None,
    market: str | None = None,
    policy: Policy | None = None,
) -> IngestResult:
    """Pure conversion of read exports (name, text frame) in command-line order."""
    if merchant_id is None and not mapping.merchant_column:
        merchant_id = mapping.merchant_constant
    if merchant_id is None and not mapping.merchant_column:
        raise MappingError(
            f"{mapping.layout}: the export names no merchant; pass --shop-id (or give the "
            f"mapping a merchant_id column or constant)"
        )
    zone = mapping.zone(market)
    absent = tuple(dict.fromkeys(c for n, f in frames for c in require_columns(f, mapping, n)))
    rows = tag_files(frames)
    key = mapping.order_id
    if mapping.merchant_column:  # one order id per merchant: a file may hold several shops
        rows["_key"] = rows[mapping.merchant_column] + "\x1f" + rows[mapping.order_id]
        key = "_key"
    collapsed = collapse_orders(rows, key)
    times: dict[str, pd.Series] = {}
    reasons = pd.Series("", index=collapsed.index, dtype=object)
    ambiguous = nonexistent = 0
    for name, spec in mapping.times.items():
        utc, bad, amb, non = parse_times(_column(collapsed, spec.column), spec, zone)
        times[name] = utc
        reasons = add_reason(reasons, bad, f"unreadable_time:{spec.column}")
        ambiguous, nonexistent = ambiguous + amb, nonexistent + non
    status, status_reasons = status_of(collapsed, mapping)
    reasons = reasons.mask((reasons == "") & (status_reasons != ""), status_reasons)
    rank = status.map(STATUS_RANK).fillna(0).astype(int)
    filled = pd.concat(times.values(), axis=1).notna().sum(axis=1)
    kept, superseded = most_advanced(collapsed, key, rank, filled)
    orders = collapsed.iloc[kept].drop(columns=["_key"], errors="ignore")
    contract = contract_frame(
        orders, {k: v.iloc[kept] for k, v in times.items()}, status.iloc[kept], mapping,
        merchant_id,
    )  # fmt: skip
    reasons = reasons.iloc[kept]
    version = pd.Series(pd.NA, index=orders.index, dtype="string")
    if policy is not None:
        due = deadlines(policy, contract)
        contract["ship_by"] = contract["ship_by"].fillna(due.ship_by)
        contract["deliver_by"] = contract["deliver_by"].fillna(due.deliver_by)
        contract["dispatch_event"] = due.dispatch_event
        version = due.version
    unkeyed = rows[rows[key].isna()].drop(columns=["_key"], errors="ignore")
    kept_rows = keep_or_set_aside(orders, contract, reasons, unkeyed)
    versions = version[~kept_rows.aside_mask].value_counts()
    return IngestResult(
        orders=kept_rows.orders,
        aside=kept_rows.aside,
        sku_rows=int(rows[key].notna().sum()),
        description_rows=0,
        orders_in=int(rows[key].nunique()),
        superseded=superseded,
        dst_ambiguous=ambiguous,
        dst_nonexistent=nonexistent,
        reason_counts=kept_rows.reason_counts,
        deadline_versions={str(k): int(v) for k, v in versions.items()},
        absent_columns=absent,
    )


def read_mapped(
    paths: list[Path],
    mapping: ExportMapping,
    merchant_id: str | None,
    market: str | None = None,
    policy: Policy | None = None,
) -> IngestResult:
    """Read every export file in the mapping's layout and convert them together."""
    fmt = mapping.times["created_at"].time_format.replace(" %z", "").replace("%z", "")
    frames = [(str(p), read_text_table(p, fmt, MappingError)) for p in paths]
    return convert_mapped(frames, mapping, merchant_id, market, policy)
