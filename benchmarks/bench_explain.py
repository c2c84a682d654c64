"""Stage attribution speed: LightGBM's native pred_contrib against the shap package's own TreeSHAP, per merchant.

Trains the forecaster on the default synthetic world (no registry: a temporary store), then times
attribution of one merchant (the HTTP service's case) and of a batch, with both engines, and the
full `explain_records` (attribution + re-scored advice + text). Prints the largest disagreement.

    PYTHONPATH=benchmarks .venv/bin/python benchmarks/bench_explain.py [--merchants 600]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from features.catalogue import load_catalogue
from features.dataset import build_dataset
from features.dataset_config import DatasetConfig
from features.rulebook import load_rulebook
from features.world import generate_world
from features.world_params import WorldConfig
from training.config import load_train_config
from training.explain.records import explain_records
from training.explain.registered import load_registered_forecaster
from training.models import feature_matrix
from training.pipeline import train_and_register
from training.reports.model import independent_tree_explainer
from training.tracking import TrackingConfig


def per_call_ms(fn, repeats: int) -> tuple[float, float]:
    """(p50, p99) milliseconds of `fn()` over `repeats` calls after one warm-up."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(1000 * (time.perf_counter() - start))
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, int(0.99 * len(times)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--merchants", type=int, default=600)
    parser.add_argument("--repeats", type=int, default=300)
    args = parser.parse_args()
    world = generate_world(WorldConfig(n_merchants=args.merchants))
    dataset = build_dataset(world.orders, DatasetConfig(), load_rulebook())
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp)
        tracking = TrackingConfig(f"sqlite:///{store / 'db.sqlite'}", (store / "a").as_uri())
        result = train_and_register(
            dataset, load_train_config(), load_rulebook(), load_catalogue(), tracking
        )
        model = load_registered_forecaster(result.model_uri, tracking)
    regressor = model.forecaster.regressor
    latest = dataset[dataset["snapshot_at"] == dataset["snapshot_at"].max()].reset_index(drop=True)
    x = feature_matrix(latest, model.forecaster.feature_names)
    one = x[:1]
    explainer = independent_tree_explainer(regressor)
    trees = regressor.num_trees()
    print(f"model: {trees} regressor trees, {len(model.forecaster.feature_names)} features")
    print(f"batch: {len(x)} merchants (newest snapshot)")

    native_batch = regressor.predict(x, pred_contrib=True)
    shap_batch = explainer(x)
    gap = max(
        float(np.abs(shap_batch.values - native_batch[:, :-1]).max()),
        float(np.abs(shap_batch.base_values - native_batch[:, -1]).max()),
    )
    print(f"largest |shap - pred_contrib| over the batch: {gap:.2e} LES points")

    rows = [
        (
            "pred_contrib, 1 merchant",
            per_call_ms(lambda: regressor.predict(one, pred_contrib=True), args.repeats),
            1,
        ),
        ("shap (own TreeSHAP), 1 merchant", per_call_ms(lambda: explainer(one), args.repeats), 1),
        (
            "pred_contrib, batch",
            per_call_ms(lambda: regressor.predict(x, pred_contrib=True), 20),
            len(x),
        ),
        ("shap (own TreeSHAP), batch", per_call_ms(lambda: explainer(x), 5), len(x)),
        (
            "explain_records, 1 merchant",
            per_call_ms(lambda: explain_records(model, latest.iloc[:1]), args.repeats),
            1,
        ),
        ("explain_records, batch", per_call_ms(lambda: explain_records(model, latest), 5), len(x)),
    ]
    print(f"{'what':34} {'p50 ms':>9} {'p99 ms':>9} {'ms/merchant':>12}")
    for name, (p50, p99), n in rows:
        print(f"{name:34} {p50:9.3f} {p99:9.3f} {p50 / n:12.4f}")


if __name__ == "__main__":
    main()
