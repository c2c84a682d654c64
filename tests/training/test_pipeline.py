"""Training end to end on a small dataset: reproducibility, MLflow round trip, the gate."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from features.catalogue import load_catalogue
from features.rulebook import load_rulebook
from training.backtest import MODEL, PERSISTENCE, trainable_rows
from training.checks import model_feature_names
from training.config import load_train_config
from training.models import booster_text, fit_forecaster
from training.pipeline import train_and_register
from training.tracking import CHALLENGER, CHAMPION, activate, resolve_tracking

pytestmark = pytest.mark.xdist_group("mlflow")


def test_same_data_and_config_give_byte_identical_boosters(small_dataset: pd.DataFrame) -> None:
    config = load_train_config(max_boost_rounds=60)
    rows = trainable_rows(small_dataset)
    names = model_feature_names(load_catalogue(), config)
    first, second = (fit_forecaster(rows, names, config) for _ in range(2))
    assert booster_text(first.classifier) == booster_text(second.classifier)
    assert booster_text(first.regressor) == booster_text(second.regressor)


def test_train_registers_a_champion_that_a_fresh_process_reproduces(
    small_dataset: pd.DataFrame, mlflow_store: Path
) -> None:
    config = load_train_config(max_boost_rounds=80)
    tracking = resolve_tracking(mlflow_store)
    result = train_and_register(small_dataset, config, load_rulebook(), load_catalogue(), tracking)
    pooled = result.backtest.pooled_metrics
    assert pooled.loc[MODEL, "macro_f1"] > pooled.loc[PERSISTENCE, "macro_f1"]
    assert result.decision.alias == CHAMPION
    client = activate(tracking)
    assert (
        str(client.get_model_version_by_alias("les-forecaster", CHAMPION).version)
        == result.model_version
    )

    sample = small_dataset.head(25)
    sample_path = mlflow_store.parent / "sample.parquet"
    sample.to_parquet(sample_path)
    import mlflow.pyfunc

    here = mlflow.pyfunc.load_model("models:/les-forecaster@champion").predict(sample)
    there_path = mlflow_store.parent / "there.parquet"
    script = (
        "import mlflow, pandas as pd\n"
        f"mlflow.set_tracking_uri({tracking.tracking_uri!r})\n"
        "m = mlflow.pyfunc.load_model('models:/les-forecaster@champion')\n"
        f"m.predict(pd.read_parquet({str(sample_path)!r})).to_parquet({str(there_path)!r})\n"
    )
    subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    pd.testing.assert_frame_equal(
        pd.read_parquet(there_path), here.reset_index(drop=True), check_exact=True
    )
    assert set(here["model_version"]) == {result.fingerprint}
    assert {"p_excellent", "p_good", "p_needs_attention", "p_poor"} <= set(here.columns)


def test_crippled_model_is_not_promoted(small_dataset: pd.DataFrame, mlflow_store: Path) -> None:
    tracking = resolve_tracking(mlflow_store)
    good = train_and_register(
        small_dataset,
        load_train_config(max_boost_rounds=80),
        load_rulebook(),
        load_catalogue(),
        tracking,
    )
    crippled_config = load_train_config(
        max_boost_rounds=1,
        lgbm_params={"learning_rate": 1e-4, "num_leaves": 2},
        excluded_features=tuple(load_catalogue().names[1:]),
    )
    crippled = train_and_register(
        small_dataset, crippled_config, load_rulebook(), load_catalogue(), tracking
    )
    assert crippled.decision.alias == CHALLENGER
    assert any("persistence" in r for r in crippled.decision.reasons)
    client = activate(tracking)
    assert (
        str(client.get_model_version_by_alias("les-forecaster", CHAMPION).version)
        == good.model_version
    )


def test_a_crash_before_the_alias_moves_leaves_a_tagged_version_and_the_old_champion(
    small_dataset: pd.DataFrame, mlflow_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The alias moves last, after the run is complete: a training killed before it never puts a
    version behind `champion`, and every version is born with its gate outcome."""
    import training.pipeline as pipeline

    tracking = resolve_tracking(mlflow_store)
    config = load_train_config(max_boost_rounds=60)
    first = train_and_register(small_dataset, config, load_rulebook(), load_catalogue(), tracking)
    assert first.decision.promoted

    def crash(*args, **kwargs):
        raise KeyboardInterrupt("killed before the alias moved")

    monkeypatch.setattr(pipeline, "set_alias", crash)
    with pytest.raises(KeyboardInterrupt):
        train_and_register(small_dataset, config, load_rulebook(), load_catalogue(), tracking)
    client = activate(tracking)
    champion = client.get_model_version_by_alias("les-forecaster", CHAMPION)
    assert str(champion.version) == first.model_version
    second = client.get_model_version("les-forecaster", "2")
    assert second.tags["gate"] == "passed" and second.tags["gate.alias"] == CHAMPION
    assert second.tags["fingerprint"] == first.fingerprint  # same data and config
    assert client.get_run(second.run_id).info.status == "FINISHED"
    assert client.get_run(champion.run_id).info.status == "FINISHED"
