"""TikTok Shop Seller Center "All order" exports (CSV or XLSX) -> canonical orders of one shop.

The layout is data in `tiktok_shop_layout`; mapping, caveats and the daylight-saving rule are in
docs/ingest.md. Nothing is repaired: an order whose times cannot be read, whose status words are
unknown or that the contract rejects is set aside with its reason, and counted.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from features.contract import DTYPES
from features.ingest_core import (
    IngestResult,
    add_reason,
    collapse_orders,
    keep_or_set_aside,
    most_advanced,
    tag_files,
)
from features.local_time import localise
from features.policy import Policy, deadlines
from features.tiktok_shop_layout import (
    AMOUNT,
    CANCEL_BY,
    CANCEL_BY_MAP,
    CANCEL_REASON,
    CANCEL_TYPE,
    CANCELLED_WORDS,
    CHANNEL,
    DELIVERED_WORDS,
    DESTINATION_COLUMNS,
    LIVE_WORD,
    OPEN_WORDS,
    ORDER_ID,
    ORDER_STATUS,
    REASON_STATUS,
    RETURN_TYPE,
    STATUS_RANK,
    SUBSTATUS,
    TEXT_COLUMNS,
    TIME_COLUMNS,
    Market,
)
from features.tiktok_shop_read import drop_description_row, parse_money, read_export, require_layout


def latest_state(orders: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Overlapping exports: per order id keep the most advanced state (status rank, then the
    number of stage times filled, then the later file on the command line)."""
    words = orders[SUBSTATUS].fillna(orders[ORDER_STATUS]).str.lower()
    rank = words.map(STATUS_RANK).fillna(0)
    filled = orders[list(TIME_COLUMNS.values())].notna().sum(axis=1)
    kept, superseded = most_advanced(orders, ORDER_ID, rank, filled)
    return orders.iloc[kept].reset_index(drop=True), superseded


def contract_status(orders: pd.DataFrame, delivered_at: pd.Series) -> pd.Series:
    """Order Status + Substatus + Cancelation/Return Type + Cancel Reason -> contract status."""
    status = orders[ORDER_STATUS].str.lower()
    sub = orders[SUBSTATUS].str.lower()
    either = lambda words: (status.isin(words) | sub.isin(words)).fillna(False).to_numpy()  # noqa: E731
    cancelled = either(CANCELLED_WORDS)
    returned = (orders[CANCEL_TYPE].str.lower() == RETURN_TYPE).fillna(False).to_numpy()
    returned &= delivered_at.notna().to_numpy()
    outcome = orders[CANCEL_REASON].str.lower().map(REASON_STATUS)
    chosen = np.select(
        [
            returned,
            cancelled & outcome.notna().to_numpy(),
            cancelled,
            either(DELIVERED_WORDS),
            either(OPEN_WORDS),
        ],
        [
            np.array("returned", dtype=object),
            outcome.to_numpy(dtype=object),
            "cancelled",
            "delivered",
            "in_transit",
        ],
        default=None,
    )
    return pd.Series(chosen, index=orders.index, dtype="string")


def _times(
    orders: pd.DataFrame, market: Market
) -> tuple[dict[str, pd.Series], pd.Series, int, int]:
    """Contract times in UTC, the unreadable-time reason of each order, and the DST counts."""
    times: dict[str, pd.Series] = {}
    reasons = pd.Series("", index=orders.index, dtype=object)
    ambiguous = nonexistent = 0
    for name, column in TIME_COLUMNS.items():
        text = orders[column]
        naive = pd.to_datetime(text, format=market.time_format, errors="coerce")
        bad = (text.notna() & naive.isna()).to_numpy()
        reasons = add_reason(reasons, bad, f"unreadable_time:{column}")
        local = localise(naive, market.timezone)
        times[name] = local.utc
        ambiguous, nonexistent = ambiguous + local.ambiguous, nonexistent + local.nonexistent
    return times, reasons, ambiguous, nonexistent


