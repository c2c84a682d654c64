"""Training on Dask: same params, same round choice, a model that logs and serves unchanged, and
backtest metrics within PARITY_TOLERANCE of the pandas engine's."""

from __future__ import annotations

from pathlib import Path

import lightgbm as lgb
import mlflow
import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from features.catalogue import load_catalogue
from features.dataset_config import DatasetConfig
from features.engine import EngineConfig, engine_client
from features.io import write_parquet_folder
from features.recipe import DatasetRecipe, write_recipe
from features.rulebook import load_rulebook
from serving.cli import app
from training.backtest import MODEL, run_backtest, trainable_rows
from training.baselines import NaiveBaselines, PersistenceFallback
from training.checks import model_feature_names
from training.config import load_train_config
from training.distributed import (
    WEIGHT,
    early_stopping_rounds,
    estimator_params,
    partition_loss_curve,
)
from training.distributed_backtest import (
    client_sample,
    naive_baselines_dask,
)
from training.explain.registered import load_registered_forecaster
from training.fingerprint import dataset_fingerprint
from training.forecaster_model import tiers_from_cuts
from training.tracking import activate, resolve_tracking

from .conftest import make_dataset

# Data-parallel LightGBM bins and bags each worker's rows on that worker, so the boosters differ
# slightly from a single-process fit; pooled backtest metrics must agree to this much.
PARITY_TOLERANCE = {"macro_f1": 0.05, "qwk": 0.05, "score_mae": 0.05}
TRAIN_SETTINGS = {
    "n_folds": 2,
    "max_boost_rounds": 80,
    "early_stopping_rounds": 10,
    "lgbm_params": {"learning_rate": 0.1},
}


@pytest.fixture(scope="module")
def client():
    with engine_client(EngineConfig("dask", n_workers=2)) as client:
        yield client


def test_native_params_become_estimator_arguments() -> None:
    params = {
        "feature_fraction": 0.6,
        "bagging_fraction": 0.8,
        "bagging_freq": 1,
        "lambda_l2": 10.0,
        "seed": 3,
        "num_threads": 2,
        "objective": "multiclass",
        "num_class": 4,
        "deterministic": True,
    }
    assert estimator_params(params, 120) == {
        "colsample_bytree": 0.6,
        "subsample": 0.8,
        "subsample_freq": 1,
        "reg_lambda": 10.0,
        "random_state": 3,
        "objective": "multiclass",
        "num_class": 4,
        "deterministic": True,
        "n_estimators": 120,
    }


@pytest.mark.parametrize(
    ("target", "params"),
    [
        ("label_tier_code", {"objective": "multiclass", "num_class": 4, "metric": "multi_logloss"}),
        ("label_score", {"objective": "regression", "metric": "l2"}),
    ],
)
def test_loss_curve_and_round_choice_match_lightgbm_early_stopping(
    target: str, params: dict
) -> None:
    rng = np.random.default_rng(0)
    names = ("a", "b", "c")
    frame = pd.DataFrame(rng.normal(size=(900, 3)), columns=list(names))
    frame["label_score"] = frame["a"] * 2 + rng.normal(0, 1.5, len(frame))
    frame["label_tier_code"] = np.digitize(frame["label_score"], [-2, 0, 2])
    frame[WEIGHT] = np.where(frame["label_tier_code"] == 0, 2.0, 1.0)
    fit, valid = frame.iloc[:600], frame.iloc[600:]
    weight = target == "label_tier_code"
    sets = [
        lgb.Dataset(part[list(names)], part[target], weight=part[WEIGHT] if weight else None)
        for part in (fit, valid)
    ]
    recorded: dict = {}
    booster = lgb.train(
        {**params, "verbosity": -1, "learning_rate": 0.3, "seed": 1},
        sets[0],
        num_boost_round=200,
        valid_sets=[sets[1]],
        callbacks=[lgb.early_stopping(10, verbose=False), lgb.record_evaluation(recorded)],
    )
    curve = np.asarray(recorded["valid_0"][params["metric"]])
    full = lgb.train(
        {**params, "verbosity": -1, "learning_rate": 0.3, "seed": 1}, sets[0], len(curve)
    )
    unweighted = valid if weight else valid.assign(**{WEIGHT: 1.0})
    halves = [
        partition_loss_curve(full.model_to_string(), part, names, target)
        for part in (unweighted.iloc[:100], unweighted.iloc[100:])
    ]
    ours = (halves[0][0] + halves[1][0]) / (halves[0][1] + halves[1][1])
    np.testing.assert_allclose(ours, curve, rtol=1e-6)  # LightGBM keeps labels as float32
    assert early_stopping_rounds(curve, 10) == booster.best_iteration


