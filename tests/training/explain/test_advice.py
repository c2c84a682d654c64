"""What-if advice: only actionable fulfilment features move, only for the better, and every delta is
the model's own output for the changed row."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from features.catalogue import FULFILMENT_STAGES
from training.explain.advice import (
    NEXT_TIER_UP,
    PEER_MEDIAN,
    TARGETS,
    peer_reference,
    ranked_advice,
    reference_matrix,
    what_if,
)
from training.explain.attribution import predict_frame
from training.explain.records import explain_records
from training.explain.registered import PeerReference

pytestmark = pytest.mark.xdist_group("explain")


def _latest(trained_model) -> pd.DataFrame:
    rows = trained_model.dataset
    return rows[rows["snapshot_at"] == rows["snapshot_at"].max()].reset_index(drop=True)


def test_peer_reference_holds_medians_overall_and_per_next_tier() -> None:
    rows = pd.DataFrame(
        {
            "a": [1.0, 2.0, 3.0, np.nan],
            "b": [10.0, 10.0, 30.0, 50.0],
            "label_tier": ["Poor", "Poor", "Good", "Good"],
        }
    )
    reference = peer_reference(rows, ("a", "b"))
    assert reference["overall"] == {"a": 2.0, "b": 20.0}
    assert reference["by_tier"] == {"Good": {"a": 3.0, "b": 40.0}, "Poor": {"a": 1.5, "b": 10.0}}
    assert reference["rows"] == 4


def test_next_tier_up_is_the_median_of_the_next_tiers_rows(trained_model) -> None:
    """A forecast of tier code c is pointed at the medians of the training rows labelled c + 1;
    the top tier has nothing above it, so no next-tier reference at all."""
    model = trained_model.model
    names = list(model.forecaster.feature_names)
    tiers = model.tiers_by_code
    rng = np.random.default_rng(5)
    rows = pd.DataFrame(rng.normal(size=(40, len(names))) + np.arange(40)[:, None], columns=names)
    rows["label_tier"] = np.repeat(tiers, 10)  # ten rows per tier, values rising with the tier
    peers = PeerReference(**peer_reference(rows, tuple(names)))
    model = dataclasses.replace(model, peer_reference=peers)
    codes = np.arange(len(tiers))
    reference = reference_matrix(model, NEXT_TIER_UP, codes)
    for code in codes[:-1]:
        expected = rows.loc[rows["label_tier"] == tiers[code + 1], names].median()
        np.testing.assert_allclose(reference[code], expected.to_numpy(), rtol=0, atol=1e-12)
        assert not np.allclose(reference[code], rows[names].median().to_numpy())
    assert np.isnan(reference[-1]).all()
    overall = reference_matrix(model, PEER_MEDIAN, codes)
    np.testing.assert_allclose(overall, np.tile(rows[names].median().to_numpy(), (len(codes), 1)))


def test_next_tier_scenarios_move_to_the_next_tiers_medians(trained_model) -> None:
    """End to end through what_if: every next-tier-up cell holds the next tier's stored median."""
    model = trained_model.model
    names = model.forecaster.feature_names
    tiers = model.tiers_by_code
    latest = _latest(trained_model)
    scenarios = what_if(model, latest)
    forecast = predict_frame(model, latest)["tier"].to_numpy()
    next_tier = scenarios.targets == NEXT_TIER_UP
    assert next_tier.any()
    for k in np.flatnonzero(next_tier):
        above = tiers[tiers.index(forecast[scenarios.rows[k]]) + 1]
        for j in np.flatnonzero(scenarios.moved[k]):
            want = model.peer_reference.by_tier[above][names[j]]
            assert scenarios.references[k, j] == pytest.approx(want, abs=1e-12)


def test_every_scenario_moves_only_actionable_fulfilment_features_for_the_better(
    trained_model,
) -> None:
    model = trained_model.model
    names = np.array(model.forecaster.feature_names)
    scenarios = what_if(model, _latest(trained_model))
    assert len(scenarios.rows) > 0
    assert set(scenarios.stages) <= set(FULFILMENT_STAGES)
    assert set(scenarios.targets) <= set(TARGETS)
    for k in range(len(scenarios.rows)):
        moved = np.flatnonzero(scenarios.moved[k])
        assert len(moved) > 0
        for j in moved:
            feature = model.catalogue.feature(names[j])
            assert feature.actionable and feature.stage == scenarios.stages[k]
            before, after = scenarios.values[k, j], scenarios.references[k, j]
            assert (after < before) if feature.direction == "lower" else (after > before)


def test_rescored_deltas_are_real_model_outputs(trained_model) -> None:
    """Apply each advised change to the row and score it afresh: the same numbers come back."""
    model = trained_model.model
    rows = _latest(trained_model).head(20)
    records = explain_records(model, rows)
    lowest = int(predict_frame(model, rows)["predicted_score"].to_numpy().argmin())
    assert records[lowest]["advice"], "the lowest forecast must have something to improve"
    for i, record in enumerate(records):
        for item in record["advice"]:
            changed = rows.iloc[[i]].copy()
            for change in item["changes"]:
                assert changed[change["feature"]].iloc[0] == pytest.approx(change["value"])
                changed[change["feature"]] = change["target_value"]
            after = predict_frame(model, changed).iloc[0]
            assert item["score_after"] == pytest.approx(after["predicted_score"], abs=1e-12)
            before = predict_frame(model, rows.iloc[[i]]).iloc[0]
            for tier, delta in item["probability_deltas"].items():
                column = "p_" + tier.lower().replace(" ", "_")
                assert delta == pytest.approx(after[column] - before[column], abs=1e-12)


def test_ranked_advice_is_one_per_stage_best_first_and_capped(trained_model) -> None:
    model = trained_model.model
    scenarios = what_if(model, _latest(trained_model))
    chosen = ranked_advice(scenarios, max_items=2, min_score_delta=0.01)
    table = scenarios.table(model.tiers_by_code).iloc[chosen]
    assert (table["score_delta"] >= 0.01).all()
    assert table.groupby("row").size().max() <= 2
    assert not table.duplicated(["row", "stage"]).any()
    for _, group in table.groupby("row", sort=False):
        assert group["score_delta"].is_monotonic_decreasing
        best = scenarios.table(model.tiers_by_code)
        best = best[(best["row"] == group["row"].iloc[0]) & (best["score_delta"] >= 0.01)]
        assert group["score_delta"].iloc[0] == pytest.approx(best["score_delta"].max())


@settings(max_examples=20, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    scale=st.floats(0.2, 3.0),
    unknown=st.floats(0.0, 0.6),
)
def test_advice_invariants_hold_for_arbitrary_rows(trained_model, seed, scale, unknown) -> None:
    """Rows far from the training data, with holes: advice stays actionable and improving."""
    model = trained_model.model
    rng = np.random.default_rng(seed)
    rows = _latest(trained_model).sample(5, random_state=seed).reset_index(drop=True)
    names = list(model.forecaster.feature_names)
    values = rows[names].to_numpy(dtype=float) * scale
    values[rng.random(values.shape) < unknown] = np.nan
    rows[names] = values
    for record in explain_records(model, rows):
        assert len(record["advice"]) <= 3
        deltas = [a["score_delta"] for a in record["advice"]]
        assert deltas == sorted(deltas, reverse=True) and all(d >= 0.01 for d in deltas)
        for item in record["advice"]:
            for change in item["changes"]:
                feature = model.catalogue.feature(change["feature"])
                assert feature.actionable and feature.stage == item["stage"]
                assert np.isfinite(change["value"]) and np.isfinite(change["target_value"])
