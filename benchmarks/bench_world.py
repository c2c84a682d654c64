"""Synthetic world generation speed: target >= 1 million orders in under 10 s on 2 cores.

Also prints the world's late-delivery share, so a speed change that moves the calibration shows
(the full real-vs-world comparison is benchmarks/calibration_real.py).

Run: .venv/bin/python benchmarks/bench_world.py [--merchants N --days D]
"""

from __future__ import annotations

import argparse

from _measure import measured

from features.world import generate_world
from features.world_params import WorldConfig


def main() -> None:
    parser = argparse.ArgumentParser()
    # 220 default-world merchants give the 1 M orders of the target (fewer grow since calibration)
    parser.add_argument("--merchants", type=int, default=220)
    parser.add_argument("--days", type=int, default=240)
    parser.add_argument(
        "--median-orders-per-day", type=float, default=WorldConfig.median_orders_per_day
    )
    args = parser.parse_args()
    cfg = WorldConfig(
        n_merchants=args.merchants, days=args.days, median_orders_per_day=args.median_orders_per_day
    )
    with measured() as m:
        world = generate_world(cfg)
    n = len(world.orders)
    delivered = world.orders[world.orders["status"] == "delivered"]
    late = (delivered["delivered_at"] > delivered["deliver_by"]).mean()
    print(
        f"world: {args.merchants} merchants x {args.days} days -> {n:,} orders in "
        f"{m.seconds:.2f} s = {n / m.seconds:,.0f} orders/s; peak RSS {m.rss_peak_mb:,.0f} MB "
        f"(+{m.rss_growth_mb:,.0f} MB); target >= 1,000,000 orders in < 10 s: "
        f"{'MET' if n >= 1_000_000 and m.seconds < 10 else 'size differs' if n < 1_000_000 else 'MISSED'}"
    )
    print(f"late deliveries {late:.1%} of delivered orders (calibrated range 6-10%)")


if __name__ == "__main__":
    main()
