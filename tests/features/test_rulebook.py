"""The LES rulebook: hand-computed points and scores, tiers, minimums, overrides, validation,
monotonicity, one window end to end and the CLI."""

from __future__ import annotations

import dataclasses
import json
import math
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from features.catalogue import load_catalogue
from features.errors import LesError
from features.rulebook import (
    INSUFFICIENT,
    TIER_CODES,
    TIERS,
    RulebookError,
    check_rulebook,
    load_rulebook,
)
from features.rulebook_docs import rulebook_markdown
from features.rulebook_scoring import (
    MetricFrameError,
    compute_les,
    metric_points,
    score_les,
    tier_from_score,
)

RULES = load_rulebook()
METRICS = {m.feature: m for m in RULES.metrics}
HIGHER_IS_BETTER = {
    m.feature: load_catalogue().feature(m.feature).direction == "higher" for m in RULES.metrics
}
DOCS = Path(__file__).resolve().parents[2] / "docs" / "rulebook.md"
PACKAGED = (resources.files("features") / "rulebook.yaml").read_text()
START = pd.Timestamp("2026-03-01", tz="UTC")
END = START + pd.Timedelta(days=30)


def frame(**values: float) -> pd.DataFrame:
    """One merchant with every metric at its best unless given, and 100 of every count."""
    row: dict[str, float] = {f: (1.0 if HIGHER_IS_BETTER[f] else 0.0) for f in METRICS}
    counts = ("orders", "accepted_orders", "shipped_orders", "delivered_orders")
    row |= {f"{name}_in_window": 100 for name in counts}
    return pd.DataFrame([row | values])


def score(rules=RULES, **values: float) -> pd.Series:
    return score_les(frame(**values), rules).iloc[0]


# --- points per metric: at a band point, between two, outside the bands ------------------------
@pytest.mark.parametrize(
    ("feature", "value", "points"),
    [
        ("seller_fault_cancellation_rate", 0.025, 4.0),
        ("seller_fault_cancellation_rate", 0.0175, 4.25),  # halfway 0.01 (4.5) .. 0.025 (4.0)
        ("seller_fault_cancellation_rate", 0.5, 0.0),
        ("seller_fault_cancellation_rate", -0.1, 5.0),
        ("late_dispatch_rate", 0.10, 2.5),
        ("late_dispatch_rate", 0.07, 3.25),  # halfway 0.04 (4.0) .. 0.10 (2.5)
        ("late_dispatch_rate", 0.9, 0.0),
        ("pickup_within_24h_of_ready_rate", 0.93, 4.0),
        ("pickup_within_24h_of_ready_rate", 0.89, 3.25),  # halfway 0.85 (2.5) .. 0.93 (4.0)
        ("pickup_within_24h_of_ready_rate", 0.3, 0.0),
        ("valid_tracking_rate", 0.80, 1.0),
        ("valid_tracking_rate", 0.97, 4.5),  # halfway 0.95 (4.0) .. 0.99 (5.0)
        ("valid_tracking_rate", 0.2, 0.0),
        ("route_on_time_transit_rate", 0.65, 1.0),
        ("route_on_time_transit_rate", 0.85, 3.25),  # halfway 0.80 (2.5) .. 0.90 (4.0)
        ("route_on_time_transit_rate", 1.0, 5.0),
        ("on_time_delivery_rate", 0.90, 3.0),
        ("on_time_delivery_rate", 0.70, 0.75),  # halfway 0.60 (0) .. 0.80 (1.5)
        ("on_time_delivery_rate", 0.99, 5.0),
        ("logistics_negative_review_rate", 0.05, 2.5),
        ("logistics_negative_review_rate", 0.01, 4.5),  # halfway 0 (5.0) .. 0.02 (4.0)
        ("logistics_negative_review_rate", 0.3, 0.0),
    ],
)
def test_points_per_metric_by_hand(feature: str, value: float, points: float) -> None:
    got = metric_points(pd.Series([value], name=feature), METRICS[feature].bands).iloc[0]
    assert got == pytest.approx(points, abs=1e-12)


