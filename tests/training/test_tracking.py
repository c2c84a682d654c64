from __future__ import annotations

import pytest

from training.tracking import CHALLENGER, CHAMPION, decide_alias, resolve_tracking

GOOD = {"macro_f1": 0.70, "qwk": 0.80, "rps": 0.30, "score_mae": 0.40}
# Each naive baseline reports what it can: climatology and the migration matrix have no score.
BASELINES = {
    "persistence": {"macro_f1": 0.60, "qwk": 0.75, "score_mae": 0.50},
    "climatology": {"macro_f1": 0.20, "qwk": 0.00, "rps": 0.45, "score_mae": float("nan")},
    "migration_matrix": {"macro_f1": 0.55, "qwk": 0.70, "rps": 0.35},
}


def test_beating_every_baseline_with_no_champion_promotes() -> None:
    decision = decide_alias(GOOD, BASELINES, None, 0.02)
    assert decision.alias == CHAMPION and decision.promoted and decision.reasons == ()


@pytest.mark.parametrize(
    ("metric", "value", "best"),
    [
        ("macro_f1", 0.60, "persistence"),
        ("qwk", 0.74, "persistence"),
        ("rps", 0.40, "migration_matrix"),  # beats climatology's 0.45, not the matrix's 0.35
        ("score_mae", 0.50, "persistence"),
    ],
)
def test_not_beating_the_best_baseline_on_any_gated_metric_blocks(
    metric: str, value: float, best: str
) -> None:
    decision = decide_alias({**GOOD, metric: value}, BASELINES, None, 0.02)
    assert decision.alias == CHALLENGER
    assert decision.reasons == (
        f"{metric} {value:.3f} does not beat {best} {BASELINES[best][metric]:.3f}",
    )


def test_worse_than_champion_beyond_tolerance_blocks_in_each_direction() -> None:
    champion = {"macro_f1": 0.75, "qwk": 0.80, "rps": 0.30, "score_mae": 0.40}
    assert decide_alias(GOOD, BASELINES, champion, 0.06).promoted
    decision = decide_alias(GOOD, BASELINES, champion, 0.02)
    assert decision.alias == CHALLENGER
    assert [r.split()[0] for r in decision.reasons] == ["macro_f1"]
    worse_rps = decide_alias({**champion, "rps": 0.33}, BASELINES, champion, 0.02)
    assert [r.split()[0] for r in worse_rps.reasons] == ["rps"]
    assert "champion" in worse_rps.reasons[0]


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


def test_runs_of_a_dead_process_are_marked_failed_when_next_seen(tmp_path) -> None:
    import subprocess
    import sys

    from training.tracking import (
        OWNER_HOST_TAG,
        OWNER_PID_TAG,
        TrackingConfig,
        activate,
        ensure_experiment,
        fail_abandoned_runs,
        owner_tags,
    )

    tracking = TrackingConfig(f"sqlite:///{tmp_path / 'mlflow.db'}", (tmp_path / "a").as_uri())
    client = activate(tracking)
    experiment = ensure_experiment(client, "les", tracking)
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    dead_pid = gone.stdout.strip()
    dead = client.create_run(experiment, tags={**owner_tags(), OWNER_PID_TAG: dead_pid})
    alive = client.create_run(experiment, tags=owner_tags())
    elsewhere = client.create_run(
        experiment, tags={OWNER_HOST_TAG: "another-host", OWNER_PID_TAG: dead_pid}
    )
    assert fail_abandoned_runs(client, experiment) == [dead.info.run_id]
    assert client.get_run(dead.info.run_id).info.status == "FAILED"
    assert client.get_run(alive.info.run_id).info.status == "RUNNING"
    assert client.get_run(elsewhere.info.run_id).info.status == "RUNNING"


def test_reading_never_creates_a_store(tmp_path, monkeypatch) -> None:
    from training.tracking import RegistryError

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    with pytest.raises(RegistryError, match=r"no MLflow store at .*mlruns/mlflow.db"):
        resolve_tracking(create=False)
    assert not (tmp_path / "mlruns").exists()
    missing = tmp_path / "no" / "such" / "mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{missing}")
    with pytest.raises(RegistryError, match="MLFLOW_TRACKING_URI"):
        resolve_tracking(create=False)
    assert not (tmp_path / "no").exists()


def test_a_sqlite_uri_keeps_its_artifacts_beside_the_database(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}")
    tracking = resolve_tracking()
    assert tracking.artifact_location == (tmp_path / "store" / "artifacts").as_uri()
    assert (tmp_path / "store").is_dir()  # a training run may create it
