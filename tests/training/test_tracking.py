from __future__ import annotations

import pytest

from training.tracking import CHALLENGER, CHAMPION, decide_alias, resolve_tracking

GOOD = {"macro_f1": 0.70, "qwk": 0.80}
PERSIST = {"macro_f1": 0.60, "qwk": 0.75}


def test_beating_persistence_with_no_champion_promotes() -> None:
    decision = decide_alias(GOOD, PERSIST, None, 0.02)
    assert decision.alias == CHAMPION and decision.promoted and decision.reasons == ()


@pytest.mark.parametrize("metric", ["macro_f1", "qwk"])
def test_not_beating_persistence_on_any_gated_metric_blocks(metric: str) -> None:
    model = {**GOOD, metric: PERSIST[metric]}
    decision = decide_alias(model, PERSIST, None, 0.02)
    assert decision.alias == CHALLENGER
    assert any(metric in r and "persistence" in r for r in decision.reasons)


def test_worse_than_champion_beyond_tolerance_blocks() -> None:
    champion = {"macro_f1": 0.75, "qwk": 0.80}
    assert decide_alias(GOOD, PERSIST, champion, 0.06).promoted
    decision = decide_alias(GOOD, PERSIST, champion, 0.02)
    assert decision.alias == CHALLENGER
    assert any("champion" in r for r in decision.reasons)


def test_embedded_store_is_sqlite_under_mlruns(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    tracking = resolve_tracking(tmp_path / "mlruns")
    assert tracking.tracking_uri == f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    assert tracking.artifact_location.endswith("mlruns/artifacts")


def test_env_tracking_uri_is_used_unchanged(monkeypatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow.example:5000")
    tracking = resolve_tracking()
    assert tracking.tracking_uri == "http://mlflow.example:5000"
    assert tracking.artifact_location is None
