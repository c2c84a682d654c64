"""`les train`: dataset -> backtest -> final fit -> one MLflow run with a registered, gated model."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import lightgbm as lgb
import mlflow
import numpy as np
import pandas as pd
import yaml
from rich.progress import Progress

from features.catalogue import Catalogue
from features.dataset import DatasetConfig
from features.io import DatasetRecipe
from features.rulebook import TIER_CODES, Rulebook
from training import plots
from training.advice import peer_reference
from training.backtest import (
    MODEL,
    NAIVE_BASELINES,
    BacktestResult,
    run_backtest,
    trainable_rows,
)
from training.config import TrainConfig
from training.fingerprint import dataset_fingerprint
from training.models import Forecaster, booster_text, fit_forecaster
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

MODEL_CODE = Path(__file__).with_name("forecaster_model.py")
REPORT_SNAPSHOTS = 4
TIERS_BY_CODE = [t for t, _ in sorted(TIER_CODES.items(), key=lambda kv: kv[1])]


class TrainingError(RuntimeError):
    """The dataset cannot train a forecaster (too few rows, tiers or snapshots)."""


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


def model_feature_names(catalogue: Catalogue, config: TrainConfig) -> tuple[str, ...]:
    excluded = set(config.excluded_features)
    return tuple(n for n in catalogue.names if n not in excluded)


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
    progress: Progress | None = None,
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
    backtest = run_backtest(rows, names, config, rules, progress)
    forecaster = fit_forecaster(rows, names, config)
    trained = TrainedForecaster(
        forecaster, backtest, dataset_fingerprint(dataset), rows, rows, len(rows)
    )
    return register_trained(trained, config, rules, catalogue, tracking, recipe)


def register_trained(
    trained: TrainedForecaster,
    config: TrainConfig,
    rules: Rulebook,
    catalogue: Catalogue,
    tracking: TrackingConfig,
    recipe: DatasetRecipe | None = None,
) -> TrainResult:
    """One MLflow run: log, register and gate the forecaster; the same for both engines."""
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
        _log_run(Path(tmp), trained.fingerprint, config, rules, catalogue, backtest, importance)
        fingerprint = model_fingerprint(forecaster)
        info = _log_model(
            Path(tmp),
            forecaster,
            rules,
            catalogue,
            fingerprint,
            trained.reference_rows,
            config,
            recipe,
        )
        decision = decide_alias(
            backtest.pooled_metrics.loc[MODEL].to_dict(),
            {name: backtest.pooled_metrics.loc[name].to_dict() for name in NAIVE_BASELINES},
            previous_champion,
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
        _log_global_report(
            Path(tmp), trained.report_rows, backtest, config, version, info.model_uri
        )
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
    )


def _log_global_report(
    tmp: Path,
    rows: pd.DataFrame,
    backtest: BacktestResult,
    config: TrainConfig,
    version: str,
    logged_model_uri: str,
) -> None:
    """The `les report` of this version, on its newest training snapshots, as run artifacts."""
    from training.global_report import build_global_report, render_global_html
    from training.registered import read_forecaster_folder

    model_dir = Path(
        mlflow.artifacts.download_artifacts(logged_model_uri, dst_path=str(tmp / "model"))
    )
    model = read_forecaster_folder(
        model_dir,
        f"models:/{config.registered_model_name}/{version}",
        config.registered_model_name,
        version,
    )
    newest = sorted(rows["snapshot_at"].unique())[-REPORT_SNAPSHOTS:]
    report = build_global_report(
        model, rows[rows["snapshot_at"].isin(newest)], backtest.pooled_metrics, seed=config.seed
    )
    mlflow.log_text(render_global_html(report), "reports/global_report.html")
    mlflow.log_dict(
        json.loads(json.dumps(report.to_dict(), default=str)), "reports/global_report.json"
    )


def check_horizon(config: TrainConfig, recipe: DatasetRecipe) -> None:
    """The folds are cut `horizon_days` apart so no label window reaches into a test fold, and
    the model is served as a forecast of that horizon: both must be the labels' own horizon."""
    recorded = recipe.config.horizon_days
    if config.horizon_days != recorded:
        raise TrainingError(
            f"the training config's horizon_days {config.horizon_days} disagrees with the "
            f"dataset's recorded horizon_days {recorded}; rebuild the dataset with "
            f"--horizon-days {config.horizon_days} or set horizon_days: {recorded}"
        )


def check_trainable(n_rows: int, tiers: Iterable[object]) -> None:
    """Raise TrainingError unless `n_rows` trainable rows hold at least two label `tiers`."""
    if n_rows < 50:
        raise TrainingError(
            f"only {n_rows} trainable rows (complete, sufficient labels); need >= 50"
        )
    present = sorted(str(t) for t in tiers)
    if len(present) < 2:
        raise TrainingError(f"labels hold a single tier {present}; a forecaster needs at least two")


LABEL_COLUMNS = ("merchant_id", "snapshot_at", "label_tier", "label_complete")


