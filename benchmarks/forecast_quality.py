"""Forecast quality against every baseline, on real sellers and on the synthetic world.

Real: the Olist recipe of the README on ../shared/data/olist_real (ingest, 90-day windows and
horizon, monthly snapshots, 3 orders minimum, 3 rolling-origin folds of 90 days), and the same with
weekly snapshots (the default recipe's cadence). Synthetic: the
default world and dataset of `les demo`. Prints one pooled backtest table per dataset, as in the
README's forecast-quality section, then the model's edge over the baselines with a merchant-bootstrap
interval and the per-fold calibration; no MLflow, nothing written.
With --robustness, also the served tier's edge over persistence for other seeds and fold counts.
Run: .venv/bin/python benchmarks/forecast_quality.py [--olist DIR] [--skip-synthetic] [--robustness]
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import numpy as np
import pandas as pd

from features.catalogue import load_catalogue
from features.dataset import build_dataset
from features.dataset_config import DatasetConfig
from features.olist import read_olist
from features.rulebook import Rulebook, load_rulebook
from features.validation import validate_orders
from features.world import generate_world
from features.world_params import WorldConfig
from training.backtest import (
    CLIMATOLOGY,
    MIGRATION,
    MODEL,
    PERSISTENCE,
    BacktestResult,
    run_backtest,
    trainable_rows,
)
from training.config import load_train_config
from training.metrics import N_TIERS, expected_calibration_error, proba_of
from training.pipeline import model_feature_names
from training.uncertainty import DEFAULT_LEVEL, backtest_edges, ece_noise_floor

REAL_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "olist_real"
OLIST_RECIPE = DatasetConfig(window_days=90, horizon_days=90, cadence_days=30)
OLIST_MIN_ORDERS = 3
WEEKLY = dataclasses.replace(OLIST_RECIPE, cadence_days=7)  # the cadence of the default recipe
COLUMNS = ["macro_f1", "qwk", "rps", "log_loss", "ece", "score_mae", "rows"]
ROBUSTNESS = ((42, 3), (7, 3), (1, 3), (42, 2), (42, 4))  # (seed, folds); 42, 3 is the default


def backtest(dataset: pd.DataFrame, horizon_days: int, **config: int) -> BacktestResult:
    settings = load_train_config(horizon_days=horizon_days, **config)
    names = model_feature_names(load_catalogue(), settings)
    return run_backtest(trainable_rows(dataset), names, settings, load_rulebook())


def edge_over_persistence(pooled: pd.DataFrame) -> dict[str, float]:
    """The served model minus persistence on a backtest's pooled metrics (macro-F1, QWK: positive
    is better; score MAE: negative is better)."""
    edge = pooled.loc[MODEL] - pooled.loc[PERSISTENCE]
    return {f"{metric}_edge": edge[metric] for metric in ("macro_f1", "qwk", "score_mae")}


def robustness(dataset: pd.DataFrame, horizon_days: int) -> pd.DataFrame:
    """The served tier's edge over persistence (macro-F1, QWK, score MAE) per (seed, folds)."""
    rows = []
    for seed, folds in ROBUSTNESS:
        pooled = backtest(dataset, horizon_days, seed=seed, n_folds=folds).pooled_metrics
        rows.append({"seed": str(seed), "folds": str(folds), **edge_over_persistence(pooled)})
    table = pd.DataFrame(rows)
    mean = table.mean(numeric_only=True).to_frame().T.assign(seed="mean", folds="")
    return pd.concat([table, mean], ignore_index=True)


def real_datasets(
    directory: Path, rules: Rulebook, recipes: tuple[DatasetConfig, ...]
) -> list[pd.DataFrame]:
    orders = validate_orders(read_olist(directory).orders).valid
    olist_rules = rules.with_overrides(
        window_days=OLIST_RECIPE.horizon_days, min_orders=OLIST_MIN_ORDERS
    )
    return [build_dataset(orders, recipe, olist_rules) for recipe in recipes]


def edges(result: BacktestResult) -> pd.DataFrame:
    """The served model's edge over persistence (tiers, score) and the probabilistic baselines
    (RPS), with the merchant-bootstrap interval: is the edge more than the choice of sellers?"""
    table = backtest_edges(result.predictions, MODEL, PERSISTENCE, (MIGRATION, CLIMATOLOGY))
    return table.set_index(["metric", "baseline"])


