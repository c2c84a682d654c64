"""The real-data adapter: public Olist Brazilian e-commerce CSVs -> the canonical order contract.

One row per (order, seller). Every mapping choice and caveat is in docs/olist.md. Rows the source
gets wrong (stages out of order, delivered without a delivery date) are converted as they are, so
that contract validation rejects them with a reason; nothing is repaired or dropped here. Rows that
cannot become an (order, seller) row at all (orders without items, items without a known order or
seller, as in a partial export) are returned beside the contract rows, counted, never dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from features.contract import DTYPES, ENUM_VALUES, ORDER_COLUMNS
from features.olist_layout import (
    LOW_RATING_MAX,
    NO_ORDER_ID,
    NO_SELLER_ID,
    OLIST_TABLES,
    ORDER_MISSING,
    ORDER_TIMES,
    ORPHAN_REASON_COLUMN,
    PROMISE_COLUMN,
    SELLER_ID_PREFIX_CHARS,
    STATUS_MAP,
    TABLES_BY_KEY,
    OlistFormatError,
    local_to_utc,
    localise,
    parse_local,
    require_columns,
)
from features.validation import validate_orders


@dataclass(frozen=True)
class OlistResult:
    """Contract rows, plus what could not become one: the Olist orders with no usable item rows
    (no seller to blame), and the item rows with no known order or seller (their original values
    and an `orphan_reason`), so a partial export is still readable and nothing vanishes."""

    orders: pd.DataFrame
    unattributed: pd.DataFrame
    orphan_items: pd.DataFrame


@dataclass(frozen=True)
class OlistSummary:
    """What an ingest produced, for the CLI and for checking a new Olist release by eye."""

    rows: int
    sellers: int
    status_counts: dict[str, int]
    rejected_rows: int
    rejected_by_reason: dict[str, int]
    unattributed_orders: int
    orphan_item_rows: int
    orphan_items_by_reason: dict[str, int]
    first_created_at: pd.Timestamp | None
    last_created_at: pd.Timestamp | None


def read_olist(directory: Path) -> OlistResult:
    """Read the five Olist CSVs the adapter needs (as text) and convert them."""
    frames: dict[str, pd.DataFrame] = {}
    for table in OLIST_TABLES:
        path = Path(directory) / table.file_name
        if not path.is_file():
            raise OlistFormatError(f"{path}: Olist file {table.file_name} not found")
        frames[table.key] = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    return olist_to_orders(**frames)


def olist_to_orders(
    orders: pd.DataFrame,
    items: pd.DataFrame,
    reviews: pd.DataFrame,
    sellers: pd.DataFrame,
    customers: pd.DataFrame,
) -> OlistResult:
    """Pure conversion of the five Olist tables into contract rows, one per (order, seller)."""
    for key, frame in zip(TABLES_BY_KEY, (orders, items, reviews, sellers, customers), strict=True):
        require_columns(frame, TABLES_BY_KEY[key])
    reasons = orphan_item_reasons(items, orders)
    orphan = reasons.notna().to_numpy()
    orphan_items = items[orphan].assign(**{ORPHAN_REASON_COLUMN: reasons[orphan].to_numpy()})
    items = items[~orphan]
    rows = _seller_rows(_order_times(orders), items)
    rows = rows.merge(sellers[["seller_id", "seller_state"]], on="seller_id", how="left")
    rows = rows.merge(customers[["customer_id", "customer_state"]], on="customer_id", how="left")
    rows = rows.merge(_latest_review(reviews), on="order_id", how="left")
    canonical = _to_contract_dtypes(_contract_frame(rows))
    unattributed = orders[~orders["order_id"].isin(items["order_id"])].reset_index(drop=True)
    return OlistResult(canonical, unattributed, orphan_items.reset_index(drop=True))


def summarise_olist(result: OlistResult) -> OlistSummary:
    """Counts for the ingest report, including what the contract would reject and why."""
    orders = result.orders
    checked = validate_orders(orders)
    created = orders["created_at"].dropna()
    return OlistSummary(
        rows=len(orders),
        sellers=int(orders["merchant_id"].nunique()),
        status_counts={str(k): int(v) for k, v in orders["status"].value_counts().items()},
        rejected_rows=len(checked.rejected),
        rejected_by_reason=dict(checked.reason_counts),
        unattributed_orders=len(result.unattributed),
        orphan_item_rows=len(result.orphan_items),
        orphan_items_by_reason={
            str(k): int(v)
            for k, v in result.orphan_items[ORPHAN_REASON_COLUMN].value_counts().items()
        },
        first_created_at=created.min() if len(created) else None,
        last_created_at=created.max() if len(created) else None,
    )


def orphan_item_reasons(items: pd.DataFrame, orders: pd.DataFrame) -> pd.Series:
    """Per item row, why it cannot become a contract row (missing when it can): it names no
    order, no seller, or an order that is not in the orders file (a partial export)."""
    reasons = pd.Series(pd.NA, index=items.index, dtype="string")
    checks = (
        (NO_ORDER_ID, items["order_id"].isna()),
        (NO_SELLER_ID, items["seller_id"].isna()),
        (ORDER_MISSING, ~items["order_id"].isin(orders["order_id"].dropna())),
    )
    for reason, failed in checks:
        reasons = reasons.mask(reasons.isna().to_numpy() & failed.to_numpy(), reason)
    return reasons


def _order_times(orders: pd.DataFrame) -> pd.DataFrame:
    """Order-level stage times in UTC. The promised delivery date is a local calendar day, so
    the promise runs to the last second of that day."""
    promised_day = parse_local(orders[PROMISE_COLUMN], PROMISE_COLUMN).dt.normalize()
    return orders.assign(
        **{name: local_to_utc(orders[column], column) for name, column in ORDER_TIMES.items()},
        deliver_by=localise(promised_day + pd.Timedelta(days=1) - pd.Timedelta(seconds=1)),
    )


def _seller_rows(timed: pd.DataFrame, items: pd.DataFrame) -> pd.DataFrame:
    """(order, seller) pairs; the dispatch deadline is the seller's earliest item limit."""
    limits = items[["order_id", "seller_id"]].assign(
        ship_by=local_to_utc(items["shipping_limit_date"], "shipping_limit_date")
    )
    pairs = limits.groupby(["order_id", "seller_id"], as_index=False, sort=True)["ship_by"].min()
    pairs["row_id"] = pairs["order_id"] + "-" + pairs["seller_id"].str[:SELLER_ID_PREFIX_CHARS]
    clashes = pairs["row_id"].duplicated(keep=False)
    if clashes.any():
        raise OlistFormatError(
            f"seller_id: two sellers of order {pairs.loc[clashes, 'order_id'].iloc[0]!r} share "
            f"the first {SELLER_ID_PREFIX_CHARS} characters, so their row ids would collide"
        )
    return pairs.merge(timed, on="order_id", how="left")


