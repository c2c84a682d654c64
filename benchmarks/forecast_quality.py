"""Forecast quality against every baseline, on real sellers and on the synthetic world.

Real: the Olist recipe of the README on ../shared/data/olist_real (ingest, 90-day windows and
horizon, monthly snapshots, 3 orders minimum, 3 rolling-origin folds of 90 days). Synthetic: the
default world and dataset of `les demo`. Prints one pooled backtest table per dataset, as in the
README's forecast-quality section; no MLflow, nothing written.
With --robustness, also the served tier's edge over persistence for other seeds and fold counts.
Run: .venv/bin/python benchmarks/forecast_quality.py [--olist DIR] [--skip-synthetic] [--robustness]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd

from features.catalogue import load_catalogue
from features.dataset import build_dataset
from features.dataset_config import DatasetConfig
from features.olist import read_olist
from features.rulebook import Rulebook, load_rulebook
from features.validation import validate_orders
from features.world import generate_world
from features.world_params import WorldConfig
from training.backtest import MODEL, PERSISTENCE, BacktestResult, run_backtest, trainable_rows
from training.config import load_train_config
from training.pipeline import model_feature_names

REAL_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "olist_real"
OLIST_RECIPE = DatasetConfig(window_days=90, horizon_days=90, cadence_days=30)
OLIST_MIN_ORDERS = 3
COLUMNS = ["macro_f1", "qwk", "rps", "log_loss", "ece", "score_mae", "rows"]
ROBUSTNESS = ((42, 3), (7, 3), (1, 3), (42, 2), (42, 4))  # (seed, folds); 42, 3 is the default


def backtest(dataset: pd.DataFrame, horizon_days: int, **config: int) -> BacktestResult:
    settings = load_train_config(horizon_days=horizon_days, **config)
    names = model_feature_names(load_catalogue(), settings)
    return run_backtest(trainable_rows(dataset), names, settings, load_rulebook())


def robustness(dataset: pd.DataFrame, horizon_days: int) -> pd.DataFrame:
    """The served tier's edge over persistence (macro-F1, QWK, score MAE) per (seed, folds)."""
    rows = []
    for seed, folds in ROBUSTNESS:
        pooled = backtest(dataset, horizon_days, seed=seed, n_folds=folds).pooled_metrics
        edge = pooled.loc[MODEL] - pooled.loc[PERSISTENCE]
        rows.append(
            {
                "seed": str(seed),
                "folds": str(folds),
                "macro_f1_edge": edge["macro_f1"],
                "qwk_edge": edge["qwk"],
                "score_mae_edge": edge["score_mae"],
            }
        )
    table = pd.DataFrame(rows)
    mean = table.mean(numeric_only=True).to_frame().T.assign(seed="mean", folds="")
    return pd.concat([table, mean], ignore_index=True)


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
    parser.add_argument("--robustness", action="store_true")
    args = parser.parse_args()
    rules = load_rulebook()
    datasets = []
    if args.olist.is_dir():
        real = real_dataset(args.olist, rules)
        datasets.append((f"Real sellers ({args.olist.name})", real, OLIST_RECIPE.horizon_days))
    else:
        print(f"{args.olist} not found: the real-seller table needs ../shared/data/olist_real")
    if not args.skip_synthetic:
        world = generate_world(WorldConfig())
        synthetic = build_dataset(world.orders, DatasetConfig(), rules)
        datasets.append(("Synthetic world (les demo)", synthetic, DatasetConfig().horizon_days))
    for title, dataset, horizon_days in datasets:
        start = time.perf_counter()
        show(title, backtest(dataset, horizon_days), time.perf_counter() - start)
        if args.robustness:
            print(f"\n{title}: the served tier's edge over persistence by (seed, folds)")
            edges = robustness(dataset, horizon_days)
            print(edges.to_string(index=False, float_format=lambda v: f"{v:+.3f}"))


if __name__ == "__main__":
    main()