def test_points_are_flat_outside_the_bands_and_nan_stays_nan() -> None:
    bands = ((0.2, 1.0), (0.6, 3.0))
    values = pd.Series([-5.0, 0.2, 0.4, 0.6, 9.0, np.nan], index=list("abcdef"))
    got = metric_points(values, bands)
    assert got.index.tolist() == list("abcdef")
    assert got.iloc[:5].tolist() == pytest.approx([1.0, 1.0, 2.0, 3.0, 3.0])
    assert np.isnan(got["f"])


def test_non_numeric_metric_values_name_the_column() -> None:
    with pytest.raises(MetricFrameError, match="late_dispatch_rate"):
        score_les(frame(late_dispatch_rate="fast"), RULES)
    with pytest.raises(MetricFrameError, match="delivered_orders_in_window"):
        score_les(frame(delivered_orders_in_window="many"), RULES)


# --- the weighted score ---------------------------------------------------------------------
def test_perfect_merchant_scores_five_and_is_excellent() -> None:
    row = score()
    assert row["les_score"] == 5.0 and row["les_tier"] == "Excellent"


def test_hand_computed_weighted_score_and_columns() -> None:
    scored = score_les(frame(late_dispatch_rate=0.10, on_time_delivery_rate=0.90), RULES)
    # late dispatch 10% -> 2.5 points (weight .25); on time 90% -> 3.0 (weight .15); rest 5.0
    assert scored.loc[0, "les_score"] == pytest.approx(0.6 * 5 + 0.25 * 2.5 + 0.15 * 3.0)
    assert scored.loc[0, "les_tier"] == "Excellent"  # 4.075
    pairs = [c for f in METRICS for c in (f, f"{f}_points")]
    assert scored.columns.tolist() == [*pairs, "les_score", "les_tier"]


def test_output_keeps_the_input_index() -> None:
    rows = pd.concat([frame(), frame(late_dispatch_rate=0.5)]).set_axis([10, 20])
    scored = score_les(rows, RULES)
    assert scored.index.tolist() == [10, 20]
    assert scored.loc[20, "les_score"] == pytest.approx(5 - 0.25 * 5)


def test_missing_metric_renormalises_the_weights() -> None:
    expected = (0.6 * 5 + 0.15 * 3.0) / 0.75  # late dispatch (weight .25) left out
    nan_value = score(late_dispatch_rate=np.nan, on_time_delivery_rate=0.90)
    assert nan_value["les_score"] == pytest.approx(expected)
    assert np.isnan(nan_value["late_dispatch_rate_points"])
    absent = score_les(frame(on_time_delivery_rate=0.90).drop(columns="late_dispatch_rate"), RULES)
    assert absent.loc[0, "les_score"] == pytest.approx(expected)


def test_metric_below_its_denominator_minimum_is_left_out() -> None:
    rules = RULES.with_overrides(min_orders=1)  # so few deliveries still score the row
    floor = rules.min_metric_denominator
    below = score(rules, on_time_delivery_rate=0.70, delivered_orders_in_window=floor - 1)
    # on-time, route on-time and negative reviews share the delivered denominator: all left out
    assert np.isnan(below["on_time_delivery_rate_points"])
    assert below["on_time_delivery_rate"] == 0.70  # the value is still reported
    assert below["les_score"] == 5.0
    at_floor = score(rules, on_time_delivery_rate=0.70, delivered_orders_in_window=floor)
    assert at_floor["les_score"] == pytest.approx(5 - 0.15 * (5 - 0.75))
    unknown = score(late_dispatch_rate=0.10, shipped_orders_in_window=np.nan)
    assert np.isnan(unknown["late_dispatch_rate_points"])
    no_column = score_les(
        frame(late_dispatch_rate=0.10).drop(columns="shipped_orders_in_window"), RULES
    )
    assert no_column.loc[0, "les_score"] == pytest.approx(5 - 0.25 * (5 - 2.5))


def test_too_few_delivered_orders_is_insufficient_data() -> None:
    below = score(delivered_orders_in_window=RULES.min_orders - 1)
    assert below["les_tier"] == INSUFFICIENT and np.isnan(below["les_score"])
    assert below["late_dispatch_rate_points"] == 5.0  # points are still shown
    assert score(delivered_orders_in_window=RULES.min_orders)["les_tier"] == "Excellent"
    assert score(delivered_orders_in_window=np.nan)["les_tier"] == INSUFFICIENT
    # paid orders are not what the minimum counts
    assert score(orders_in_window=RULES.min_orders - 1)["les_tier"] == "Excellent"


