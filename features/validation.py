"""validate_orders: split any table into contract-valid orders and rejected rows with reasons.

Nothing is silently dropped or coerced: each input row lands in exactly one of the two outputs, and a
rejected row keeps its original values plus `reject_reason` (all reasons, joined by "; ").
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from features.contract import (
    DTYPES,
    ORDER_COLUMNS,
    REQUIRED_COLUMNS,
    STAGE_TIMESTAMPS,
    Column,
    ContractError,
)

TRUE_WORDS = {"true", "1", "yes", "t", "y"}
FALSE_WORDS = {"false", "0", "no", "f", "n"}


@dataclass(frozen=True)
class ValidationResult:
    valid: pd.DataFrame
    rejected: pd.DataFrame
    reason_counts: dict[str, int] = field(default_factory=dict)
    ignored_columns: tuple[str, ...] = ()

    def __iter__(self):
        return iter((self.valid, self.rejected))


def _is_text(raw: pd.Series) -> bool:
    return raw.dtype == object or pd.api.types.is_string_dtype(raw)


def _blank(raw: pd.Series) -> np.ndarray:
    """Missing, or text that is only white space (CSV cells)."""
    missing = raw.isna().to_numpy(dtype=bool)
    if not _is_text(raw):
        return missing
    return missing | (raw.astype("string").str.strip() == "").fillna(True).to_numpy(dtype=bool)


def coerce_column(raw: pd.Series, column: Column) -> tuple[pd.Series, np.ndarray]:
    """Typed column plus a mask of values present but unreadable as that kind."""
    blank = _blank(raw)
    if column.kind == "timestamp":
        if _is_text(raw):
            typed = pd.to_datetime(raw, errors="coerce", utc=True, format="mixed")
        else:
            typed = pd.to_datetime(raw, errors="coerce", utc=True)
        typed = typed.astype(DTYPES["timestamp"])
    elif column.kind == "bool":
        typed = _to_boolean(raw)
    elif column.kind == "int":
        numbers = pd.to_numeric(raw, errors="coerce")
        whole = numbers.notna() & (numbers == np.round(numbers))
        typed = numbers.where(whole).astype("Float64").astype("Int64")
    elif column.kind == "enum":
        if isinstance(raw.dtype, pd.CategoricalDtype) and set(raw.cat.categories) <= set(
            column.values
        ):
            typed = raw.cat.set_categories(column.values)
        else:
            text = raw.astype("string").str.strip().str.lower()
            typed = pd.Series(pd.Categorical(text, categories=column.values), index=raw.index)
        return typed, ~blank & typed.isna().to_numpy()
    else:
        typed = raw.astype("string")
        if _is_text(raw):
            typed = typed.str.strip()
    return typed, ~blank & typed.isna().to_numpy(dtype=bool)


def _to_boolean(raw: pd.Series) -> pd.Series:
    if pd.api.types.is_bool_dtype(raw):
        return raw.astype("boolean")
    text = raw.astype("string").str.strip().str.lower()
    out = pd.Series(pd.NA, index=raw.index, dtype="boolean")
    out[text.isin(TRUE_WORDS).fillna(False)] = True
    out[text.isin(FALSE_WORDS).fillna(False)] = False
    return out


def _add(reasons: pd.Series, mask: np.ndarray, reason: str) -> pd.Series:
    if not mask.any():
        return reasons
    tagged = reasons.copy()
    tagged[mask] = np.where(tagged[mask] == "", reason, tagged[mask] + "; " + reason)
    return tagged


def _rule_reasons(typed: pd.DataFrame, raw: pd.DataFrame, reasons: pd.Series) -> pd.Series:
    """Cross-field rules: stage order, duplicates, status consistency, ranges."""
    for i, earlier in enumerate(STAGE_TIMESTAMPS):
        for later in STAGE_TIMESTAMPS[i + 1 :]:
            broken = (typed[later] < typed[earlier]).fillna(False).to_numpy(dtype=bool)
            reasons = _add(reasons, broken, f"stage_order:{later}<{earlier}")
    rating = typed["logistics_rating"]
    reasons = _add(
        reasons,
        ((rating < 1) | (rating > 5)).fillna(False).to_numpy(dtype=bool),
        "out_of_range:logistics_rating",
    )
    keys = typed[["order_id", "merchant_id"]]
    duplicated = keys.duplicated(keep=False).to_numpy() & keys.notna().all(axis=1).to_numpy()
    reasons = _add(reasons, duplicated, "duplicate_order_id")
    status = typed["status"].astype("string")
    by = typed["cancelled_by"].astype("string")
    reasons = _add(
        reasons,
        ((status == "delivered") & typed["delivered_at"].isna()).fillna(False).to_numpy(dtype=bool),
        "status_inconsistent:delivered_without_delivered_at",
    )
    reasons = _add(
        reasons,
        ((status == "cancelled") & (by == "none")).fillna(False).to_numpy(dtype=bool),
        "status_inconsistent:cancelled_without_cancelled_by",
    )
    reasons = _add(
        reasons,
        ((status != "cancelled") & (by != "none")).fillna(False).to_numpy(dtype=bool),
        "status_inconsistent:cancelled_by_without_cancellation",
    )
    return reasons


def validate_orders(frame: pd.DataFrame) -> ValidationResult:
    """Typed, contract-valid orders and every rejected row with its reasons."""
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise ContractError(
            f"order table lacks required columns {missing}; the contract expects "
            f"{[c.name for c in ORDER_COLUMNS]}"
        )
    raw = frame.reset_index(drop=True)
    reasons = pd.Series("", index=raw.index, dtype=object)
    typed = pd.DataFrame(index=raw.index)
    for column in ORDER_COLUMNS:
        source = raw[column.name] if column.name in raw else pd.Series(pd.NA, index=raw.index)
        typed[column.name], bad = coerce_column(source, column)
        if column.kind == "enum":
            reasons = _add(reasons, bad, f"unknown_enum:{column.name}")
        else:
            reasons = _add(reasons, bad, f"bad_type:{column.name}")
        if column.required:
            reasons = _add(reasons, _blank(source), f"missing_required:{column.name}")
    reasons = _rule_reasons(typed, raw, reasons)
    rejected_mask = (reasons != "").to_numpy()
    valid = typed.loc[~rejected_mask].reset_index(drop=True)
    valid["logistics_rating"] = valid["logistics_rating"].astype("Int8")
    rejected = (
        raw.loc[rejected_mask].assign(reject_reason=reasons[rejected_mask]).reset_index(drop=True)
    )
    counts = (
        rejected["reject_reason"].str.split("; ").explode().value_counts().to_dict()
        if len(rejected)
        else {}
    )
    ignored = tuple(c for c in raw.columns if c not in {col.name for col in ORDER_COLUMNS})
    return ValidationResult(valid, rejected, {str(k): int(v) for k, v in counts.items()}, ignored)
