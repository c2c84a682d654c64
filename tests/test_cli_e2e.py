"""The real CLI end to end on a small world: generate -> validate -> score -> dataset -> train."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from features.dataset_config import DatasetConfig
from features.recipe import DatasetRecipe, read_recipe
from features.rulebook import load_rulebook
from serving.cli import app
from training.explain.schema import ExplanationReport

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("mlflow")]
runner = CliRunner()


def run(*args: str, expect: int = 0) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == expect, result.output
    return result.output


def test_pipeline_commands_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    world = tmp_path / "world"
    out = run("generate", "--merchants", "60", "--days", "220", "--seed", "3", "--out", str(world))
    assert "orders" in out and (world / "orders.parquet").exists()
    assert (world / "merchants.parquet").exists() and (world / "changes.parquet").exists()

    assert "0 rejected" in run("validate", str(world / "orders.parquet"))

    scored = run("score-window", "--orders", str(world / "orders.parquet"), "--end", "2026-05-01")
    assert "Tier distribution" in scored
    table = pd.read_parquet(world / "les_2026-05-01.parquet")
    assert {"merchant_id", "les_score", "les_tier"} <= set(table.columns)

    dataset = tmp_path / "dataset.parquet"
    built = run("build-dataset", "--orders", str(world / "orders.parquet"), "--out", str(dataset))
    assert "trainable" in built and len(pd.read_parquet(dataset)) > 0
    assert read_recipe(dataset) == DatasetRecipe.of(DatasetConfig(), load_rulebook())

    too_short = tmp_path / "short.parquet"
    frame = pd.read_parquet(dataset)
    # Six weekly snapshots: no fold can train on 3 snapshots and test one 30 days later.
    frame[frame["snapshot_at"] < frame["snapshot_at"].min() + pd.Timedelta(days=40)].to_parquet(
        too_short
    )
    assert "need more history" in run("train", "--dataset", str(too_short), expect=2)

    trained = " ".join(run("train", "--dataset", str(dataset)).split())
    assert "Pooled rolling-origin backtest: 3 fold(s) of 30 days" in trained
    # 60 merchants with few drifts: persistence is hard to beat, and the gate says so.
    assert "NOT PROMOTED: v1 stays challenger" in trained
    assert "does not beat persistence" in trained
    assert (tmp_path / "mlruns" / "mlflow.db").exists()

    listed = run("models")
    assert "les-forecaster" in listed
    assert "les-forecaster version 1 is now champion" in run("promote", "1")
    run("promote", "99", expect=2)

    merchant = frame["merchant_id"].iloc[0]
    snapshot = str(frame["snapshot_at"].max().date())
    orders = str(world / "orders.parquet")
    explained = json.loads(
        run(
            "explain",
            "--orders",
            orders,
            "--merchant",
            merchant,
            "--snapshot",
            snapshot,
            "--format",
            "json",
        )
    )
    report = ExplanationReport.model_validate(explained)
    assert report.explanation.merchant_id == merchant and report.model.version == "1"
    from_dataset = json.loads(
        run("explain", "--dataset", str(dataset), "--merchant", merchant, "--format", "json")
    )
    # the dataset's newest snapshot, rebuilt from the orders: the same features, the same forecast
    assert from_dataset["explanation"]["forecast"] == explained["explanation"]["forecast"]
    assert "cannot explain" in run(
        "explain", "--orders", orders, "--merchant", "nobody", "--format", "md", expect=2
    )
    assert "cannot load model" in run(
        "explain",
        "--dataset",
        str(dataset),
        "--merchant",
        merchant,
        "--model",
        "models:/nope@champion",
        "--format",
        "md",
        expect=2,
    )

    ninety = tmp_path / "ninety"  # a folder of parts: the recipe lies inside
    run("build-dataset", "--orders", orders, "--out", str(ninety), "--window-days", "90")
    assert read_recipe(ninety).config == DatasetConfig(window_days=90)
    mismatch = run("score", "--dataset", str(ninety), "--out", str(tmp_path / "s"), expect=2)
    assert "window_days 90 != 30" in mismatch

    html = tmp_path / "report.html"
    reported = run("report", "--dataset", str(dataset), "--out", str(html))
    assert "stage ranking" in reported and html.exists()
    assert json.loads(html.with_suffix(".json").read_text())["model"]["version"] == "1"


def test_train_refuses_a_horizon_other_than_the_datasets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The dataset records its 30-day horizon; a config asking for 60 is refused on one line."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    world = tmp_path / "world"
    run("generate", "--merchants", "8", "--days", "80", "--seed", "5", "--out", str(world))
    dataset = tmp_path / "dataset.parquet"
    run("build-dataset", "--orders", str(world / "orders.parquet"), "--out", str(dataset))
    config = tmp_path / "train.yaml"
    config.write_text("horizon_days: 60\n")
    out = run("train", "--dataset", str(dataset), "--config", str(config), expect=2)
    line = next(line for line in out.splitlines() if "cannot train" in line)
    assert "horizon_days 60" in line and "recorded horizon_days 30" in line
    assert not (tmp_path / "mlruns").exists()  # refused before any run was logged
    unrecorded = tmp_path / "copied.parquet"  # copied without its recipe: the defaults, said so
    shutil.copy(dataset, unrecorded)
    out = run("train", "--dataset", str(unrecorded), "--config", str(config), expect=2)
    assert "records no recipe" in out and "recorded horizon_days 30" in out


def test_validate_reports_rejections_and_exit_codes(tmp_path: Path) -> None:
    csv = tmp_path / "orders.csv"
    csv.write_text(
        "order_id,merchant_id,channel,created_at,status,cancelled_by\n"
        "o1,m1,livestream,2026-01-01T10:00:00Z,delivered,none\n"
        "o2,m1,carrier-pigeon,2026-01-01T10:00:00Z,in_transit,none\n"
    )
    out = run("validate", str(csv), "--rejected-out", str(tmp_path / "bad.csv"), expect=1)
    assert "unknown_enum:channel" in out
    assert "status_inconsistent:delivered_without_delivered_at" in out
    assert len(pd.read_csv(tmp_path / "bad.csv")) == 2
    missing = tmp_path / "nomerchant.csv"
    missing.write_text("order_id,channel,created_at,status,cancelled_by\n")
    assert "merchant_id" in run("validate", str(missing), expect=2)
    assert "no such file" in run("validate", str(tmp_path / "nope.parquet"), expect=2)


def test_features_prints_the_catalogue() -> None:
    out = run("features")
    assert "late_dispatch_rate" in out and "Ship & transport" in out


def test_features_stage_shows_only_that_stage() -> None:
    out = run("features", "--stage", "pick_pack")
    assert "late_dispatch_rate" in out and "on_time_delivery_rate" not in out
    assert "not a stage" in run("features", "--stage", "packing", expect=2)