def test_no_metric_present_is_insufficient_data() -> None:
    none = score(**dict.fromkeys(METRICS, np.nan))
    assert none["les_tier"] == INSUFFICIENT and np.isnan(none["les_score"])
    # every metric gated out: only the cancellation rate has enough observations, and it is unknown
    gated = score(
        seller_fault_cancellation_rate=np.nan,
        shipped_orders_in_window=0,
        delivered_orders_in_window=RULES.min_metric_denominator - 1,
    )
    assert gated["les_tier"] == INSUFFICIENT and np.isnan(gated["les_score"])


# --- tiers -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("les", "tier"),
    [
        (5.0, "Excellent"),
        (4.0, "Excellent"),
        (4.0 - 1e-12, "Excellent"),  # float noise of a weighted mean reaches the cut-off
        (4.0 - 1e-6, "Good"),
        (3.0, "Good"),
        (2.999, "Needs attention"),
        (2.0, "Needs attention"),
        (1.999, "Poor"),
        (0.0, "Poor"),
        (-0.3, "Poor"),  # a regressed score below the scale
        (math.inf, "Excellent"),
        (np.nan, INSUFFICIENT),
    ],
)
def test_tier_boundaries(les: float, tier: str) -> None:
    assert tier_from_score(pd.Series([les]), RULES).iloc[0] == tier


def test_scores_exactly_at_a_cut_off_through_the_weighted_mean() -> None:
    # every metric at a value worth exactly 4.0 points, then exactly 3.0 points (by the bands)
    at_four = {f: next(v for v, p in m.bands if p == 4.0) for f, m in METRICS.items()}
    assert score(**at_four)["les_tier"] == "Excellent"
    at_three = {
        "seller_fault_cancellation_rate": 0.025 + 0.025 / 1.5,
        "late_dispatch_rate": 0.08,
        "pickup_within_24h_of_ready_rate": 0.85 + 0.08 / 3,
        "valid_tracking_rate": 0.9 + 0.05 / 3,
        "route_on_time_transit_rate": 0.8 + 0.1 / 3,
        "on_time_delivery_rate": 0.90,
        "logistics_negative_review_rate": 0.04,
    }
    row = score(**at_three)
    assert row["les_score"] == pytest.approx(3.0) and row["les_tier"] == "Good"


def test_tier_codes_order_the_tiers() -> None:
    assert sorted(TIER_CODES, key=TIER_CODES.get, reverse=True) == list(TIERS)
    assert INSUFFICIENT not in TIER_CODES


# --- overrides ----------------------------------------------------------------------------
def test_overrides_from_code_replace_by_name_and_keep_the_original() -> None:
    rules = RULES.with_overrides(
        window_days=14,
        min_orders=5,
        min_metric_denominator=3,
        tiers={"Excellent": 4.5},
        weights={"late_dispatch_rate": 0.15, "valid_tracking_rate": 0.20},
        bands={"late_dispatch_rate": [[0.0, 5.0], [0.2, 0.0]]},
    )
    assert (rules.window_days, rules.min_orders, rules.min_metric_denominator) == (14, 5, 3)
    assert rules.tiers == {"Excellent": 4.5, "Good": 3.0, "Needs attention": 2.0, "Poor": 0.0}
    assert RULES.window_days == 30 and RULES.tiers["Excellent"] == 4.0
    row = score(rules, late_dispatch_rate=0.1, orders_in_window=5)
    assert row["late_dispatch_rate_points"] == pytest.approx(2.5)  # halfway 0 .. 0.2 of new bands
    assert row["les_score"] == pytest.approx(5 - 0.15 * 2.5)  # 4.625
    assert row["les_tier"] == "Excellent"
    assert score(rules, late_dispatch_rate=0.2)["les_tier"] == "Good"  # 4.25 < 4.5


