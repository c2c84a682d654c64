"""The retrain split and the champion's unseen-holdout check (training/monitor/retrain.py)."""

from __future__ import annotations

import pandas as pd
import pytest

from training.monitor.retrain import RetrainError, check_champion_unseen, retrain_split


def test_the_holdout_is_the_last_horizon_and_training_labels_close_before_it() -> None:
    snapshots = pd.date_range("2026-01-05", periods=20, freq="7D", tz="UTC")
    rows = pd.DataFrame({"snapshot_at": snapshots.repeat(3), "merchant_id": ["a", "b", "c"] * 20})
    split = retrain_split(rows, 30)
    assert split.holdout["snapshot_at"].min() >= split.holdout_start
    assert split.holdout["snapshot_at"].max() == snapshots[-1]
    assert (split.holdout["snapshot_at"] > snapshots[-1] - pd.Timedelta(days=30)).all()
    assert (split.train["snapshot_at"] + pd.Timedelta(days=30) <= split.holdout_start).all()
    assert len(split.train) + len(split.holdout) < len(rows)  # the gap between them is dropped
    check_champion_unseen(split.holdout_start - pd.Timedelta(days=1), split)
    with pytest.raises(RetrainError, match="in-sample"):
        check_champion_unseen(split.holdout_start, split)


@pytest.mark.xdist_group("mlflow")
def test_the_gate_keeps_a_worse_challenger_out_and_champion_stays(tmp_path) -> None:
    from features.catalogue import load_catalogue
    from features.dataset_config import DatasetConfig
    from features.recipe import DatasetRecipe
    from features.rulebook import load_rulebook
    from training.backtest import trainable_rows
    from training.config import load_train_config
    from training.explain.registered import load_registered_forecaster
    from training.monitor.retrain import retrain
    from training.tracking import activate

    from ..conftest import make_dataset, register_in_store

    dataset = make_dataset(seed=5)
    split = retrain_split(trainable_rows(dataset), 30)
    tracking, first = register_in_store(tmp_path, split.train, champion=True)
    champion = load_registered_forecaster(f"models:/{first.model_name}@champion", tracking)
    # One boosting round on a 1% learning rate: a challenger that has learnt nearly nothing.
    weak = load_train_config(max_boost_rounds=1, lgbm_params={"learning_rate": 0.01})
    rules = load_rulebook()
    result = retrain(
        dataset, champion, split.train["snapshot_at"].max(), weak, rules, load_catalogue(),
        tracking, DatasetRecipe.of(DatasetConfig(), rules),
    )  # fmt: skip
    assert result.holdout["lightgbm"]["qwk"] < result.holdout["champion"]["qwk"] - 0.02
    assert not result.registered.decision.promoted
    assert any("worse than the champion" in r for r in result.registered.decision.reasons)
    client = activate(tracking)
    assert str(client.get_model_version_by_alias(first.model_name, "champion").version) == "1"
    assert result.registered.model_version == "2"
    run = client.get_run(result.registered.run_id)
    assert run.data.metrics["holdout.champion.qwk"] == pytest.approx(
        result.holdout["champion"]["qwk"]
    )
