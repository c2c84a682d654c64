"""The canonical order-event contract: every source (synthetic, Olist, an export) becomes this.

Declared once as data; validation, the API schema and docs read `ORDER_COLUMNS`.
"""

from __future__ import annotations

from dataclasses import dataclass

from features.errors import LesError

CHANNELS = ("livestream", "short_video", "storefront", "unknown")
STATUSES = ("delivered", "in_transit", "cancelled", "returned", "lost")
CANCELLED_BY = ("seller", "buyer", "platform", "none")
# The event a platform judges late dispatch at, against ship_by (TikTok Shop US: ready-to-ship
# until 2026-01-26, the carrier scan since); a missing value means the carrier scan.
DISPATCH_EVENTS = ("shipped_at", "packed_at")

# Stage timestamps in the order they must happen (a missing one is skipped when checking order).
STAGE_TIMESTAMPS = (
    "created_at",
    "paid_at",
    "accepted_at",
    "packed_at",
    "shipped_at",
    "delivered_at",
)
TIMESTAMP_DTYPE = "datetime64[ns, UTC]"


@dataclass(frozen=True)
class Column:
    """One field of the contract; `kind` is one of id, timestamp, enum, bool, int, str."""

    name: str
    kind: str
    required: bool
    description: str
    values: tuple[str, ...] | None = None
    min_value: float | None = None
    max_value: float | None = None


ORDER_COLUMNS: tuple[Column, ...] = (
    Column("order_id", "id", True, "Unique order identifier (one row per order and merchant)."),
    Column("merchant_id", "id", True, "Merchant (seller, shop) that fulfils the order."),
    Column("channel", "enum", True, "Sales channel the order came from.", CHANNELS),
    Column("created_at", "timestamp", True, "Order placed by the buyer."),
    Column("paid_at", "timestamp", False, "Payment confirmed; dispatch SLAs run from here."),
    Column(
        "accepted_at",
        "timestamp",
        False,
        "Merchant acknowledged / synced into its order system: end of order receipt.",
    ),
    Column("packed_at", "timestamp", False, "Ready to ship: end of pick & pack."),
    Column(
        "shipped_at", "timestamp", False, "Carrier pickup / first scan: start of ship & transport."
    ),
    Column("delivered_at", "timestamp", False, "Delivered to the buyer: end of order delivery."),
    Column(
        "status_at",
        "timestamp",
        False,
        "When the order reached its current terminal status (cancelled, returned, lost); "
        "point-in-time features only see a status once this time has passed.",
    ),
    Column("ship_by", "timestamp", False, "Dispatch deadline promised by the platform SLA."),
    Column("deliver_by", "timestamp", False, "Delivery date promised to the buyer."),
    Column(
        "dispatch_event",
        "enum",
        False,
        "Which time late dispatch is judged at against ship_by: shipped_at (carrier scan; the "
        "default when missing) or packed_at (ready to ship), by the platform rule in force.",
        DISPATCH_EVENTS,
    ),
    Column("carrier", "str", False, "Carrier (logistics provider) name."),
    Column("tracking_valid", "bool", False, "The tracking number was valid and scanned."),
    Column("status", "enum", True, "Current state of the order.", STATUSES),
    Column("cancelled_by", "enum", True, "Who cancelled the order, or none.", CANCELLED_BY),
    Column(
        "logistics_rating",
        "int",
        False,
        "Buyer's logistics rating, 1-5; counted from the delivery it rates.",
        None,
        1,
        5,
    ),
    Column(
        "logistics_complaint",
        "bool",
        False,
        "Buyer complained about logistics; counted from the delivery.",
    ),
    Column("origin_region", "str", False, "Region the parcel ships from."),
    Column("destination_region", "str", False, "Region the parcel ships to."),
)

COLUMN_NAMES: tuple[str, ...] = tuple(c.name for c in ORDER_COLUMNS)
REQUIRED_COLUMNS: tuple[str, ...] = tuple(c.name for c in ORDER_COLUMNS if c.required)
TIMESTAMP_COLUMNS: tuple[str, ...] = tuple(c.name for c in ORDER_COLUMNS if c.kind == "timestamp")

ENUM_VALUES: dict[str, tuple[str, ...]] = {c.name: c.values for c in ORDER_COLUMNS if c.values}
DTYPES: dict[str, str] = {
    "id": "string",
    "str": "string",
    "timestamp": TIMESTAMP_DTYPE,
    "bool": "boolean",
    "int": "Int8",
}


class ContractError(LesError, ValueError):
    """The table cannot be read as orders at all (for example a required column is missing)."""