def test_dataclasses_replace_is_checked_by_check_rulebook() -> None:
    rules = dataclasses.replace(RULES, min_orders=1)
    check_rulebook(rules)
    broken = dataclasses.replace(RULES, metrics=RULES.metrics[:-1])
    with pytest.raises(RulebookError, match="sum to 1"):
        check_rulebook(broken)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"weights": {"late_dispatch_rate": 0.35}}, "must sum to 1"),
        ({"weights": {"lost_parcel_rate": 0.1}}, "lost_parcel_rate"),
        ({"bands": {"late_dispatch_rate": [0.1, 0.2]}}, "bands.late_dispatch_rate"),
        ({"tiers": {"Excellent": "high"}}, "tiers.Excellent"),
        ({"tiers": {"Superb": 4.8}}, "tiers must name exactly"),
        ({"min_orders": -1}, "min_orders"),
        ({"window_days": 7.5}, "window_days must be a finite whole number"),
    ],
)
def test_bad_overrides_from_code_name_the_field(overrides: dict, message: str) -> None:
    with pytest.raises(RulebookError, match=message):
        RULES.with_overrides(**overrides)


def test_user_yaml_is_laid_over_the_packaged_rulebook(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text(
        "window_days: 28\nmin_orders: 50\ntiers: {Excellent: 4.5}\n"
        "weights: {late_dispatch_rate: 0.20, on_time_delivery_rate: 0.20}\n"
        "bands: {valid_tracking_rate: [[0.9, 0.0], [1.0, 5.0]]}\n"
    )
    rules = load_rulebook(path)
    assert (rules.window_days, rules.min_orders, rules.tiers["Excellent"]) == (28, 50, 4.5)
    assert {m.feature: m.weight for m in rules.metrics}["on_time_delivery_rate"] == 0.20
    assert dict((m.feature, m.bands) for m in rules.metrics)["valid_tracking_rate"] == (
        (0.9, 0.0),
        (1.0, 5.0),
    )
    assert rules.metrics[0] == RULES.metrics[0]  # untouched metrics stay as packaged
    (tmp_path / "empty.yaml").write_text("")
    assert load_rulebook(tmp_path / "empty.yaml") == RULES


def test_full_rulebook_files_round_trip(tmp_path: Path) -> None:
    (tmp_path / "packaged.yaml").write_text(PACKAGED)
    assert load_rulebook(tmp_path / "packaged.yaml") == RULES
    # the training pipeline logs dataclasses.asdict(rules) as YAML: it must load back the same
    plain = json.loads(json.dumps(dataclasses.asdict(RULES)))
    (tmp_path / "logged.yaml").write_text(yaml.safe_dump(plain, allow_unicode=True))
    assert load_rulebook(tmp_path / "logged.yaml") == RULES


# --- validation -------------------------------------------------------------------------------
def _edited(old: str, new: str) -> str:
    assert old in PACKAGED, old
    return PACKAGED.replace(old, new, 1)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (_edited("weight: 0.25", "weight: 0.35"), "weights must sum to 1, got 1.1"),
        (_edited("weight: 0.25", "weight: -0.25"), "'late_dispatch_rate': weight must be > 0"),
        (_edited("weight: 0.25", "weight: lots"), r"\(late_dispatch_rate\).weight must be a"),
        (_edited("stage: pick_pack", "stage: demand_context"), "stage 'demand_context'"),
        (
            _edited("stage: pick_pack", "stage: order_receipt"),
            "must be the catalogue's 'pick_pack'",
        ),
        (_edited("    stage: pick_pack\n", ""), r"lacks field\(s\) \['stage'\]"),
        (_edited("feature: late_dispatch_rate", "feature: late_dispatch_pct"), "not a feature"),
        (_edited("feature: valid_tracking_rate", "feature: late_dispatch_rate"), "distinct"),
        (_edited("[[0.0, 5.0], [0.02, 4.5]", "[[0.03, 5.0], [0.02, 4.5]"), "strictly increasing"),
        (_edited("[[0.0, 5.0], [0.02, 4.5]", "[[0.0, 6.0], [0.02, 4.5]"), "lie in 0..5"),
        (_edited("[[0.0, 5.0], [0.02, 4.5]", "[[0.0, 4.0], [0.02, 4.5]"), r"better side \(lower\)"),
        (_edited("[[0.0, 5.0], [0.02, 4.5]", "[[0.0, 5.0], [0.02]"), "value, points] pairs"),
        (_edited("Good: 3.0", "Good: 4.5"), "strictly descend"),
        (_edited("Poor: 0.0", "Poor: 0.5"), "tiers.Poor must be 0"),
        (_edited("Needs attention: 2.0", "Needs work: 2.0"), "tiers must name exactly"),
        (_edited("window_days: 30", "window_days: 0"), "window_days must be >= 1"),
        (_edited("window_days: 30", "window_days: 30.5"), "window_days must be a finite whole"),
        (_edited("min_orders: 30", "min_orders: -3"), "min_orders"),
        (_edited("min_orders: 30", "min_order: 30"), r"unknown field\(s\) \['min_order'\]"),
        (
            _edited("    stage: pick_pack\n", "    stage: pick_pack\n    denominator: x\n"),
            "denominator must be the catalogue's 'shipped_orders_in_window'",
        ),
        (
            _edited("feature: valid_tracking_rate", "feature: carrier_concentration_hhi"),
            r"better side \(neutral\)",
        ),
        ("- a list\n", "must be a mapping"),
        ("tiers: [\n", "rulebook file"),
    ],
)
def test_broken_rulebook_files_name_the_file_and_field(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(text)
    with pytest.raises(RulebookError, match=message) as info:
        load_rulebook(path)
    assert str(path) in str(info.value)


def test_missing_rulebook_file_is_a_rulebook_error(tmp_path: Path) -> None:
    with pytest.raises(RulebookError, match="nope.yaml"):
        load_rulebook(tmp_path / "nope.yaml")


# --- properties -------------------------------------------------------------------------------
def _reference_score(row: dict, rules=RULES) -> float:
    """A naive per-row rulebook: explicit segment search instead of np.interp."""
    total = weight = 0.0
    for m in rules.metrics:
        value, count = row.get(m.feature, np.nan), row.get(m.denominator, np.inf)
        if np.isnan(value) or not count >= rules.min_metric_denominator:
            continue
        (x0, y0), yn = m.bands[0], m.bands[-1][1]
        points = y0 if value <= x0 else yn
        for (a, pa), (b, pb) in zip(m.bands, m.bands[1:], strict=False):
            if a < value <= b:
                points = pa + (pb - pa) * (value - a) / (b - a)
        total, weight = total + m.weight * points, weight + m.weight
    enough = row[rules.min_orders_basis] >= rules.min_orders
    return total / weight if weight > 0 and enough else np.nan


maybe_rate = st.one_of(st.floats(-0.2, 1.2), st.just(np.nan))
metric_values = st.fixed_dictionaries({f: maybe_rate for f in METRICS})
counts = st.fixed_dictionaries(
    {
        c: st.integers(0, 60)
        for c in ("orders_in_window", "shipped_orders_in_window", "delivered_orders_in_window")
    }
)


@given(values=metric_values, n=counts)
@settings(max_examples=150, deadline=None)
def test_vectorised_score_matches_a_naive_reference(values: dict, n: dict) -> None:
    row = score(**values, **n)
    expected = _reference_score(frame(**values, **n).iloc[0].to_dict())
    assert row["les_score"] == pytest.approx(expected, nan_ok=True, abs=1e-12)


@given(values=metric_values, n=counts, which=st.sampled_from(list(METRICS)), step=st.floats(0, 1))
@settings(max_examples=200, deadline=None)
def test_improving_one_metric_never_lowers_the_score(values, n, which, step) -> None:
    base = values[which] if not np.isnan(values[which]) else 0.5
    better = base + step if HIGHER_IS_BETTER[which] else base - step
    before = score(**{**values, which: base}, **n)["les_score"]
    after = score(**{**values, which: better}, **n)["les_score"]
    assert np.isnan(before) == np.isnan(after)
    if not np.isnan(after):
        assert after >= before - 1e-12
        assert 0.0 <= after <= 5.0


@given(scores=st.lists(st.one_of(st.floats(-1, 6), st.just(np.nan)), min_size=2, max_size=30))
def test_tier_is_monotone_in_score(scores: list[float]) -> None:
    s = pd.Series(scores).sort_values(na_position="first")
    tiers = tier_from_score(s, RULES)
    assert (tiers[s.isna()] == INSUFFICIENT).all()
    codes = tiers[s.notna()].map(TIER_CODES).to_numpy()
    assert (np.diff(codes) >= 0).all()


# --- one window end to end ---------------------------------------------------------------------
def hand_made_orders() -> pd.DataFrame:
    """m1: 40 orders paid every 12 h from START, 4 shipped late (60 h; ship-by 48 h) after
    waiting 30 h for pickup, 30
    delivered (4 of them after deliver-by), 3 rated 1, one invalid tracking number, plus 2
    seller cancellations: 42 orders. m2: 12 clean orders. m3 and one m1 order lie outside."""
    h = lambda hours: pd.to_timedelta(hours, unit="h")  # noqa: E731
    i = np.arange(40)
    paid = START + h(i * 12)
    shipped = paid + h(np.where(i < 4, 60, 20))
    m1 = pd.DataFrame(
        {
            "order_id": [f"a{k}" for k in i],
            "merchant_id": "m1",
            "channel": "livestream",
            "created_at": paid,
            "paid_at": paid,
            "packed_at": shipped - h(np.where(i < 4, 30, 18)),
            "shipped_at": shipped,
            "delivered_at": (shipped + h(72)).where(i < 30),
            "ship_by": paid + h(48),
            "deliver_by": paid + h(120),
            "status": np.where(i < 30, "delivered", "in_transit"),
            "cancelled_by": "none",
            "tracking_valid": i != 39,
            "logistics_rating": pd.Series(np.where(i < 3, 1, 5), dtype="Int8").where(i < 30),
        }
    )
    cancelled = START + h([100, 200])
    cancels = pd.DataFrame(
        {
            "order_id": ["c1", "c2"],
            "merchant_id": "m1",
            "channel": "storefront",
            "created_at": cancelled,
            "paid_at": cancelled,
            "status": "cancelled",
            "cancelled_by": "seller",
            "status_at": cancelled + h(5),
        }
    )
    j = np.arange(12)
    paid2 = START + h(24 + j * 24)
    m2 = pd.DataFrame(
        {
            "order_id": [f"b{k}" for k in j],
            "merchant_id": "m2",
            "channel": "storefront",
            "created_at": paid2,
            "paid_at": paid2,
            "shipped_at": paid2 + h(30),
            "ship_by": paid2 + h(48),
            "status": "in_transit",
            "cancelled_by": "none",
            "tracking_valid": True,
        }
    )
    before, after = START - pd.Timedelta(days=10), END + h(1)
    outside = pd.DataFrame(
        {
            "order_id": ["x1", "x2"],
            "merchant_id": ["m3", "m1"],
            "channel": "storefront",
            "created_at": [before, after],
            "paid_at": [before, after],
            "shipped_at": [before + h(20), after + h(60)],
            "ship_by": [before + h(48), after + h(48)],
            "status": "in_transit",
            "cancelled_by": "none",
            "tracking_valid": False,
        }
    )
    return pd.concat([m1, cancels, m2, outside], ignore_index=True)


M1_EXPECTED = {
    "orders_in_window": 42,
    "seller_fault_cancellation_rate": 2 / 42,
    "seller_fault_cancellation_rate_points": 4 - 1.5 * (2 / 42 - 0.025) / 0.025,
    "late_dispatch_rate": 4 / 40,
    "late_dispatch_rate_points": 2.5,
    "pickup_within_24h_of_ready_rate": 36 / 40,  # the 4 late ones waited 30 h after packing
    "pickup_within_24h_of_ready_rate_points": 2.5 + 1.5 * (0.9 - 0.85) / 0.08,
    "valid_tracking_rate": 39 / 40,
    "valid_tracking_rate_points": 4 + (0.975 - 0.95) / 0.04,
    "route_on_time_transit_rate": 1.0,  # transit 72 h fits deliver-by - ship-by = 72 h
    "route_on_time_transit_rate_points": 5.0,
    "on_time_delivery_rate": 26 / 30,
    "on_time_delivery_rate_points": 2.5,
    "logistics_negative_review_rate": 3 / 30,
    "logistics_negative_review_rate_points": 1.0,
}


def test_compute_les_on_a_hand_made_window() -> None:
    table = compute_les(hand_made_orders(), START, END, RULES)
    assert table["merchant_id"].tolist() == ["m1", "m2"]
    pairs = [c for f in METRICS for c in (f, f"{f}_points")]
    head = ["merchant_id", "window_start", "window_end", "orders_in_window"]
    head += ["delivered_orders_in_window"]
    assert table.columns.tolist() == [*head, *pairs, "les_score", "les_tier"]
    m1, m2 = table.iloc[0], table.iloc[1]
    assert (m1["window_start"], m1["window_end"]) == (START, END)
    for column, expected in M1_EXPECTED.items():
        assert m1[column] == pytest.approx(expected), column
    points = {f: M1_EXPECTED[f"{f}_points"] for f in METRICS}
    les = sum(m.weight * points[f] for f, m in METRICS.items())
    assert m1["les_score"] == pytest.approx(les) and les == pytest.approx(2.9745535714)
    assert m1["les_tier"] == "Needs attention"
    assert m2["orders_in_window"] == 12 and m2["late_dispatch_rate_points"] == 5.0
    assert (m1["delivered_orders_in_window"], m2["delivered_orders_in_window"]) == (30, 0)
    assert m2["les_tier"] == INSUFFICIENT and np.isnan(m2["les_score"])


def test_compute_les_without_orders_in_the_window_is_empty() -> None:
    later = END + pd.Timedelta(days=365)
    table = compute_les(hand_made_orders(), later - pd.Timedelta(days=30), later, RULES)
    assert table.empty and "les_tier" in table.columns


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        (START + pd.Timedelta(hours=3), END, "window_start must be a midnight UTC"),
        (START, "2026-03-31 00:00+08:00", "window_end must be a midnight UTC"),
        (END, START, "must be after window_start"),
        (START, "the end of March", "window_end must be a date"),
        (None, END, "window_start must be a date"),
    ],
)
def test_compute_les_refuses_windows_that_are_not_whole_utc_days(start, end, message) -> None:
    with pytest.raises(LesError, match=message):
        compute_les(hand_made_orders(), start, end, RULES)