def _contract_frame(
    orders: pd.DataFrame, times: dict[str, pd.Series], shop_id: str
) -> pd.DataFrame:
    status = contract_status(orders, times["delivered_at"])
    terminal = status.isin(["cancelled", "lost", "returned"]).to_numpy()
    latest = pd.concat(times.values(), axis=1).max(axis=1)
    status_at = times["status_at"].fillna(latest).where(terminal, times["delivered_at"])
    status_at = status_at.where(terminal | status.eq("delivered").to_numpy())
    cancelled_by = orders[CANCEL_BY].str.lower().map(CANCEL_BY_MAP).astype("string")
    channel = (
        orders[CHANNEL].str.lower() if CHANNEL in orders else pd.Series(pd.NA, index=orders.index)
    )
    destination = next((orders[c] for c in DESTINATION_COLUMNS if c in orders), pd.NA)
    shipped = times["shipped_at"].notna()
    return pd.DataFrame(
        {
            "order_id": orders[ORDER_ID],
            "merchant_id": shop_id,
            "channel": np.where(channel.eq(LIVE_WORD).fillna(False), "livestream", "unknown"),
            **{name: times[name] for name in ("created_at", "paid_at")},
            "accepted_at": pd.Series(pd.NaT, index=orders.index, dtype=DTYPES["timestamp"]),
            **{name: times[name] for name in ("packed_at", "shipped_at", "delivered_at")},
            "status_at": status_at,
            "carrier": orders[TEXT_COLUMNS["carrier"]],
            "tracking_valid": pd.Series(pd.NA, index=orders.index, dtype="boolean").mask(
                (orders[TEXT_COLUMNS["tracking_id"]].notna() & shipped).to_numpy(), True
            ),
            "status": status,
            "cancelled_by": cancelled_by.where(status.eq("cancelled"), "none"),
            "logistics_rating": pd.NA,
            "logistics_complaint": pd.NA,
            "origin_region": orders[TEXT_COLUMNS["origin_region"]],
            "destination_region": destination,
        },
        index=orders.index,
    )


def convert(
    frames: list[tuple[str, pd.DataFrame]], market: Market, shop_id: str, policy: Policy | None
) -> IngestResult:
    """Pure conversion of the read exports (name, text frame), in command-line order."""
    description_rows = 0
    read = []
    for name, frame in frames:
        require_layout(frame, Path(name))
        frame, dropped = drop_description_row(frame, market)
        description_rows += dropped
        read.append((name, frame))
    rows = tag_files(read)
    orders, superseded = latest_state(collapse_orders(rows, ORDER_ID))
    times, reasons, ambiguous, nonexistent = _times(orders, market)
    contract = _contract_frame(orders, times, shop_id)
    unknown = contract["status"].isna().to_numpy()
    words = orders[ORDER_STATUS].fillna("") + "/" + orders[SUBSTATUS].fillna("")
    reasons = reasons.mask(unknown & (reasons == ""), "unknown_status:" + words)
    version = pd.Series(pd.NA, index=orders.index, dtype="string")
    if policy is not None:
        due = deadlines(policy, contract)
        contract["ship_by"], contract["deliver_by"], version = (
            due.ship_by,
            due.deliver_by,
            due.version,
        )
        contract["dispatch_event"] = due.dispatch_event
    kept = keep_or_set_aside(orders, contract, reasons, rows[rows[ORDER_ID].isna()])
    versions = version[~kept.aside_mask].value_counts()
    return IngestResult(
        orders=kept.orders,
        aside=kept.aside,
        sku_rows=int(rows[ORDER_ID].notna().sum()),
        description_rows=description_rows,
        orders_in=int(rows[ORDER_ID].nunique()),
        superseded=superseded,
        dst_ambiguous=ambiguous,
        dst_nonexistent=nonexistent,
        reason_counts=kept.reason_counts,
        deadline_versions={str(k): int(v) for k, v in versions.items()},
        order_amount=float(parse_money(orders[AMOUNT]).sum()) if AMOUNT in orders else 0.0,
    )


def read_tiktok_shop(
    paths: list[Path], market: Market, shop_id: str, policy: Policy | None
) -> IngestResult:
    """Read every export file and convert them together (overlaps de-duplicated)."""
    return convert([(str(p), read_export(p, market)) for p in paths], market, shop_id, policy)
