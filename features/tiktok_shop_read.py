"""Reading TikTok Shop "All order" files as text: CSV and XLSX quirks, the description row.

Everything comes out as stripped text with blank cells missing, so the conversion in
`features.tiktok_shop` sees one shape whatever the file format was.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from features.export_files import read_text_table
from features.layout_match import closest_layout
from features.tiktok_shop_layout import ORDER_ID, REQUIRED, Market, TikTokShopFormatError


def read_export(path: Path, market: Market) -> pd.DataFrame:
    """One export as stripped text (blank cells missing); typed XLSX dates in the market's
    format (`features.export_files`)."""
    return read_text_table(path, market.time_format, TikTokShopFormatError)


def require_layout(frame: pd.DataFrame, path: Path) -> None:
    """An "All order" export has every documented core column; name the ones that are not."""
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise TikTokShopFormatError(
            f"{path}: not a TikTok Shop 'All order' export; missing columns {missing}. "
            f"{closest_layout(frame.columns)}"
        )


def drop_description_row(frame: pd.DataFrame, market: Market) -> tuple[pd.DataFrame, int]:
    """Some exports hold field descriptions in row 2: a first row whose Order ID is not a number
    and whose Created Time is not a time is that row."""
    if not len(frame):
        return frame, 0
    first = frame.iloc[0]
    order_id = "" if pd.isna(first[ORDER_ID]) else str(first[ORDER_ID])
    created = pd.to_datetime(first["Created Time"], format=market.time_format, errors="coerce")
    if order_id.isdigit() or not pd.isna(created):
        return frame, 0
    return frame.iloc[1:], 1


def parse_money(text: pd.Series) -> pd.Series:
    """`$25.00`, `MYR 1,234.50` -> float: the currency and thousands separators are dropped
    (a decimal comma, not seen in the documented markets, would be misread)."""
    return pd.to_numeric(text.str.replace(r"[^\d.\-]", "", regex=True), errors="coerce")
