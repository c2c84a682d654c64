"""Did the forecasts come true? Ledger forecasts joined with the tiers the rulebook gives once
their label window has closed, by the same label code as training (`features.dataset`).

Persistence is scored on the very same rows, so the live figures can be read against it and
against the model's backtest. Rows whose current window was too thin to score fall back to the
majority current tier and mean current score of the rows being scored: known at forecast time,
no label used.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import reduce
from math import gcd

import numpy as np
import pandas as pd

from features.dataset import build_dataset
from features.dataset_config import DatasetConfig
from features.rulebook import TIER_CODES, Rulebook
from training.backtest import trainable_rows
from training.baselines import (
    PersistenceFallback,
    current_states,
    persistence_scores,
    persistence_tiers,
)
from training.forecaster_model import proba_column
from training.metrics import score_metrics, tier_metrics

KEYS = ["merchant_id", "snapshot_at"]
LIVE_METRICS = ("macro_f1", "qwk", "rps", "score_mae", "ece")


@dataclass(frozen=True)
class Realized:
    """Live metrics of the model and of persistence on the forecasts whose window has closed."""

    rows: int
    model: dict[str, float]
    persistence: dict[str, float]
    snapshots: tuple[str, ...]
    pending: int  # forecasts whose label window has not closed in the orders given


def snapshot_cadence_days(snapshots: pd.DatetimeIndex) -> int:
    """The widest grid step that holds every snapshot (1 day when they share none)."""
    days = ((snapshots - snapshots.min()) // pd.Timedelta(days=1)).astype(int)
    return max(reduce(gcd, [int(d) for d in days if d > 0], 0), 1)


def labelled_rows(
    snapshots: pd.DatetimeIndex, orders: pd.DataFrame, config: DatasetConfig, rules: Rulebook
) -> pd.DataFrame:
    """Trainable (label window closed, tier known) dataset rows at exactly `snapshots`."""
    snapshots = pd.DatetimeIndex(sorted(set(snapshots)))
    grid = dataclasses.replace(
        config,
        first_snapshot=snapshots.min(),
        last_snapshot=snapshots.max(),
        cadence_days=snapshot_cadence_days(snapshots),
    )
    rows = build_dataset(orders, grid, rules)
    return trainable_rows(rows[rows["snapshot_at"].isin(snapshots)])


def realized_outcomes(
    forecasts: pd.DataFrame,
    orders: pd.DataFrame,
    config: DatasetConfig,
    rules: Rulebook,
    tiers_by_code: tuple[str, ...],
) -> tuple[Realized, pd.DataFrame]:
    """Live metrics over `forecasts` (merchant_id, snapshot_at, tier, predicted_score and one
    probability column per tier) whose label windows the orders close; and the joined rows."""
    if not len(forecasts):
        return Realized(0, {}, {}, (), 0), pd.DataFrame()
    snapshots = pd.DatetimeIndex(pd.to_datetime(forecasts["snapshot_at"], utc=True).unique())
    labelled = labelled_rows(snapshots, orders, config, rules)
    keyed = forecasts.assign(snapshot_at=pd.to_datetime(forecasts["snapshot_at"], utc=True))
    joined = keyed.merge(labelled, on=KEYS, how="inner", suffixes=("", "_row"))
    pending = len(forecasts) - len(joined)
    if not len(joined):
        return Realized(0, {}, {}, (), pending), joined
    return _score(joined, tiers_by_code, pending), joined


def _score(joined: pd.DataFrame, tiers_by_code: tuple[str, ...], pending: int) -> Realized:
    truth = joined["label_tier_code"].to_numpy(dtype=int)
    predicted = joined["tier"].map(TIER_CODES).to_numpy(dtype=int)
    proba = joined[[proba_column(t) for t in tiers_by_code]].to_numpy(dtype=float)
    proba = proba[:, np.argsort([TIER_CODES[t] for t in tiers_by_code])]  # columns in code order
    model = {
        **tier_metrics(truth, predicted, proba),
        **score_metrics(
            joined["label_score"].to_numpy(float), joined["predicted_score"].to_numpy(float)
        ),
    }
    states = current_states(joined)
    known = states < len(TIER_CODES)
    counts = pd.Series(states[known]).value_counts() if known.any() else pd.Series([1], index=[0])
    current = pd.to_numeric(joined["current_les_score"], errors="coerce")
    fallback = PersistenceFallback.from_counts(
        counts, float(current.mean()) if current.notna().any() else 0.0
    )
    persistence = {
        **tier_metrics(truth, persistence_tiers(joined, fallback), None),
        **score_metrics(
            joined["label_score"].to_numpy(float), persistence_scores(joined, fallback)
        ),
    }
    keep = lambda m: {k: float(m[k]) for k in LIVE_METRICS if k in m}  # noqa: E731
    snapshots = tuple(sorted({f"{s:%Y-%m-%d}" for s in joined["snapshot_at"]}))
    return Realized(len(joined), keep(model), keep(persistence), snapshots, pending)
