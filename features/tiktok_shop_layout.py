"""The TikTok Shop Seller Center "All order" export as data: headers, markets, status words.

Everything here is cited in ../shared/ORDER_EXPORTS.md ("TikTok Shop Seller Center"); the
conversion that reads it is `features.tiktok_shop`, the mapping and caveats are in docs/ingest.md.
"""

from __future__ import annotations

from dataclasses import dataclass

from features.errors import LesError

# The US header, 63 columns in export order (the leading space of the bundle SKU is real).
US_HEADER: tuple[str, ...] = (
    "Order ID", "Order Status", "Order Substatus", "Cancelation/Return Type",
    "Normal or Pre-order", "SKU ID", "Seller SKU", "Product ID", "Product Name", "Variation",
    " Virtual Bundle Seller SKU", "Quantity", "Sku Quantity of return", "SKU Unit Original Price",
    "SKU Subtotal Before Discount", "SKU Platform Discount", "SKU Seller Discount",
    "SKU Subtotal After Discount", "Shipping Fee After Discount", "Original Shipping Fee",
    "Shipping Fee Seller Discount", "Co-Funded Shipping Fee Discount",
    "Shipping Fee Platform Discount", "Payment platform discount", "Retail Delivery Fee", "Taxes",
    "Order Amount", "Order Refund Amount", "Created Time", "Paid Time", "RTS Time",
    "Shipped Time", "Delivered Time", "Cancelled Time", "Cancel By", "Cancel Reason",
    "Fulfillment Type", "Warehouse Name", "Tracking ID", "Delivery Option Type",
    "Delivery Option", "Shipping Provider Name", "Buyer Message", "Buyer Nickname",
    "Buyer Username", "Recipient", "Phone #", "Country", "State", "City", "Zipcode",
    "Address Line 1", "Address Line 2", "Delivery Instruction", "Payment Method", "Weight(kg)",
    "Product Category", "Package ID", "Seller Note", "Shipping Information", "Combined Listing",
    "Order Channel", "Creator Handle",
)  # fmt: skip
# Vietnam: the core columns (no Delivery Option Type, Co-Funded discount, Retail Delivery Fee),
# then its own address block and tail, no Order Channel.
VN_HEADER: tuple[str, ...] = (
    *(
        c
        for c in US_HEADER[: US_HEADER.index("Shipping Provider Name") + 1]
        if c not in ("Delivery Option Type", "Co-Funded Shipping Fee Discount", "Retail Delivery Fee")
    ),
    "Country", "Province", "District", "Commune", "Detail Address",
    "Additional address information", "Checked Status", "Checked Marked by",
)  # fmt: skip

ORDER_ID = "Order ID"
ORDER_STATUS = "Order Status"
SUBSTATUS = "Order Substatus"
CANCEL_TYPE = "Cancelation/Return Type"
CANCEL_BY = "Cancel By"
CANCEL_REASON = "Cancel Reason"
CHANNEL = "Order Channel"
AMOUNT = "Order Amount"
QUANTITY = "Quantity"
# Contract timestamp <- export column (market wall-clock time, no offset in the text).
TIME_COLUMNS: dict[str, str] = {
    "created_at": "Created Time",
    "paid_at": "Paid Time",
    "packed_at": "RTS Time",
    "shipped_at": "Shipped Time",
    "delivered_at": "Delivered Time",
    "status_at": "Cancelled Time",
}
TEXT_COLUMNS: dict[str, str] = {
    "carrier": "Shipping Provider Name",
    "tracking_id": "Tracking ID",
    "origin_region": "Warehouse Name",
}
# Without these a file is not an "All order" export: every market documents them.
REQUIRED: tuple[str, ...] = (
    ORDER_ID, ORDER_STATUS, SUBSTATUS, CANCEL_TYPE, CANCEL_BY, CANCEL_REASON,
    *TIME_COLUMNS.values(), *TEXT_COLUMNS.values(),
)  # fmt: skip
DESTINATION_COLUMNS = ("State", "Province")  # the first one present is destination_region


