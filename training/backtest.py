"""Honest evaluation: rolling-origin folds, the model beside its baselines, per fold and pooled."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from features.progress import Advance
from features.rulebook import TIER_CODES, Rulebook
from features.rulebook_scoring import tier_from_score
from training.baselines import (
    NaiveBaselines,
    fit_logistic,
    logistic_predict,
    most_likely_tiers,
    persistence_scores,
    persistence_tiers,
)
from training.config import TrainConfig
from training.forecaster_model import ordinal_tier_codes
from training.metrics import (
    N_TIERS,
    PERSISTENCE_MODEL,
    SERVED_MODEL,
    proba_columns,
    proba_of,
    score_metrics,
    tier_metrics,
)
from training.models import Forecaster, fit_forecaster
from training.splits import Fold, FoldPlan, fold_masks, plan_folds

MODEL = SERVED_MODEL
BACKTEST_STEP = "backtest folds"  # the progress line of the fold loop
# Diagnostics of the decision rule: the same model's score cut at the rulebook's tier boundaries,
# and its probabilities read by the expected-squared-cost rule (the served tier before cuts).
MODEL_SCORE_TIER = "lightgbm_score_tier"
MODEL_PROBA_TIER = "lightgbm_proba_tier"
PERSISTENCE = PERSISTENCE_MODEL
CLIMATOLOGY = "climatology"
MIGRATION = "migration_matrix"
LOGISTIC = "logistic"
NAIVE_BASELINES = (PERSISTENCE, CLIMATOLOGY, MIGRATION)
MODELS = (MODEL, MODEL_SCORE_TIER, MODEL_PROBA_TIER, *NAIVE_BASELINES, LOGISTIC)
TEST_KEYS = ("merchant_id", "snapshot_at")
ROW_ORDER = ("snapshot_at", "merchant_id")  # trainable rows are sorted so, on either engine
LABEL_COLUMNS = ("label_tier_code", "label_score")
PERSISTENCE_INPUTS = ("current_tier_code", "current_les_score")
# Fits a forecaster on training rows (`fit_forecaster`; tests pass stand-ins).
FitForecaster = Callable[[pd.DataFrame, tuple[str, ...], TrainConfig], Forecaster]


@dataclass(frozen=True)
class BacktestResult:
    plan: FoldPlan  # the folds run, and what was asked for
    fold_metrics: pd.DataFrame  # one row per (fold, model)
    pooled_metrics: pd.DataFrame  # one row per model, over all test rows of all folds
    predictions: pd.DataFrame  # every test row with each model's tier (and the model's proba)

    @property
    def folds(self) -> list[Fold]:
        return self.plan.folds

    def pooled(self, model: str, metric: str) -> float:
        return float(self.pooled_metrics.loc[model, metric])


def trainable_rows(dataset: pd.DataFrame) -> pd.DataFrame:
    """Rows with a complete, sufficient label window; adds the ordinal `label_tier_code`."""
    keep = dataset["label_complete"].astype(bool) & dataset["label_tier"].isin(list(TIER_CODES))
    rows = dataset.loc[keep].copy()
    rows["label_tier_code"] = rows["label_tier"].map(TIER_CODES).astype(int)
    return rows.sort_values(list(ROW_ORDER), kind="stable").reset_index(drop=True)


def run_backtest(
    rows: pd.DataFrame,
    feature_names: tuple[str, ...],
    config: TrainConfig,
    rules: Rulebook,
    advance: Advance | None = None,
    fit: FitForecaster = fit_forecaster,
) -> BacktestResult:
    plan = plan_folds(rows["snapshot_at"], config.n_folds, config.horizon_days)
    return backtest_folds(
        plan, lambda fold: _predict_fold(rows, fold, feature_names, config, rules, fit), advance
    )


def backtest_folds(
    plan: FoldPlan,
    predict_fold: Callable[[Fold], pd.DataFrame],
    advance: Advance | None = None,
) -> BacktestResult:
    """Per-fold and pooled metrics of `fold_predictions` frames; `predict_fold` is the engine's
    (in this process here, on the cluster in `training.distributed`), the scoring is shared."""
    per_fold = []
    for fold in plan.folds:
        per_fold.append(predict_fold(fold))
        if advance is not None:
            advance(BACKTEST_STEP, len(plan.folds))
    predictions = pd.concat(per_fold, ignore_index=True)
    fold_metrics = pd.concat(
        [_metrics_table(p).assign(fold=n) for n, p in predictions.groupby("fold")]
    ).reset_index(names="model")
    return BacktestResult(plan, fold_metrics, _metrics_table(predictions), predictions)


def _predict_fold(
    rows: pd.DataFrame,
    fold: Fold,
    feature_names: tuple[str, ...],
    config: TrainConfig,
    rules: Rulebook,
    fit: FitForecaster,
) -> pd.DataFrame:
    train_mask, test_mask = fold_masks(rows["snapshot_at"], fold)
    train, test = rows.loc[train_mask], rows.loc[test_mask]
    forecaster = fit(train, feature_names, config)
    logistic = fit_logistic(train, feature_names, config.seed)
    outputs = fold_outputs(test, forecaster, logistic)
    return fold_predictions(outputs, NaiveBaselines.of(train), fold, rules)


def fold_outputs(test: pd.DataFrame, forecaster: Forecaster, logistic: Pipeline) -> pd.DataFrame:
    """All the backtest keeps of test rows: keys, labels, the persistence inputs and both models'
    outputs, a few columns whatever the feature count. Row by row, so Dask runs it per partition."""
    out = test[[*TEST_KEYS, *LABEL_COLUMNS, *PERSISTENCE_INPUTS]].copy()
    proba = forecaster.predict_proba(test)
    linear = logistic_predict(logistic, test, forecaster.feature_names)
    out[f"{MODEL}_score"] = forecaster.predict_score(test)
    out[f"{MODEL}_tier"] = forecaster.predict_tier_codes(test)
    for code in range(N_TIERS):
        out[f"{MODEL}_p{code}"] = proba[:, code]
        out[f"{LOGISTIC}_p{code}"] = linear[:, code]
    return out


def fold_predictions(
    outputs: pd.DataFrame, naive: NaiveBaselines, fold: Fold, rules: Rulebook
) -> pd.DataFrame:
    """Every model's tier (score, probabilities) per test row, from `fold_outputs` and the training
    fold's `NaiveBaselines`, all the naive baselines need of the training rows."""
    out = outputs[[*TEST_KEYS, *LABEL_COLUMNS]].copy()
    proba = outputs[proba_columns(MODEL)].to_numpy()
    score = outputs[f"{MODEL}_score"].to_numpy()
    out["fold"] = fold.number
    out[f"{MODEL}_tier"] = outputs[f"{MODEL}_tier"].to_numpy(dtype=int)
    out[f"{MODEL}_score"] = score
    out[f"{MODEL_SCORE_TIER}_tier"] = _score_to_code(score, rules)
    out[f"{MODEL_PROBA_TIER}_tier"] = ordinal_tier_codes(proba)
    out[f"{PERSISTENCE}_tier"] = persistence_tiers(outputs, naive.fallback)
    out[f"{PERSISTENCE}_score"] = persistence_scores(outputs, naive.fallback)
    linear = outputs[proba_columns(LOGISTIC)].to_numpy()
    out[f"{LOGISTIC}_tier"] = ordinal_tier_codes(linear)
    probabilities = {
        MODEL: proba,
        CLIMATOLOGY: naive.climatology_proba(len(outputs)),
        MIGRATION: naive.migration_proba(outputs),
        LOGISTIC: linear,
    }
    for model in (CLIMATOLOGY, MIGRATION):
        out[f"{model}_tier"] = most_likely_tiers(probabilities[model])
    for model, values in probabilities.items():
        for code in range(N_TIERS):
            out[f"{model}_p{code}"] = values[:, code]
    return out


