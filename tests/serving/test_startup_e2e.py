"""Start-up: bearer-token auth when LES_API_TOKEN is set, and a clean refusal to start without a
usable model (one message, exit code 2, nothing left listening)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import pytest

from tests.serving.conftest import (
    MODEL_NAME,
    free_port,
    les_serve,
    running_server,
    server_env,
    stop,
)
from training.tracking import TrackingConfig, activate

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("serving")]
TOKEN = "s3cret-token"
START_FAILURE_TIMEOUT_S = 90
MESSAGE = "les serving cannot start:"


@pytest.fixture(scope="module")
def auth_server(store, tmp_path_factory):
    with running_server(store, tmp_path_factory.mktemp("auth"), LES_API_TOKEN=TOKEN) as server:
        yield server


BODY = json.dumps({"merchants": [{"merchant_id": "m"}]})
JSON = {"Content-Type": "application/json"}


@pytest.mark.parametrize("route", ["/predict", "/explain", "/predict_orders"])
def test_api_routes_need_the_token(auth_server, route):
    with auth_server.client(token="") as client:
        missing = client.post(route, content=BODY, headers=JSON)
    with auth_server.client(token="wrong") as client:
        wrong = client.post(route, content=BODY, headers=JSON)
    assert missing.status_code == 401 and wrong.status_code == 401
    assert missing.headers["www-authenticate"].startswith("Bearer")


def test_the_token_opens_the_api(auth_server):
    with auth_server.client() as client:
        response = client.post("/predict", content=BODY, headers=JSON)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("path", ["/metrics", "/docs.json", "/"])
def test_everything_but_health_is_closed(auth_server, path):
    with auth_server.client(token="") as client:
        assert client.get(path).status_code == 401
    with auth_server.client() as client:
        assert client.get(path).status_code == 200


@pytest.mark.parametrize("probe", ["/healthz", "/livez", "/readyz"])
def test_health_needs_no_token(auth_server, probe):
    with auth_server.client(token="") as client:
        assert client.get(probe).status_code == 200


def _nothing_listens(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def _truncated_model(store, into: Path) -> Path:
    """The champion's model folder with regressor.txt cut at 20,000 bytes, the cut that made
    LightGBM segfault the service (exit 139, no message)."""
    activate(TrackingConfig(store.tracking_uri, None))
    folder = Path(
        mlflow.artifacts.download_artifacts(
            artifact_uri=f"models:/{MODEL_NAME}/{store.version}", dst_path=str(into)
        )
    )
    regressor = folder / "artifacts" / "regressor.txt"
    regressor.write_bytes(regressor.read_bytes()[:20_000])
    return folder


def test_no_usable_model_means_no_service(store, tmp_path: Path):
    """A missing registry, a missing alias, a corrupt artifact and a truncated booster: each
    `les serve` exits with code 2 and one clear message naming the cause, and never leaves a port
    half-open."""
    truncated = _truncated_model(store, tmp_path / "truncated")
    cases = {
        "registry": (
            {"MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'empty' / 'mlflow.db'}"},
            f"no MLflow store at {tmp_path / 'empty' / 'mlflow.db'} (MLFLOW_TRACKING_URI)",
        ),
        "no such folder": (
            {"MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'no' / 'such' / 'mlflow.db'}"},
            f"no MLflow store at {tmp_path / 'no' / 'such' / 'mlflow.db'}",
        ),
        "alias": ({"LES_MODEL_URI": "models:/les-forecaster@nosuch"}, "alias nosuch not found"),
        "artifact": (
            {"LES_MODEL_URI": "models:/les-forecaster@broken"},
            "corrupt model artifact",
        ),
        "truncated": ({"LES_MODEL_URI": str(truncated)}, "corrupt model artifact regressor.txt"),
    }
    (tmp_path / "empty").mkdir()
    started = {}
    for name, (env, _) in cases.items():
        port = free_port()
        log = tmp_path / f"{name}.log"
        with log.open("wb") as sink:
            process = subprocess.Popen(
                les_serve(port),
                cwd=tmp_path,
                env=server_env(store, **env),
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        started[name] = (process, port, log)
    try:
        deadline = time.monotonic() + START_FAILURE_TIMEOUT_S
        for name, (process, port, log) in started.items():
            returncode = process.wait(timeout=max(1.0, deadline - time.monotonic()))
            text = log.read_text(errors="replace")
            assert returncode == 2, text
            assert text.count(MESSAGE) == 1, text
            assert cases[name][1] in text, text
            assert "Traceback" not in text, text
            assert _nothing_listens(port)
        assert not (tmp_path / "no").exists()  # reading never creates a store
        assert not (tmp_path / "empty" / "mlflow.db").exists()
        assert not (tmp_path / "mlruns").exists()
    finally:
        for process, _, _ in started.values():
            stop(process)


def test_a_bad_les_value_is_one_line_and_exit_2(store, tmp_path: Path):
    """Each unusable LES_* value stops `les serve` with one line naming the variable and the
    problem and exit code 2, not a traceback from inside `bentoml serve` and exit 1. No
    --workers, so LES_WORKERS is the one read."""
    cases = {
        "LES_MAX_BATCH": "ten",
        "LES_WORKERS": "-3",
        "LES_MAX_BODY_BYTES": "0",
        "LES_ACCESS_LOG": "perhaps",
    }
    les = str(Path(sys.executable).with_name("les"))
    started = {
        name: subprocess.Popen(
            [les, "serve", "--port", str(free_port())],
            cwd=tmp_path,
            env=server_env(store, **{name: value}),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        for name, value in cases.items()
    }
    try:
        for name, process in started.items():
            output, _ = process.communicate(timeout=START_FAILURE_TIMEOUT_S)
            lines = output.strip().splitlines()
            assert process.returncode == 2, output
            assert len(lines) == 1 and lines[0].startswith(MESSAGE), output
            assert f"{name}={cases[name]!r}" in lines[0], output
    finally:
        for process in started.values():
            stop(process)
