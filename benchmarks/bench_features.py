"""Feature build speed and memory: 10 M orders, 20,000 merchants, one year, weekly snapshots.

Targets (2 cores): the whole year of weekly snapshots in < 30 s; peak memory growth < 3x the
in-memory size of the order table. Also times the naive approach (one full pass over the raw
orders per snapshot) on a few snapshots and extrapolates, so the ratio is visible.
Run: .venv/bin/python benchmarks/bench_features.py [--merchants 20000 --days 365]
"""

from __future__ import annotations

import argparse

import pandas as pd
from _measure import measured

from features.dataset import build_dataset
from features.dataset_config import DatasetConfig, snapshot_grid
from features.events import order_events
from features.rulebook import load_rulebook
from features.windows import compute_window_metrics
from features.world import generate_world
from features.world_params import WorldConfig


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--merchants", type=int, default=20_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--median-orders-per-day", type=float, default=0.48)  # ~12 M orders
    parser.add_argument("--naive-snapshots", type=int, default=3)
    args = parser.parse_args()
    with measured() as gen:
        orders = generate_world(
            WorldConfig(
                n_merchants=args.merchants,
                days=args.days,
                median_orders_per_day=args.median_orders_per_day,
            )
        ).orders
    table_mb = orders.memory_usage(deep=True).sum() / 2**20
    print(
        f"orders: {len(orders):,} for {args.merchants:,} merchants x {args.days} days "
        f"(generated in {gen.seconds:.1f} s); in-memory table {table_mb:,.0f} MB"
    )
    cfg = DatasetConfig()
    with measured() as fast:
        dataset = build_dataset(orders, cfg, load_rulebook())
    snapshots = dataset["snapshot_at"].nunique()
    print(
        f"les build_dataset: {len(dataset):,} rows, {snapshots} weekly snapshots in "
        f"{fast.seconds:.1f} s = {len(orders) / fast.seconds:,.0f} orders/s; peak RSS "
        f"{fast.rss_peak_mb:,.0f} MB, growth {fast.rss_growth_mb:,.0f} MB = "
        f"{fast.rss_growth_mb / table_mb:.2f}x the order table"
    )
    grid = snapshot_grid(order_events(orders), cfg)[: args.naive_snapshots]
    with measured() as naive:
        for snapshot in grid:
            compute_window_metrics(orders, pd.DatetimeIndex([snapshot]), cfg.window_days)
    per_snapshot = naive.seconds / len(grid)
    naive_total = per_snapshot * snapshots * 3  # current, previous and label windows
    print(
        f"naive (full pass over raw orders per snapshot and window): {per_snapshot:.1f} s per "
        f"snapshot window, measured on {len(grid)}, extrapolated {naive_total:,.0f} s for "
        f"{snapshots} snapshots x 3 windows; ratio {naive_total / fast.seconds:.0f}x"
    )
    print(
        f"targets: < 30 s {'MET' if fast.seconds < 30 else 'MISSED'}; memory < 3x "
        f"{'MET' if fast.rss_growth_mb < 3 * table_mb else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
