"""What one training run logs to MLflow: params, metrics, tables, plots, the pyfunc model with its
artifacts, and the global report of the registered version."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import lightgbm as lgb
import mlflow
import numpy as np
import pandas as pd
import yaml

from features.catalogue import Catalogue
from features.recipe import DatasetRecipe
from features.rulebook import TIER_CODES, Rulebook
from training.backtest import CLIMATOLOGY, MIGRATION, MODEL, PERSISTENCE, BacktestResult
from training.config import TrainConfig
from training.explain.advice import peer_reference
from training.metrics import POOLED, metric_key, proba_of
from training.models import Forecaster, booster_text
from training.monitor.reference import drift_reference_of
from training.reports import plots
from training.uncertainty import backtest_edges, ece_noise_floor

MODEL_CODE = Path(__file__).with_name("forecaster_model.py")
REPORT_SNAPSHOTS = 4
TIERS_BY_CODE = [t for t, _ in sorted(TIER_CODES.items(), key=lambda kv: kv[1])]


def log_global_report(
    tmp: Path,
    rows: pd.DataFrame,
    backtest: BacktestResult,
    config: TrainConfig,
    version: str,
    logged_model_uri: str,
) -> None:
    """The `les report` of this version, on its newest training snapshots, as run artifacts."""
    from training.explain.registered import read_forecaster_folder
    from training.reports.model import build_global_report, global_report_json, render_global_html

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
    mlflow.log_dict(json.loads(global_report_json(report)), "reports/global_report.json")


def log_run(
    tmp: Path,
    fingerprint: dict[str, object],
    config: TrainConfig,
    rules: Rulebook,
    catalogue: Catalogue,
    backtest: BacktestResult,
    importance: pd.DataFrame,
) -> tuple[pd.DataFrame, tuple[float, float]]:
    """Everything about the run but the model; returns the edge table (`log_edges`) and the
    served probabilities' ECE noise floor (`log_ece_noise_floor`)."""
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
            {
                metric_key(POOLED, str(model), k): float(v)
                for k, v in metrics.items()
                if np.isfinite(v)
            }
        )
    for _, row in backtest.fold_metrics.iterrows():
        mlflow.log_metrics(
            {
                metric_key(f"fold{row['fold']}", row["model"], k): float(v)
                for k, v in row.items()
                if k not in ("fold", "model") and np.isfinite(v)
            }
        )
    mlflow.log_table(backtest.fold_metrics, "backtest/fold_metrics.json")
    mlflow.log_table(
        backtest.pooled_metrics.reset_index(names="model"), "backtest/pooled_metrics.json"
    )
    mlflow.log_table(importance, "feature_importance.json")
    edges = log_edges(backtest, config.seed)
    proba = proba_of(backtest.predictions, MODEL)
    floor = log_ece_noise_floor(proba, config.seed)
    mlflow.log_dict([dataclasses.asdict(f) for f in backtest.folds], "backtest/folds.json")
    mlflow.set_tag("backtest.evaluated", backtest.plan.describe())
    mlflow.log_params(
        {"backtest.folds_run": len(backtest.folds), "backtest.fold_days": backtest.plan.fold_days}
    )
    y_true = backtest.predictions["label_tier_code"].to_numpy(int)
    plots.plot_confusion(
        y_true,
        backtest.predictions[f"{MODEL}_tier"].to_numpy(int),
        TIERS_BY_CODE,
        tmp / "confusion_matrix.png",
    )
    plots.plot_reliability(y_true, proba, tmp / "reliability.png")
    mlflow.log_artifact(str(tmp / "confusion_matrix.png"), "plots")
    mlflow.log_artifact(str(tmp / "reliability.png"), "plots")
    return edges, floor


def log_ece_noise_floor(proba: np.ndarray, seed: int) -> tuple[float, float]:
    """The pooled ECE a perfectly calibrated forecast would show on the backtest's rows (`proba`,
    the served probabilities) by chance (`training.uncertainty.ece_noise_floor`):
    `pooled.lightgbm.ece_noise_floor` and `_high`, so the logged ECE can be read against what its
    rows allow."""
    mean, high = ece_noise_floor(proba, seed=seed)
    mlflow.log_metrics(
        {
            metric_key(POOLED, MODEL, "ece_noise_floor"): mean,
            metric_key(POOLED, MODEL, "ece_noise_floor_high"): high,
        }
    )
    return mean, high


def log_edges(backtest: BacktestResult, seed: int) -> pd.DataFrame:
    """The served model's edge over persistence and the probabilistic baselines with its
    merchant-bootstrap interval (`training.uncertainty`): metrics such as
    `pooled.lightgbm.qwk_edge_over_persistence_low`, and the table `backtest/edges.json`."""
    edges = backtest_edges(
        backtest.predictions, MODEL, PERSISTENCE, (MIGRATION, CLIMATOLOGY), seed=seed
    )
    metrics = {}
    for row in edges.itertuples(index=False):
        name = f"{row.metric}_edge_over_{row.baseline}"
        for suffix, value in (("", row.edge), ("_low", row.low), ("_high", row.high)):
            if np.isfinite(value):
                metrics[metric_key(POOLED, MODEL, name + suffix)] = float(value)
    mlflow.log_metrics(metrics)
    mlflow.log_table(edges, "backtest/edges.json")
    return edges


def log_model(
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
        "drift_reference": _write(
            tmp / "drift_reference.json",
            json.dumps(
                drift_reference_of(
                    rows,
                    forecaster,
                    catalogue,
                    tuple(TIERS_BY_CODE),
                    config.seed,
                    recipe.config.history_window_days - recipe.config.window_days,
                ).to_dict()  # the first snapshot ends one window after the data begins
            ),
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
