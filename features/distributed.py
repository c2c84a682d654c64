"""Features on Dask: the pandas `build_dataset`, run once per merchant partition of the orders.

Three steps, each a set of independent tasks that write their own parquet file, so no worker ever
holds more than one partition and the orders may be far larger than the cluster's memory:

1. shuffle the raw orders on merchant_id, validate each merchant partition with `validate_orders`
   (its duplicate check is per merchant, so this equals validating the whole table) and stage the
   valid rows; each task also returns its row counts and `DataBounds`;
2. reduce the bounds: the whole table's first paid day and last event day, which fix the snapshot
   grid and label completeness (a partition alone would see its own);
3. `build_dataset(partition, cfg, rules, bounds)` per staged partition.

No feature is implemented twice: step 3 calls the very function the pandas engine calls.
"""

from __future__ import annotations

import shutil
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from features.dataset import build_dataset
from features.dataset_config import DataBounds, DatasetConfig, data_bounds
from features.errors import LesError
from features.events import order_events
from features.io import PART_PATTERN, prepare_folder, read_dask_table
from features.progress import Advance
from features.rulebook import Rulebook
from features.validation import validate_orders

if TYPE_CHECKING:
    from distributed import Client

MERCHANT_KEY = "_merchant_key"


class NoValidOrdersError(LesError, ValueError):
    """Every order row was rejected by the contract, so there is nothing to build features from."""


@dataclass(frozen=True)
class PartStats:
    """What one merchant partition contributed: counts, reasons and its own data bounds."""

    valid: int = 0
    rejected: int = 0
    reason_counts: dict[str, int] = field(default_factory=dict)
    bounds: DataBounds | None = None


@dataclass(frozen=True)
class DistributedBuild:
    """The outcome of a Dask feature build: where the rows are and what was read."""

    out: Path
    files: tuple[Path, ...]
    valid_orders: int
    rejected_orders: int
    reason_counts: dict[str, int]
    bounds: DataBounds
    summary: dict[str, object]


def _with_merchant_key(part: pd.DataFrame) -> pd.DataFrame:
    """The merchant id as validation will read it (text, stripped), so one merchant's rows meet."""
    return part.assign(**{MERCHANT_KEY: part["merchant_id"].astype("string").str.strip()})


def stage_partition(part: pd.DataFrame, target: Path) -> PartStats:
    """Validate one merchant partition and write its valid rows; empty partitions write nothing."""
    if len(part) == 0:
        return PartStats()
    result = validate_orders(part.drop(columns=MERCHANT_KEY))
    if len(result.valid):
        result.valid.to_parquet(target, index=False)
    bounds = data_bounds(order_events(result.valid)) if len(result.valid) else None
    return PartStats(len(result.valid), len(result.rejected), result.reason_counts, bounds)


def build_partition(
    source: Path, target: Path, cfg: DatasetConfig, rules: Rulebook, bounds: DataBounds
) -> dict[str, object]:
    """`build_dataset` over one staged merchant partition, written to `target`; its summary."""
    from features.dataset import dataset_summary

    dataset = build_dataset(pd.read_parquet(source), cfg, rules, bounds)
    dataset.to_parquet(target, index=False)
    summary = dataset_summary(dataset)
    summary["snapshot_values"] = sorted(dataset["snapshot_at"].unique())
    return summary


def merge_summaries(parts: Iterable[dict[str, object]]) -> dict[str, object]:
    """`dataset_summary` of the union of merchant-disjoint parts, from the parts' summaries."""
    parts = list(parts)
    labels: Counter[str] = Counter()
    for part in parts:
        labels.update(part["label_distribution"])
    snapshots = set().union(*(part["snapshot_values"] for part in parts)) if parts else set()
    additive = (
        "rows",
        "merchants",
        "trainable_rows",
        "insufficient_label_rows",
        "incomplete_label_rows",
    )
    merged: dict[str, object] = {key: sum(int(p[key]) for p in parts) for key in additive}
    merged["snapshots"] = len(snapshots)
    merged["label_distribution"] = dict(labels.most_common())
    return {
        key: merged[key]
        for key in (*additive[:2], "snapshots", "label_distribution", *additive[2:])
    }


def _run(client: Client, futures: list, step: str, advance: Advance | None) -> list:
    """Results in submission order, advancing the progress callback as each task finishes."""
    from distributed import as_completed

    for _ in as_completed(futures):
        if advance is not None:
            advance(step, len(futures))
    return client.gather(futures)


def build_dataset_dask(
    client: Client,
    orders: Path,
    out: Path,
    cfg: DatasetConfig,
    rules: Rulebook,
    npartitions: int | None = None,
    advance: Advance | None = None,
) -> DistributedBuild:
    """Orders (any size, parquet folder/file or CSV) -> a folder of (merchant, snapshot) parts.

    `out` and its `<out>.staging` sibling must be on storage every worker can read and write."""
    from dask import delayed

    out = prepare_folder(out)
    staging = out.with_name(out.name + ".staging")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        raw = read_dask_table(orders)
        if "merchant_id" not in raw.columns:
            from features.contract import ContractError

            raise ContractError("order table lacks required column 'merchant_id'")
        keyed = raw.map_partitions(_with_merchant_key)
        shuffled = keyed.shuffle(on=MERCHANT_KEY, npartitions=npartitions or raw.npartitions)
        staged_paths = [staging / PART_PATTERN.format(i) for i in range(shuffled.npartitions)]
        tasks = [
            delayed(stage_partition)(part, path)
            for part, path in zip(shuffled.to_delayed(), staged_paths, strict=True)
        ]
        stats: list[PartStats] = _run(
            client, client.compute(tasks), "validate and stage merchant partitions", advance
        )
        bounds = _union_bounds(s.bounds for s in stats)
        if bounds is None:
            raise NoValidOrdersError(f"{orders}: no order row passes the contract")
        sources = [p for p, s in zip(staged_paths, stats, strict=True) if s.valid]
        targets = [out / PART_PATTERN.format(i) for i in range(len(sources))]
        futures = [
            client.submit(build_partition, s, t, cfg, rules, bounds, pure=False)
            for s, t in zip(sources, targets, strict=True)
        ]
        summaries = _run(client, futures, "build features per merchant partition", advance)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    reasons: Counter[str] = Counter()
    for s in stats:
        reasons.update(s.reason_counts)
    return DistributedBuild(
        out,
        tuple(targets),
        sum(s.valid for s in stats),
        sum(s.rejected for s in stats),
        dict(reasons.most_common()),
        bounds,
        merge_summaries(summaries),
    )


def _union_bounds(bounds: Iterable[DataBounds | None]) -> DataBounds | None:
    total = None
    for b in bounds:
        if b is not None:
            total = b if total is None else total.union(b)
    return total
