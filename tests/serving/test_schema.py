"""The API schema is derived from the catalogue and the contract, with the catalogue's ranges."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from features.catalogue import load_catalogue
from features.contract import ORDER_COLUMNS, REQUIRED_COLUMNS
from serving.config import ServiceConfig
from serving.identifiers import IDENTIFIER_MAX_LENGTH
from serving.orders_schema import EXAMPLE_ORDERS_REQUEST
from serving.schema import build_api_models

CATALOGUE = load_catalogue()
API = build_api_models(CATALOGUE, ServiceConfig(max_batch=3, max_orders=5))


def _predict_body(merchant_id: str = "m", **features: object) -> str:
    return json.dumps({"merchants": [{"merchant_id": merchant_id, "features": features}]})


@pytest.mark.parametrize("feature", CATALOGUE.features, ids=lambda f: f.name)
def test_the_schema_bounds_are_the_catalogue_range(feature):
    schema = API.feature_values.model_json_schema()["properties"][feature.name]["anyOf"][0]
    assert schema.get("minimum") == feature.minimum
    assert schema.get("maximum") == feature.maximum
    assert (schema.get("multipleOf") == 1) == feature.integer
    assert feature.range_text in API.feature_values.model_fields[feature.name].description


@pytest.mark.parametrize(
    ("name", "value", "kind"),
    [
        ("carrier_concentration_hhi", 7, "less_than_equal"),
        ("livestream_order_share", 5, "less_than_equal"),
        ("livestream_order_share", -2, "greater_than_equal"),
        ("transit_hours_cv", -1, "greater_than_equal"),
        ("late_dispatch_rate_trend", 50, "less_than_equal"),
        ("burstiness_peak_hour_ratio", 0.5, "greater_than_equal"),
        ("order_growth_rate", -1.5, "greater_than_equal"),
        ("current_les_points_pick_pack", 6, "less_than_equal"),
        ("current_tier_code", 1.5, "multiple_of"),
        ("current_tier_code", 4, "less_than_equal"),
        ("orders_in_window", 10.5, "multiple_of"),
    ],
)
def test_impossible_values_are_refused_naming_the_field(name, value, kind):
    """Issue 13 (6, 13): each of these was scored, one as Excellent."""
    errors = _errors(API.predict_request, _predict_body(**{name: value}))
    assert [(e["type"], e["loc"]) for e in errors] == [(kind, ("merchants", 0, "features", name))]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("carrier_concentration_hhi", 1),
        ("transit_hours_cv", 2.5),
        ("late_dispatch_rate_trend", -1),
        ("pick_pack_hours_p90_trend", -400),
        ("order_growth_rate", 12),
        ("current_tier_code", 3.0),
        ("orders_in_window", 740),
    ],
)
def test_possible_values_at_and_inside_the_range_are_scored(name, value):
    API.predict_request.model_validate_json(_predict_body(**{name: value}))


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


@pytest.mark.parametrize(
    "merchant_id",
    [
        "",
        "x" * (IDENTIFIER_MAX_LENGTH + 1),
        "x" * 100_000,
        "   ",
        " shop-1",
        "shop-1\t",
        "shop\x00-1",
        "shop\n-1",
        "shop\x7f",
        "shop\x85",
    ],
    ids=["empty", "201", "100000", "blank", "lead", "trail", "nul", "newline", "del", "c1"],
)
def test_one_merchant_id_rule_on_every_endpoint(merchant_id):
    """Issue 13 (13): the same id is refused by /predict, /explain and /predict_orders."""
    for model in (API.predict_request, API.explain_request):
        errors = _errors(model, _predict_body(merchant_id))
        assert [e["loc"] for e in errors] == [("merchants", 0, "merchant_id")]
    order = {**EXAMPLE_ORDERS_REQUEST["orders"][0], "merchant_id": merchant_id}
    body = json.dumps({**EXAMPLE_ORDERS_REQUEST, "orders": [order]})
    assert [e["loc"] for e in _errors(API.orders_request, body)] == [("orders", 0, "merchant_id")]


@pytest.mark.parametrize("merchant_id", ["shop-0042", "x" * IDENTIFIER_MAX_LENGTH, "Café 7", "a"])
def test_ordinary_merchant_ids_are_accepted(merchant_id):
    API.predict_request.model_validate_json(_predict_body(merchant_id))
    order = {**EXAMPLE_ORDERS_REQUEST["orders"][0], "merchant_id": merchant_id}
    API.orders_request.model_validate({**EXAMPLE_ORDERS_REQUEST, "orders": [order]})


@pytest.mark.parametrize(
    ("paid_at", "ok"),
    [
        ("2026-02-20T19:02:40Z", True),
        ("2026-02-20T19:02:40.123456789+00:00", True),
        ("2026-02-21T01:02:40+0600", True),
        ("2026-02-20T14:02:40-05:00", True),
        ("2026-02-20T19:02:40", False),
        ("2026-02-20 19:02:40", False),
        ("2026-02-20", False),
    ],
)
def test_order_times_need_their_zone(paid_at, ok):
    """Issue 13 (13): a naive order time was read as UTC without a word; now a 400 naming it."""
    order = {**EXAMPLE_ORDERS_REQUEST["orders"][0], "paid_at": paid_at}
    body = json.dumps({**EXAMPLE_ORDERS_REQUEST, "orders": [order]})
    if ok:
        API.orders_request.model_validate_json(body)
    else:
        assert [e["loc"] for e in _errors(API.orders_request, body)] == [("orders", 0, "paid_at")]


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
        ("2026-03-02T00:00:00", False),
        ("2026-03-02", False),
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


@pytest.mark.parametrize("value", [0, 1, "yes", "true", None])
def test_include_features_is_a_json_boolean(value):
    """Issue 13 (11): 0, 1 and "yes" were read as booleans though the document says boolean."""
    body = json.dumps({**EXAMPLE_ORDERS_REQUEST, "include_features": value})
    assert [e["loc"] for e in _errors(API.orders_request, body)] == [("include_features",)]


@pytest.mark.parametrize(
    "snapshot",
    [1772409600, 1772409600.0, "1772409600", "2026-03-02 00:00:00Z", "2026-03-02T00:00Z"],
)
def test_the_snapshot_is_an_rfc3339_string(snapshot):
    """Issue 13 (11): Unix seconds were a snapshot, though the document says a date-time."""
    body = json.dumps({**EXAMPLE_ORDERS_REQUEST, "snapshot_at": snapshot})
    assert [e["loc"] for e in _errors(API.orders_request, body)] == [("snapshot_at",)]


@pytest.mark.parametrize("column", [c.name for c in ORDER_COLUMNS if c.kind in ("id", "str")])
@pytest.mark.parametrize("text", ["", " ", "a\x00b"])
def test_order_text_fields_follow_the_id_rule(column, text):
    """Issue 13 (11): a blank carrier or region passed the schema, then the contract refused it."""
    order = {**EXAMPLE_ORDERS_REQUEST["orders"][0], column: text}
    body = json.dumps({**EXAMPLE_ORDERS_REQUEST, "orders": [order]})
    assert [e["loc"] for e in _errors(API.orders_request, body)] == [("orders", 0, column)]
    schema = API.order_event.model_json_schema()["properties"][column]
    assert (schema.get("minLength") or schema["anyOf"][0]["minLength"]) == 1


def _api_operations(document: dict) -> dict[str, dict]:
    return {route: document["paths"][route]["post"] for route in API_ROUTES}


API_ROUTES = ("/predict", "/predict_orders", "/explain")


@pytest.mark.parametrize("authenticated", [False, True])
def test_the_document_declares_what_the_service_answers(authenticated):
    """Issue 13 (11): BentoML's document has a string `detail`, an optional body and no 401,
    413 or 415; schemathesis (tests/serving/test_fuzz_e2e.py) checks the answers against it."""
    from serving.http import OPEN_PATHS
    from serving.openapi import truthful_document
    from serving.service import API_ROUTES as SERVED_ROUTES
    from serving.service import LesService

    spec = LesService.openapi_spec.asdict()
    document = truthful_document(
        spec, SERVED_ROUTES, authenticated=authenticated, open_paths=OPEN_PATHS
    )
    assert frozenset(API_ROUTES) == SERVED_ROUTES
    schemas = document["components"]["schemas"]
    assert schemas["BadRequest"]["properties"]["detail"]["type"] == "array"
    expected = {"200", "400", "413", "415", "500"} | ({"401"} if authenticated else set())
    for route, operation in _api_operations(document).items():
        assert operation["requestBody"]["required"] is True, route
        assert set(operation["responses"]) == expected, route
        refs = {
            code: r["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
            for code, r in operation["responses"].items()
            if code != "200"
        }
        assert all(ref in schemas for ref in refs.values()), refs
        assert refs["400"] == "BadRequest" and refs["415"] == "Refused"
    assert ("securitySchemes" in document["components"]) == authenticated
    probe = document["paths"]["/readyz"]["get"]
    assert "401" not in probe["responses"] and "security" not in probe
    assert ("401" in document["paths"]["/metrics"]["get"]["responses"]) == authenticated
    assert "required" not in spec["paths"]["/predict"]["post"]["requestBody"]  # not mutated


@pytest.mark.parametrize(
    ("name", "value"),
    [("delivered_orders_in_window", 2.5890419884777833e-42), ("orders_in_window", 1e-10)],
)
def test_a_count_with_a_tiny_fraction_is_refused(name, value):
    """pydantic's multiple_of=1 forgives a remainder below about 1e-9; the document's
    `multipleOf: 1` does not, and schemathesis sent 2.6e-42 orders (issue 13 item 11)."""
    errors = _errors(API.predict_request, _predict_body(**{name: value}))
    assert [e["loc"] for e in errors] == [("merchants", 0, "features")]
    assert name in errors[0]["msg"] and "whole numbers" in errors[0]["msg"]
