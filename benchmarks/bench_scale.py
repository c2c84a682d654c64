"""Scale-out: features and batch scoring of N synthetic orders (default 50 M) on a Dask LocalCluster
whose workers each have a memory limit smaller than the order table, beside the pandas engine on a
slice that fits in memory.

The world is generated on the workers in chunks of merchants, each chunk written as its own parquet
part, so the orders never sit in one process. Peak memory is sampled for this process and for every
worker (the scheduler's view of each worker's RSS).
Run: .venv/bin/python benchmarks/bench_scale.py [--orders 5000000 --memory-limit 1GiB]
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path

import pandas as pd
from _measure import measured

from features.catalogue import load_catalogue
from features.dataset import build_dataset
from features.dataset_config import DatasetConfig
from features.distributed import build_dataset_dask
from features.engine import EngineConfig, cluster_summary, engine_client
from features.io import PART_PATTERN, part_files, read_table
from features.rulebook import load_rulebook
from features.validation import validate_orders
from features.world import generate_world
from features.world_params import WorldConfig
from training.config import load_train_config
from training.explain.registered import load_registered_forecaster
from training.pipeline import train_and_register
from training.scoring.batch import score_dask, score_pandas
from training.scoring.rows import SnapshotChoice
from training.tracking import TrackingConfig


def generate_chunk(chunk: int, merchants: int, days: int, per_day: float, target: Path) -> tuple:
    """One chunk of merchants written to `target`; ids prefixed so chunks never share a merchant."""
    cfg = WorldConfig(
        n_merchants=merchants, days=days, seed=1000 + chunk, median_orders_per_day=per_day
    )
    orders = generate_world(cfg).orders
    orders["merchant_id"] = f"C{chunk:04d}-" + orders["merchant_id"].astype(str)
    orders.to_parquet(target, index=False)
    return len(orders), int(orders.memory_usage(deep=True).sum())


class WorkerMemory:
    """Peak RSS of each worker and of all workers together, sampled from the scheduler."""

    def __init__(self, client, interval_s: float = 0.5) -> None:
        self.client, self.interval_s = client, interval_s
        self.peak_worker = self.peak_total = 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._done.is_set():
            workers = self.client.scheduler_info(n_workers=-1)["workers"].values()
            rss = [w["metrics"]["memory"] for w in workers]
            self.peak_worker = max([self.peak_worker, *rss])
            self.peak_total = max(self.peak_total, sum(rss))
            time.sleep(self.interval_s)

    def __enter__(self) -> WorkerMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._done.set()
        self._thread.join()


def mb(n_bytes: float) -> str:
    return f"{n_bytes / 2**20:,.0f} MiB"


def train_small_model(dataset: Path, store: Path) -> tuple[str, TrackingConfig]:
    """A champion trained on one dataset part (the scoring cost depends on the trees, not the data)."""
    tracking = TrackingConfig(f"sqlite:///{store / 'mlflow.db'}", (store / "artifacts").as_uri())
    rows = pd.read_parquet(part_files(dataset)[0])
    config = load_train_config(n_folds=1, max_boost_rounds=200)
    result = train_and_register(rows, config, load_rulebook(), load_catalogue(), tracking)
    return result.model_uri, tracking


def report(step: str, n: int, unit: str, seconds: float, extra: str = "") -> None:
    print(f"  {step}: {n:,} {unit} in {seconds:.1f} s = {n / seconds:,.0f} {unit}/s{extra}")


def run_dask(args, work: Path) -> tuple[Path, str, TrackingConfig]:
    cfg = EngineConfig("dask", n_workers=args.workers, memory_limit=args.memory_limit)
    with engine_client(cfg) as client, WorkerMemory(client) as memory, measured() as total:
        print(cluster_summary(client))
        orders_dir = work / "orders"
        orders_dir.mkdir()
        per_chunk = args.merchants_per_chunk
        with measured() as gen:
            first = generate_chunk(
                0, per_chunk, args.days, 0.95, orders_dir / PART_PATTERN.format(0)
            )
            chunks = max(1, math.ceil(args.orders / first[0]))  # chunk 0 calibrates orders/chunk
            futures = [
                client.submit(
                    generate_chunk,
                    i,
                    per_chunk,
                    args.days,
                    0.95,
                    orders_dir / PART_PATTERN.format(i),
                    pure=False,
                )
                for i in range(1, chunks)
            ]
            made = [first, *client.gather(futures)]
        orders = sum(n for n, _ in made)
        table_bytes = sum(b for _, b in made)
        limit = client.scheduler_info(n_workers=-1)["workers"]
        limit = next(iter(limit.values()))["memory_limit"]
        print(
            f"orders: {orders:,} for {chunks * per_chunk:,} merchants x {args.days} "
            f"days in {chunks} parquet parts (generated on the workers in {gen.seconds:.1f} s); "
            f"in-memory order table {mb(table_bytes)} = {table_bytes / limit:.1f}x one worker's "
            f"limit of {mb(limit)}"
        )
        with measured() as feat:
            built = build_dataset_dask(
                client, orders_dir, work / "dataset", DatasetConfig(), load_rulebook()
            )
        rows = built.summary["rows"]
        report("dask features", orders, "orders", feat.seconds, f" ({rows:,} dataset rows)")
        model_uri, tracking = train_small_model(work / "dataset", work / "store")
        model = load_registered_forecaster(model_uri, tracking)
        for snapshot in ("all", "latest"):
            with measured() as sc:
                run = score_dask(
                    client,
                    model,
                    work / "dataset",
                    work / f"scores-{snapshot}",
                    SnapshotChoice(snapshot),
                    False,
                )
            report(f"dask scoring --snapshot {snapshot}", run.summary.rows, "rows", sc.seconds)
        with measured() as sc:
            run = score_dask(
                client,
                model,
                work / "dataset",
                work / "scores-explain",
                SnapshotChoice("all"),
                True,
            )
        report("dask scoring --snapshot all --explain", run.summary.rows, "rows", sc.seconds)
        print(
            f"  peak RSS: one worker {mb(memory.peak_worker)} (limit {mb(limit)}), "
            f"all workers {mb(memory.peak_total)}, this process {total.rss_peak_mb:,.0f} MiB"
        )
    return orders_dir, model_uri, tracking


def run_pandas(args, work: Path, orders_dir: Path, model_uri: str, tracking) -> None:
    files = part_files(orders_dir)[: args.pandas_parts]
    sample = work / "pandas_orders"
    sample.mkdir()
    for path in files:
        os.link(path, sample / path.name)
    with measured() as feat:
        orders = validate_orders(read_table(sample)).valid
        dataset = build_dataset(orders, DatasetConfig(), load_rulebook())
    table = orders.memory_usage(deep=True).sum()
    print(f"pandas engine on {len(files)} parts: {len(orders):,} orders, table {mb(table)}")
    report(
        "pandas features (read, validate, build)",
        len(orders),
        "orders",
        feat.seconds,
        f"; peak RSS {feat.rss_peak_mb:,.0f} MiB",
    )
    dataset.to_parquet(work / "pandas_dataset.parquet", index=False)
    del orders, dataset
    model = load_registered_forecaster(model_uri, tracking)
    with measured() as sc:
        run = score_pandas(
            model,
            work / "pandas_dataset.parquet",
            work / "pandas_scores.parquet",
            SnapshotChoice("all"),
            False,
        )
    report(
        "pandas scoring --snapshot all",
        run.summary.rows,
        "rows",
        sc.seconds,
        f"; peak RSS {sc.rss_peak_mb:,.0f} MiB",
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=50_000_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--merchants-per-chunk", type=int, default=150)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--memory-limit", default="1GiB", help="per worker")
    parser.add_argument("--pandas-parts", type=int, default=8, help="order parts for pandas")
    parser.add_argument(
        "--work", type=Path, default=None, help="scratch folder (default: a temp dir)"
    )
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="les-bench-scale-"))
    try:
        orders_dir, model_uri, tracking = run_dask(args, work)
        run_pandas(args, work, orders_dir, model_uri, tracking)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
