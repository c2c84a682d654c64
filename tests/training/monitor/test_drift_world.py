"""Drift on a world, not on hand-made frames: the false-alarm check and the known shift.

A stationary world (no merchant drifts, no change events) split in time, the reference from the
training rows as `drift_reference_of` picks them, the current rows at the newest snapshot: no
alert with the packaged thresholds. The same world with one carrier's transit doubled after the
split: ship & transport features alert, the IT-driven stages' features do not move at all."""

from __future__ import annotations

import pandas as pd
import pytest

from features.catalogue import load_catalogue
from features.dataset import build_dataset, build_snapshot_features
from features.dataset_config import DatasetConfig
from features.rulebook import load_rulebook
from features.world import generate_world
from features.world_params import CarrierShock, WorldConfig
from training.monitor.alerts import drift_alerts, load_thresholds
from training.monitor.drift import build_reference, drift_against
from training.monitor.reference import reference_rows

SPLIT = pd.Timestamp("2026-06-15", tz="UTC")
NEWEST = pd.Timestamp("2026-08-29", tz="UTC")  # the midnight after a 240-day world's last event
STATIONARY = {"n_merchants": 200, "days": 240, "seed": 3, "drift_probability": 0.0,
              "abrupt_change_probability": 0.0}  # fmt: skip
TIERS = ("Excellent", "Good", "Needs attention", "Poor")


@pytest.fixture(scope="module")
def drift_of():
    rules, config = load_rulebook(), DatasetConfig()
    names = [n for n in load_catalogue().names]
    plain = generate_world(WorldConfig(**STATIONARY)).orders
    training = build_dataset(plain, config, rules)
    training = training[training["snapshot_at"] + pd.Timedelta(days=30) <= SPLIT]
    rows = reference_rows(training, config.history_window_days - config.window_days).reset_index()
    reference = build_reference(
        rows[names], pd.DataFrame(index=rows.index), rows["current_tier"], TIERS
    )

    def of(orders: pd.DataFrame):
        now = build_snapshot_features(orders, NEWEST, config, rules).reset_index(drop=True)
        return drift_against(
            reference, now[names], pd.DataFrame(index=now.index), now["current_tier"]
        )

    shock = CarrierShock("JetLine", str(SPLIT.date()), 2.0)
    shocked = generate_world(WorldConfig(**STATIONARY, carrier_shock=shock)).orders
    return of(plain), of(shocked)


def test_an_unshifted_split_of_a_stationary_world_raises_no_alert(drift_of) -> None:
    calm, _ = drift_of
    assert calm.rows == 200
    assert drift_alerts(calm, load_thresholds(), load_catalogue().by_stage()) == []
    assert max(calm.features.values()) < 0.2


def test_a_carrier_shock_is_found_in_ship_and_transport_and_nowhere_it_did_not_act(
    drift_of,
) -> None:
    calm, moved = drift_of
    catalogue = load_catalogue()
    alerts = drift_alerts(moved, load_thresholds(), catalogue.by_stage())
    stages = {catalogue.stage_of(a.name) for a in alerts if a.kind == "feature_drift"}
    assert "ship_transport" in stages
    assert not stages & {"order_receipt", "pick_pack"}
    for name, value in moved.features.items():
        if catalogue.stage_of(name) in ("order_receipt", "pick_pack"):
            assert value == pytest.approx(calm.features[name])  # IT stages untouched, exactly
    assert moved.features["transit_hours_p90"] > 0.25
