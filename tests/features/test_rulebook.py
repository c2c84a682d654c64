"""The LES rulebook: hand-computed points and scores, tiers, minimums and monotonicity."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from features.rulebook import (
    INSUFFICIENT,
    RulebookError,
    compute_les,
    load_rulebook,
    metric_points,
    score_les,
    tier_from_score,
)

RULES = load_rulebook()
BETTER_HIGHER = {m.feature: m.bands[-1][1] > m.bands[0][1] for m in RULES.metrics}


def frame(**values: float) -> pd.DataFrame:
    """One merchant with every metric at its best unless given, and plenty of orders."""
    row = {m.feature: (1.0 if BETTER_HIGHER[m.feature] else 0.0) for m in RULES.metrics}
    row |= {
        "orders_in_window": 100,
        "shipped_orders_in_window": 100,
        "delivered_orders_in_window": 100,
        "accepted_orders_in_window": 100,
    }
    row |= values
    return pd.DataFrame([row])


@pytest.mark.parametrize(
    ("value", "points"),
    [
        (0.0, 5.0),
        (0.02, 4.5),
        (0.03, 4.0 - 1.5 * (0.03 - 0.04) / (0.10 - 0.04) * -1 - 0.0),
        (0.04, 4.0),
        (0.07, 3.25),
        (0.50, 0.0),
        (0.9, 0.0),
    ],
)
def test_late_dispatch_points_interpolate_between_bands(value: float, points: float) -> None:
    bands = next(m.bands for m in RULES.metrics if m.feature == "late_dispatch_rate")
    expected = float(np.interp(value, [b[0] for b in bands], [b[1] for b in bands]))
    got = metric_points(pd.Series([value]), bands).iloc[0]
    assert got == pytest.approx(expected)
    if value in (0.0, 0.02, 0.04, 0.07, 0.50, 0.9):
        assert got == pytest.approx(points)


def test_nan_metric_stays_nan() -> None:
    assert np.isnan(metric_points(pd.Series([np.nan]), RULES.metrics[0].bands).iloc[0])


def test_perfect_merchant_scores_five_and_is_excellent() -> None:
    scored = score_les(frame(), RULES).iloc[0]
    assert scored["les_score"] == pytest.approx(5.0)
    assert scored["les_tier"] == "Excellent"


def test_hand_computed_weighted_score() -> None:
    # late dispatch 10% -> 2.5 points (weight .25); on-time 90% -> 3.0 points (weight .15)
    scored = score_les(frame(late_dispatch_rate=0.10, on_time_delivery_rate=0.90), RULES).iloc[0]
    expected = 5.0 - 0.25 * (5.0 - 2.5) - 0.15 * (5.0 - 3.0)
    assert scored["les_score"] == pytest.approx(expected)
    assert scored["late_dispatch_rate_points"] == pytest.approx(2.5)


def test_missing_metric_renormalises_weights() -> None:
    scored = score_les(frame(late_dispatch_rate=np.nan, on_time_delivery_rate=0.90), RULES).iloc[0]
    assert scored["les_score"] == pytest.approx(5.0 - 0.15 * 2.0 / 0.75)


def test_metric_below_denominator_floor_is_left_out() -> None:
    scored = score_les(frame(on_time_delivery_rate=0.5, delivered_orders_in_window=3), RULES)
    assert np.isnan(scored.loc[0, "on_time_delivery_rate_points"])
    assert scored.loc[0, "les_tier"] == "Excellent"


def test_too_few_orders_is_insufficient_data() -> None:
    scored = score_les(frame(orders_in_window=RULES.min_orders - 1), RULES).iloc[0]
    assert scored["les_tier"] == INSUFFICIENT and np.isnan(scored["les_score"])
    assert (
        score_les(frame(orders_in_window=RULES.min_orders), RULES).iloc[0]["les_tier"]
        != INSUFFICIENT
    )


@pytest.mark.parametrize(
    ("score", "tier"),
    [
        (4.0, "Excellent"),
        (3.999, "Good"),
        (3.0, "Good"),
        (2.0, "Needs attention"),
        (1.999, "Poor"),
        (0.0, "Poor"),
        (np.nan, INSUFFICIENT),
    ],
)
def test_tier_boundaries(score: float, tier: str) -> None:
    assert tier_from_score(pd.Series([score]), RULES).iloc[0] == tier


def test_overrides_are_validated() -> None:
    assert RULES.with_overrides(min_orders=5).min_orders == 5
    with pytest.raises(RulebookError, match="descend"):
        RULES.with_overrides(
            tiers={"Excellent": 2.0, "Good": 3.0, "Needs attention": 1.0, "Poor": 0.0}
        )


def test_weights_must_sum_to_one(tmp_path) -> None:
    from importlib import resources

    text = (resources.files("features") / "rulebook.yaml").read_text()
    broken = tmp_path / "rules.yaml"
    broken.write_text(text.replace("weight: 0.25", "weight: 0.35"))
    with pytest.raises(RulebookError, match="sum to 1"):
        load_rulebook(broken)


metric_values = st.fixed_dictionaries({m.feature: st.floats(0, 1) for m in RULES.metrics})


@given(
    values=metric_values,
    which=st.sampled_from([m.feature for m in RULES.metrics]),
    step=st.floats(0, 1),
)
@settings(max_examples=200, deadline=None)
def test_improving_one_metric_never_lowers_the_score(values, which, step) -> None:
    before = score_les(frame(**values), RULES).iloc[0]["les_score"]
    better = values[which] + step if BETTER_HIGHER[which] else values[which] - step
    after = score_les(frame(**{**values, which: float(np.clip(better, 0, 1))}), RULES)
    assert after.iloc[0]["les_score"] >= before - 1e-12
    assert 0.0 <= after.iloc[0]["les_score"] <= 5.0


@given(scores=st.lists(st.floats(0, 5), min_size=2, max_size=20))
def test_tier_is_monotone_in_score(scores) -> None:
    order = {"Poor": 0, "Needs attention": 1, "Good": 2, "Excellent": 3}
    s = pd.Series(sorted(scores))
    codes = tier_from_score(s, RULES).map(order).to_numpy()
    assert (np.diff(codes) >= 0).all()


def test_compute_les_on_a_tiny_hand_made_window() -> None:
    start = pd.Timestamp("2026-03-01", tz="UTC")
    n = 40
    paid = start + pd.to_timedelta(np.arange(n) * 12, unit="h")
    orders = pd.DataFrame(
        {
            "order_id": [f"o{i}" for i in range(n)],
            "merchant_id": "m1",
            "channel": "storefront",
            "created_at": paid,
            "paid_at": paid,
            "shipped_at": paid + pd.to_timedelta(np.where(np.arange(n) < 4, 60, 20), unit="h"),
            "ship_by": paid + pd.Timedelta(hours=48),
            "status": "in_transit",
            "cancelled_by": "none",
            "tracking_valid": True,
        }
    )
    end = start + pd.Timedelta(days=30)
    table = compute_les(orders, start, end, RULES)
    row = table.iloc[0]
    shipped_in = (orders["shipped_at"] < end).sum()
    assert row["orders_in_window"] == n
    assert row["late_dispatch_rate"] == pytest.approx(4 / shipped_in)
    assert row["pickup_within_48h_rate"] == pytest.approx(1 - 4 / shipped_in)
    assert row["valid_tracking_rate"] == 1.0
    with pytest.raises(RulebookError, match="whole day"):
        compute_les(orders, start + pd.Timedelta(hours=3), end, RULES)


def test_docs_rulebook_is_generated_from_the_rulebook() -> None:
    from pathlib import Path

    from features.rulebook import rulebook_markdown

    docs = Path(__file__).resolve().parents[2] / "docs" / "rulebook.md"
    assert docs.read_text() == rulebook_markdown(RULES), (
        "docs/rulebook.md is stale: regenerate it with features.rulebook.rulebook_markdown"
    )
    assert all(m.source for m in RULES.metrics)
