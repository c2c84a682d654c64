"""Synthetic TikTok Shop "All order" exports written from the documented headers."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from features.tiktok_shop_layout import US_HEADER

US_FORMAT = "%m/%d/%Y %I:%M:%S %p"


def order(order_id: str, status: str, substatus: str, created: str, **cells: str) -> dict:
    """One SKU line: the order columns plus any other documented column by its header name."""
    return {
        "Order ID": order_id,
        "Order Status": status,
        "Order Substatus": substatus,
        "Created Time": created,
        "Paid Time": created,
        "SKU ID": "1729",
        "Quantity": "1",
        "Order Amount": "$25.00",
        **cells,
    }


def export_frame(lines: list[dict], header: tuple[str, ...] = US_HEADER) -> pd.DataFrame:
    return pd.DataFrame(lines).reindex(columns=list(header)).fillna("")


def write_csv(
    path: Path,
    lines: list[dict],
    header: tuple[str, ...] = US_HEADER,
    description: bool = False,
) -> Path:
    """As Seller Center writes it: UTF-8 BOM, a trailing tab after ids and times."""
    frame = export_frame(lines, header)
    for column in ("Order ID", "Created Time", "Paid Time", "RTS Time", "Shipped Time"):
        if column in frame:
            frame[column] = frame[column].where(frame[column] == "", frame[column] + "\t")
    if description:
        text = pd.DataFrame([{c: f"{c.strip()} of the order" for c in header}])
        frame = pd.concat([text, frame], ignore_index=True)
    frame.to_csv(path, index=False, encoding="utf-8-sig")
    return path


def write_xlsx(path: Path, lines: list[dict], stale_dimension: bool = True) -> Path:
    """An XLSX export; the sheet's stored dimension is set to A1:A1 as some exports carry."""
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    frame = export_frame(lines)
    sheet.append(list(frame.columns))
    for row in frame.itertuples(index=False):
        sheet.append(list(row))
    book.save(path)
    if stale_dimension:
        import zipfile

        with zipfile.ZipFile(path) as source:
            entries = {name: source.read(name) for name in source.namelist()}
        sheet_xml = entries["xl/worksheets/sheet1.xml"].decode()
        start = sheet_xml.index("<dimension ref=")
        end = sheet_xml.index("/>", start) + 2
        entries["xl/worksheets/sheet1.xml"] = (
            sheet_xml[:start] + '<dimension ref="A1:A1"/>' + sheet_xml[end:]
        ).encode()
        with zipfile.ZipFile(path, "w") as target:
            for name, data in entries.items():
                target.writestr(name, data)
    return path
