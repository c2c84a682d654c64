"""Alert thresholds as data (`alerts.yaml`) and the rules that turn drift and live accuracy into
alerts a scheduler can act on."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from features.errors import LesError
from training.monitor.drift import Drift
from training.monitor.realized import Realized

DEFAULTS = Path(__file__).with_name("alerts.yaml")


class MonitorConfigError(LesError, ValueError):
    """The alert thresholds file is not usable; the message names the key."""


@dataclass(frozen=True)
class Thresholds:
    feature_psi: float
    stage_psi: float
    stage_own_feature_psi: float
    tier_mix_psi: float
    min_drift_rows: int
    min_realized_rows: int
    qwk_drop: float
    macro_f1_drop: float
    score_mae_rise: float
    persistence_margin: float


@dataclass(frozen=True)
class Alert:
    kind: str  # feature_drift, stage_drift, prediction_drift, accuracy_drop, below_persistence
    name: str  # the feature, stage or metric
    value: float
    threshold: float

    def to_dict(self) -> dict[str, object]:
        return dataclasses.asdict(self)


def load_thresholds(path: Path | None = None) -> Thresholds:
    raw = yaml.safe_load(DEFAULTS.read_text())
    if path is not None:
        try:
            user = yaml.safe_load(Path(path).read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise MonitorConfigError(f"{path}: not a readable YAML file ({exc})") from exc
        if not isinstance(user, dict):
            raise MonitorConfigError(f"{path}: expected a mapping of threshold keys")
        if unknown := sorted(set(user) - set(raw)):
            raise MonitorConfigError(f"{path}: unknown key(s) {unknown}; known {sorted(raw)}")
        raw |= user
    fields = {f.name: f.type for f in dataclasses.fields(Thresholds)}
    values = {}
    for key, kind in fields.items():
        value = raw[key]
        cast = int if kind == "int" else float
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise MonitorConfigError(f"{path or DEFAULTS}: {key}: a number >= 0, got {value!r}")
        values[key] = cast(value)
    return Thresholds(**values)


def drift_alerts(
    drift: Drift, t: Thresholds, stage_features: Mapping[str, Sequence[str]]
) -> list[Alert]:
    """`stage_features`: each stage's features (`Catalogue.by_stage`). A stage alert needs the
    stage's points to have shifted and one of its own features to have moved at least
    `stage_own_feature_psi`: a stage's SHAP points also move through the model's interactions with
    other stages' features, and an alert there would send a merchant to fix a stage nothing
    happened to."""
    if drift.rows < t.min_drift_rows:
        return []

    def own_feature_moved(stage: str) -> bool:
        psi = (drift.features.get(name, 0.0) for name in stage_features.get(stage, ()))
        return any(value >= t.stage_own_feature_psi for value in psi)

    alerts = [
        Alert("stage_drift", stage, value, t.stage_psi)
        for stage, value in drift.stages.items()
        if value > t.stage_psi and own_feature_moved(stage)
    ]
    alerts += [
        Alert("feature_drift", name, value, t.feature_psi)
        for name, value in drift.features.items()
        if value > t.feature_psi
    ]
    if drift.tier_mix_psi > t.tier_mix_psi:
        alerts.append(Alert("prediction_drift", "tier_mix", drift.tier_mix_psi, t.tier_mix_psi))
    return alerts


def accuracy_alerts(realized: Realized, backtest: dict[str, float], t: Thresholds) -> list[Alert]:
    """Live accuracy against the backtest the model was promoted on, and against persistence."""
    if realized.rows < t.min_realized_rows:
        return []
    live, alerts = realized.model, []
    for metric, allowed in (("qwk", t.qwk_drop), ("macro_f1", t.macro_f1_drop)):
        if metric in backtest and live[metric] < backtest[metric] - allowed:
            alerts.append(Alert("accuracy_drop", metric, live[metric], backtest[metric] - allowed))
    if "score_mae" in backtest and live["score_mae"] > backtest["score_mae"] + t.score_mae_rise:
        limit = backtest["score_mae"] + t.score_mae_rise
        alerts.append(Alert("accuracy_drop", "score_mae", live["score_mae"], limit))
    floor = realized.persistence["qwk"] - t.persistence_margin
    if live["qwk"] < floor:
        alerts.append(Alert("below_persistence", "qwk", live["qwk"], floor))
    return alerts