@dataclass(frozen=True)
class Market:
    """How one market's export writes its times (zone, strptime format, clock in words)."""

    code: str
    timezone: str
    time_format: str
    clock: str


MARKETS: dict[str, Market] = {
    "US": Market("US", "America/Los_Angeles", "%m/%d/%Y %I:%M:%S %p", "12-hour, month first"),
    "VN": Market("VN", "Asia/Ho_Chi_Minh", "%d/%m/%Y %H:%M:%S", "24-hour, day first"),
    "TH": Market("TH", "Asia/Bangkok", "%d/%m/%Y %H:%M:%S", "24-hour, day first"),
}
ALL_MARKETS = ("US", "UK", "VN", "TH", "MY", "ID", "PH", "SG")

# Status words (English UI, plus the one localised word ORDER_EXPORTS.md confirms). Rank orders states for de-duplication: higher is more advanced.
STATUS_RANK: dict[str, int] = {
    "awaiting shipment": 1,
    "to ship": 1,
    "awaiting collection": 2,
    "in transit": 3,
    "shipped": 3,
    "delivered": 4,
    "completed": 5,
    "canceled": 6,
    "cancelled": 6,
    "đã hủy": 6,
}
OPEN_WORDS = ("to ship", "shipped", "awaiting shipment", "awaiting collection", "in transit")
DELIVERED_WORDS = ("completed", "delivered")
CANCELLED_WORDS = ("canceled", "cancelled", "đã hủy")  # Vietnamese UI: "Đã hủy" (confirmed)
RETURN_TYPE = "return/refund"
# Cancel Reason of a cancelled order that is a logistics outcome, not a cancellation.
REASON_STATUS: dict[str, str] = {
    "package lost": "lost",
    "package damaged": "lost",
    "package delivery failed": "returned",
    "package rejected": "returned",
}
CANCEL_BY_MAP: dict[str, str] = {"user": "buyer", "seller": "seller", "system": "platform"}
LIVE_WORD = "live"


class TikTokShopFormatError(LesError, ValueError):
    """The files are not a TikTok Shop "All order" export; the message names what is missing."""


# The zone of every market (a fact of the country); the clock text is documented only for MARKETS.
ZONES: dict[str, str] = {
    "US": "America/Los_Angeles",
    "UK": "Europe/London",
    "VN": "Asia/Ho_Chi_Minh",
    "TH": "Asia/Bangkok",
    "MY": "Asia/Kuala_Lumpur",
    "ID": "Asia/Jakarta",
    "PH": "Asia/Manila",
    "SG": "Asia/Singapore",
}


def market(code: str, time_format: str | None = None) -> Market:
    """The market's clock. A market whose time text ORDER_EXPORTS.md does not document needs
    `time_format` from the user (les will not guess day-first or month-first)."""
    key = code.upper()
    if key not in ALL_MARKETS:
        raise TikTokShopFormatError(f"--market {code!r}: not a TikTok Shop market {ALL_MARKETS}")
    if time_format is not None:
        _check_format(time_format)
        return Market(key, ZONES[key], time_format, f"as given: {time_format}")
    if key not in MARKETS:
        raise TikTokShopFormatError(
            f"--market {key}: its export's time format is not documented (known: "
            f"{', '.join(MARKETS)}); les will not guess it: pass --time-format, e.g. "
            f"'%d/%m/%Y %H:%M:%S' after checking a Created Time in your file"
        )
    return MARKETS[key]


def _check_format(time_format: str) -> None:
    """A strptime format that names at least a day, a month, a year and an hour."""
    if not all(d in time_format for d in ("%d", "%m", "%Y")) or not (
        "%H" in time_format or "%I" in time_format
    ):
        raise TikTokShopFormatError(
            f"--time-format {time_format!r}: needs %d, %m, %Y and %H (or %I with %p), "
            f"e.g. '%d/%m/%Y %H:%M:%S'"
        )
