"""The monitoring loop of docs/monitoring.md, measured: one carrier's transit doubles after a date.

With the real CLI, in a scratch folder with its own embedded MLflow store and forecast ledger:
1. `les generate --carrier-shock CARRIER:DATE` (and, as the false-alarm control, the same world
   without the shock), `les build-dataset`;
2. train on the rows whose label window closed before DATE (`les train`, `les promote`);
3. `les score` the snapshots from DATE on (the ledger records them), then `les monitor`: the exit
   code, the ship & transport drift, the live accuracy against the backtest and persistence;
4. `les retrain` on the new data, from every snapshot and with `--since DATE`: champion and
   challenger on the newest closed window.
Prints the figures the README quotes. Run: .venv/bin/python benchmarks/monitor_scenario.py
[--carrier JetLine] [--date 2026-08-01] [--factor 2] [--merchants 600] [--days 360] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import pandas as pd
from _cli import les, rows_where

HEADLINE = ("macro_f1", "qwk", "rps", "score_mae")


def one_world(work: Path, shock: str | None, date: pd.Timestamp, merchants: int, days: int) -> dict:
    work.mkdir(parents=True)
    timings: dict[str, float] = {}

    def timed(name: str, *args: str, expect: tuple[int, ...] = (0,)) -> tuple[int, str]:
        start = time.perf_counter()
        result = les(*args, cwd=work, expect=expect)
        timings[name] = time.perf_counter() - start
        return result

    generate = ["generate", "--out", "world", "--merchants", str(merchants), "--days", str(days)]
    timed("generate", *generate, *(["--carrier-shock", shock] if shock else []))
    timed(
        "build-dataset",
        "build-dataset",
        "--orders",
        "world/orders.parquet",
        "--out",
        "dataset.parquet",
    )
    horizon = pd.Timedelta(days=30)
    before = rows_where(
        work / "dataset.parquet",
        lambda f: f["snapshot_at"] + horizon <= date,
        work / "before.parquet",
    )
    after = rows_where(
        work / "dataset.parquet", lambda f: f["snapshot_at"] >= date, work / "after.parquet"
    )
    timed("train", "train", "--dataset", "before.parquet")
    les("promote", "1", cwd=work)
    timed("score", "score", "--dataset", "after.parquet", "--snapshot", "all", "--out", "scored")
    code, _ = timed(
        "monitor", "monitor", "--orders", "world/orders.parquet", "--out", "monitor", expect=(0, 3)
    )
    report = json.loads((work / "monitor" / "monitor.json").read_text())
    _, retrained = timed("retrain", "retrain", "--orders", "world/orders.parquet")
    since = ["--since", str(date.date())]
    _, recent = timed("retrain --since", "retrain", "--orders", "world/orders.parquet", *since)
    return {
        "exit": code,
        "report": report,
        "retrain": retrained,
        "retrain_since": recent,
        "rows": (before, after),
        "timings": timings,
    }


def summary(name: str, result: dict) -> None:
    report = result["report"]
    realized, drift = report["realized"], report["drift"]
    print(
        f"\n== {name}: les monitor exit {result['exit']} (train rows {result['rows'][0]:,}, scored {result['rows'][1]:,})"
    )
    print(
        f"stage PSI at {report['snapshot_at'][:10]}: "
        + ", ".join(f"{k} {v:.3f}" for k, v in drift["stages"].items())
    )
    top = sorted(drift["features"].items(), key=lambda kv: -kv[1])[:4]
    print(
        "largest feature PSI: "
        + ", ".join(f"{k} {v:.3f}" for k, v in top)
        + f"; tier mix PSI {drift['tier_mix_psi']:.3f}"
    )
    backtest = realized["backtest"].get("model", {})
    print(f"{'':12} " + " ".join(f"{k:>9}" for k in HEADLINE))
    print(
        "live model   "
        + " ".join(f"{realized.get(k, float('nan')):9.3f}" for k in HEADLINE)
        + f"   ({realized['rows']:,} closed forecasts)"
    )
    print(
        "persistence  "
        + " ".join(f"{realized['persistence'].get(k, float('nan')):9.3f}" for k in HEADLINE)
    )
    print("backtest     " + " ".join(f"{backtest.get(k, float('nan')):9.3f}" for k in HEADLINE))
    for alert in report["alerts"]:
        print(
            f"alert {alert['kind']} {alert.get('name', '')}: {alert['value']:.3f} > {alert['threshold']}"
        )
    for key, title in (("retrain", "every snapshot"), ("retrain_since", "--since DATE")):
        print(f"-- les retrain, {title}")
        print("\n".join(result[key].strip().splitlines()[-14:]))
    print("seconds: " + ", ".join(f"{k} {v:.0f}" for k, v in result["timings"].items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--carrier", default="JetLine")
    parser.add_argument("--date", default="2026-08-01")
    parser.add_argument("--factor", type=float, default=2.0)
    parser.add_argument("--merchants", type=int, default=600)
    parser.add_argument("--days", type=int, default=360)
    parser.add_argument("--keep", type=Path, help="keep the scratch folders here")
    args = parser.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="les-monitor-"))
    date = pd.Timestamp(args.date, tz="UTC")
    shock = f"{args.carrier}:{args.date}:{args.factor:g}"
    try:
        summary(
            "no shock (false-alarm control)",
            one_world(root / "control", None, date, args.merchants, args.days),
        )
        summary(f"shock {shock}", one_world(root / "shock", shock, date, args.merchants, args.days))
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
