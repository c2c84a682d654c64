"""A small registered model in an isolated MLflow store, and the real service in a subprocess.

The model is trained once per session (one fold, few rounds: seconds, not minutes) on the
synthetic rows of tests/training; the server is `les serve` on a free port, started once per module
that asks for it and always killed (its whole process group) afterwards.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import mlflow
import pandas as pd
import pytest

from features.dataset import build_dataset
from features.dataset_config import DatasetConfig
from features.rulebook import load_rulebook
from features.world import generate_world
from features.world_params import WorldConfig
from tests.training.conftest import make_dataset, register_in_store

MODEL_NAME = "les-forecaster"
READY_TIMEOUT_S = 120.0
# Limits of the test server: small enough that the over-limit cases are cheap to send.
MAX_BATCH = 20
MAX_ORDERS = 10_000  # above the parity world's 9,567 orders
MAX_BODY_BYTES = 8_000_000
PARITY_WORLD = WorldConfig(n_merchants=6, days=70, seed=11)
PARITY_SNAPSHOT = pd.Timestamp("2026-03-09", tz="UTC")


@dataclass(frozen=True)
class Store:
    tracking_uri: str
    artifact_location: str
    version: str  # the champion
    broken_version: str  # alias "broken": its classifier file is garbage


@dataclass(frozen=True)
class Server:
    url: str
    process: subprocess.Popen
    log: Path
    token: str | None

    def client(self, token: str | None = None, **kwargs) -> httpx.Client:
        token = token if token is not None else self.token
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60.0, **kwargs)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _register_broken_version(tracking_uri: str, version: str) -> str:
    """A second version whose classifier artifact is not a LightGBM model."""
    client = mlflow.MlflowClient(tracking_uri, registry_uri=tracking_uri)
    with tempfile.TemporaryDirectory() as tmp:
        local = Path(
            mlflow.artifacts.download_artifacts(
                artifact_uri=f"models:/{MODEL_NAME}/{version}", dst_path=tmp
            )
        )
        (local / "artifacts" / "classifier.txt").write_text("not a booster\n")
        experiment = client.get_experiment_by_name("les").experiment_id
        run = client.create_run(experiment)
        client.log_artifacts(run.info.run_id, str(local), "broken_model")
        client.set_terminated(run.info.run_id)
    broken = client.create_model_version(
        MODEL_NAME, f"{run.info.artifact_uri}/broken_model", run_id=run.info.run_id
    )
    client.set_registered_model_alias(MODEL_NAME, "broken", broken.version)
    return str(broken.version)


@pytest.fixture(scope="session")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    tracking, result = register_in_store(
        tmp_path_factory.mktemp("serving-store"),
        make_dataset(n_merchants=60, n_snapshots=30),
        champion=True,
        n_folds=1,
        max_boost_rounds=60,
    )
    version = result.model_version
    broken = _register_broken_version(tracking.tracking_uri, version)
    return Store(tracking.tracking_uri, tracking.artifact_location or "", version, broken)


@pytest.fixture(scope="session")
def registered(store: Store):
    """The champion loaded in-process: what the server's answers are compared against."""
    from training.explain.registered import load_registered_forecaster
    from training.tracking import TrackingConfig

    return load_registered_forecaster(
        f"models:/{MODEL_NAME}@champion", TrackingConfig(store.tracking_uri, None)
    )


def server_env(store: Store, **overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LES_", "MLFLOW_"))}
    env.update(
        {
            "MLFLOW_TRACKING_URI": store.tracking_uri,
            "LES_MAX_BATCH": str(MAX_BATCH),
            "LES_MAX_ORDERS": str(MAX_ORDERS),
            "LES_MAX_BODY_BYTES": str(MAX_BODY_BYTES),
            "BENTOML_DO_NOT_TRACK": "true",
            **overrides,
        }
    )
    return env


def les_serve(port: int, workers: int = 1) -> list[str]:
    """The installed console script, as a user runs it."""
    return [
        str(Path(sys.executable).with_name("les")),
        "serve",
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]


def stop(process: subprocess.Popen) -> None:
    """SIGTERM the server's process group (supervisor and workers), then SIGKILL if it lingers."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def wait_ready(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{url}/readyz", timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    raise RuntimeError(f"server not ready after {READY_TIMEOUT_S} s:\n{log.read_text()}")


@contextmanager
def running_server(store: Store, directory: Path, workers: int = 1, **env: str) -> Iterator[Server]:
    """`les serve` in its own process group, ready, and always stopped afterwards."""
    port = free_port()
    log = directory / f"server-{port}.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            les_serve(port, workers),
            cwd=directory,
            # Its own BentoML home: each BentoML server empties $BENTOML_HOME/prometheus_multiproc_dir
            # when it starts, which would wipe the /metrics of a server already running.
            env=server_env(store, BENTOML_HOME=str(directory / f"bentoml-{port}"), **env),
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, process, log)
        yield Server(url, process, log, env.get("LES_API_TOKEN"))
    finally:
        stop(process)


@pytest.fixture(scope="session")
def server(store: Store, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Two workers, auth off: the server most tests talk to."""
    with running_server(store, tmp_path_factory.mktemp("server"), workers=2) as running:
        yield running


@pytest.fixture(scope="session")
def parity_orders() -> pd.DataFrame:
    return generate_world(PARITY_WORLD).orders


@pytest.fixture(scope="session")
def offline_rows(parity_orders: pd.DataFrame) -> pd.DataFrame:
    """Training rows at the parity snapshot, built by `build_dataset` (the training path)."""
    config = DatasetConfig(first_snapshot=PARITY_SNAPSHOT, last_snapshot=PARITY_SNAPSHOT)
    return build_dataset(parity_orders, config, load_rulebook())
