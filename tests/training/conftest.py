"""A small (merchant, snapshot) dataset with a known signal, and an isolated MLflow store."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.catalogue import load_catalogue
from features.rulebook import TIER_CODES, load_rulebook
from features.rulebook_scoring import tier_from_score


def make_dataset(n_merchants: int = 80, n_snapshots: int = 40, seed: int = 0) -> pd.DataFrame:
    """Latent merchant quality drifts weekly; features are noisy views of it at T, the label is the
    score at T + horizon. Leading indicators (the trend features) carry the drift, so a model can
    beat persistence, which only sees the noisy current score."""
    rng = np.random.default_rng(seed)
    names = load_catalogue().names
    rules = load_rulebook()
    quality = rng.uniform(0.5, 4.8, n_merchants)[:, None]
    drift = rng.normal(0, 0.12, (n_merchants, 1)) * (rng.random((n_merchants, 1)) < 0.5)
    steps = np.arange(n_snapshots + 5)[None, :]
    path = np.clip(
        quality + drift * steps + rng.normal(0, 0.1, (n_merchants, n_snapshots + 5)), 0, 5
    )
    snapshots = pd.date_range("2026-01-05", periods=n_snapshots, freq="7D", tz="UTC")
    rows = []
    for s, snapshot in enumerate(snapshots):
        now, future = path[:, s], path[:, s + 4]
        frame = pd.DataFrame(
            {"merchant_id": [f"m{i:03d}" for i in range(n_merchants)], "snapshot_at": snapshot}
        )
        for j, name in enumerate(names):
            frame[name] = now * (1 + 0.1 * j) + rng.normal(0, 0.6, n_merchants)
        frame["late_dispatch_rate_trend"] = drift[:, 0] * 4 + rng.normal(0, 0.05, n_merchants)
        frame["current_les_score"] = np.clip(now + rng.normal(0, 0.5, n_merchants), 0, 5)
        frame["label_score"] = future
        rows.append(frame)
    data = pd.concat(rows, ignore_index=True)
    data["current_tier"] = tier_from_score(data["current_les_score"], rules)
    data["current_tier_code"] = data["current_tier"].map(TIER_CODES).astype(float)
    data["label_tier"] = tier_from_score(data["label_score"], rules)
    data["label_complete"] = data["snapshot_at"] <= snapshots[-5]
    return data


@pytest.fixture(scope="session")
def small_dataset() -> pd.DataFrame:
    return make_dataset()


@pytest.fixture()
def mlflow_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh embedded store per test; never the project's own mlruns/."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path / "mlruns"


def register_in_store(root: Path, dataset: pd.DataFrame, champion: bool = False, **config):
    """Train and register `dataset` into a fresh SQLite store under `root` (optionally moving the
    champion alias to it) -> (tracking config, train result)."""
    from training.config import load_train_config
    from training.pipeline import train_and_register
    from training.tracking import TrackingConfig, activate, set_alias

    tracking = TrackingConfig(f"sqlite:///{root / 'mlflow.db'}", (root / "artifacts").as_uri())
    cfg = load_train_config(**config)
    result = train_and_register(dataset, cfg, load_rulebook(), load_catalogue(), tracking)
    if champion:
        set_alias(activate(tracking), cfg.registered_model_name, "champion", result.model_version)
    return tracking, result


@dataclass(frozen=True)
class TrainedModel:
    """A forecaster trained and registered once per test session, in its own store."""

    model: object  # training.explain.registered.RegisteredForecaster
    dataset: pd.DataFrame
    store: Path
    tracking_uri: str


@pytest.fixture(scope="session")
def trained_model(tmp_path_factory: pytest.TempPathFactory, small_dataset: pd.DataFrame):
    from training.explain.registered import load_registered_forecaster

    store = tmp_path_factory.mktemp("explain-store")
    tracking, result = register_in_store(store, small_dataset)
    model = load_registered_forecaster(result.model_uri, tracking)
    return TrainedModel(model, small_dataset, store, tracking.tracking_uri)
