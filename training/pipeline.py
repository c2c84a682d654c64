"""`les train`: dataset -> backtest -> final fit -> one MLflow run with a registered, gated model."""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd

from features.catalogue import Catalogue
from features.dataset_config import DatasetConfig
from features.progress import Advance
from features.recipe import DatasetRecipe
from features.rulebook import Rulebook
from training.backtest import (
    MODEL,
    NAIVE_BASELINES,
    BacktestResult,
    run_backtest,
    trainable_rows,
)
from training.checks import check_horizon, check_trainable, model_feature_names
from training.config import TrainConfig
from training.fingerprint import dataset_fingerprint
from training.metrics import metric_key
from training.models import Forecaster, booster_text, fit_forecaster
from training.run_logging import log_global_report, log_model, log_run
from training.tracking import (
    GateDecision,
    TrackingConfig,
    activate,
    champion_metrics,
    decide_alias,
    ensure_experiment,
    fail_abandoned_runs,
    owner_tags,
    set_alias,
)


@dataclass(frozen=True)
class TrainResult:
    run_id: str
    model_name: str
    model_version: str
    model_uri: str
    fingerprint: str
    decision: GateDecision
    backtest: BacktestResult
    feature_importance: pd.DataFrame
    n_rows: int
    # the served model's edge over the baselines with its merchant-bootstrap interval
    edges: pd.DataFrame | None = None
    # the ECE a perfectly calibrated forecast shows on the backtest's rows by chance (mean, 90%)
    ece_noise_floor: tuple[float, float] | None = None


def model_fingerprint(forecaster: Forecaster) -> str:
    text = booster_text(forecaster.classifier) + booster_text(forecaster.regressor)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def feature_importance(forecaster: Forecaster, catalogue: Catalogue) -> pd.DataFrame:
    table = pd.DataFrame(
        {
            "feature": forecaster.feature_names,
            "stage": [catalogue.stage_of(n) for n in forecaster.feature_names],
            "classifier_gain": forecaster.classifier.feature_importance("gain"),
            "regressor_gain": forecaster.regressor.feature_importance("gain"),
        }
    )
    for column in ("classifier_gain", "regressor_gain"):
        table[column] = table[column] / max(table[column].sum(), 1e-12)
    return table.sort_values("regressor_gain", ascending=False, ignore_index=True)


@dataclass(frozen=True)
class TrainedForecaster:
    """What registration needs of a training run, whichever engine ran it. On pandas the two frames
    are all trainable rows; on Dask, bounded samples (`training.distributed`)."""

    forecaster: Forecaster
    backtest: BacktestResult
    fingerprint: dict[str, object]  # `dataset_fingerprint` of the input dataset
    reference_rows: pd.DataFrame  # training rows: peer medians and the input example
    report_rows: pd.DataFrame  # training rows holding the newest snapshots: the global report
    n_rows: int  # trainable rows the forecaster was fitted on


def train_and_register(
    dataset: pd.DataFrame,
    config: TrainConfig,
    rules: Rulebook,
    catalogue: Catalogue,
    tracking: TrackingConfig,
    advance: Advance | None = None,
    recipe: DatasetRecipe | None = None,
) -> TrainResult:
    """Backtest, fit, log, register and gate in this process; a Dask collection (a dataset too
    large for this process) trains with `training.distributed.train_and_register_dask`.

    `recipe` is how `dataset` was built (default: DatasetConfig() under `rules`); the model
    records it so every later feature build for it uses the same windows and rulebook."""
    recipe = recipe or DatasetRecipe.of(DatasetConfig(), rules)
    check_horizon(config, recipe)
    rows = trainable_rows(dataset)
    check_trainable(len(rows), rows["label_tier"].unique())
    names = model_feature_names(catalogue, config)
    backtest = run_backtest(rows, names, config, rules, advance)
    forecaster = fit_forecaster(rows, names, config)
    trained = TrainedForecaster(
        forecaster, backtest, dataset_fingerprint(dataset), rows, rows, len(rows)
    )
    return register_trained(trained, config, rules, catalogue, tracking, recipe)


HOLDOUT = "holdout"
HOLDOUT_CHAMPION = "champion"


def log_holdout(holdout: dict[str, dict[str, float]]) -> None:
    mlflow.log_metrics(
        {
            metric_key(HOLDOUT, name, metric): float(value)
            for name, metrics in holdout.items()
            for metric, value in metrics.items()
            if np.isfinite(value)
        }
    )


def register_trained(
    trained: TrainedForecaster,
    config: TrainConfig,
    rules: Rulebook,
    catalogue: Catalogue,
    tracking: TrackingConfig,
    recipe: DatasetRecipe | None = None,
    holdout: dict[str, dict[str, float]] | None = None,
) -> TrainResult:
    """One MLflow run: log, register and gate the forecaster; the same for both engines.

    With `holdout` (model name -> metrics on a window no candidate trained on, including
    "champion" for the current one: `les retrain`) the gate reads those figures instead of the
    backtest's, and they are logged as `holdout.<model>.<metric>`."""
    recipe = recipe or DatasetRecipe.of(DatasetConfig(), rules)
    forecaster, backtest = trained.forecaster, trained.backtest
    client = activate(tracking)
    experiment_id = ensure_experiment(client, config.experiment_name, tracking)
    previous_champion = champion_metrics(client, config.registered_model_name)
    fail_abandoned_runs(client, experiment_id)
    with (
        mlflow.start_run(experiment_id=experiment_id, tags=owner_tags()) as run,
        tempfile.TemporaryDirectory() as tmp,
    ):
        importance = feature_importance(forecaster, catalogue)
        edges, ece_floor = log_run(
            Path(tmp), trained.fingerprint, config, rules, catalogue, backtest, importance
        )
        fingerprint = model_fingerprint(forecaster)
        info = log_model(
            Path(tmp),
            forecaster,
            rules,
            catalogue,
            fingerprint,
            trained.reference_rows,
            config,
            recipe,
        )
        if holdout is None:
            decision = decide_alias(
                backtest.pooled_metrics.loc[MODEL].to_dict(),
                {name: backtest.pooled_metrics.loc[name].to_dict() for name in NAIVE_BASELINES},
                previous_champion,
                config.promotion_tolerance,
            )
        else:
            log_holdout(holdout)
            decision = decide_alias(
                holdout[MODEL],
                {name: holdout[name] for name in NAIVE_BASELINES if name in holdout},
                holdout.get(HOLDOUT_CHAMPION),
                config.promotion_tolerance,
            )
        # The version is born with its gate outcome; a kill after this leaves a tagged version
        # and no alias, never an untagged one.
        version = str(
            mlflow.register_model(
                info.model_uri,
                config.registered_model_name,
                tags={
                    "fingerprint": fingerprint,
                    "gate": "; ".join(decision.reasons) or "passed",
                    "gate.alias": decision.alias,
                },
            ).version
        )
        mlflow.set_tag("gate.alias", decision.alias)
        log_global_report(Path(tmp), trained.report_rows, backtest, config, version, info.model_uri)
    # Last, once the run is complete with its reports: champion never points at a dying run.
    set_alias(client, config.registered_model_name, decision.alias, version)
    return TrainResult(
        run.info.run_id,
        config.registered_model_name,
        version,
        f"models:/{config.registered_model_name}/{version}",
        fingerprint,
        decision,
        backtest,
        importance,
        trained.n_rows,
        edges,
        ece_floor,
    )
