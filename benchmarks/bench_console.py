"""The merchant console's speed targets: the overview under 1 s with 10,000 merchants, a merchant
page under 300 ms (issue 16), measured over HTTP against `les serve` on loopback.

Builds the console dataset from a synthetic world of --merchants merchants with the served
model's recipe, starts `les serve` with LES_CONSOLE_DATASET, then times (client side, sequential
requests, after one warm-up each) overview pages sorted by P(Poor) and by change, filtered by
stage and searched, and merchant pages of random merchants; prints p50, p95 and max.
The model is the registered champion of the store MLFLOW_TRACKING_URI names (default: the
embedded one, so run `make demo` first).

    .venv/bin/python benchmarks/bench_console.py [--merchants 10000] [--days 120] [--requests 30]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_serving import free_port, running  # noqa: E402

from features.dataset import build_dataset  # noqa: E402
from features.rulebook import load_rulebook  # noqa: E402
from features.world import generate_world  # noqa: E402
from features.world_params import WorldConfig  # noqa: E402
from training.explain.registered import DEFAULT_MODEL_URI, load_registered_forecaster  # noqa: E402
from training.tracking import resolve_tracking  # noqa: E402

BIN = Path(sys.executable).parent


def timed(client: httpx.Client, path: str, n: int, params=None) -> np.ndarray:
    client.get(path, params=params).raise_for_status()  # warm-up
    seconds = []
    for _ in range(n):
        start = time.perf_counter()
        client.get(path, params=params).raise_for_status()
        seconds.append(time.perf_counter() - start)
    return np.array(seconds) * 1000


def report(name: str, ms: np.ndarray, target_ms: float) -> None:
    verdict = "met" if ms.max() < target_ms else "MISSED"
    print(
        f"{name:<46} p50 {np.median(ms):7.1f} ms  p95 {np.percentile(ms, 95):7.1f} ms  "
        f"max {ms.max():7.1f} ms  (target < {target_ms:.0f} ms: {verdict})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--merchants", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=120)
    parser.add_argument("--requests", type=int, default=30)
    args = parser.parse_args()
    model = load_registered_forecaster(DEFAULT_MODEL_URI, resolve_tracking(create=False))
    with tempfile.TemporaryDirectory(prefix="les-console-bench-") as tmp:
        start = time.perf_counter()
        world = generate_world(WorldConfig(n_merchants=args.merchants, days=args.days, seed=5))
        dataset = build_dataset(world.orders, model.dataset_config, model.rulebook(load_rulebook()))
        path = Path(tmp) / "dataset.parquet"
        dataset.to_parquet(path)
        merchants = dataset["merchant_id"].nunique()
        print(
            f"console dataset: {len(world.orders):,} orders -> {len(dataset):,} rows, "
            f"{merchants:,} merchants ({time.perf_counter() - start:.0f} s)"
        )
        port = free_port()
        env = {
            **os.environ,
            "LES_CONSOLE_DATASET": str(path),
            "LES_ACCESS_LOG": "false",
            "BENTOML_HOME": str(Path(tmp) / "bentoml"),
        }
        env.pop("LES_API_TOKEN", None)
        command = [str(BIN / "les"), "serve", "--port", str(port), "--workers", "1"]
        url = f"http://127.0.0.1:{port}"
        started = time.perf_counter()
        with (
            running(command, f"{url}/readyz", env, Path(tmp) / "server.log"),
            httpx.Client(base_url=url, timeout=60) as client,
        ):
            while client.get("/ui/api/merchants").status_code == 503:
                time.sleep(0.5)
            print(f"server ready with the overview in {time.perf_counter() - started:.0f} s")
            n = args.requests
            report(
                "overview, P(Poor) desc, page 1 (50 rows)",
                timed(client, "/ui/api/merchants", n),
                1000,
            )
            report(
                "overview, change asc, page 20 (50 rows)",
                timed(
                    client,
                    "/ui/api/merchants",
                    n,
                    {"sort": "change", "order": "asc", "page": 20},
                ),
                1000,
            )
            report(
                "overview, stage filter + search",
                timed(client, "/ui/api/merchants", n, {"stage": "ship_transport", "q": "M01"}),
                1000,
            )
            ids = np.random.default_rng(0).choice(dataset["merchant_id"].unique(), n)
            pages = []
            for merchant_id in ids:
                begin = time.perf_counter()
                client.get(f"/ui/api/merchants/{merchant_id}").raise_for_status()
                pages.append((time.perf_counter() - begin) * 1000)
            report("merchant page (random merchants)", np.array(pages), 300)


if __name__ == "__main__":
    main()
