"""`les ingest ...`: platform and public-dataset exports into the canonical order table.

Each converter keeps every row it can attribute, including rows the contract rejects, and counts
what it set aside by reason.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from features.console import Command, console, counts_table
from features.errors import LesError

if TYPE_CHECKING:
    from features.ingest_core import IngestResult
    from features.policy import Policy

GROUP = "ingest"


class IngestError(LesError, ValueError):
    """The files held no order that could be written; the message counts what was set aside."""


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


Files = Annotated[list[Path], typer.Argument(help="Order exports (.csv or .xlsx) of one layout.")]
Out = Annotated[Path, typer.Option(help="Output .parquet or .csv in the canonical contract.")]
PolicyFile = Annotated[
    Path | None, typer.Option("--policy", help="Your own deadline policy YAML (docs/ingest.md).")
]
RejectedOut = Annotated[
    Path | None, typer.Option(help="Write the orders set aside (with aside_reason) here.")
]


def ingest_tiktok_shop(
    files: Annotated[
        list[Path], typer.Argument(help="Seller Center 'All order' exports (.csv/.xlsx).")
    ],
    market: Annotated[str, typer.Option(help="Shop market: US, UK, VN, TH, MY, ID, PH or SG.")],
    shop_id: Annotated[str, typer.Option(help="The shop's id (the export does not carry it).")],
    out: Out,
    policy: PolicyFile = None,
    rejected_out: RejectedOut = None,
    time_format: Annotated[
        str | None,
        typer.Option(help="strptime format of the times, for UK, MY, ID, PH, SG (undocumented)."),
    ] = None,
) -> None:
    """Convert TikTok Shop Seller Center order exports of one shop into canonical orders
    (docs/ingest.md). Exit 0: written; 2: unknown layout, undocumented market, no orders."""
    from features.policy import load_policy
    from features.tiktok_shop import read_tiktok_shop
    from features.tiktok_shop_layout import market as market_of

    clock = market_of(market, time_format)
    rules = load_policy(clock.code, policy)
    result = read_tiktok_shop(files, clock, shop_id, rules)
    clock_text = f"{clock.timezone} ({clock.clock})"
    missing = f"not derived, no policy documented for {clock.code} (pass --policy FILE)"
    missing = missing if rules is None else ""
    _write_and_report(result, files, out, rejected_out, clock_text, rules, missing)


def ingest_shopee(
    files: Files,
    market: Annotated[str, typer.Option(help="Shop market: MY, SG, PH, TH, VN, TW or ID.")],
    shop_id: Annotated[str, typer.Option(help="The shop's id (the export does not carry it).")],
    out: Out,
    policy: PolicyFile = None,
    rejected_out: RejectedOut = None,
) -> None:
    """Convert Shopee Seller Centre order exports (English or Indonesian headers) of one shop
    into canonical orders (docs/ingest.md). Exit 0: written; 2: unknown layout or market."""
    from features.export_layouts import first_matching
    from features.export_mapping import packaged_mapping

    layouts = [packaged_mapping("shopee"), packaged_mapping("shopee_id")]
    _ingest_mapped(
        files, first_matching(files, layouts), shop_id, market, out, policy, rejected_out
    )


def ingest_shopify(
    files: Files,
    shop_id: Annotated[str, typer.Option(help="The store's id (the export does not carry it).")],
    out: Out,
    policy: PolicyFile = None,
    rejected_out: RejectedOut = None,
) -> None:
    """Convert Shopify order CSV exports of one store into canonical orders (docs/ingest.md);
    the export has no delivery event, so see the caveats there. Exit 0: written; 2: bad input."""
    from features.export_mapping import packaged_mapping

    mapping = packaged_mapping("shopify")
    _ingest_mapped(files, mapping, shop_id, None, out, policy, rejected_out)


def ingest_csv(
    files: Files,
    mapping: Annotated[
        str, typer.Option(help="Mapping YAML, or a packaged one by name (e.g. douyin).")
    ],
    out: Out,
    shop_id: Annotated[
        str | None, typer.Option(help="Merchant id, when the mapping names no merchant column.")
    ] = None,
    market: Annotated[
        str | None, typer.Option(help="Market, when the mapping's zone depends on it.")
    ] = None,
    policy: PolicyFile = None,
    rejected_out: RejectedOut = None,
) -> None:
    """Convert any back office's order export with a column mapping (docs/ingest.md; the
    Douyin shop report ships as `--mapping douyin`). Exit 0: written; 2: bad mapping or file."""
    from features.export_mapping import load_mapping, packaged_mapping, packaged_names

    layout = (
        packaged_mapping(mapping) if mapping in packaged_names() else load_mapping(Path(mapping))
    )
    _ingest_mapped(files, layout, shop_id, market, out, policy, rejected_out)


def _ingest_mapped(
    files: list[Path],
    mapping: object,
    shop_id: str | None,
    market: str | None,
    out: Path,
    policy: Path | None,
    rejected_out: Path | None,
) -> None:
    from features.mapped_export import read_mapped
    from features.policy import load_policy

    rules = None if policy is None else load_policy(market or "", policy)
    result = read_mapped(files, mapping, shop_id, market, rules)
    zone = mapping.zone(market)
    fmt = mapping.times["created_at"].time_format
    clock_text = f"{zone or 'the offset in each time'} ({fmt})"
    console.print(f"layout: {mapping.layout} (seen: {mapping.seen})")
    if result.absent_columns:
        console.print(f"columns absent from the file, read as blank: {list(result.absent_columns)}")
    given = [
        f"{k} from column {mapping.times[k].column!r}"
        for k in ("ship_by", "deliver_by")
        if k in mapping.times
    ]
    missing = (
        ""
        if rules
        else ((", ".join(given) + "; " if given else "") + "no policy given (pass --policy FILE)")
    )
    _write_and_report(result, files, out, rejected_out, clock_text, rules, missing)
    for note in mapping.notes:
        console.print(f"caveat: {note}")


def _write_and_report(
    result: IngestResult,
    files: list[Path],
    out: Path,
    rejected_out: Path | None,
    clock_text: str,
    rules: Policy | None,
    missing_deadlines: str,
) -> None:
    """Write the orders (and the set-aside rows) and print the summary every converter gives:
    rows and orders in and out, reasons, daylight saving, how each deadline was derived."""
    from features.io import write_table
    from features.policy import NO_VERSION

    if rejected_out is not None and len(result.aside):
        write_table(result.aside, rejected_out)
        console.print(f"orders set aside -> {rejected_out}")
    if not len(result.orders):
        raise IngestError(
            f"{', '.join(map(str, files))}: no orders to write ({len(result.aside):,} set aside: "
            f"{', '.join(sorted(result.reason_counts)) or 'none'})"
        )
    write_table(result.orders, out)
    console.print(
        f"{len(files)} file(s), {result.sku_rows:,} line rows, {result.orders_in:,} orders in "
        f"({result.superseded:,} older copies from overlapping exports dropped, "
        f"{result.description_rows} description row(s) skipped); {len(result.orders):,} orders "
        f"out, {len(result.aside):,} set aside"
    )
    console.print(
        f"times read as {clock_text}, stored UTC; daylight saving: {result.dst_ambiguous} "
        f"ambiguous, {result.dst_nonexistent} nonexistent, read with the offset in force before "
        f"the transition"
    )
    if result.reason_counts:
        console.print(counts_table("Orders set aside, by reason", result.reason_counts, "reason"))
    if missing_deadlines:
        console.print(f"ship_by, deliver_by: {missing_deadlines}")
    if rules is not None:
        for v in rules.versions:
            delivery = "none" if v.delivery_days is None else f"{v.delivery_days} business days"
            console.print(
                f"deadlines {v.label} ({rules.origin}): ship_by {v.dispatch_days} business days, "
                f"deliver_by {delivery}, from {rules.sla_starts} local day (cut-off "
                f"{rules.cutoff}, weekend {'/'.join(rules.weekend)}, holidays "
                f"{rules.holiday_country or 'none'}): {result.deadline_versions.get(v.label, 0):,} "
                f"orders; late dispatch judged at {v.dispatch_event}"
            )
    if missing := result.deadline_versions.get(NO_VERSION, 0):
        console.print(f"deadlines: {missing:,} orders predate every rule version, left missing")
    console.print(f"-> {out}")


COMMANDS: tuple[Command, ...] = (
    Command("olist", ingest_olist, group=GROUP),
    Command("tiktok-shop", ingest_tiktok_shop, group=GROUP),
    Command("shopee", ingest_shopee, group=GROUP),
    Command("shopify", ingest_shopify, group=GROUP),
    Command("csv", ingest_csv, group=GROUP),
)
