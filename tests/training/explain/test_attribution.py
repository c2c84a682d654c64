"""Stage attribution: exact additivity in score points and log-odds, and agreement with shap."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from features.catalogue import STAGES
from training.explain.attribution import (
    points_column,
    predict_frame,
    stage_attribution_frame,
    stage_matrix,
    tier_attribution_frame,
)
from training.forecaster_model import ordinal_tier_codes
from training.models import feature_matrix
from training.reports.model import independent_tree_explainer

pytestmark = pytest.mark.xdist_group("explain")
POINTS = [points_column(s) for s in STAGES]


def test_stage_matrix_puts_every_feature_in_exactly_one_declared_stage(trained_model) -> None:
    model = trained_model.model
    matrix = stage_matrix(model.forecaster.feature_names, model.catalogue)
    assert (matrix.sum(axis=1) == 1).all()
    for name, row in zip(model.forecaster.feature_names, matrix, strict=True):
        assert STAGES[int(row.argmax())] == model.catalogue.stage_of(name)


def test_base_plus_stages_equals_the_served_score(trained_model) -> None:
    model, rows = trained_model.model, trained_model.dataset
    attribution = stage_attribution_frame(model, rows)
    total = attribution["base_score"] + attribution[POINTS].sum(axis=1)
    total += attribution["bounds_points"]
    served = predict_frame(model, rows)["predicted_score"]
    np.testing.assert_allclose(total, served, atol=1e-6)
    np.testing.assert_allclose(attribution["predicted_score"], served, atol=1e-12)
    raw = model.forecaster.regressor.predict(feature_matrix(rows, model.forecaster.feature_names))
    unclipped = (raw >= 0) & (raw <= 5)
    assert unclipped.mean() > 0.9
    assert (attribution.loc[unclipped, "bounds_points"] == 0).all()
    assert attribution["base_score"].nunique() == 1


@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_additivity_holds_with_unknown_features(trained_model, data) -> None:
    """Missing features (NaN) are a normal serving case; the sum must still be exact."""
    model, rows = trained_model.model, trained_model.dataset
    row = rows.sample(1, random_state=data.draw(st.integers(0, 10_000))).reset_index(drop=True)
    names = list(model.forecaster.feature_names)
    unknown = data.draw(st.lists(st.sampled_from(names), max_size=len(names), unique=True))
    row.loc[:, unknown] = np.nan
    attribution = stage_attribution_frame(model, row)
    total = (
        attribution["base_score"] + attribution[POINTS].sum(axis=1) + attribution["bounds_points"]
    )
    assert total.iloc[0] == pytest.approx(
        predict_frame(model, row)["predicted_score"].iloc[0], abs=1e-6
    )


def test_tier_attribution_sums_to_the_classifiers_log_odds(trained_model) -> None:
    model, rows = trained_model.model, trained_model.dataset.head(300)
    x = feature_matrix(rows, model.forecaster.feature_names)
    proba = model.forecaster.classifier.predict(x)
    codes = ordinal_tier_codes(proba)
    table = tier_attribution_frame(model, rows, codes)
    stages = table[[f"{s}_log_odds" for s in STAGES]].sum(axis=1) + table["base_log_odds"]
    raw = model.forecaster.classifier.predict(x, raw_score=True)
    np.testing.assert_allclose(stages, raw[np.arange(len(x)), codes], atol=1e-6)
    np.testing.assert_allclose(table["tier_log_odds"], raw[np.arange(len(x)), codes], atol=1e-6)


def test_native_contributions_agree_with_the_shap_package(trained_model) -> None:
    model, rows = trained_model.model, trained_model.dataset.head(200)
    x = feature_matrix(rows, model.forecaster.feature_names)
    x = x.copy()
    x[::5, :3] = np.nan  # missing values take each split's default branch in both
    explained = independent_tree_explainer(model.forecaster.regressor)(x)
    native = model.forecaster.regressor.predict(x, pred_contrib=True)
    np.testing.assert_allclose(explained.values, native[:, :-1], atol=1e-6)
    np.testing.assert_allclose(explained.base_values, native[:, -1], atol=1e-6)


def test_predict_frame_keeps_keys_and_probabilities_sum_to_one(trained_model) -> None:
    model, rows = trained_model.model, trained_model.dataset.head(50)
    table = predict_frame(model, rows)
    assert table["merchant_id"].tolist() == rows["merchant_id"].tolist()
    probabilities = table[[c for c in table if c.startswith("p_")]]
    assert probabilities.shape[1] == len(model.tiers_by_code)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-9)
    assert set(table["tier"]) <= set(model.tiers_by_code)


def test_feature_matrix_reads_text_numbers_and_treats_absent_columns_as_unknown() -> None:
    frame = pd.DataFrame({"a": ["1.5", "x", None], "b": [1, 2, 3]})
    x = feature_matrix(frame, ("b", "a", "missing"))
    np.testing.assert_array_equal(x[:, 0], [1, 2, 3])
    assert x[0, 1] == 1.5 and np.isnan(x[1:, 1]).all()
    assert np.isnan(x[:, 2]).all()