def test_naive_dates_are_read_as_utc() -> None:
    table = compute_les(hand_made_orders(), "2026-03-01", "2026-03-31", RULES)
    assert table.loc[0, "window_end"] == END


# --- CLI and docs --------------------------------------------------------------------------
def test_score_window_cli_writes_the_table_and_prints_the_tiers(tmp_path: Path) -> None:
    from serving.cli import app

    orders = tmp_path / "orders.parquet"
    hand_made_orders().to_parquet(orders)
    runner = CliRunner()
    result = runner.invoke(app, ["score-window", "--orders", str(orders), "--end", "2026-03-31"])
    assert result.exit_code == 0, result.output
    assert "Tier distribution" in result.output and "Needs attention" in result.output
    written = pd.read_parquet(tmp_path / "les_2026-03-31.parquet")
    assert written.loc[0, "les_score"] == pytest.approx(2.9745535714)
    out = tmp_path / "scores.csv"
    args = ["score-window", "--orders", str(orders), "--end", "2026-03-31", "--out", str(out)]
    assert runner.invoke(app, [*args, "--window-days", "30"]).exit_code == 0
    assert pd.read_csv(out)["les_tier"].tolist() == ["Needs attention", INSUFFICIENT]
    bad_end = runner.invoke(
        app, ["score-window", "--orders", str(orders), "--end", "2026-03-31T05:00"]
    )
    assert bad_end.exit_code == 2 and "whole day" in bad_end.output
    assert runner.invoke(app, [*args, "--window-days", "0"]).exit_code == 2
    (tmp_path / "bad.yaml").write_text("min_order: 3\n")
    bad_rules = runner.invoke(app, [*args, "--rules", str(tmp_path / "bad.yaml")])
    assert bad_rules.exit_code == 2 and "min_order" in bad_rules.output