def _latest_review(reviews: pd.DataFrame) -> pd.DataFrame:
    """An order can be reviewed more than once; the latest review is the buyer's last word."""
    name = TABLES_BY_KEY["reviews"].file_name
    score = pd.to_numeric(reviews["review_score"], errors="coerce")
    unreadable = reviews["review_score"].notna() & ~(
        score.notna() & (score == np.round(score)) & score.between(-128, 127)
    )
    if unreadable.any():
        raise OlistFormatError(
            f"{name}: review_score must be a whole number, found "
            f"{reviews.loc[unreadable, 'review_score'].iloc[0]!r}"
        )
    ranked = reviews.assign(
        review_score=score,
        review_created_at=local_to_utc(reviews["review_creation_date"], "review_creation_date"),
        answered_at=local_to_utc(reviews["review_answer_timestamp"], "review_answer_timestamp"),
    ).sort_values(["order_id", "review_created_at", "answered_at", "review_id"], kind="stable")
    latest = ranked.drop_duplicates("order_id", keep="last")
    return latest[["order_id", "review_score", "review_created_at"]]


def _contract_status(source: pd.Series) -> pd.Series:
    status = source.map(STATUS_MAP)
    unknown = source.notna() & status.isna()
    if unknown.any():
        raise OlistFormatError(
            f"order_status: unknown values {sorted(set(source[unknown]))}; "
            f"known: {sorted(STATUS_MAP)}"
        )
    return status


