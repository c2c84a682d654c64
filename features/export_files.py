"""Reading a back office's export (CSV or XLSX) as text, whatever platform wrote it.

Everything comes out as stripped text with blank cells missing, so each converter sees one shape
whatever the file format was: a UTF-8 BOM, trailing tabs after ids and times and stray spaces in
headers go with the stripping; XLSX sheets are read ignoring their stored size.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd

from features.errors import LesError


class ExportFileError(LesError, ValueError):
    """The file cannot be read as a table of text at all (missing, not CSV/XLSX, empty)."""


def read_text_table(
    path: Path, time_format: str, error: type[LesError] = ExportFileError
) -> pd.DataFrame:
    """One export as stripped text (blank cells missing, all-blank rows dropped); typed XLSX
    dates are written back in `time_format`, the text the CSV export would hold."""
    path = Path(path)
    if not path.is_file():
        raise error(f"{path}: no such file")
    if path.suffix.lower() == ".xlsx":
        frame = _read_xlsx(path, time_format, error)
    else:
        try:
            frame = pd.read_csv(
                path, dtype=str, keep_default_na=False, encoding="utf-8-sig", na_filter=False
            )
        except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            raise error(f"{path}: not a readable UTF-8 CSV export ({exc})") from exc
    frame.columns = [str(c).replace("\ufeff", "").strip() for c in frame.columns]
    frame = frame.loc[:, [bool(c) for c in frame.columns]]
    text = frame.apply(lambda col: col.astype("string").str.strip())
    text = text.mask(text == "")
    return text.dropna(how="all").reset_index(drop=True)


def _read_xlsx(path: Path, time_format: str, error: type[LesError]) -> pd.DataFrame:
    """openpyxl in read-only mode, ignoring the stored sheet size (some exports say A1:A1, so a
    reader that trusts it sees one column)."""
    from zipfile import BadZipFile

    from openpyxl import load_workbook

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except (BadZipFile, OSError, KeyError) as exc:
        raise error(f"{path}: not a readable XLSX workbook ({exc})") from exc
    try:
        sheet = book.active
        sheet.reset_dimensions()
        rows = list(sheet.iter_rows(values_only=True))
    finally:
        book.close()
    if not rows:
        raise error(f"{path}: empty workbook")
    width = len(rows[0])
    body = [tuple(row[:width]) + (None,) * (width - len(row)) for row in rows[1:]]
    frame = pd.DataFrame(body, columns=[str(c or "") for c in rows[0]], dtype=object)
    return frame.map(lambda v: _cell_text(v, time_format))


def _cell_text(value: object, time_format: str) -> str:
    """An XLSX cell as the text the CSV export would hold (typed dates in the layout's format)."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.strftime(time_format)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
