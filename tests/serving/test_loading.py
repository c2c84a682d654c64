"""Start-up checks that need no server: compatibility, pinning, the supervisor stop."""

from __future__ import annotations

import os
import signal
from types import SimpleNamespace

import mlflow
import pytest

from features.catalogue import load_catalogue
from features.rulebook import load_rulebook
from serving import loading
from serving.loading import StartupError, check_compatible, pinned_uri, stop_supervisor


def fake_model(features=("late_dispatch_rate",), rulebook_version=None):
    return SimpleNamespace(
        forecaster=SimpleNamespace(feature_names=tuple(features)),
        rulebook_version=load_rulebook().version if rulebook_version is None else rulebook_version,
        model_name="les-forecaster",
        model_version="4",
    )


def test_a_compatible_model_passes():
    check_compatible(fake_model(), load_catalogue(), load_rulebook())


def test_features_outside_the_catalogue_stop_start_up():
    with pytest.raises(StartupError, match="mystery_feature"):
        check_compatible(
            fake_model(("late_dispatch_rate", "mystery_feature")), load_catalogue(), load_rulebook()
        )


def test_another_rulebook_version_stops_start_up():
    rules = load_rulebook()
    with pytest.raises(StartupError, match="rulebook version"):
        check_compatible(fake_model(rulebook_version=rules.version + 1), load_catalogue(), rules)


def test_an_alias_is_pinned_to_its_version():
    served = SimpleNamespace(model=fake_model())
    assert pinned_uri(served, "models:/les-forecaster@champion") == "models:/les-forecaster/4"
    assert pinned_uri(served, "/models/local-folder") == "/models/local-folder"


def test_a_worker_stops_only_its_own_supervisor(monkeypatch):
    killed = []
    monkeypatch.setattr(os, "kill", lambda pid, sig: killed.append((pid, sig)))
    monkeypatch.setattr(os, "getppid", lambda: 4242)
    monkeypatch.delenv(loading.ENV_SUPERVISOR_PID, raising=False)
    stop_supervisor()
    monkeypatch.setenv(loading.ENV_SUPERVISOR_PID, "999")
    stop_supervisor()
    assert killed == []
    monkeypatch.setenv(loading.ENV_SUPERVISOR_PID, "4242")
    stop_supervisor()
    assert killed == [(4242, signal.SIGTERM)]


def test_an_unreachable_tracking_server_stops_start_up_naming_it(monkeypatch):
    """A tracking server nobody listens on (a closed loopback port) is one StartupError that names
    the server and the refused connection, not a hang or a traceback."""
    import socket

    from serving.config import ServiceConfig

    with socket.socket() as probe:  # a free port, closed again before the request
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    uri = f"http://127.0.0.1:{port}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
    before = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    try:
        with pytest.raises(StartupError) as raised:
            loading.load_served_model(ServiceConfig(), load_catalogue(), load_rulebook())
    finally:  # start-up points MLflow's process-wide URIs at the dead server: undo that
        mlflow.set_tracking_uri(before[0])
        mlflow.set_registry_uri(before[1])
    message = str(raised.value)
    assert f"tracking store {uri}" in message and "Connection refused" in message
