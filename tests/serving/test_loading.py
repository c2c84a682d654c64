"""Start-up checks that need no server: compatibility, pinning, the supervisor stop."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
from functools import partial
from pathlib import Path
from types import SimpleNamespace

import mlflow
import pytest

from features.catalogue import load_catalogue
from features.dataset_config import DatasetConfig
from features.recipe import DatasetRecipe
from features.rulebook import load_rulebook
from serving import loading
from serving.loading import (
    StartupError,
    check_compatible,
    pinned_uri,
    served_rulebook,
    stop_supervisor,
)
from training.explain.registered import RegisteredForecaster, read_forecaster_folder
from training.tracking import RegistryError


def fake_model(features=("late_dispatch_rate",), rulebook_version=None, recipe=None):
    rules = load_rulebook()
    model = SimpleNamespace(
        forecaster=SimpleNamespace(feature_names=tuple(features)),
        rulebook_version=rules.version if rulebook_version is None else rulebook_version,
        model_name="les-forecaster",
        model_version="4",
        recipe=recipe or DatasetRecipe.of(DatasetConfig(), rules),
    )
    model.rulebook = partial(RegisteredForecaster.rulebook, model)
    return model


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


def test_a_rulebook_with_another_content_under_the_same_version_stops_start_up():
    rules = load_rulebook()
    recipe = dataclasses.replace(DatasetRecipe.of(DatasetConfig(), rules), rulebook_sha256="0" * 64)
    with pytest.raises(StartupError, match=r"sha256 000000000000, this code's rulebook"):
        check_compatible(fake_model(recipe=recipe), load_catalogue(), rules)


def test_the_served_rulebook_is_the_one_the_model_was_trained_under():
    """`les build-dataset` scores the current LES over the horizon and may raise the minimum
    orders; serving must rebuild features with those overrides, not the packaged defaults."""
    rules = load_rulebook()
    trained_under = rules.with_overrides(window_days=60, min_orders=12)
    model = fake_model(recipe=DatasetRecipe.of(DatasetConfig(horizon_days=60), trained_under))
    check_compatible(model, load_catalogue(), rules)
    assert served_rulebook(model, rules) == trained_under


def test_a_model_from_before_recipes_is_served_the_defaults():
    rules = load_rulebook()
    model = fake_model(recipe=DatasetRecipe.legacy(rules.version))
    check_compatible(model, load_catalogue(), rules)
    assert served_rulebook(model, rules) == rules
    assert model.recipe.config == DatasetConfig()


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


@pytest.fixture
def model_folder(store, tmp_path):
    """The champion's model folder (artifacts/ inside), downloaded for this test to damage."""
    from tests.serving.conftest import MODEL_NAME
    from training.tracking import TrackingConfig, activate

    activate(TrackingConfig(store.tracking_uri, None))
    return Path(
        mlflow.artifacts.download_artifacts(
            artifact_uri=f"models:/{MODEL_NAME}/{store.version}", dst_path=str(tmp_path)
        )
    )


def _truncate(path: Path, size: int) -> None:
    data = path.read_bytes()
    assert len(data) > size, f"{path} has only {len(data)} bytes"
    path.write_bytes(data[:size])


def test_the_downloaded_champion_loads(model_folder):
    assert read_forecaster_folder(model_folder).forecaster.feature_names


def test_a_truncated_booster_is_refused_before_lightgbm_parses_it(model_folder):
    """LightGBM segfaults on a regressor cut at 20,000 bytes: it must never see it."""
    _truncate(model_folder / "artifacts" / "regressor.txt", 20_000)
    with pytest.raises(RegistryError, match="regressor.txt") as raised:
        read_forecaster_folder(model_folder)
    assert "classifier.txt" not in str(raised.value)


def test_a_model_without_per_file_hashes_is_checked_against_its_fingerprint(model_folder):
    """Models logged before meta.json carried per-file hashes still load, and a damaged booster
    in one is still refused by the fingerprint both boosters hash to."""
    meta_path = model_folder / "artifacts" / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta.pop("artifact_sha256")
    meta_path.write_text(json.dumps(meta))
    assert read_forecaster_folder(model_folder).fingerprint == meta["fingerprint"]
    _truncate(model_folder / "artifacts" / "regressor.txt", 20_000)
    with pytest.raises(RegistryError, match=meta["fingerprint"]):
        read_forecaster_folder(model_folder)
