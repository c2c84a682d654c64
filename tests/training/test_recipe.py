"""The dataset recipe travels with the model: DatasetConfig -> dataset -> meta.json -> served."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from features.catalogue import load_catalogue
from features.dataset_config import DatasetConfig
from features.recipe import (
    DatasetRecipe,
    RecipeError,
    feature_differences,
    read_recipe,
    recipe_path,
    rulebook_sha256,
    write_recipe,
)
from features.rulebook import load_rulebook
from training.checks import TrainingError
from training.config import load_train_config
from training.explain.registered import load_registered_forecaster, read_forecaster_folder
from training.pipeline import train_and_register
from training.tracking import RegistryError, activate, resolve_tracking

pytestmark = pytest.mark.xdist_group("mlflow")
RULES = load_rulebook()
NINETY = DatasetConfig(window_days=90, horizon_days=30, cadence_days=14, history_days=180)


def ninety_day_recipe() -> DatasetRecipe:
    """What `les build-dataset --window-days 90 --cadence-days 14 --min-orders 12` records."""
    return DatasetRecipe.of(NINETY, RULES.with_overrides(window_days=30, min_orders=12))


def test_a_dataset_config_survives_its_dict_form():
    config = dataclasses.replace(
        NINETY,
        min_observations=8,
        first_snapshot=pd.Timestamp("2026-01-05", tz="UTC"),
        last_snapshot=pd.Timestamp("2026-06-01", tz="UTC"),
    )
    raw = json.loads(json.dumps(config.to_dict()))
    assert DatasetConfig.from_dict(raw) == config
    assert DatasetConfig.from_dict({"window_days": 90}) == DatasetConfig(window_days=90)
    with pytest.raises(ValueError, match="lookback_days"):
        DatasetConfig.from_dict({"lookback_days": 90})


@pytest.mark.parametrize("name", ["dataset.parquet", "dataset.csv", "dataset"])
def test_the_recipe_is_written_beside_every_dataset_layout(tmp_path: Path, name: str):
    dataset = tmp_path / name
    assert read_recipe(dataset) is None  # nothing recorded: the caller falls back and says so
    path = write_recipe(ninety_day_recipe(), dataset)
    assert path == recipe_path(dataset)
    assert read_recipe(dataset) == ninety_day_recipe()
    if dataset.suffix == "":
        assert path.parent == dataset and path.name.startswith("_")  # parquet readers skip it


def test_a_malformed_recipe_is_a_clear_error(tmp_path: Path):
    dataset = tmp_path / "dataset.parquet"
    recipe_path(dataset).write_text('{"dataset": {"window_days": 90}}')
    with pytest.raises(RecipeError, match="rulebook"):
        read_recipe(dataset)
    recipe_path(dataset).write_text("not json")
    with pytest.raises(RecipeError, match="unreadable"):
        read_recipe(dataset)


def test_the_recipe_rebuilds_its_rulebook_and_refuses_another():
    recipe = ninety_day_recipe()
    rules = recipe.rulebook(RULES)
    assert (rules.window_days, rules.min_orders) == (30, 12)
    assert rulebook_sha256(rules) == recipe.rulebook_sha256
    reworded = dataclasses.replace(
        RULES, metrics=tuple(dataclasses.replace(m, source="") for m in RULES.metrics)
    )
    assert rulebook_sha256(reworded) == rulebook_sha256(RULES)  # precedents do not score
    recipe.rulebook(reworded)
    changed = RULES.with_overrides(tiers={"Excellent": 4.5})
    with pytest.raises(RecipeError, match="same version, other bands"):
        recipe.rulebook(changed)
    newer = RULES.version + 1
    with pytest.raises(RecipeError, match=f"rulebook version {newer}"):
        dataclasses.replace(recipe, rulebook_version=newer).rulebook(RULES)


def test_only_fields_that_change_a_feature_are_differences():
    recipe = ninety_day_recipe()
    other_grid = dataclasses.replace(recipe.config, cadence_days=1, horizon_days=60)
    assert feature_differences(dataclasses.replace(recipe, config=other_grid), recipe) == []
    assert feature_differences(DatasetRecipe.legacy(RULES.version), recipe) == [
        "window_days 30 != 90",
        "history_days 0 != 180",
    ]


def test_the_recipe_round_trips_through_meta_json(small_dataset, mlflow_store: Path):
    """DatasetConfig -> `les train` meta.json -> the loaded model's dataset_config, and a model
    registered before recipes (meta.json without one) loads with the defaults."""
    recipe = ninety_day_recipe()
    tracking = resolve_tracking(mlflow_store)
    config = load_train_config(n_folds=1, max_boost_rounds=20)
    result = train_and_register(
        small_dataset, config, recipe.rulebook(RULES), load_catalogue(), tracking, recipe=recipe
    )
    model = load_registered_forecaster(result.model_uri, tracking)
    assert model.dataset_config == NINETY
    assert model.recipe == recipe
    assert model.rulebook(RULES) == recipe.rulebook(RULES)
    with pytest.raises(RegistryError, match="was trained on rows built under rulebook version"):
        model.rulebook(RULES.with_overrides(tiers={"Good": 2.9}))

    import mlflow

    activate(tracking)
    folder = Path(mlflow.artifacts.download_artifacts(result.model_uri, dst_path=str(mlflow_store)))
    meta_path = folder / "artifacts" / "meta.json"
    meta = json.loads(meta_path.read_text())
    assert meta["recipe"]["dataset"]["window_days"] == 90
    assert meta["recipe"]["rulebook"]["sha256"] == recipe.rulebook_sha256
    legacy = folder.with_name("legacy")
    shutil.copytree(folder, legacy)
    del meta["recipe"]
    (legacy / "artifacts" / "meta.json").write_text(json.dumps(meta))
    old = read_forecaster_folder(legacy)
    assert old.dataset_config == DatasetConfig()
    assert old.rulebook(RULES) == RULES


def test_a_horizon_other_than_the_datasets_is_refused_before_training(small_dataset):
    config = load_train_config(horizon_days=60)
    with pytest.raises(TrainingError, match="horizon_days 60 .* recorded horizon_days 30"):
        train_and_register(
            small_dataset,
            config,
            RULES,
            load_catalogue(),
            tracking=None,
            recipe=DatasetRecipe.of(DatasetConfig(horizon_days=30), RULES),
        )
