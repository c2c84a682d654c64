"""The Olist layout the adapter reads: its five CSVs and their columns, the status mapping, and
how its Sao Paulo wall-clock stamps become UTC. The conversion to contract rows is in `olist`."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.contract import DTYPES
from features.errors import LesError

SOURCE_TIMEZONE = "America/Sao_Paulo"
SELLER_ID_PREFIX_CHARS = 8
LOW_RATING_MAX = 2
# Contract stage time <- Olist order column (all Sao Paulo local time in the source).
ORDER_TIMES: dict[str, str] = {
    "created_at": "order_purchase_timestamp",
    "paid_at": "order_approved_at",
    "shipped_at": "order_delivered_carrier_date",
    "delivered_at": "order_delivered_customer_date",
}
PROMISE_COLUMN = "order_estimated_delivery_date"
ORPHAN_REASON_COLUMN = "orphan_reason"
# Why an item row cannot become a contract row, in the order the checks run (first one wins).
NO_ORDER_ID = "no_order_id"
NO_SELLER_ID = "no_seller_id"
ORDER_MISSING = "order_missing"


@dataclass(frozen=True)
class OlistTable:
    """One CSV of the Olist layout and the columns the adapter reads from it."""

    key: str
    file_name: str
    columns: tuple[str, ...]


OLIST_TABLES: tuple[OlistTable, ...] = (
    OlistTable(
        "orders",
        "olist_orders_dataset.csv",
        ("order_id", "customer_id", "order_status", *ORDER_TIMES.values(), PROMISE_COLUMN),
    ),
    OlistTable(
        "items", "olist_order_items_dataset.csv", ("order_id", "seller_id", "shipping_limit_date")
    ),
    OlistTable(
        "reviews",
        "olist_order_reviews_dataset.csv",
        (
            "review_id",
            "order_id",
            "review_score",
            "review_creation_date",
            "review_answer_timestamp",
        ),
    ),
    OlistTable("sellers", "olist_sellers_dataset.csv", ("seller_id", "seller_state")),
    OlistTable("customers", "olist_customers_dataset.csv", ("customer_id", "customer_state")),
)
TABLES_BY_KEY: dict[str, OlistTable] = {t.key: t for t in OLIST_TABLES}

# Olist order_status -> contract status; every open Olist state means "not delivered yet".
STATUS_MAP: dict[str, str] = {
    **dict.fromkeys(("shipped", "invoiced", "processing", "approved", "created"), "in_transit"),
    "delivered": "delivered",
    "canceled": "cancelled",
    "unavailable": "cancelled",
}


class OlistFormatError(LesError, ValueError):
    """The files do not follow the Olist layout; the message names the file, column and value."""


def local_to_utc(text: pd.Series, column: str) -> pd.Series:
    """Olist stamps are Sao Paulo wall-clock time without an offset."""
    return localise(parse_local(text, column))


def parse_local(text: pd.Series, column: str) -> pd.Series:
    naive = pd.to_datetime(text, format="ISO8601", errors="coerce")
    if isinstance(naive.dtype, pd.DatetimeTZDtype):
        raise OlistFormatError(f"{column}: expected Sao Paulo local time without an offset")
    unreadable = text.notna() & naive.isna()
    if unreadable.any():
        raise OlistFormatError(
            f"{column}: {int(unreadable.sum())} values are not timestamps, "
            f"e.g. {text[unreadable].iloc[0]!r}"
        )
    return naive


def localise(naive: pd.Series) -> pd.Series:
    """Brazil still had daylight saving in 2016-2018: the repeated autumn hour is read as
    standard time, and a time inside the spring gap moves forward to the first time that exists."""
    local = naive.dt.tz_localize(
        SOURCE_TIMEZONE, ambiguous=np.zeros(len(naive), dtype=bool), nonexistent="shift_forward"
    )
    return local.dt.tz_convert("UTC").astype(DTYPES["timestamp"])


def require_columns(frame: pd.DataFrame, table: OlistTable) -> None:
    missing = [c for c in table.columns if c not in frame.columns]
    if missing:
        raise OlistFormatError(
            f"{table.file_name}: missing columns {missing}; the adapter reads {list(table.columns)}"
        )