def _score_to_code(score: np.ndarray, rules: Rulebook) -> np.ndarray:
    tiers = tier_from_score(pd.Series(score), rules)
    return (
        tiers.map(TIER_CODES).fillna(TIER_CODES[min(TIER_CODES, key=TIER_CODES.get)]).to_numpy(int)
    )


def _proba(predictions: pd.DataFrame, model: str) -> np.ndarray | None:
    return proba_of(predictions, model) if proba_columns(model)[0] in predictions else None


def _metrics_table(predictions: pd.DataFrame) -> pd.DataFrame:
    """One row per model: tier metrics, plus score metrics where the model predicts a score."""
    y_true = predictions["label_tier_code"].to_numpy(int)
    rows = {}
    for model in MODELS:
        metrics = tier_metrics(
            y_true, predictions[f"{model}_tier"].to_numpy(int), _proba(predictions, model)
        )
        if f"{model}_score" in predictions:
            metrics |= score_metrics(predictions["label_score"], predictions[f"{model}_score"])
        rows[model] = metrics
    table = pd.DataFrame.from_dict(rows, orient="index")
    table["tier_agreement_with_classifier"] = [
        float(np.mean(predictions[f"{m}_tier"] == predictions[f"{MODEL}_tier"]))
        for m in table.index
    ]
    table["rows"] = len(predictions)
    return table


def holdout_table(
    train: pd.DataFrame,
    holdout: pd.DataFrame,
    forecaster: Forecaster,
    config: TrainConfig,
    rules: Rulebook,
) -> pd.DataFrame:
    """One fitted `forecaster` and every baseline (fitted on `train`) scored on `holdout`: the
    backtest's model x metric table for a window the caller kept out of training."""
    logistic = fit_logistic(train, forecaster.feature_names, config.seed)
    outputs = fold_outputs(holdout, forecaster, logistic)
    fold = Fold(
        0, holdout["snapshot_at"].min(), holdout["snapshot_at"].min(), holdout["snapshot_at"].max()
    )
    return _metrics_table(fold_predictions(outputs, NaiveBaselines.of(train), fold, rules))
