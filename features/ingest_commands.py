"""`les ingest ...`: platform and public-dataset exports into the canonical order table.

Each converter keeps every row it can attribute, including rows the contract rejects, and counts
what it set aside by reason.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from features.console import Command, console, counts_table

GROUP = "ingest"
GROUPS = {GROUP: "Convert a platform or public-dataset export into the canonical order table."}


def ingest_olist(
    directory: Annotated[Path, typer.Argument(help="Folder with the Olist CSV files.")],
    out: Annotated[Path, typer.Option(help="Output parquet in the canonical contract.")],
) -> None:
    """Convert the public Olist Brazilian e-commerce CSVs into canonical orders (docs/olist.md).

    Every (order, seller) row is written, including rows the contract rejects; the summary
    counts them by reason. Exit 0: written; 2: the folder is not in the Olist layout, or holds
    no rows.
    """
    from features.io import TableReadError, write_table
    from features.olist import OLIST_TABLES, OlistFormatError, read_olist, summarise_olist

    for table in OLIST_TABLES:  # pandas' own message for an empty file names none
        path = directory / table.file_name
        if path.is_file() and not path.stat().st_size:
            raise TableReadError(f"{path}: empty file (no header, no rows)")
    result = read_olist(directory)
    if not len(result.orders):
        raise OlistFormatError(f"{directory}: no (order, seller) rows to write")
    write_table(result.orders, out)
    s = summarise_olist(result)
    span = (
        f"{s.first_created_at:%Y-%m-%d}..{s.last_created_at:%Y-%m-%d}"
        if s.first_created_at is not None
        else "no dates"
    )
    console.print(
        f"{s.rows:,} (order, seller) rows, {s.sellers:,} sellers, created {span}; "
        f"{s.rejected_rows:,} rows the contract rejects; {s.unattributed_orders:,} orders "
        f"without items (no seller) and {s.orphan_item_rows:,} item rows without a known order "
        f"or seller kept aside, not written"
    )
    console.print(counts_table("Status mix", s.status_counts, "status"))
    if s.rejected_by_reason:
        console.print(
            counts_table("Rows the contract rejects, by reason", s.rejected_by_reason, "reason")
        )
    if s.orphan_items_by_reason:
        console.print(
            counts_table("Item rows kept aside, by reason", s.orphan_items_by_reason, "reason")
        )
    console.print(f"-> {out}")


def ingest_tiktok_shop(
    files: Annotated[
        list[Path], typer.Argument(help="Seller Center 'All order' exports (.csv/.xlsx).")
    ],
    market: Annotated[str, typer.Option(help="Shop market: US, UK, VN, TH, MY, ID, PH or SG.")],
    shop_id: Annotated[str, typer.Option(help="The shop's id (the export does not carry it).")],
    out: Annotated[Path, typer.Option(help="Output .parquet or .csv in the canonical contract.")],
    policy: Annotated[
        Path | None, typer.Option(help="Your own deadline policy YAML (see docs/ingest.md).")
    ] = None,
    rejected_out: Annotated[
        Path | None, typer.Option(help="Write the orders set aside (with aside_reason) here.")
    ] = None,
) -> None:
    """Convert TikTok Shop Seller Center order exports of one shop into canonical orders
    (docs/ingest.md). Exit 0: written; 2: unknown layout, undocumented market, no orders."""
    from features.io import write_table
    from features.policy import NO_VERSION, load_policy
    from features.tiktok_shop import read_tiktok_shop
    from features.tiktok_shop_layout import TikTokShopFormatError
    from features.tiktok_shop_layout import market as market_of

    clock = market_of(market)
    rules = load_policy(clock.code, policy)
    result = read_tiktok_shop(files, clock, shop_id, rules)
    if rejected_out is not None and len(result.aside):
        write_table(result.aside, rejected_out)
        console.print(f"orders set aside -> {rejected_out}")
    if not len(result.orders):
        raise TikTokShopFormatError(
            f"{', '.join(map(str, files))}: no orders to write ({len(result.aside):,} set aside: "
            f"{', '.join(sorted(result.reason_counts)) or 'none'})"
        )
    write_table(result.orders, out)
    console.print(
        f"{len(files)} file(s), {result.sku_rows:,} SKU rows, {result.orders_in:,} orders in "
        f"({result.superseded:,} older copies from overlapping exports dropped, "
        f"{result.description_rows} description row(s) skipped); {len(result.orders):,} orders "
        f"out, {len(result.aside):,} set aside"
    )
    console.print(
        f"times read as {clock.timezone} ({clock.clock}), stored UTC; daylight saving: "
        f"{result.dst_ambiguous} ambiguous, {result.dst_nonexistent} nonexistent, read with the "
        f"offset in force before the transition"
    )
    if result.reason_counts:
        console.print(counts_table("Orders set aside, by reason", result.reason_counts, "reason"))
    if rules is None:
        console.print(
            f"ship_by, deliver_by: not derived, no policy documented for {clock.code} "
            f"(pass --policy FILE)"
        )
    else:
        for v in rules.versions:
            delivery = "none" if v.delivery_days is None else f"{v.delivery_days} business days"
            console.print(
                f"deadlines {v.label} ({rules.origin}): ship_by {v.dispatch_days} business days, "
                f"deliver_by {delivery}, from {rules.sla_starts} local day (cut-off "
                f"{rules.cutoff}, weekend {'/'.join(rules.weekend)}, holidays "
                f"{rules.holiday_country or 'none'}): {result.deadline_versions.get(v.label, 0):,} "
                f"orders; this version counts dispatch at {v.dispatch_event} (recorded; the "
                f"rulebook still scores late dispatch at shipped_at)"
            )
    if missing := result.deadline_versions.get(NO_VERSION, 0):
        console.print(f"deadlines: {missing:,} orders predate every rule version, left missing")
    console.print(f"-> {out}")


COMMANDS: tuple[Command, ...] = (
    Command("olist", ingest_olist, group=GROUP),
    Command("tiktok-shop", ingest_tiktok_shop, group=GROUP),
)