def test_rulebook_cli_prints_the_docs_and_the_table() -> None:
    from serving.cli import app

    runner = CliRunner()
    markdown = runner.invoke(app, ["rulebook", "--markdown"])
    assert markdown.exit_code == 0 and markdown.output == rulebook_markdown(RULES)
    table = runner.invoke(app, ["rulebook"])
    assert table.exit_code == 0 and "late_dispatch_rate" in table.output


def test_docs_rulebook_is_generated_from_the_rulebook() -> None:
    assert DOCS.read_text() == rulebook_markdown(RULES), (
        "docs/rulebook.md is stale: regenerate it with `les rulebook --markdown > docs/rulebook.md`"
    )
    text = DOCS.read_text()
    for m in RULES.metrics:
        assert m.source and m.source in text and f"`{m.feature}`" in text


# --- the minimum counts what the precedent counts (delivered orders) ------------------------------
def buyer_cancelled_orders(n: int = 40) -> pd.DataFrame:
    """A merchant that ships nothing: every one of `n` orders paid in the window is buyer-cancelled."""
    paid = START + pd.to_timedelta(np.arange(n) * 12, unit="h")
    return pd.DataFrame(
        {
            "order_id": [f"z{k}" for k in range(n)],
            "merchant_id": "m0",
            "channel": "storefront",
            "created_at": paid,
            "paid_at": paid,
            "status": "cancelled",
            "cancelled_by": "buyer",
            "status_at": paid + pd.Timedelta(hours=2),
        }
    )


