"""`les retrain`: a challenger on the newest data, judged against the champion on the most recent
closed window that neither trained on; `champion` moves only through the gate.

The holdout is the last horizon of snapshots whose labels have closed. The challenger trains on
rows whose label window closed before the holdout begins (no label overlaps it); the champion
must have been trained on snapshots before it too, else its figures there would be in-sample and
the comparison is refused.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from features.catalogue import Catalogue
from features.errors import LesError
from features.progress import Advance
from features.recipe import DatasetRecipe
from features.rulebook import Rulebook
from training.backtest import MODEL, holdout_table, run_backtest, trainable_rows
from training.checks import check_trainable, model_feature_names
from training.config import TrainConfig
from training.explain.registered import RegisteredForecaster
from training.fingerprint import dataset_fingerprint
from training.models import fit_forecaster
from training.pipeline import HOLDOUT_CHAMPION, TrainedForecaster, TrainResult, register_trained
from training.tracking import TrackingConfig

DAY = pd.Timedelta(days=1)
HOLDOUT_METRICS = ("macro_f1", "qwk", "rps", "ece", "score_mae", "rows")


class RetrainError(LesError, ValueError):
    """Retraining cannot be judged fairly on these orders; the message says what is missing."""


@dataclass(frozen=True)
class RetrainSplit:
    train: pd.DataFrame
    holdout: pd.DataFrame
    holdout_start: pd.Timestamp


@dataclass(frozen=True)
class RetrainResult:
    split: RetrainSplit
    holdout: dict[str, dict[str, float]]  # model -> metrics; "champion" and "lightgbm" (challenger)
    registered: TrainResult


def retrain_split(rows: pd.DataFrame, horizon_days: int) -> RetrainSplit:
    """Holdout: trainable rows of the last horizon of snapshots; training: rows whose label window
    [T, T + horizon) ends at or before the holdout's first snapshot."""
    horizon = pd.Timedelta(days=horizon_days)
    last = rows["snapshot_at"].max()
    start = last - horizon + DAY
    holdout = rows[rows["snapshot_at"] >= start]
    train = rows[rows["snapshot_at"] + horizon <= start]
    return RetrainSplit(train.reset_index(drop=True), holdout.reset_index(drop=True), start)


def check_champion_unseen(champion_last_snapshot: pd.Timestamp | None, split: RetrainSplit) -> None:
    if champion_last_snapshot is not None and champion_last_snapshot >= split.holdout_start:
        raise RetrainError(
            f"the champion was trained on snapshots up to {champion_last_snapshot:%Y-%m-%d}, "
            f"inside the holdout window from {split.holdout_start:%Y-%m-%d}: its figures there "
            "would be in-sample. Retrain on orders reaching at least one horizon further"
        )


def _headline(table: pd.DataFrame, model: str) -> dict[str, float]:
    row = table.loc[model]
    return {k: float(row[k]) for k in HOLDOUT_METRICS if k in row and pd.notna(row[k])}


def retrain(
    dataset: pd.DataFrame,
    champion: RegisteredForecaster,
    champion_last_snapshot: pd.Timestamp | None,
    config: TrainConfig,
    rules: Rulebook,
    catalogue: Catalogue,
    tracking: TrackingConfig,
    recipe: DatasetRecipe,
    advance: Advance | None = None,
    since: pd.Timestamp | None = None,
) -> RetrainResult:
    """Fit, backtest and register a challenger; gate it on the holdout against the champion.
    With `since`, the challenger learns only from snapshots from that day on (a regime change:
    rows from before it teach dynamics that no longer hold)."""
    rows = trainable_rows(dataset)
    if since is not None:
        rows = rows[rows["snapshot_at"] >= since]
    split = retrain_split(rows, config.horizon_days)
    if split.holdout.empty:
        raise RetrainError("no snapshot of these orders has a closed label window to hold out")
    check_trainable(len(split.train), split.train["label_tier"].unique())
    check_champion_unseen(champion_last_snapshot, split)
    names = model_feature_names(catalogue, config)
    backtest = run_backtest(split.train, names, config, rules, advance)
    challenger = fit_forecaster(split.train, names, config)
    table = holdout_table(split.train, split.holdout, challenger, config, rules)
    holdout = {name: _headline(table, name) for name in table.index}
    champion_table = holdout_table(split.train, split.holdout, champion.forecaster, config, rules)
    holdout[HOLDOUT_CHAMPION] = _headline(champion_table, MODEL)
    trained = TrainedForecaster(
        challenger,
        backtest,
        dataset_fingerprint(split.train),
        split.train,
        split.train,
        len(split.train),
    )
    registered = register_trained(trained, config, rules, catalogue, tracking, recipe, holdout)
    return RetrainResult(split, holdout, registered)
