"""What a user measures out of time through the CLI is what the backtest measured.

`les train` on the rows whose label closed before a fold's test period, then `les score` of that
period, must serve exactly the tiers, probabilities and scores the backtest gave those rows: the
logged model, its recipe, its tier cuts and the batch scorer add nothing and lose nothing.
`benchmarks/out_of_time_cli.py` relies on this to report real sellers through the CLI.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from features.catalogue import load_catalogue
from features.rulebook import TIER_CODES, load_rulebook
from serving.cli import app
from tests.dataset_files import rows_where
from training.backtest import MODEL, run_backtest, trainable_rows
from training.config import load_train_config
from training.forecaster_model import proba_column
from training.pipeline import model_feature_names
from training.splits import fold_masks

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("mlflow")]
runner = CliRunner()


def run(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_train_then_score_out_of_time_serves_the_backtest_fold(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    run("generate", "--merchants", "80", "--days", "240", "--seed", "5", "--out", "world")
    run("build-dataset", "--orders", "world/orders.parquet", "--out", "dataset.parquet")
    dataset = pd.read_parquet("dataset.parquet")
    config = load_train_config()
    rows = trainable_rows(dataset)
    names = model_feature_names(load_catalogue(), config)
    backtest = run_backtest(rows, names, config, load_rulebook())
    fold = backtest.folds[-1]

    dataset_file = tmp_path / "dataset.parquet"
    rows_where(
        dataset_file, lambda f: fold_masks(f["snapshot_at"], fold)[0], tmp_path / "before.parquet"
    )
    rows_where(
        dataset_file, lambda f: fold_masks(f["snapshot_at"], fold)[1], tmp_path / "next.parquet"
    )
    run("train", "--dataset", "before.parquet")
    run("promote", "1")
    run("score", "--dataset", "next.parquet", "--snapshot", "all", "--out", "scored.parquet")

    scored = pd.read_parquet("scored.parquet").assign(
        snapshot_at=lambda f: pd.to_datetime(f["snapshot_at"], utc=True)
    )
    expected = backtest.predictions[backtest.predictions["fold"] == fold.number]
    served = (
        expected[["merchant_id", "snapshot_at"]]
        .astype({"merchant_id": str})
        .merge(scored, on=["merchant_id", "snapshot_at"], how="left", validate="one_to_one")
    )
    assert len(served) == len(expected) > 50 and served["predicted_tier"].notna().all()
    np.testing.assert_array_equal(
        served["predicted_tier"].map(TIER_CODES).to_numpy(), expected[f"{MODEL}_tier"].to_numpy()
    )
    np.testing.assert_allclose(
        served["predicted_score"].to_numpy(), expected[f"{MODEL}_score"].to_numpy(), atol=1e-9
    )
    by_code = sorted(TIER_CODES, key=TIER_CODES.get)
    np.testing.assert_allclose(
        served[[proba_column(t) for t in by_code]].to_numpy(),
        expected[[f"{MODEL}_p{code}" for code in range(len(by_code))]].to_numpy(),
        atol=1e-9,
    )
