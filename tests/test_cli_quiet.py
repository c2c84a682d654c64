"""The terminal shows les's own output only: library notices and progress bars go to les.log."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("mlflow")]
LES = str(Path(sys.executable).with_name("les"))


def les(*args: str, cwd: Path) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "LES_LOG_FILE")}
    done = subprocess.run([LES, *args], cwd=cwd, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def test_train_prints_no_mlflow_noise_and_logs_it_to_a_file(tmp_path: Path) -> None:
    les("generate", "--merchants", "20", "--days", "150", "--seed", "2", "--out", "w", cwd=tmp_path)
    les("build-dataset", "--orders", "w/orders.parquet", "--out", "d.parquet", cwd=tmp_path)
    (tmp_path / "t.yaml").write_text("max_boost_rounds: 40\n")
    out = les("train", "--dataset", "d.parquet", "--config", "t.yaml", cwd=tmp_path)
    assert "Pooled rolling-origin backtest" in out and "MLflow run" in out
    for noise in ("Downloading artifacts", " INFO ", "Successfully registered", "Created version"):
        assert noise not in out, noise
    assert "INFO mlflow" in (tmp_path / "les.log").read_text()


def test_reading_commands_in_a_folder_without_a_store_create_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """les models, promote and explain only read the registry: no store here is one line, exit 2,
    and no ./mlruns left behind."""
    from typer.testing import CliRunner

    from serving.cli import app

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    (tmp_path / "d.parquet").write_bytes(b"")
    runner = CliRunner()
    for args in (
        ["models"],
        ["promote", "1"],
        ["explain", "--dataset", "d.parquet", "--merchant", "M", "--format", "json"],
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 2, result.output
        assert "no MLflow store at" in " ".join(result.output.split()), result.output
    assert not (tmp_path / "mlruns").exists()
