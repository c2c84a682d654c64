"""PSI drift of features, stage points and the served tier mix (training/monitor/drift.py)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from training.monitor.drift import (
    DriftReference,
    bin_edges,
    bin_shares,
    build_reference,
    drift_against,
    psi,
)

TIERS = ("Excellent", "Good", "Needs attention", "Poor")


def _frame(rng: np.random.Generator, n: int, shift: float = 0.0) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "pick_pack_hours_p90": rng.lognormal(2.0, 0.5, n),
            "on_time_delivery_rate": np.clip(rng.normal(0.9 - shift, 0.05, n), 0, 1),
        }
    )


def test_psi_is_zero_for_the_same_shares_and_grows_with_a_shift() -> None:
    same = np.array([0.2, 0.3, 0.5, 0.0])
    assert psi(same, same) == pytest.approx(0.0)
    assert psi(same, np.array([0.5, 0.3, 0.2, 0.0])) > 0.25


@settings(max_examples=50, deadline=None)
@given(st.lists(st.one_of(st.floats(-1e6, 1e6), st.just(float("nan"))), min_size=1, max_size=300))
def test_bin_shares_sum_to_one_and_psi_is_never_negative(values) -> None:
    data = np.array(values, dtype=float)
    edges = bin_edges(data)
    shares = bin_shares(data, edges)
    assert shares.sum() == pytest.approx(1.0)
    assert len(shares) == len(edges) + 2
    assert psi(shares, bin_shares(data[::-1], edges)) == pytest.approx(0.0, abs=1e-12)
    assert psi(shares, bin_shares(np.zeros(3), edges)) >= 0.0


def test_missing_values_have_their_own_bin() -> None:
    shares = bin_shares(np.array([1.0, np.nan, np.nan, 2.0]), (1.5,))
    assert list(shares) == [0.25, 0.25, 0.5]


def test_an_unshifted_split_stays_below_alert_and_a_shift_of_one_stage_is_found() -> None:
    rng = np.random.default_rng(3)
    train, later = _frame(rng, 4000), _frame(rng, 600)
    shifted = _frame(rng, 600, shift=0.08)
    points = lambda f: pd.DataFrame(  # noqa: E731 - stage points as a model would give them
        {"pick_pack": -0.1 * np.log(f["pick_pack_hours_p90"]),
         "order_delivery": 5 * (f["on_time_delivery_rate"] - 0.9)}
    )  # fmt: skip
    tiers = pd.Series(rng.choice(TIERS, 4000))
    reference = build_reference(train, points(train), tiers, TIERS)
    calm = drift_against(reference, later, points(later), pd.Series(rng.choice(TIERS, 600)))
    assert max(calm.features.values()) < 0.1 and max(calm.stages.values()) < 0.1
    assert calm.tier_mix_psi < 0.05
    moved = drift_against(reference, shifted, points(shifted), pd.Series(["Poor"] * 600))
    assert moved.features["on_time_delivery_rate"] > 0.25
    assert moved.stages["order_delivery"] > 0.25 and moved.stages["pick_pack"] < 0.1
    assert moved.features["pick_pack_hours_p90"] < 0.1 and moved.tier_mix_psi > 1.0
    gone = drift_against(reference, later.drop(columns="pick_pack_hours_p90"), points(later),
                         pd.Series(rng.choice(TIERS, 600)))  # fmt: skip
    assert gone.features["pick_pack_hours_p90"] > 1.0  # a feature now missing everywhere


def test_the_reference_survives_json() -> None:
    rng = np.random.default_rng(0)
    frame = _frame(rng, 500)
    reference = build_reference(
        frame, frame.rename(columns=str.upper), pd.Series(["Good"] * 500), TIERS
    )
    back = DriftReference.from_dict(json.loads(json.dumps(reference.to_dict())))
    assert back == reference


def test_a_registered_model_carries_its_drift_reference(trained_model) -> None:
    reference = trained_model.model.drift_reference
    assert reference is not None
    assert set(reference.features) == set(trained_model.model.forecaster.feature_names)
    assert {"pick_pack", "ship_transport", "order_delivery", "order_receipt"} <= set(
        reference.stages
    )
    assert sum(reference.tier_mix.values()) == pytest.approx(1.0)
