"""One entry point for every merchant export layout les reads, by name: what the console's upload
offers (the CLI has one command per layout, `les ingest ...`, with the same readers)."""

from __future__ import annotations

from pathlib import Path

from features.errors import LesError
from features.ingest_core import IngestResult
from features.policy import Policy

LAYOUTS = ("tiktok-shop", "shopee", "shopify", "douyin")


class ExportLayoutError(LesError, ValueError):
    """The layout or its options are not usable; the message names the field."""


def read_export_layout(
    layout: str,
    paths: list[Path],
    market: str | None,
    shop_id: str | None,
    policy: Policy | None = None,
) -> IngestResult:
    """The files of one shop in `layout`, converted as `les ingest <layout>` converts them: with
    `policy` (the shop's own deadline terms, `--policy FILE`) when given, else TikTok Shop with its
    market's packaged deadline policy and the others without one."""
    if layout not in LAYOUTS:
        raise ExportLayoutError(f"layout: {layout!r} is not one of {LAYOUTS}")
    if layout in ("tiktok-shop", "shopee") and not market:
        raise ExportLayoutError(f"market: {layout} exports need the shop's market")
    if layout != "douyin" and not shop_id:
        raise ExportLayoutError(f"shop_id: {layout} exports do not carry the shop's id")
    if layout == "tiktok-shop":
        from features.policy import load_policy
        from features.tiktok_shop import read_tiktok_shop
        from features.tiktok_shop_layout import market as market_of

        clock = market_of(market or "", None)
        rules = policy if policy is not None else load_policy(clock.code)
        return read_tiktok_shop(paths, clock, shop_id or "", rules)
    from features.export_mapping import packaged_mapping
    from features.mapped_export import read_mapped

    if layout == "shopee":
        mapping = first_matching(paths, [packaged_mapping("shopee"), packaged_mapping("shopee_id")])
    else:
        mapping = packaged_mapping(layout)
    return read_mapped(paths, mapping, shop_id, market, policy)


def first_matching(files: list[Path], layouts: list) -> object:
    """The packaged variant whose identifying columns the first file has (else the first, whose
    error then names what is missing and what the file resembles)."""
    from features.export_files import read_text_table

    if not files or not Path(files[0]).is_file():
        return layouts[0]
    header = set(read_text_table(files[0], layouts[0].times["created_at"].time_format).columns)
    for layout in layouts:
        if {layout.order_id, *layout.required} <= header:
            return layout
    return layouts[0]
