"""Forecast quality against every baseline, on real sellers and on the synthetic world.

Real: the Olist recipe of the README on ../shared/data/olist_real (ingest, 90-day windows and
horizon, monthly snapshots, 3 orders minimum, 3 rolling-origin folds of 90 days). Synthetic: the
default world and dataset of `les demo`. Prints one pooled backtest table per dataset, as in the
README's forecast-quality section; no MLflow, nothing written.
Run: .venv/bin/python benchmarks/forecast_quality.py [--olist DIR] [--skip-synthetic]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd

from features.catalogue import load_catalogue
from features.dataset import DatasetConfig, build_dataset
from features.olist import read_olist
from features.rulebook import Rulebook, load_rulebook
from features.validation import validate_orders
from features.world import WorldConfig, generate_world
from training.backtest import BacktestResult, run_backtest, trainable_rows
from training.config import load_train_config
from training.pipeline import model_feature_names

REAL_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "olist_real"
OLIST_RECIPE = DatasetConfig(window_days=90, horizon_days=90, cadence_days=30)
OLIST_MIN_ORDERS = 3
COLUMNS = ["macro_f1", "qwk", "rps", "log_loss", "ece", "score_mae", "rows"]


def backtest(dataset: pd.DataFrame, horizon_days: int) -> BacktestResult:
    config = load_train_config(horizon_days=horizon_days)
    rows = trainable_rows(dataset)
    return run_backtest(
        rows, model_feature_names(load_catalogue(), config), config, load_rulebook()
    )


def real_dataset(directory: Path, rules: Rulebook) -> pd.DataFrame:
    orders = validate_orders(read_olist(directory).orders).valid
    olist_rules = rules.with_overrides(
        window_days=OLIST_RECIPE.horizon_days, min_orders=OLIST_MIN_ORDERS
    )
    return build_dataset(orders, OLIST_RECIPE, olist_rules)


def show(title: str, result: BacktestResult, seconds: float) -> None:
    table = result.pooled_metrics[COLUMNS].copy()
    table["rows"] = table["rows"].astype(int)
    print(f"\n## {title}: {result.plan.describe()}; {seconds:.0f} s")
    print(table.to_string(float_format=lambda v: f"{v:.3f}", na_rep="-"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--olist", type=Path, default=REAL_DIR)
    parser.add_argument("--skip-synthetic", action="store_true")
    args = parser.parse_args()
    rules = load_rulebook()
    if args.olist.is_dir():
        start = time.perf_counter()
        result = backtest(real_dataset(args.olist, rules), OLIST_RECIPE.horizon_days)
        show(f"Real sellers ({args.olist.name})", result, time.perf_counter() - start)
    else:
        print(f"{args.olist} not found: the real-seller table needs ../shared/data/olist_real")
    if not args.skip_synthetic:
        start = time.perf_counter()
        world = generate_world(WorldConfig())
        result = backtest(
            build_dataset(world.orders, DatasetConfig(), rules), DatasetConfig().horizon_days
        )
        show("Synthetic world (les demo)", result, time.perf_counter() - start)


if __name__ == "__main__":
    main()
