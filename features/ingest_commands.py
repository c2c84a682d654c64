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


COMMANDS: tuple[Command, ...] = (Command("olist", ingest_olist, group=GROUP),)
