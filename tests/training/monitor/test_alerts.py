"""Alert thresholds as data and the alert rules (training/monitor/alerts.py)."""

from __future__ import annotations

import dataclasses

import pytest

from training.monitor.alerts import (
    MonitorConfigError,
    accuracy_alerts,
    drift_alerts,
    load_thresholds,
)
from training.monitor.drift import Drift
from training.monitor.realized import Realized

FEATURES_BY_STAGE = {
    "order_delivery": ["on_time_delivery_rate"],
    "ship_transport": ["transit_hours_p90"],
    "pick_pack": ["pick_pack_hours_p90"],
}


def _drift(
    rows: int = 200,
    stage: float = 0.05,
    feature: float = 0.05,
    mix: float = 0.01,
    transit: float = 0.15,
    pick_pack_stage: float = 0.02,
) -> Drift:
    return Drift(
        features={
            "on_time_delivery_rate": feature,
            "transit_hours_p90": transit,
            "pick_pack_hours_p90": 0.01,
        },
        stages={"ship_transport": stage, "pick_pack": pick_pack_stage},
        tier_mix_psi=mix,
        tier_mix={},
        rows=rows,
    )


def _realized(qwk: float, rows: int = 100, persistence_qwk: float = 0.6) -> Realized:
    model = {"macro_f1": 0.6, "qwk": qwk, "rps": 0.2, "score_mae": 0.3, "ece": 0.05}
    return Realized(rows, model, {"qwk": persistence_qwk, "macro_f1": 0.55}, ("2026-03-02",), 0)


def test_defaults_load_and_a_users_file_overrides_and_is_checked(tmp_path) -> None:
    defaults = load_thresholds()
    assert defaults.stage_psi == 0.25 and defaults.min_drift_rows == 200
    own = tmp_path / "alerts.yaml"
    own.write_text("stage_psi: 0.1\n")
    assert load_thresholds(own).stage_psi == 0.1
    own.write_text("stage_psi: -1\n")
    with pytest.raises(MonitorConfigError, match="stage_psi: a number >= 0"):
        load_thresholds(own)
    own.write_text("stage_pis: 0.1\n")
    with pytest.raises(MonitorConfigError, match=r"unknown key\(s\) \['stage_pis'\]"):
        load_thresholds(own)


def test_drift_alerts_fire_above_the_threshold_only_with_enough_rows() -> None:
    t = load_thresholds()
    assert drift_alerts(_drift(), t, FEATURES_BY_STAGE) == []
    fired = drift_alerts(_drift(stage=0.4, feature=0.3, mix=0.5), t, FEATURES_BY_STAGE)
    assert [(a.kind, a.name) for a in fired] == [
        ("stage_drift", "ship_transport"),
        ("feature_drift", "on_time_delivery_rate"),
        ("prediction_drift", "tier_mix"),
    ]
    assert drift_alerts(_drift(rows=10, stage=0.4), t, FEATURES_BY_STAGE) == []


def test_a_stage_whose_own_features_did_not_move_raises_no_stage_alert() -> None:
    """Its points moved through the model's interactions with another stage's features."""
    t = load_thresholds()
    assert t.stage_own_feature_psi == 0.1
    shifted_points = _drift(stage=0.4, pick_pack_stage=0.6, transit=0.15)
    fired = [(a.kind, a.name) for a in drift_alerts(shifted_points, t, FEATURES_BY_STAGE)]
    assert ("stage_drift", "ship_transport") in fired  # transit_hours_p90 moved (0.15)
    assert ("stage_drift", "pick_pack") not in fired  # pick_pack_hours_p90 did not (0.01)
    quiet_transit = _drift(stage=0.4, transit=0.05)
    assert drift_alerts(quiet_transit, t, FEATURES_BY_STAGE) == []
    lenient = dataclasses.replace(t, stage_own_feature_psi=0.0)
    fired = [(a.kind, a.name) for a in drift_alerts(shifted_points, lenient, FEATURES_BY_STAGE)]
    assert ("stage_drift", "pick_pack") in fired


def test_accuracy_alerts_against_the_backtest_and_persistence() -> None:
    t = load_thresholds()
    backtest = {"qwk": 0.8, "macro_f1": 0.65, "score_mae": 0.25}
    assert accuracy_alerts(_realized(0.75), backtest, t) == []
    fired = accuracy_alerts(_realized(0.5), backtest, t)
    assert {(a.kind, a.name) for a in fired} == {
        ("accuracy_drop", "qwk"),
        ("below_persistence", "qwk"),
    }
    assert accuracy_alerts(_realized(0.1, rows=5), backtest, t) == []