def test_a_merchant_that_ships_nothing_is_insufficient_data_not_excellent() -> None:
    table = compute_les(buyer_cancelled_orders(), START, END, RULES)
    row = table.iloc[0]
    assert row["orders_in_window"] == 40 and row["seller_fault_cancellation_rate_points"] == 5.0
    assert row["les_tier"] == INSUFFICIENT and np.isnan(row["les_score"])


def test_the_minimum_counts_the_rulebooks_basis_delivered_orders() -> None:
    assert RULES.min_orders_basis == "delivered_orders_in_window"
    floor = RULES.min_orders
    below = score(orders_in_window=500, delivered_orders_in_window=floor - 1)
    assert below["les_tier"] == INSUFFICIENT and np.isnan(below["les_score"])
    assert score(orders_in_window=floor, delivered_orders_in_window=floor)["les_score"] == 5.0
    # the override keeps the basis: 5 delivered orders now suffice, 4 do not
    five = RULES.with_overrides(min_orders=5)
    assert score(five, delivered_orders_in_window=5)["les_tier"] == "Excellent"
    assert score(five, delivered_orders_in_window=4)["les_tier"] == INSUFFICIENT
    with pytest.raises(MetricFrameError, match="delivered_orders_in_window"):
        score_les(frame().drop(columns="delivered_orders_in_window"), RULES)


