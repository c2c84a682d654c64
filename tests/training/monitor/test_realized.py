"""Live accuracy of forecasts once their window closes (training/monitor/realized.py)."""

from __future__ import annotations

import pandas as pd
import pytest

from features.dataset_config import DatasetConfig
from features.rulebook import TIER_CODES, load_rulebook
from features.world import generate_world
from features.world_params import WorldConfig
from training.forecaster_model import proba_column
from training.monitor.realized import _score, realized_outcomes, snapshot_cadence_days

TIERS_BY_CODE = tuple(sorted(TIER_CODES, key=TIER_CODES.get))


def _joined(label: list[str], forecast: list[str], current: list[str | None]) -> pd.DataFrame:
    rows = pd.DataFrame(
        {
            "merchant_id": [f"m{i}" for i in range(len(label))],
            "snapshot_at": pd.Timestamp("2026-03-02", tz="UTC"),
            "tier": forecast,
            "label_tier_code": [TIER_CODES[t] for t in label],
            "label_score": [
                4.5 if t == "Excellent" else 3.5 if t == "Good" else 1.0 for t in label
            ],
            "predicted_score": [4.4, 3.6, 1.2, 4.0],
            "current_tier_code": [None if c is None else float(TIER_CODES[c]) for c in current],
            "current_les_score": [None if c is None else 4.5 for c in current],
        }
    )
    for tier in TIERS_BY_CODE:
        rows[proba_column(tier)] = [1.0 if f == tier else 0.0 for f in forecast]
    return rows


def test_a_hand_made_example() -> None:
    joined = _joined(
        label=["Excellent", "Good", "Poor", "Good"],
        forecast=["Excellent", "Good", "Poor", "Excellent"],
        current=["Excellent", "Excellent", "Excellent", None],
    )
    realized = _score(joined, TIERS_BY_CODE, pending=2)
    assert realized.rows == 4 and realized.pending == 2
    assert realized.model["score_mae"] == pytest.approx((0.1 + 0.1 + 0.2 + 0.5) / 4)
    # one miss of one tier among four, all probability on the served tier
    assert realized.model["rps"] == pytest.approx(1 / 4)
    # persistence says Excellent for all (the one without a current tier: the majority, Excellent)
    assert realized.persistence["score_mae"] == pytest.approx((0 + 1 + 3.5 + 1) / 4)
    assert realized.model["qwk"] > realized.persistence["qwk"]


def test_cadence_of_a_set_of_snapshots() -> None:
    days = pd.to_datetime(["2026-03-02", "2026-03-16", "2026-03-30"], utc=True)
    assert snapshot_cadence_days(pd.DatetimeIndex(days)) == 14
    assert snapshot_cadence_days(pd.DatetimeIndex(days[:1])) == 1


def test_realized_tiers_are_the_training_labels_and_open_windows_wait() -> None:
    from features.dataset import build_dataset
    from training.backtest import trainable_rows

    orders = generate_world(WorldConfig(n_merchants=12, days=120, seed=5)).orders
    config = DatasetConfig()
    rules = load_rulebook()
    rows = trainable_rows(build_dataset(orders, config, rules))
    closed = rows["snapshot_at"].max()
    open_day = closed + pd.Timedelta(days=14)  # its 30-day label window runs past the data
    forecasts = pd.DataFrame(
        {"merchant_id": ["m-none", *rows.loc[rows["snapshot_at"] == closed, "merchant_id"]]}
    )
    forecasts["snapshot_at"] = closed
    forecasts.loc[0, "snapshot_at"] = open_day
    forecasts["tier"], forecasts["predicted_score"] = "Good", 3.5
    for tier in TIERS_BY_CODE:
        forecasts[proba_column(tier)] = 0.25
    realized, joined = realized_outcomes(forecasts, orders, config, rules, TIERS_BY_CODE)
    expected = rows[rows["snapshot_at"] == closed].set_index("merchant_id")["label_tier"]
    assert realized.rows == len(expected) and realized.pending == 1
    assert joined.set_index("merchant_id")["label_tier"].equals(expected.loc[joined["merchant_id"]])
