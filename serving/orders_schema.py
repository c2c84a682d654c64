"""The `/predict_orders` request: raw order events in the canonical contract plus the snapshot.

Built from `features.contract.ORDER_COLUMNS`, so a contract column is an API field without touching
this file; the contract itself judges each order's content after the JSON shape is checked.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    create_model,
    field_validator,
)

from features.contract import ORDER_COLUMNS, Column
from features.snapshots import midnight_utc
from serving.identifiers import (
    IDENTIFIER_RULE,
    RFC3339_PATTERN,
    ZONE_RULE,
    ZONED_TIME_PATTERN,
    Identifier,
)

# The midnights pandas can hold in nanoseconds (pd.Timestamp.min..max is 1677-09-21 00:12:43 to
# 2262-04-11 23:47:16): the feature builder works in pd.Timestamp, so a snapshot outside fails there.
FIRST_SNAPSHOT = datetime(1677, 9, 22, tzinfo=UTC)
LAST_SNAPSHOT = datetime(2262, 4, 11, tzinfo=UTC)


def _order_field(column: Column) -> tuple[Any, Any]:
    """A contract column as a JSON field: its JSON type, the id rule and a time's zone; the
    contract judges the rest of the content."""
    extra: dict[str, Any] = {}
    description = column.description
    pattern = None
    if column.kind == "bool":
        kind: Any = StrictBool
    elif column.kind == "int":
        kind = StrictInt
    elif column.kind in ("id", "str"):
        # A free-text name (carrier, region) follows the id rule: a blank one names nothing.
        kind = Identifier
        description = f"{description} {IDENTIFIER_RULE}"
    else:
        kind = str
    if column.kind == "timestamp":
        extra["format"] = "date-time"
        pattern = ZONED_TIME_PATTERN
        description = f"{description} {ZONE_RULE}"
    if column.values:
        extra["enum"] = list(column.values)
    field = Field(
        default=... if column.required else None,
        description=description,
        ge=column.min_value,
        le=column.max_value,
        pattern=pattern,
        json_schema_extra=extra or None,
    )
    return (kind if column.required else kind | None), field


def order_event_model() -> type[BaseModel]:
    return create_model(
        "OrderEvent",
        __config__=ConfigDict(extra="forbid"),
        __doc__="One order in the canonical order contract (features/contract.py).",
        **{column.name: _order_field(column) for column in ORDER_COLUMNS},
    )


EXAMPLE_ORDERS_REQUEST: dict[str, Any] = {
    "snapshot_at": "2026-03-02T00:00:00Z",
    "orders": [
        {
            "order_id": "o-1001",
            "merchant_id": "shop-0042",
            "channel": "livestream",
            "created_at": "2026-02-20T19:02:11Z",
            "paid_at": "2026-02-20T19:02:40Z",
            "accepted_at": "2026-02-20T19:40:00Z",
            "packed_at": "2026-02-21T09:15:00Z",
            "shipped_at": "2026-02-21T16:30:00Z",
            "delivered_at": "2026-02-23T11:05:00Z",
            "ship_by": "2026-02-22T19:02:40Z",
            "deliver_by": "2026-02-25T23:59:59Z",
            "carrier": "carrier-a",
            "tracking_valid": True,
            "status": "delivered",
            "cancelled_by": "none",
            "logistics_rating": 5,
        },
        {
            "order_id": "o-1002",
            "merchant_id": "shop-0042",
            "channel": "storefront",
            "created_at": "2026-02-27T08:00:00Z",
            "paid_at": "2026-02-27T08:01:00Z",
            "status": "cancelled",
            "status_at": "2026-02-27T10:00:00Z",
            "cancelled_by": "buyer",
        },
    ],
}


class _OrdersRequestBase(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": EXAMPLE_ORDERS_REQUEST})
    zone_message: ClassVar[str] = (
        "snapshot_at needs its time zone (e.g. 2026-03-02T00:00:00Z): a time without one is "
        "refused, as order times are"
    )

    # A JSON string only (not a number of seconds: `_rfc3339`), and a JSON boolean only (not 0,
    # 1 or "yes"), as the document says.
    snapshot_at: datetime = Field(
        description=f"Forecast as of this midnight UTC; only events before it are used. {ZONE_RULE}",
        json_schema_extra={"pattern": RFC3339_PATTERN},
    )
    include_features: StrictBool = Field(
        default=False, description="Return the built feature values with each forecast."
    )

    @field_validator("snapshot_at", mode="before")
    @classmethod
    def _rfc3339(cls, value: Any) -> Any:
        if isinstance(value, str) and not re.search(ZONED_TIME_PATTERN, value):
            raise ValueError(cls.zone_message)
        if not isinstance(value, str) or not re.match(RFC3339_PATTERN, value):
            raise ValueError(
                "snapshot_at must be an RFC 3339 date-time string, e.g. 2026-03-02T00:00:00Z"
            )
        return value

    @field_validator("snapshot_at")
    @classmethod
    def _midnight_utc(cls, value: datetime) -> datetime:
        utc = _as_utc(value)
        if not FIRST_SNAPSHOT <= utc <= LAST_SNAPSHOT:
            raise ValueError(
                f"snapshot_at must lie in {FIRST_SNAPSHOT:%Y-%m-%d}..{LAST_SNAPSHOT:%Y-%m-%d} "
                "(the dates pandas holds in nanoseconds)"
            )
        midnight_utc(utc, "snapshot_at")  # the one snapshot-day rule; SnapshotError is a 400
        return utc


def _as_utc(value: datetime) -> datetime:
    """A zoned `value` in UTC; a time whose UTC date falls outside year 1..9999 (e.g.
    0001-01-01T00:30+01:00) cannot be a datetime, so it is clamped past the snapshot range
    instead of raising OverflowError, which pydantic would not turn into a 400."""
    try:
        return value.astimezone(UTC)
    except OverflowError:
        offset = value.utcoffset() or timedelta(0)
        return (
            datetime.min.replace(tzinfo=UTC)
            if offset > timedelta(0)
            else datetime.max.replace(tzinfo=UTC)
        )


def orders_request_model(order: type[BaseModel], max_orders: int) -> type[BaseModel]:
    return create_model(
        "OrdersRequest",
        __base__=_OrdersRequestBase,
        __doc__="Raw order events plus the snapshot to build features at and forecast from.",
        orders=(
            list[order],  # type: ignore[valid-type]
            Field(
                min_length=1,
                max_length=max_orders,
                description=f"1 to {max_orders} orders (LES_MAX_ORDERS) of one or more merchants.",
            ),
        ),
    )
