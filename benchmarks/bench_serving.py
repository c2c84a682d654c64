"""Latency and throughput of the les HTTP service on loopback, beside `mlflow models serve`.

Starts `les serve` for the registered model (default: the embedded store's champion, so run
`make demo` first), drives /predict with 1 and 100 merchants per request and /explain with 1
merchant at concurrency 1, 8 and 32, then starts `mlflow models serve` for the same model version
with the same worker count and drives its /invocations with the same payloads. Prints p50 and p99
latency (client side, per request), requests/s and merchants/s, and the throughput ratios.

    .venv/bin/python benchmarks/bench_serving.py [--seconds 10] [--workers 2]

The load generator is asyncio + aiohttp in this process, on the same 2 cores as the server: both
servers pay the same client cost, so the ratio is fair; absolute throughput is a lower bound.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import httpx
import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from features.catalogue import load_catalogue  # noqa: E402
from training.explain.registered import DEFAULT_MODEL_URI, load_registered_forecaster  # noqa: E402
from training.tracking import resolve_tracking  # noqa: E402

CONCURRENCY = (1, 8, 32)
BATCHES = (1, 100)
READY_TIMEOUT_S = 180.0
BIN = Path(sys.executable).parent


@dataclass(frozen=True)
class Cell:
    server: str
    route: str
    merchants: int
    concurrency: int
    requests: int
    errors: int
    seconds: float
    p50_ms: float
    p99_ms: float

    @property
    def requests_per_s(self) -> float:
        return self.requests / self.seconds

    @property
    def merchants_per_s(self) -> float:
        return self.requests_per_s * self.merchants


def merchant_rows(feature_names: tuple[str, ...], n: int, dataset: Path | None) -> pd.DataFrame:
    """Real feature rows from the demo's dataset when present, else the OpenAPI example merchant."""
    if dataset is not None and dataset.exists():
        frame = pd.read_parquet(dataset, columns=["merchant_id", *feature_names])
        return frame.sample(n=min(n, len(frame)), random_state=0).reset_index(drop=True)
    examples = load_catalogue().examples()
    base = {name: examples.get(name, np.nan) for name in feature_names}
    return pd.DataFrame([{"merchant_id": f"m{i}", **base} for i in range(n)])


def les_body(rows: pd.DataFrame) -> bytes:
    merchants = []
    for record in rows.to_dict("records"):
        merchant_id = str(record.pop("merchant_id"))
        features = {k: float(v) for k, v in record.items() if pd.notna(v)}
        merchants.append({"merchant_id": merchant_id, "features": features})
    return json.dumps({"merchants": merchants}).encode()


def mlflow_body(rows: pd.DataFrame) -> bytes:
    split = json.loads(rows.to_json(orient="split", index=False))
    return json.dumps({"dataframe_split": split}).encode()


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def running(command: list[str], ready_url: str, env: dict[str, str], log: Path) -> Iterator[None]:
    with log.open("wb") as sink:
        process = subprocess.Popen(
            command, env=env, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{command[0]} exited:\n{log.read_text()[-3000:]}")
            try:
                if httpx.get(ready_url, timeout=2.0).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{command[0]} not ready:\n{log.read_text()[-3000:]}")
            time.sleep(0.25)
        yield
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)


async def _worker(
    session: aiohttp.ClientSession, url: str, body: bytes, deadline: float, out: list, errors: list
) -> None:
    headers = {"Content-Type": "application/json"}
    while time.perf_counter() < deadline:
        start = time.perf_counter()
        try:
            async with session.post(url, data=body, headers=headers) as response:
                await response.read()
                ok = response.status == 200
        except aiohttp.ClientError:
            ok = False
        if ok:
            out.append(time.perf_counter() - start)
        else:
            errors.append(1)


async def _drive(
    url: str, body: bytes, concurrency: int, seconds: float
) -> tuple[list, int, float]:
    """aiohttp: the load generator shares the server's cores, so it must be cheap per request."""
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        warm_until = time.perf_counter() + min(2.0, seconds / 4)
        await asyncio.gather(
            *(_worker(session, url, body, warm_until, [], []) for _ in range(concurrency))
        )
        latencies: list[float] = []
        errors: list[int] = []
        start = time.perf_counter()
        await asyncio.gather(
            *(
                _worker(session, url, body, start + seconds, latencies, errors)
                for _ in range(concurrency)
            )
        )
        return latencies, len(errors), time.perf_counter() - start


