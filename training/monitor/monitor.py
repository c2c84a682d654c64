"""One monitoring pass: drift at the newest snapshot of the orders, live accuracy of the ledger's
forecasts whose window has closed, and the alerts both raise."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.catalogue import STAGES
from features.contract import STAGE_TIMESTAMPS
from features.dataset import build_snapshot_features
from features.errors import LesError
from features.rulebook import Rulebook
from training.explain.attribution import points_column, predict_frame, stage_attribution_frame
from training.explain.registered import RegisteredForecaster
from training.monitor.alerts import Alert, Thresholds, accuracy_alerts, drift_alerts
from training.monitor.drift import Drift, drift_against
from training.monitor.realized import Realized, realized_outcomes

DAY = pd.Timedelta(days=1)


class MonitorError(LesError, ValueError):
    """Monitoring cannot run as asked (a model without a drift reference, no orders)."""


@dataclass(frozen=True)
class MonitorResult:
    model_name: str
    model_version: str
    snapshot: pd.Timestamp
    drift: Drift
    realized: Realized
    backtest: dict[str, dict[str, float]]  # model / persistence -> pooled backtest metrics
    alerts: list[Alert]

    @property
    def healthy(self) -> bool:
        return not self.alerts

    def to_dict(self) -> dict[str, object]:
        r = self.realized
        return {
            "model": {"name": self.model_name, "version": self.model_version},
            "snapshot_at": self.snapshot.isoformat(),
            "healthy": self.healthy,
            "realized": {
                "rows": r.rows,
                "pending": r.pending,
                "snapshots": list(r.snapshots),
                **r.model,
                "persistence": dict(r.persistence),
                "backtest": self.backtest,
            },
            "drift": {
                "rows": self.drift.rows,
                "features": self.drift.features,
                "stages": self.drift.stages,
                "tier_mix_psi": self.drift.tier_mix_psi,
                "tier_mix": self.drift.tier_mix,
            },
            "alerts": [a.to_dict() for a in self.alerts],
        }


def newest_snapshot(orders: pd.DataFrame) -> pd.Timestamp:
    """The midnight after the last event in the orders: the state a forecast would see now.
    Promises (ship_by, deliver_by) lie in the future and are not events."""
    latest = max(orders[c].max() for c in (*STAGE_TIMESTAMPS, "status_at") if c in orders)
    if pd.isna(latest):
        raise MonitorError("the orders hold no event time: nothing to monitor")
    return pd.Timestamp(latest).tz_convert("UTC").floor("D") + DAY


def current_drift(
    model: RegisteredForecaster, orders: pd.DataFrame, rules: Rulebook, snapshot: pd.Timestamp
) -> Drift:
    """Features, stage points and served tiers at `snapshot`, against the model's reference."""
    if model.drift_reference is None:
        raise MonitorError(
            f"model {model.model_name} version {model.model_version} was logged without a drift "
            "reference (trained by an older les); retrain it to monitor drift"
        )
    features = build_snapshot_features(
        orders, snapshot, model.dataset_config, model.rulebook(rules)
    )
    names = model.forecaster.feature_names
    current = features.reindex(columns=list(names)).apply(pd.to_numeric, errors="coerce")
    points = stage_attribution_frame(model, features)
    stage_points = pd.DataFrame({s: points[points_column(s)].to_numpy() for s in STAGES})
    served = predict_frame(model, features)["tier"]
    return drift_against(
        model.drift_reference, current.reset_index(drop=True), stage_points, served
    )


def run_monitor(
    model: RegisteredForecaster,
    orders: pd.DataFrame,
    forecasts: pd.DataFrame,
    backtest: dict[str, dict[str, float]],
    rules: Rulebook,
    thresholds: Thresholds,
) -> MonitorResult:
    """`forecasts`: the ledger's rows of this model (tier, predicted_score, probabilities)."""
    snapshot = newest_snapshot(orders)
    drift = current_drift(model, orders, rules, snapshot)
    realized, _ = realized_outcomes(
        forecasts, orders, model.dataset_config, model.rulebook(rules), model.tiers_by_code
    )
    alerts = drift_alerts(drift, thresholds, model.catalogue.by_stage())
    alerts += accuracy_alerts(realized, backtest.get("model", {}), thresholds)
    return MonitorResult(
        model.model_name, model.model_version, snapshot, drift, realized, backtest, alerts
    )


def finite(values: dict[str, float]) -> dict[str, float]:
    return {k: float(v) for k, v in values.items() if np.isfinite(v)}