def test_a_minimum_of_zero_delivered_orders_is_refused() -> None:
    with pytest.raises(RulebookError, match="min_orders must be >= 1"):
        RULES.with_overrides(min_orders=0)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (_edited("min_orders_basis: delivered", "min_orders_basis: dispatched"), "not a feature"),
        (
            _edited("min_orders_basis: delivered_orders_in_window", "min_orders_basis: x_rate"),
            "min_orders_basis",
        ),
        (
            _edited(
                "min_orders_basis: delivered_orders_in_window",
                "min_orders_basis: late_dispatch_rate",
            ),
            "a count of orders",
        ),
    ],
)
def test_a_basis_that_is_not_an_order_count_is_refused(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(text)
    with pytest.raises(RulebookError, match=message):
        load_rulebook(path)


@given(
    values=metric_values,
    n=counts,
    min_orders=st.integers(1, 60),
    floor=st.integers(0, 20),
)
@settings(max_examples=200, deadline=None)
def test_every_scored_row_has_its_basis_at_the_minimum(
    values: dict, n: dict, min_orders: int, floor: int
) -> None:
    rules = RULES.with_overrides(min_orders=min_orders, min_metric_denominator=floor)
    row = score(rules, **values, **n)
    if not np.isnan(row["les_score"]):
        assert n[rules.min_orders_basis] >= rules.min_orders >= 1
        assert row["les_tier"] != INSUFFICIENT
    else:
        assert row["les_tier"] == INSUFFICIENT
