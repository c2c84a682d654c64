"""Training time for about 50,000 dataset rows: backtest (3 folds, model and baselines) plus the
final fit of both boosters, without MLflow I/O.
Run: .venv/bin/python benchmarks/bench_training.py
"""

from __future__ import annotations

import argparse

from _measure import measured

from features.catalogue import load_catalogue
from features.dataset import build_dataset
from features.dataset_config import DatasetConfig
from features.rulebook import load_rulebook
from features.world import generate_world
from features.world_params import WorldConfig
from training.backtest import run_backtest, trainable_rows
from training.config import load_train_config
from training.models import fit_forecaster
from training.pipeline import model_feature_names


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--merchants", type=int, default=1500)
    parser.add_argument("--days", type=int, default=280)
    args = parser.parse_args()
    world = generate_world(
        WorldConfig(n_merchants=args.merchants, days=args.days, median_orders_per_day=4.0)
    )
    dataset = build_dataset(world.orders, DatasetConfig(), load_rulebook())
    rows = trainable_rows(dataset)
    config = load_train_config()
    names = model_feature_names(load_catalogue(), config)
    with measured() as backtest_time:
        backtest = run_backtest(rows, names, config, load_rulebook())
    with measured() as fit_time:
        fit_forecaster(rows, names, config)
    pooled = backtest.pooled_metrics
    print(f"dataset: {len(dataset):,} rows, {len(rows):,} trainable, {len(names)} features")
    print(
        f"backtest (3 folds: LightGBM pair + logistic + persistence): {backtest_time.seconds:.1f} s"
    )
    print(
        f"final fit of both boosters on {len(rows):,} rows: {fit_time.seconds:.1f} s, "
        f"peak RSS {fit_time.rss_peak_mb:,.0f} MB"
    )
    print(
        f"pooled macro-F1 model {pooled.loc['lightgbm', 'macro_f1']:.3f} vs persistence "
        f"{pooled.loc['persistence', 'macro_f1']:.3f}; QWK {pooled.loc['lightgbm', 'qwk']:.3f} "
        f"vs {pooled.loc['persistence', 'qwk']:.3f}"
    )


if __name__ == "__main__":
    main()
