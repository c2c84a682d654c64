"""Reading TikTok Shop "All order" files as text: CSV and XLSX quirks, the description row.

Everything comes out as stripped text with blank cells missing, so the conversion in
`features.tiktok_shop` sees one shape whatever the file format was.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd

from features.tiktok_shop_layout import ORDER_ID, REQUIRED, Market, TikTokShopFormatError


def read_export(path: Path, market: Market) -> pd.DataFrame:
    """One export as stripped text (blank cells missing), headers without BOM or stray spaces;
    trailing tabs after ids and times go with the stripping."""
    path = Path(path)
    if not path.is_file():
        raise TikTokShopFormatError(f"{path}: no such file")
    if path.suffix.lower() == ".xlsx":
        frame = _read_xlsx(path, market)
    else:
        try:
            frame = pd.read_csv(
                path, dtype=str, keep_default_na=False, encoding="utf-8-sig", na_filter=False
            )
        except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            raise TikTokShopFormatError(f"{path}: not a readable UTF-8 CSV export ({exc})") from exc
    frame.columns = [str(c).replace("\ufeff", "").strip() for c in frame.columns]
    frame = frame.loc[:, [bool(c) for c in frame.columns]]
    text = frame.apply(lambda col: col.astype("string").str.strip())
    text = text.mask(text == "")
    return text.dropna(how="all").reset_index(drop=True)


def _read_xlsx(path: Path, market: Market) -> pd.DataFrame:
    """openpyxl in read-only mode, ignoring the stored sheet size (some exports say A1:A1, so a
    reader that trusts it sees one column)."""
    from zipfile import BadZipFile

    from openpyxl import load_workbook

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except (BadZipFile, OSError, KeyError) as exc:
        raise TikTokShopFormatError(f"{path}: not a readable XLSX workbook ({exc})") from exc
    try:
        sheet = book.active
        sheet.reset_dimensions()
        rows = list(sheet.iter_rows(values_only=True))
    finally:
        book.close()
    if not rows:
        raise TikTokShopFormatError(f"{path}: empty workbook")
    width = len(rows[0])
    body = [tuple(row[:width]) + (None,) * (width - len(row)) for row in rows[1:]]
    frame = pd.DataFrame(body, columns=[str(c or "") for c in rows[0]], dtype=object)
    return frame.map(lambda v: _cell_text(v, market.time_format))


def _cell_text(value: object, time_format: str) -> str:
    """An XLSX cell as the text the CSV export would hold (typed dates in the market's format)."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.strftime(time_format)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def require_layout(frame: pd.DataFrame, path: Path) -> None:
    """An "All order" export has every documented core column; name the ones that are not."""
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise TikTokShopFormatError(
            f"{path}: not a TikTok Shop 'All order' export; missing columns {missing}"
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