def _cancelled_by(rows: pd.DataFrame, status: pd.Series) -> np.ndarray:
    """Olist does not record who cancelled. `unavailable` means the seller could not supply; a
    `canceled` order that was paid but never reached the carrier missed its shipping limit, so
    the seller is blamed; any other cancellation (unpaid, or after dispatch) is the buyer's."""
    source = rows["order_status"]
    never_dispatched = rows["paid_at"].notna() & rows["shipped_at"].isna()
    seller_fault = (source == "unavailable") | ((source == "canceled") & never_dispatched)
    who = np.where(seller_fault.to_numpy(), "seller", "buyer")
    return np.where(status.eq("cancelled").to_numpy(), who, "none")


def _status_at(rows: pd.DataFrame, status: pd.Series) -> pd.Series:
    """Olist has no cancellation time: the latest event the order reached is the proxy (a lower
    bound, so a cancellation becomes visible no later than it happened)."""
    latest_event = rows[list(ORDER_TIMES)].max(axis=1)
    out = pd.Series(pd.NaT, index=rows.index, dtype=DTYPES["timestamp"])
    out = out.mask(status.eq("delivered"), rows["delivered_at"])
    return out.mask(status.eq("cancelled"), latest_event)


def _logistics_complaint(rows: pd.DataFrame, status: pd.Series, rating: pd.Series) -> pd.Series:
    """A 1-2 star review of an order that arrived after its promise, or that had still not
    arrived when the buyer reviewed it after the promised day. A cancelled order is not late:
    its cancellation is what the buyer is rating, and it is counted as one."""
    delivered_late = rows["delivered_at"] > rows["deliver_by"]
    still_waiting = (
        rows["delivered_at"].isna()
        & status.ne("cancelled")
        & (rows["review_created_at"] > rows["deliver_by"])
    )
    late = (delivered_late | still_waiting).fillna(False)
    complaint = (rating <= LOW_RATING_MAX) & late
    return complaint.astype("boolean").mask(rating.isna())


def _contract_frame(rows: pd.DataFrame) -> pd.DataFrame:
    status = _contract_status(rows["order_status"])
    rating = rows["review_score"]
    return pd.DataFrame(
        {
            "order_id": rows["row_id"],
            "merchant_id": rows["seller_id"],
            "channel": "unknown",
            "created_at": rows["created_at"],
            "paid_at": rows["paid_at"],
            "accepted_at": rows["paid_at"],
            "packed_at": pd.Series(pd.NaT, index=rows.index, dtype=DTYPES["timestamp"]),
            "shipped_at": rows["shipped_at"],
            "delivered_at": rows["delivered_at"],
            "status_at": _status_at(rows, status),
            "ship_by": rows["ship_by"],
            "deliver_by": rows["deliver_by"],
            "carrier": pd.NA,
            "tracking_valid": pd.Series(pd.NA, index=rows.index, dtype="boolean").mask(
                rows["shipped_at"].notna(), True
            ),
            "status": status,
            "cancelled_by": _cancelled_by(rows, status),
            "logistics_rating": rating,
            "logistics_complaint": _logistics_complaint(rows, status, rating),
            "origin_region": rows["seller_state"],
            "destination_region": rows["customer_state"],
        },
        index=rows.index,
    )


def _to_contract_dtypes(frame: pd.DataFrame) -> pd.DataFrame:
    """Exact contract dtypes; every value here already fits, so the casts cannot lose data."""
    typed = pd.DataFrame(index=frame.index)
    for column in ORDER_COLUMNS:
        if column.name not in frame:  # an optional field Olist does not carry
            frame = frame.assign(**{column.name: pd.NA})
        if column.kind == "enum":
            values = frame[column.name].astype(object)
            typed[column.name] = pd.Categorical(values, categories=ENUM_VALUES[column.name])
        else:
            typed[column.name] = frame[column.name].astype(DTYPES[column.kind])
    return typed.sort_values(["created_at", "order_id"], kind="stable", ignore_index=True)
