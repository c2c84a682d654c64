"""Synthetic Shopee, Shopify and Douyin exports written from the documented headers.

Every fixture is built here from the layout's header (`features/layouts/*.yaml`), never copied
from anyone's data.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from features.export_mapping import ExportMapping, packaged_mapping


def header_of(mapping: ExportMapping) -> list[str]:
    """The documented header, plus every column the mapping reads."""
    return list(dict.fromkeys([*mapping.header, *mapping.columns]))


def write_export(
    path: Path, layout: str | ExportMapping, lines: list[dict], drop: tuple[str, ...] = ()
) -> Path:
    """Lines (column -> text) in the layout's full header, blank elsewhere; CSV with a BOM or
    XLSX by the suffix."""
    mapping = packaged_mapping(layout) if isinstance(layout, str) else layout
    columns = [c for c in header_of(mapping) if c not in drop]
    frame = pd.DataFrame(lines).reindex(columns=columns).fillna("")
    if path.suffix == ".xlsx":
        frame.to_excel(path, index=False, engine="openpyxl")
    else:
        frame.to_csv(path, index=False, encoding="utf-8-sig")
    return path


def shopify_line(name: str, created: str, **cells: str) -> dict:
    """The first line of an order: order columns filled; more lines repeat only the Name."""
    return {
        "Name": name,
        "Email": "buyer@example.com",
        "Financial Status": "paid",
        "Paid at": created,
        "Fulfillment Status": "unfulfilled",
        "Created at": created,
        "Lineitem quantity": "1",
        "Lineitem name": "Mug",
        "Shipping Province": "CA",
        "Source": "web",
        **cells,
    }


def shopify_extra_line(name: str, item: str = "Spoon") -> dict:
    return {"Name": name, "Lineitem quantity": "2", "Lineitem name": item}


def shopee_line(order_id: str, status: str, created: str, **cells: str) -> dict:
    return {
        "Order ID": order_id,
        "Order Status": status,
        "Order Creation Date": created,
        "Order Paid Time": created,
        "Shipping Option": "J&T Express",
        "Tracking Number*": "",
        "Province": "Selangor",
        **cells,
    }


TIKTOK_US_FORMAT = "%m/%d/%Y %I:%M:%S %p"
_TIKTOK_TIMES = {
    "created_at": "Created Time",
    "paid_at": "Paid Time",
    "packed_at": "RTS Time",
    "shipped_at": "Shipped Time",
    "delivered_at": "Delivered Time",
}
_CANCEL_BY = {"buyer": "User", "seller": "Seller", "platform": "System"}


def tiktok_lines(orders: pd.DataFrame, zone: str = "America/Los_Angeles") -> list[dict]:
    """Canonical orders of one shop written back as TikTok Shop US "All order" lines (what the
    export can carry: no accepted_at, no deadlines, no ratings)."""
    local = {
        column: orders[field].dt.tz_convert(zone).dt.strftime(TIKTOK_US_FORMAT).fillna("")
        for field, column in _TIKTOK_TIMES.items()
    }
    status = orders["status"].astype(str)
    words = {
        "delivered": ("Completed", "Completed"),
        "in_transit": ("Shipped", "In transit"),
        "cancelled": ("Canceled", "Canceled"),
        "lost": ("Canceled", "Canceled"),
        "returned": ("Completed", "Completed"),
    }
    carriers = orders["carrier"].astype("string").fillna("")
    lines = []
    for i, (order_id, state) in enumerate(zip(orders["order_id"], status, strict=True)):
        line = {
            "Order ID": str(order_id),
            "Order Status": words[state][0],
            "Order Substatus": words[state][1],
            "Order Channel": "LIVE" if orders["channel"].iloc[i] == "livestream" else "",
            "Shipping Provider Name": carriers.iloc[i],
            **{column: local[column].iloc[i] for column in _TIKTOK_TIMES.values()},
        }
        if state == "cancelled":
            line["Cancel By"] = _CANCEL_BY[str(orders["cancelled_by"].iloc[i])]
        if state == "lost":
            line["Cancel Reason"] = "Package lost"
        if state in ("cancelled", "lost"):
            line["Cancelled Time"] = (
                orders["status_at"].dt.tz_convert(zone).dt.strftime(TIKTOK_US_FORMAT).iloc[i]
            )
        if state == "returned":
            line["Cancelation/Return Type"] = "Return/Refund"
        lines.append(line)
    return lines