def measure(
    server: str, url: str, route: str, body: bytes, merchants: int, concurrency: int, seconds: float
) -> Cell:
    latencies, errors, elapsed = asyncio.run(_drive(url, body, concurrency, seconds))
    ms = np.asarray(latencies) * 1000 if latencies else np.array([np.nan])
    return Cell(
        server,
        route,
        merchants,
        concurrency,
        len(latencies),
        errors,
        elapsed,
        float(np.percentile(ms, 50)),
        float(np.percentile(ms, 99)),
    )


def print_header() -> None:
    print(
        f"{'server':<8} {'route':<13} {'merch/req':>9} {'conc':>5} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'req/s':>8} {'merch/s':>9} {'errors':>6}"
    )


def print_row(c: Cell) -> None:
    print(
        f"{c.server:<8} {c.route:<13} {c.merchants:>9} {c.concurrency:>5} {c.p50_ms:>8.2f} "
        f"{c.p99_ms:>8.2f} {c.requests_per_s:>8.0f} {c.merchants_per_s:>9.0f} {c.errors:>6}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model-uri", default=DEFAULT_MODEL_URI)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per cell")
    parser.add_argument("--dataset", type=Path, default=ROOT / "out" / "dataset.parquet")
    parser.add_argument("--skip-mlflow", action="store_true")
    args = parser.parse_args()

    tracking = resolve_tracking()
    model = load_registered_forecaster(args.model_uri, tracking)
    names = model.forecaster.feature_names
    rows = merchant_rows(names, max(BATCHES), args.dataset)
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": tracking.tracking_uri,
        "LES_ACCESS_LOG": "false",
        "BENTOML_DO_NOT_TRACK": "true",
        # `mlflow models serve` execs uvicorn by name: the venv's, not whatever PATH finds first.
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    print(
        f"model {model.model_name} v{model.model_version} ({len(names)} features), "
        f"{args.workers} workers, {args.seconds:g} s per cell, {os.cpu_count()} cores"
    )
    cells: list[Cell] = []
    logs = Path(tempfile.mkdtemp(prefix="bench-serving-"))
    port = free_port()
    les = [
        str(BIN / "les"),
        "serve",
        "--port",
        str(port),
        "--workers",
        str(args.workers),
        "--model-uri",
        args.model_uri,
    ]
    base = f"http://127.0.0.1:{port}"
    print_header()
    with running(les, f"{base}/readyz", env, logs / "les.log"):
        plan = [("/predict", n) for n in BATCHES] + [("/explain", 1)]
        for route, n in plan:
            for concurrency in CONCURRENCY:
                body = les_body(rows.head(n))
                cells.append(
                    measure("les", base + route, route, body, n, concurrency, args.seconds)
                )
                print_row(cells[-1])
    if not args.skip_mlflow:
        port = free_port()
        version_uri = f"models:/{model.model_name}/{model.model_version}"
        command = [
            str(BIN / "mlflow"),
            "models",
            "serve",
            "-m",
            version_uri,
            "--env-manager",
            "local",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(args.workers),
        ]
        base = f"http://127.0.0.1:{port}"
        with running(command, f"{base}/ping", env, logs / "mlflow.log"):
            for n in BATCHES:
                for concurrency in CONCURRENCY:
                    body = mlflow_body(rows.head(n))
                    cells.append(
                        measure(
                            "mlflow",
                            base + "/invocations",
                            "/invocations",
                            body,
                            n,
                            concurrency,
                            args.seconds,
                        )
                    )
                    print_row(cells[-1])
    ours = {(c.route, c.merchants, c.concurrency): c for c in cells if c.server == "les"}
    theirs = {(c.merchants, c.concurrency): c for c in cells if c.server == "mlflow"}
    if theirs:
        print("\nthroughput les /predict : mlflow /invocations (same model, same workers)")
        for (merchants, concurrency), other in theirs.items():
            mine = ours[("/predict", merchants, concurrency)]
            ratio = mine.requests_per_s / other.requests_per_s
            print(
                f"  {merchants:>3} merchants/request, concurrency {concurrency:>2}: {ratio:5.2f}x "
                f"(p50 {mine.p50_ms:.2f} vs {other.p50_ms:.2f} ms)"
            )
    print(f"\nserver logs: {logs}")


if __name__ == "__main__":
    main()
