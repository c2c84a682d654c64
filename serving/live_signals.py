"""What the service tells `/metrics` about its traffic, and the forecasts it writes to the ledger.

Prometheus counters: the served tier mix per endpoint, per feature how often a request left it
unknown or sent a value outside the range the model saw in training (from its drift reference),
and ledger write failures. With `LES_LEDGER=on` every HTTP forecast is recorded in the forecast
ledger (`training.ledger`) by one background thread, so a slow or broken ledger never delays or
fails an answer: a failed write is counted and logged.
"""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd

from training.explain.registered import RegisteredForecaster
from training.explain.schema import Forecast
from training.forecaster_model import proba_column
from training.ledger import TIER_COLUMN, ledger_rows, record_safely


class LiveSignals:
    """The counters of one worker and, when the ledger is on, its writer thread."""

    def __init__(
        self, model: RegisteredForecaster, ledger_on: bool, ledger_url: str | None
    ) -> None:
        from prometheus_client import Counter

        self.model = model
        self.ledger_url = ledger_url
        self.writer = ThreadPoolExecutor(1, thread_name_prefix="les-ledger") if ledger_on else None
        self.tiers = Counter(
            "les_served_tiers", "Forecasts served, by endpoint and tier.", ["endpoint", "tier"]
        )
        self.unknown = Counter(
            "les_feature_unknown",
            "Model features a request left unknown (null or absent).",
            ["feature"],
        )
        self.out_of_range = Counter(
            "les_feature_out_of_training_range",
            "Feature values outside the range of the model's drift reference (its newest training snapshots).",
            ["feature"],
        )
        self.ledger_failures = Counter(
            "les_ledger_write_failures", "Forecast ledger writes that failed (answers were sent)."
        )
        reference = model.drift_reference
        names = model.forecaster.feature_names
        ranges = [(reference.features.get(n) if reference else None) for n in names]
        self.low = np.array([np.nan if r is None or r.low is None else r.low for r in ranges])
        self.high = np.array([np.nan if r is None or r.high is None else r.high for r in ranges])

    def observe(self, endpoint: str, x: np.ndarray, forecasts: list[Forecast]) -> None:
        """Count the tiers served and the unknown or unseen feature values of one request."""
        for tier, count in pd.Series([f.tier for f in forecasts]).value_counts().items():
            self.tiers.labels(endpoint, str(tier)).inc(int(count))
        names = self.model.forecaster.feature_names
        with np.errstate(invalid="ignore"):
            outside = (x < self.low) | (x > self.high)
        for j in np.flatnonzero(np.isnan(x).any(axis=0)):
            self.unknown.labels(names[j]).inc(int(np.isnan(x[:, j]).sum()))
        for j in np.flatnonzero(outside.any(axis=0)):
            self.out_of_range.labels(names[j]).inc(int(outside[:, j].sum()))

    def record(
        self,
        merchant_ids: list[str],
        forecasts: list[Forecast],
        snapshot_at: pd.Timestamp | None = None,
        stage_points: list[dict[str, float]] | None = None,
    ) -> None:
        """Queue the forecasts for the ledger; a forecast from features alone (no snapshot in
        the request) is filed under the day it was asked for, midnight UTC."""
        if self.writer is None or not forecasts:
            return
        snapshot = snapshot_at or pd.Timestamp(dt.datetime.now(dt.UTC)).floor("D")
        frame = pd.DataFrame(
            {
                "merchant_id": merchant_ids,
                "snapshot_at": pd.Timestamp(snapshot),
                TIER_COLUMN: [f.tier for f in forecasts],
                "predicted_score": [f.predicted_score for f in forecasts],
            }
        )
        for tier in self.model.tiers_by_code:
            frame[proba_column(tier)] = [f.probabilities[tier] for f in forecasts]
        for stage in sorted({s for points in stage_points or [] for s in points}):
            frame[f"{stage}_points"] = [points.get(stage, np.nan) for points in stage_points]
        m = self.model
        rows = ledger_rows(
            frame, m.model_name, m.model_version, m.rulebook_version, m.recipe.to_dict(),
            m.tiers_by_code, "http",
        )  # fmt: skip
        self.writer.submit(record_safely, rows, self.ledger_url, self.ledger_failures.inc)

    def flush(self) -> None:
        """Wait for queued ledger writes (tests and shutdown)."""
        if self.writer is not None:
            self.writer.submit(lambda: None).result()