@pytest.mark.xdist_group("dask")
def test_les_train_on_dask_registers_a_servable_model_with_pandas_parity(
    client, mlflow_store: Path, tmp_path: Path
) -> None:
    """`les train --engine dask` on a folder of parts: the dataset stays a Dask collection, folds
    are fitted and scored on the workers; metrics agree with the pandas engine, the fingerprint is
    the pandas one of the same rows, and the registered model serves like any other."""
    dataset = make_dataset(n_merchants=60, n_snapshots=36, seed=4)
    write_parquet_folder(dataset, tmp_path / "dataset", rows_per_file=500)
    recipe = DatasetRecipe.of(DatasetConfig(window_days=45), load_rulebook())
    write_recipe(recipe, tmp_path / "dataset")  # not the defaults: the model must carry it
    (tmp_path / "train.yaml").write_text(yaml.safe_dump(TRAIN_SETTINGS))
    result = CliRunner().invoke(
        app,
        ["train", "--dataset", str(tmp_path / "dataset"), "--config", str(tmp_path / "train.yaml")]
        + ["--engine", "dask", "--scheduler", client.scheduler.address],
    )
    assert result.exit_code == 0, result.output
    tracking = resolve_tracking()
    registry = activate(tracking)
    version = registry.get_model_version("les-forecaster", "1")  # a fresh store: the first
    run = registry.get_run(version.run_id)
    assert run.data.params["dataset_sha256"] == dataset_fingerprint(dataset)["dataset_sha256"]

    config = load_train_config(**TRAIN_SETTINGS)
    rows, catalogue = trainable_rows(dataset), load_catalogue()
    pandas_run = run_backtest(rows, model_feature_names(catalogue, config), config, load_rulebook())
    for metric, tolerance in PARITY_TOLERANCE.items():
        dask_value = float(run.data.metrics[f"pooled.{MODEL}.{metric}"])
        pandas_value = pandas_run.pooled(MODEL, metric)
        assert abs(dask_value - pandas_value) <= tolerance, (metric, dask_value, pandas_value)

    uri = "models:/les-forecaster/1"
    loaded = load_registered_forecaster(uri, tracking)
    assert loaded.forecaster.classifier.model_to_string().startswith("tree\nversion=v4")
    served = mlflow.pyfunc.load_model(uri).predict(rows.head(20))
    local = loaded.forecaster.predict_score(rows.head(20))
    np.testing.assert_allclose(served["predicted_score"].to_numpy(), local)
    assert served["tier"].isin(loaded.tiers_by_code).all()
    assert loaded.recipe == recipe and loaded.dataset_config.window_days == 45
    cuts = loaded.forecaster.tier_cuts
    assert len(cuts) == 3 and list(cuts) == sorted(cuts)
    codes = tiers_from_cuts(served["predicted_score"].to_numpy(), cuts)
    assert list(served["tier"]) == [loaded.tiers_by_code[c] for c in codes]


@pytest.mark.xdist_group("dask")
def test_client_sample_is_bounded_and_in_row_order(client) -> None:
    import dask.dataframe as dd

    rows = trainable_rows(make_dataset(n_merchants=30, n_snapshots=20, seed=2))
    frame = dd.from_pandas(rows.sample(frac=1.0, random_state=1), npartitions=4)
    pd.testing.assert_frame_equal(client_sample(frame, len(rows), seed=0), rows, check_dtype=False)
    sample = client_sample(frame, 100, seed=0)
    assert len(sample) == 100 and sample.merge(rows).shape[0] == 100
    assert sample.equals(sample.sort_values(["snapshot_at", "merchant_id"], ignore_index=True))


@pytest.mark.xdist_group("dask")
def test_naive_baselines_on_the_workers_equal_the_pandas_ones(client) -> None:
    import dask.dataframe as dd

    rows = trainable_rows(make_dataset(n_merchants=30, n_snapshots=20, seed=6))
    frame = dd.from_pandas(rows, npartitions=5)
    on_workers, in_process = naive_baselines_dask(frame), NaiveBaselines.of(rows)
    np.testing.assert_array_equal(on_workers.transitions, in_process.transitions)
    assert on_workers.mean_label_score == pytest.approx(in_process.mean_label_score, abs=1e-12)
    assert on_workers.fallback == PersistenceFallback.of(rows)