def fold_calibration(result: BacktestResult) -> pd.DataFrame:
    """Per fold and pooled: how far the test tier mix is from the training mix (total variation
    distance), each probabilistic forecast's ECE, the ECE a perfectly calibrated forecast would
    show on the same rows by chance (mean and 90% point, rows drawn independently), and the
    model's ECE once told the test fold's own tier mix (an oracle, for diagnosis only:
    `_told_the_mix`). A marketplace-wide shift the features do not foresee miscalibrates every
    forecast fitted on the past; the floor says how low an ECE these rows can show at all."""
    rows = []
    folds = list(result.predictions.groupby("fold"))
    power = load_train_config().class_weight_power
    told = pd.concat([_told_the_mix(fold, power) for _, fold in folds])
    for number, fold in [*folds, ("pooled", result.predictions)]:
        y_true = fold["label_tier_code"].to_numpy(int)
        test_mix = np.bincount(y_true, minlength=N_TIERS) / len(y_true)
        train_mix = proba_of(fold, CLIMATOLOGY).mean(axis=0)
        row = {
            "fold": number,
            "rows": len(fold),
            "tier_mix_shift": 0.5 * np.abs(test_mix - train_mix).sum(),
        }
        for model in (MODEL, MIGRATION, CLIMATOLOGY):
            row[f"{model}_ece"] = expected_calibration_error(y_true, proba_of(fold, model))
        floor, floor_high = ece_noise_floor(proba_of(fold, MODEL))
        row["ece_floor"], row["ece_floor_90"] = floor, floor_high
        row["ece_told_mix"] = expected_calibration_error(y_true, told.loc[fold.index].to_numpy())
        rows.append(row)
    return pd.DataFrame(rows).set_index("fold")


def _told_the_mix(fold: pd.DataFrame, class_weight_power: float) -> pd.DataFrame:
    """The model's probabilities of one fold moved to the fold's own test tier mix by Bayes' rule
    (prior shift). The classifier learnt its prior from class-weighted rows, so the prior it
    carries is the training mix to the power 1 - class_weight_power, renormalised."""
    test_mix = np.bincount(fold["label_tier_code"].to_numpy(int), minlength=N_TIERS) / len(fold)
    learnt = proba_of(fold, CLIMATOLOGY)[0] ** (1.0 - class_weight_power)
    learnt = learnt / learnt.sum()
    shifted = proba_of(fold, MODEL) * (test_mix / np.maximum(learnt, 1e-12))
    return pd.DataFrame(shifted / shifted.sum(axis=1, keepdims=True), index=fold.index)


def show(title: str, result: BacktestResult, seconds: float) -> None:
    table = result.pooled_metrics[COLUMNS].copy()
    table["rows"] = table["rows"].astype(int)
    print(f"\n## {title}: {result.plan.describe()}; {seconds:.0f} s")
    print(table.to_string(float_format=lambda v: f"{v:.3f}", na_rep="-"))
    print(
        f"\nThe model's edge (positive: better) with its {DEFAULT_LEVEL:.0%} merchant-bootstrap "
        "interval"
    )
    print(edges(result).to_string(float_format=lambda v: f"{v:+.3f}"))
    print(
        "\nPer fold and pooled: the test tier mix's shift from the training mix, each forecast's "
        "ECE, the ECE\nof a perfectly calibrated forecast on the same rows (mean, 90%), and the "
        "model's ECE once told\nthe test fold's tier mix (an oracle)"
    )
    print(fold_calibration(result).to_string(float_format=lambda v: f"{v:.3f}"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--olist", type=Path, default=REAL_DIR)
    parser.add_argument("--skip-synthetic", action="store_true")
    parser.add_argument("--robustness", action="store_true")
    args = parser.parse_args()
    rules = load_rulebook()
    datasets = []
    if args.olist.is_dir():
        monthly, weekly = real_datasets(args.olist, rules, (OLIST_RECIPE, WEEKLY))
        name = args.olist.name
        datasets.append(
            (f"Real sellers ({name}), Olist recipe", monthly, OLIST_RECIPE.horizon_days)
        )
        datasets.append((f"Real sellers ({name}), weekly snapshots", weekly, WEEKLY.horizon_days))
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
