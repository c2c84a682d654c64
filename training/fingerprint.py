"""The dataset fingerprint a training run logs, computable one partition at a time."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd


def dataset_fingerprint(dataset: pd.DataFrame) -> dict[str, object]:
    """Content hash plus shape and time range, so a run says exactly what it learned from."""
    return combine_fingerprints([partition_fingerprint(dataset)])


def partition_fingerprint(part: pd.DataFrame) -> dict[str, object]:
    """One partition's share of `dataset_fingerprint`: its row count, the sum of its row hashes
    (mod 2**64) and its snapshot range. Sums add up in any order, so the same rows give the same
    fingerprint however they are partitioned or ordered (a Dask collection, a pandas frame); row
    order is not part of what a model learns from (`trainable_rows` sorts)."""
    row_hashes = pd.util.hash_pandas_object(part, index=False).to_numpy()
    empty = len(part) == 0
    return {
        "rows": len(part),
        "hash_sum": int(row_hashes.sum(dtype=np.uint64)),
        "first": None if empty else part["snapshot_at"].min(),
        "last": None if empty else part["snapshot_at"].max(),
    }


def combine_fingerprints(parts: list[dict[str, object]]) -> dict[str, object]:
    """The fingerprint of the union of the partitions, from their `partition_fingerprint`s."""
    rows = sum(int(p["rows"]) for p in parts)
    hash_sum = sum(int(p["hash_sum"]) for p in parts) % 2**64
    firsts = [p["first"] for p in parts if p["first"] is not None]
    lasts = [p["last"] for p in parts if p["last"] is not None]
    return {
        "dataset_sha256": hashlib.sha256(f"{rows}:{hash_sum}".encode()).hexdigest(),
        "dataset_rows": rows,
        "dataset_first_snapshot": str(min(firsts)) if firsts else "NaT",
        "dataset_last_snapshot": str(max(lasts)) if lasts else "NaT",
    }
