"""`les train` on a short history: 8 monthly snapshots with a 90-day horizon train on shortened
folds, and the output and the run say what was evaluated (issue: it used to refuse outright)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from serving.cli import app
from training.backtest import trainable_rows
from training.tracking import activate, resolve_tracking

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("mlflow")]
runner = CliRunner()


def run(*args: str, expect: int = 0) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == expect, result.output
    return " ".join(result.output.split())  # rich wraps long lines


def test_eight_monthly_snapshots_with_a_90_day_horizon_train_on_shorter_folds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    world = tmp_path / "world"
    run("generate", "--merchants", "40", "--days", "330", "--seed", "3", "--out", str(world))
    dataset = tmp_path / "dataset.parquet"
    run(
        "build-dataset",
        "--orders",
        str(world / "orders.parquet"),
        "--out",
        str(dataset),
        "--horizon-days",
        "90",
        "--cadence-days",
        "30",
    )
    trainable = trainable_rows(pd.read_parquet(dataset))
    assert trainable["snapshot_at"].nunique() == 8  # the premise: 8 monthly snapshots with labels
    config = tmp_path / "train.yaml"
    config.write_text("horizon_days: 90\nn_folds: 1\nmax_boost_rounds: 60\n")
    out = run("train", "--dataset", str(dataset), "--config", str(config))
    assert "asked for 1 of 90 days; the history is too short for that" in out
    assert "90% merchant-bootstrap interval" in out
    client = activate(resolve_tracking(tmp_path / "mlruns"))
    (run_info,) = client.search_runs([client.get_experiment_by_name("les").experiment_id])
    evaluated = run_info.data.tags["backtest.evaluated"]
    assert evaluated.startswith("1 fold(s) of ") and "asked for 1 of 90 days" in evaluated
    assert int(run_info.data.params["backtest.fold_days"]) < 90
    assert "pooled.lightgbm.qwk" in run_info.data.metrics
    metrics = run_info.data.metrics
    for name in ("qwk_edge_over_persistence", "rps_edge_over_migration_matrix"):
        low, edge, high = (metrics[f"pooled.lightgbm.{name}{s}"] for s in ("_low", "", "_high"))
        assert low <= edge <= high  # the pooled edge sits inside its bootstrap interval
    qwk_edge = metrics["pooled.lightgbm.qwk"] - metrics["pooled.persistence.qwk"]
    assert metrics["pooled.lightgbm.qwk_edge_over_persistence"] == pytest.approx(qwk_edge)
    low, high = (metrics[f"pooled.lightgbm.qwk_edge_over_persistence_{s}"] for s in ("low", "high"))
    verdict = "better" if low > 0 else "worse" if high < 0 else "within noise"
    printed = f"qwk │ persistence │ {qwk_edge:+.3f} │ {low:+.3f} .. {high:+.3f} │ {verdict}"
    assert printed in out  # les train prints the interval the run logs
    floor, floor_high = (metrics[f"pooled.lightgbm.ece_noise_floor{s}"] for s in ("", "_high"))
    assert 0 < floor <= floor_high  # a few hundred test rows: chance alone gives some ECE
    ece = metrics["pooled.lightgbm.ece"]
    assert (
        f"Calibration: ECE {ece:.3f}; a perfectly calibrated forecast shows {floor:.3f} on these "
        f"rows by chance, drawn independently (90% of draws at most {floor_high:.3f}); this ECE "
        f"is {'within' if ece <= floor_high else 'above'} that"
    ) in out  # les train prints the floor the run logs, and where the ECE stands against it
