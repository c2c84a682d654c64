"""Which known export layout a file resembles, for the error a file in the wrong layout gets.

A user who passes a Shopify file to `les ingest tiktok-shop`, or a Shopee export in Indonesian to
the English mapping, is told which layout the headers look like and which command reads it.
"""

from __future__ import annotations

from collections.abc import Iterable

from features.contract import ORDER_COLUMNS
from features.export_mapping import packaged_mapping, packaged_names
from features.olist_layout import OLIST_TABLES
from features.tiktok_shop_layout import US_HEADER, VN_HEADER


def known_layouts() -> dict[str, tuple[str, ...]]:
    """Layout name (with the command that reads it) -> the columns it is known to carry."""
    layouts = {
        "TikTok Shop 'All order', US (les ingest tiktok-shop)": US_HEADER,
        "TikTok Shop 'All order', VN/TH (les ingest tiktok-shop)": VN_HEADER,
        "the les order contract (les validate)": tuple(c.name for c in ORDER_COLUMNS),
    }
    for table in OLIST_TABLES:
        layouts[f"Olist {table.file_name} (les ingest olist)"] = table.columns
    for name in packaged_names():
        mapping = packaged_mapping(name)
        known = (*mapping.header, *mapping.columns)
        layouts[f"{mapping.layout} ({mapping.command})"] = tuple(dict.fromkeys(known))
    return layouts


def closest_layout(columns: Iterable[str]) -> str:
    """One sentence naming the known layout sharing the most columns (then the largest share
    of its own columns, so a short layout does not win on one common name)."""
    have = {str(c).strip().lower() for c in columns}
    scores = []
    for name, header in known_layouts().items():
        wanted = {c.strip().lower() for c in header}
        scores.append((len(wanted & have), len(wanted & have) / len(wanted), len(wanted), name))
    hits, share, total, name = max(scores)
    if not hits:
        return "Its headers match no layout les knows; write a mapping (les ingest csv --mapping)."
    return f"It resembles {name} most ({hits} of its {total} columns, {share:.0%})."
