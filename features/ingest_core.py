"""What every export converter shares: one order per (file, order id), the most advanced copy
across overlapping exports, and the last step that validates against the contract and sets aside,
with its reason, every order that cannot be kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from features.contract import DTYPES, ORDER_COLUMNS
from features.validation import validate_orders

FILE_COLUMN = "source_file"
REASON_COLUMN = "aside_reason"
NO_ORDER_ID = "no_order_id"  # a row that names no order cannot be collapsed or kept
# Later states win when two exports hold the same order: open < delivered < a terminal outcome.
STATUS_RANK: dict[str, int] = {
    "in_transit": 1,
    "delivered": 2,
    "returned": 3,
    "lost": 3,
    "cancelled": 3,
}


@dataclass(frozen=True)
class IngestResult:
    """Contract-valid orders, the orders set aside (export values + reason), and the counts."""

    orders: pd.DataFrame
    aside: pd.DataFrame
    sku_rows: int
    description_rows: int
    orders_in: int
    superseded: int
    dst_ambiguous: int
    dst_nonexistent: int
    reason_counts: dict[str, int] = field(default_factory=dict)
    deadline_versions: dict[str, int] = field(default_factory=dict)
    order_amount: float = 0.0
    absent_columns: tuple[str, ...] = ()


def tag_files(frames: list[tuple[str, pd.DataFrame]]) -> pd.DataFrame:
    """All rows of every file, with the file they came from (command-line order kept)."""
    rows = pd.concat(
        [frame.assign(**{FILE_COLUMN: name}) for name, frame in frames], ignore_index=True
    )
    names = list(dict.fromkeys(n for n, _ in frames))
    rows[FILE_COLUMN] = pd.Categorical(rows[FILE_COLUMN], categories=names)
    return rows


def collapse_orders(rows: pd.DataFrame, order_id: str) -> pd.DataFrame:
    """One row per (file, order): line items share the order columns, first non-missing wins."""
    keyed = rows[rows[order_id].notna()]
    collapsed = keyed.groupby([FILE_COLUMN, order_id], sort=False, as_index=False).first()
    lines = keyed.groupby([FILE_COLUMN, order_id], sort=False).size().to_numpy()
    return collapsed.assign(sku_lines=lines)


def most_advanced(
    orders: pd.DataFrame, order_id: str, rank: pd.Series, filled: pd.Series
) -> tuple[np.ndarray, int]:
    """Positions of the copy kept per order id across overlapping exports: the highest `rank`,
    then the most stage times `filled`, then the later file; and how many copies were dropped."""
    ranked = pd.DataFrame(
        {
            "id": orders[order_id].to_numpy(),
            "rank": rank.to_numpy(),
            "filled": filled.to_numpy(),
            "file_no": orders[FILE_COLUMN].cat.codes.to_numpy(),
            "pos": np.arange(len(orders)),
        }
    )
    ranked = ranked.sort_values(["id", "rank", "filled", "file_no"], kind="stable")
    kept = np.sort(ranked.drop_duplicates("id", keep="last")["pos"].to_numpy())
    return kept, len(orders) - len(kept)


def add_reason(reasons: pd.Series, mask: np.ndarray, reason: str | pd.Series) -> pd.Series:
    """`reason` appended (`; `-separated) to the reasons of the rows in `mask`."""
    return reasons.mask(mask, np.where(reasons == "", reason, reasons + "; " + reason))


def typed_for_validation(frame: pd.DataFrame) -> pd.DataFrame:
    """Contract dtypes for the validator (enum words it does not know stay visible to it)."""
    typed = pd.DataFrame(index=frame.index)
    for column in ORDER_COLUMNS:
        if column.name not in frame:
            values = pd.Series(pd.NA, index=frame.index)
        else:
            values = frame[column.name]
        if column.kind == "enum":
            typed[column.name] = values.astype(object).where(values.notna(), None)
        else:
            typed[column.name] = values.astype(DTYPES[column.kind])
    return typed.reset_index(drop=True)


@dataclass(frozen=True)
class Kept:
    """The last step's output: valid orders, the set-aside rows and the per-reason counts."""

    orders: pd.DataFrame
    aside: pd.DataFrame
    aside_mask: np.ndarray
    reason_counts: dict[str, int]


def keep_or_set_aside(
    export: pd.DataFrame, contract: pd.DataFrame, reasons: pd.Series, unkeyed: pd.DataFrame
) -> Kept:
    """Validate the readable orders; every other order, and every row that names no order, is
    set aside with its export values and `aside_reason`. `export` and `contract` share an index."""
    readable = (reasons == "").to_numpy()
    checked = validate_orders(typed_for_validation(contract[readable]))
    contract_reasons = checked.rejected.set_index("order_id")["reject_reason"]
    ids = contract["order_id"]
    in_rejected = ids.isin(set(checked.rejected["order_id"])).to_numpy() & readable
    reasons = reasons.copy()
    reasons[in_rejected] = ids[in_rejected].map(contract_reasons).to_numpy()
    aside_mask = reasons.ne("").to_numpy()
    aside = pd.concat(
        [
            export[aside_mask].assign(**{REASON_COLUMN: reasons[aside_mask]}),
            unkeyed.assign(sku_lines=1, **{REASON_COLUMN: NO_ORDER_ID}),
        ],
        ignore_index=True,
    )
    counts = aside[REASON_COLUMN].str.split("; ").explode().value_counts()
    valid = checked.valid.sort_values(["created_at", "order_id"], kind="stable", ignore_index=True)
    return Kept(valid, aside, aside_mask, {str(k): int(v) for k, v in counts.items()})
