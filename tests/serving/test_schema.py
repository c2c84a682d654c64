"""The API schema is derived from the catalogue and the contract, with ranges from catalogue fields."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from features.catalogue import load_catalogue
from features.contract import ORDER_COLUMNS, REQUIRED_COLUMNS
from serving.config import ServiceConfig
from serving.schema import (
    EXAMPLE_ORDERS_REQUEST,
    TREND_NAMES,
    build_api_models,
    feature_bounds,
)

CATALOGUE = load_catalogue()
API = build_api_models(CATALOGUE, ServiceConfig(max_batch=3, max_orders=5))
UNBOUNDED_RATIOS = {
    "surge_pick_pack_p90_ratio",
    "burstiness_peak_hour_ratio",
    "order_growth_rate",
    "transit_hours_cv",
}


@pytest.mark.parametrize("feature", CATALOGUE.features, ids=lambda f: f.name)
def test_bounds_follow_the_catalogue_fields(feature):
    low, high = feature_bounds(feature)
    if feature.name in TREND_NAMES:
        assert (low, high) == (None, None)
    elif feature.denominator is not None:
        assert (low, high) == (0.0, 1.0)
    elif feature.unit in ("hours", "days", "orders"):
        assert (low, high) == (0.0, None)
    if feature.name in UNBOUNDED_RATIOS or feature.name.endswith("_trend"):
        assert (low, high) == (None, None)


def test_every_rate_is_a_share():
    rates = [f for f in CATALOGUE.features if f.name.endswith("_rate") and f.unit == "ratio"]
    bounded = [f.name for f in rates if feature_bounds(f) == (0.0, 1.0)]
    assert set(bounded) == {f.name for f in rates} - {"order_growth_rate"}


def test_feature_fields_are_the_catalogue():
    assert tuple(API.feature_values.model_fields) == CATALOGUE.names


def test_order_fields_are_the_contract():
    fields = API.order_event.model_fields
    assert tuple(fields) == tuple(c.name for c in ORDER_COLUMNS)
    assert {n for n, f in fields.items() if f.is_required()} == set(REQUIRED_COLUMNS)


def test_examples_are_valid_requests():
    for model in (API.predict_request, API.explain_request, API.orders_request):
        example = model.model_json_schema()["example"]
        model.model_validate_json(json.dumps(example))


def _errors(model, body: str) -> list[dict]:
    with pytest.raises(ValidationError) as caught:
        model.model_validate_json(body)
    return caught.value.errors(include_url=False)


def test_unknown_names_are_listed_in_one_error():
    errors = _errors(
        API.predict_request,
        '{"merchants": [{"merchant_id": "m", "features": {"b": 1, "a": 2}}]}',
    )
    assert len(errors) == 1
    assert errors[0]["loc"] == ("merchants", 0, "features")
    assert "['a', 'b']" in errors[0]["msg"]


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ('"0.5"', "float_type"),
        ("true", "float_type"),
        ("NaN", "finite_number"),
        ("Infinity", "finite_number"),
        ("2", "less_than_equal"),
        ("-0.5", "greater_than_equal"),
    ],
)
def test_a_rate_must_be_a_finite_number_in_0_1(value, kind):
    body = '{"merchants": [{"merchant_id": "m", "features": {"late_dispatch_rate": %s}}]}'
    errors = _errors(API.predict_request, body.replace("%s", value))
    assert [(e["type"], e["loc"][-1]) for e in errors] == [(kind, "late_dispatch_rate")]


def test_trends_may_be_negative_and_nulls_are_unknown():
    body = {"merchants": [{"merchant_id": "m", "features": {"late_dispatch_rate_trend": -0.3}}]}
    request = API.predict_request.model_validate(body)
    features = request.merchants[0].features
    assert features.late_dispatch_rate_trend == -0.3
    assert features.on_time_delivery_rate is None


def test_batch_limits_come_from_the_config():
    merchants = [{"merchant_id": str(i)} for i in range(4)]
    errors = _errors(API.predict_request, json.dumps({"merchants": merchants}))
    assert errors[0]["type"] == "too_long"
    assert _errors(API.predict_request, '{"merchants": []}')[0]["type"] == "too_short"


@pytest.mark.parametrize(
    ("snapshot", "ok"),
    [
        ("2026-03-02T00:00:00Z", True),
        ("2026-03-02T00:00:00", True),
        ("2026-03-02T01:00:00+01:00", True),
        ("2026-03-02T00:00:01Z", False),
        ("2026-03-02T00:00:00+01:00", False),
    ],
)
def test_snapshot_must_be_a_utc_midnight(snapshot, ok):
    body = {**EXAMPLE_ORDERS_REQUEST, "snapshot_at": snapshot}
    if ok:
        API.orders_request.model_validate(body)
    else:
        assert _errors(API.orders_request, json.dumps(body))[0]["loc"] == ("snapshot_at",)


@pytest.mark.parametrize(
    "snapshot",
    [
        "0001-01-01T00:00:00Z",
        "1600-01-01T00:00:00Z",
        "1677-09-21T00:00:00Z",
        "2262-04-12T00:00:00Z",
        "2300-01-01T00:00:00Z",
        "9999-12-31T00:00:00Z",
        "0001-01-01T00:30:00+01:00",
        "9999-12-31T23:00:00-05:00",
    ],
)
def test_a_snapshot_pandas_cannot_hold_is_a_validation_error(snapshot):
    """Outside pd.Timestamp's nanosecond range the feature builder cannot run: refused here, by
    field, instead of an OutOfBoundsDatetime (or a datetime overflow) deep in the service."""
    body = {**EXAMPLE_ORDERS_REQUEST, "snapshot_at": snapshot}
    errors = _errors(API.orders_request, json.dumps(body))
    assert errors[0]["loc"] == ("snapshot_at",)
    assert "1677-09-22..2262-04-11" in errors[0]["msg"]


@pytest.mark.parametrize("snapshot", ["1677-09-22T00:00:00Z", "2262-04-11T00:00:00Z"])
def test_the_first_and_last_midnights_pandas_holds_are_valid(snapshot):
    API.orders_request.model_validate({**EXAMPLE_ORDERS_REQUEST, "snapshot_at": snapshot})