def check_dataset(
    columns: Iterable[str], dtypes: Mapping[str, object], features: Iterable[str]
) -> None:
    """Raise TrainingError naming the columns unless the dataset holds the label columns and every
    model feature as a numeric column: checked from the schema alone (a pandas or a Dask frame),
    before a backtest that would fail on them minutes later inside an MLflow run."""
    present = set(columns)
    features = tuple(features)
    missing = [c for c in (*LABEL_COLUMNS, *features) if c not in present]
    if missing:
        raise TrainingError(
            f"the dataset lacks the columns {missing}; build it with `les build-dataset`"
        )
    not_numeric = [
        f"{name} ({dtypes[name]})"
        for name in features
        if not pd.api.types.is_numeric_dtype(dtypes[name])
    ]
    if not_numeric:
        raise TrainingError(
            f"feature columns are not numeric: {', '.join(not_numeric)}; a model feature holds "
            "numbers (missing values as empty)"
        )


def _log_run(
    tmp: Path,
    fingerprint: dict[str, object],
    config: TrainConfig,
    rules: Rulebook,
    catalogue: Catalogue,
    backtest: BacktestResult,
    importance: pd.DataFrame,
) -> None:
    params = {k: v for k, v in config.to_dict().items() if k != "lgbm_params"}
    params |= {f"lgbm.{k}": v for k, v in config.lgbm_params.items()}
    mlflow.log_params({k: str(v) for k, v in params.items()})
    mlflow.log_params(
        {
            "catalogue_version": catalogue.version,
            "rulebook_version": rules.version,
            **fingerprint,
        }
    )
    for model, metrics in backtest.pooled_metrics.iterrows():
        mlflow.log_metrics(
            {f"pooled.{model}.{k}": float(v) for k, v in metrics.items() if np.isfinite(v)}
        )
    for _, row in backtest.fold_metrics.iterrows():
        mlflow.log_metrics(
            {
                f"fold{row['fold']}.{row['model']}.{k}": float(v)
                for k, v in row.items()
                if k not in ("fold", "model") and np.isfinite(v)
            }
        )
    mlflow.log_table(backtest.fold_metrics, "backtest/fold_metrics.json")
    mlflow.log_table(
        backtest.pooled_metrics.reset_index(names="model"), "backtest/pooled_metrics.json"
    )
    mlflow.log_table(importance, "feature_importance.json")
    mlflow.log_dict([dataclasses.asdict(f) for f in backtest.folds], "backtest/folds.json")
    mlflow.set_tag("backtest.evaluated", backtest.plan.describe())
    mlflow.log_params(
        {"backtest.folds_run": len(backtest.folds), "backtest.fold_days": backtest.plan.fold_days}
    )
    y_true = backtest.predictions["label_tier_code"].to_numpy(int)
    proba = backtest.predictions[[f"{MODEL}_p{c}" for c in range(len(TIERS_BY_CODE))]].to_numpy()
    plots.plot_confusion(
        y_true,
        backtest.predictions[f"{MODEL}_tier"].to_numpy(int),
        TIERS_BY_CODE,
        tmp / "confusion_matrix.png",
    )
    plots.plot_reliability(y_true, proba, tmp / "reliability.png")
    mlflow.log_artifact(str(tmp / "confusion_matrix.png"), "plots")
    mlflow.log_artifact(str(tmp / "reliability.png"), "plots")


def _log_model(
    tmp: Path,
    forecaster: Forecaster,
    rules: Rulebook,
    catalogue: Catalogue,
    fingerprint: str,
    rows: pd.DataFrame,
    config: TrainConfig,
    recipe: DatasetRecipe,
):
    """The pyfunc model with its artifacts; meta.json carries the dataset recipe (windows,
    horizon, cadence, minimums, rulebook version and hash) that serving rebuilds features with."""
    artifacts = {
        "classifier": _write(tmp / "classifier.txt", booster_text(forecaster.classifier)),
        "regressor": _write(tmp / "regressor.txt", booster_text(forecaster.regressor)),
        "catalogue": _write(
            tmp / "catalogue.yaml",
            yaml.safe_dump(
                {
                    "version": catalogue.version,
                    "stages": catalogue.stage_labels,
                    "features": [dataclasses.asdict(f) for f in catalogue.features],
                },
                sort_keys=False,
            ),
        ),
        "rulebook": _write(
            tmp / "rulebook.yaml",
            yaml.safe_dump(_plain(dataclasses.asdict(rules)), sort_keys=False),
        ),
        "peer_reference": _write(
            tmp / "peer_reference.json",
            json.dumps(peer_reference(rows, forecaster.feature_names), indent=2),
        ),
        "meta": _write(
            tmp / "meta.json",
            json.dumps(
                {
                    "feature_names": list(forecaster.feature_names),
                    "tiers_by_code": TIERS_BY_CODE,
                    "fingerprint": fingerprint,
                    "artifact_sha256": {
                        name: hashlib.sha256((tmp / name).read_bytes()).hexdigest()
                        for name in ("classifier.txt", "regressor.txt")
                    },
                    "catalogue_version": catalogue.version,
                    "rulebook_version": rules.version,
                    "recipe": recipe.to_dict(),
                    "tier_cuts": list(forecaster.tier_cuts),
                },
                indent=2,
            ),
        ),
    }
    example = rows[["merchant_id", *forecaster.feature_names]].head(3)
    return mlflow.pyfunc.log_model(
        name="forecaster",
        python_model=str(MODEL_CODE),
        artifacts=artifacts,
        input_example=example,
        pip_requirements=[
            f"mlflow=={mlflow.__version__}",
            f"lightgbm=={lgb.__version__}",
            f"pandas=={pd.__version__}",
            f"numpy=={np.__version__}",
        ],
    )


def _write(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


def _plain(value: object) -> object:
    """Tuples to lists so YAML stays plain and readable by any tool."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value
