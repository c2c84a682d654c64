"""The real service over HTTP: happy paths, every bad-input case, training/serving parity."""

from __future__ import annotations

import contextlib
import json
import math
import socket
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import mlflow
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from features.catalogue import load_catalogue
from features.contract import ORDER_COLUMNS
from features.dataset import build_snapshot_features
from features.dataset_config import DatasetConfig
from features.io import write_table
from features.rulebook import load_rulebook
from features.world import generate_world
from features.world_params import WorldConfig
from serving.cli import app
from tests.serving.conftest import (
    MAX_BATCH,
    MAX_BODY_BYTES,
    MAX_ORDERS,
    MODEL_NAME,
    PARITY_SNAPSHOT,
    Server,
    Store,
    running_server,
)
from training.explain.attribution import predict_frame, stage_attribution_frame
from training.explain.records import explain_records
from training.forecaster_model import proba_column

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("serving")]
CATALOGUE = load_catalogue()
JSON = {"Content-Type": "application/json"}
NINETY_DAY_WORLD = WorldConfig(n_merchants=24, days=260, seed=5)


def merchant(merchant_id: str, row: pd.Series) -> dict[str, Any]:
    """A feature row as the API takes it: catalogue names, unknown values as null."""
    features = {
        name: (None if pd.isna(row[name]) else float(row[name]))
        for name in CATALOGUE.names
        if name in row
    }
    return {"merchant_id": merchant_id, "features": features}


def order_records(orders: pd.DataFrame) -> list[dict[str, Any]]:
    """Orders as a client sends them: ISO timestamps (nanoseconds kept), JSON scalars, null."""
    records: dict[str, list[Any]] = {}
    for column in ORDER_COLUMNS:
        values = orders[column.name].astype(object)
        if column.kind == "timestamp":
            convert = pd.Timestamp.isoformat
        elif column.kind == "bool":
            convert = bool
        elif column.kind == "int":
            convert = int
        else:
            convert = str
        records[column.name] = [None if pd.isna(v) else convert(v) for v in values]
    return [dict(zip(records, row, strict=True)) for row in zip(*records.values(), strict=True)]


def post(server: Server, route: str, body: Any, **kwargs):
    with server.client() as client:
        return client.post(route, content=json.dumps(body), headers=JSON, **kwargs)


def error_text(response) -> str:
    return json.dumps(response.json())


def assert_model_headers(response, registered) -> None:
    """Every answer, error or not, names the model and rulebook that gave it."""
    assert response.headers["x-les-model-name"] == MODEL_NAME
    assert response.headers["x-les-model-version"] == registered.model_version
    assert response.headers["x-les-rulebook-version"] == str(registered.rulebook_version)


def assert_model_body(answer: dict[str, Any], registered) -> None:
    assert answer["model"]["name"] == MODEL_NAME
    assert answer["model"]["version"] == registered.model_version
    assert answer["model"]["rulebook_version"] == registered.rulebook_version
    assert answer["model"]["fingerprint"] == registered.fingerprint


def minimal_order(i: int, merchant_id: str = "m") -> dict[str, Any]:
    """The fewest fields the contract requires: cheap to send by the thousand."""
    return {
        "order_id": f"o{i}",
        "merchant_id": merchant_id,
        "channel": "storefront",
        "created_at": "2026-03-01T10:00:00Z",
        "status": "in_transit",
        "cancelled_by": "none",
    }


@pytest.fixture(scope="module")
def feature_rows(offline_rows: pd.DataFrame) -> pd.DataFrame:
    """Realistic feature rows (built from orders), indexed by merchant."""
    return offline_rows.set_index("merchant_id")


def test_predict_matches_the_registered_model(server, registered, feature_rows):
    body = {"merchants": [merchant(m, row) for m, row in feature_rows.iterrows()]}
    response = post(server, "/predict", body)
    assert response.status_code == 200, response.text
    assert_model_headers(response, registered)
    answer = response.json()
    assert_model_body(answer, registered)
    expected = predict_frame(registered, feature_rows.reset_index())
    assert [f["merchant_id"] for f in answer["forecasts"]] == list(expected["merchant_id"])
    for got, (_, want) in zip(answer["forecasts"], expected.iterrows(), strict=True):
        assert got["forecast"]["tier"] == want["tier"]
        assert got["forecast"]["predicted_score"] == pytest.approx(want["predicted_score"], 1e-12)
        for tier, p in got["forecast"]["probabilities"].items():
            assert p == pytest.approx(want[proba_column(tier)], 1e-12)


def test_missing_features_are_unknown_not_errors(server, registered):
    body = {"merchants": [{"merchant_id": "sparse", "features": {"late_dispatch_rate": 0.2}}]}
    response = post(server, "/predict", body)
    assert response.status_code == 200, response.text
    forecast = response.json()["forecasts"][0]
    assert "late_dispatch_rate" not in forecast["unknown_features"]
    assert len(forecast["unknown_features"]) == len(registered.forecaster.feature_names) - 1
    frame = pd.DataFrame({"merchant_id": ["sparse"], "late_dispatch_rate": [0.2]})
    expected = predict_frame(registered, frame)
    assert forecast["forecast"]["predicted_score"] == pytest.approx(
        expected["predicted_score"][0], 1e-12
    )


def test_explain_attribution_adds_up_and_advice_is_ranked(server, registered, feature_rows):
    """The merchant forecast lowest has room to improve: its advice must not be empty."""
    rows = feature_rows.reset_index()
    lowest = int(predict_frame(registered, rows)["predicted_score"].to_numpy().argmin())
    merchant_id, row = rows["merchant_id"][lowest], feature_rows.iloc[lowest]
    response = post(server, "/explain", {"merchants": [merchant(merchant_id, row)]})
    assert response.status_code == 200, response.text
    assert_model_headers(response, registered)
    answer = response.json()
    assert_model_body(answer, registered)
    explanation = answer["explanations"][0]
    assert explanation["merchant_id"] == merchant_id
    attribution = explanation["score_attribution"]
    total = (
        attribution["base_score"]
        + sum(stage["points"] for stage in attribution["stages"])
        + attribution["bounds_points"]
    )
    assert total == pytest.approx(attribution["predicted_score"], abs=1e-9)
    assert attribution["predicted_score"] == explanation["forecast"]["predicted_score"]
    expected = stage_attribution_frame(registered, rows.iloc[[lowest]].reset_index(drop=True))
    by_stage = {s["stage"]: s["points"] for s in attribution["stages"]}
    for stage, points in by_stage.items():
        assert points == pytest.approx(expected[f"{stage}_points"][0], abs=1e-12)
    advice = explanation["advice"]
    assert len(advice) >= 1
    assert [a["rank"] for a in advice] == list(range(1, len(advice) + 1))
    deltas = [a["score_delta"] for a in advice]
    assert deltas == sorted(deltas, reverse=True)
    in_process = explain_records(registered, rows.iloc[[lowest]].reset_index(drop=True))[0]
    assert [(a["stage"], a["target"]) for a in advice] == [
        (a["stage"], a["target"]) for a in in_process["advice"]
    ]
    for got, want in zip(deltas, in_process["advice"], strict=True):
        assert got == pytest.approx(want["score_delta"], abs=1e-12)


def test_predict_orders_features_match_the_training_rows_exactly(
    server, registered, parity_orders, offline_rows
):
    """No training/serving skew: raw orders over HTTP give the very features `build_dataset`
    computed for training at that snapshot, and the same forecasts."""
    body = {
        "snapshot_at": PARITY_SNAPSHOT.isoformat(),
        "include_features": True,
        "orders": order_records(parity_orders),
    }
    assert len(json.dumps(body)) < MAX_BODY_BYTES
    assert len(parity_orders) <= MAX_ORDERS
    response = post(server, "/predict_orders", body)
    assert response.status_code == 200, response.text[:2000]
    assert_model_headers(response, registered)
    answer = response.json()
    assert_model_body(answer, registered)
    assert answer["orders_received"] == len(parity_orders)
    served = {f["merchant_id"]: f for f in answer["forecasts"]}
    assert set(served) == set(offline_rows["merchant_id"])
    compared = 0
    for _, row in offline_rows.iterrows():
        features = served[row["merchant_id"]]["features"]
        assert set(features) == set(CATALOGUE.names)
        for name in CATALOGUE.names:
            expected = row[name]
            if pd.isna(expected):
                assert features[name] is None, name
            else:
                assert features[name] == float(expected), name  # exact, not approximate
                compared += 1
    assert compared > len(offline_rows) * len(CATALOGUE.names) // 2
    expected = predict_frame(registered, offline_rows).set_index("merchant_id")
    for merchant_id, item in served.items():
        assert item["forecast"]["tier"] == expected.loc[merchant_id, "tier"]
        assert item["forecast"]["predicted_score"] == pytest.approx(
            expected.loc[merchant_id, "predicted_score"], 1e-12
        )


def test_orders_breaking_the_contract_get_per_row_reasons(server, parity_orders):
    records = order_records(parity_orders.head(5))
    records[1]["shipped_at"] = "2020-01-01T00:00:00Z"  # before it was created
    records[3]["status"] = "teleported"
    records[4]["order_id"] = records[0]["order_id"]  # duplicate key
    records[4]["merchant_id"] = records[0]["merchant_id"]
    body = {"snapshot_at": PARITY_SNAPSHOT.isoformat(), "orders": records}
    response = post(server, "/predict_orders", body)
    assert response.status_code == 400
    answer = response.json()
    by_row = {item["loc"][1]: item["msg"] for item in answer["detail"]}
    assert set(by_row) == {0, 1, 3, 4}
    assert "stage_order:shipped_at<created_at" in by_row[1]
    assert "unknown_enum:status" in by_row[3]
    assert "duplicate_order_id" in by_row[0] and "duplicate_order_id" in by_row[4]
    assert answer["reason_counts"]["duplicate_order_id"] == 2


@pytest.mark.parametrize(
    ("route", "body", "field", "words"),
    [
        ("/predict", {"merchants": []}, "merchants", "at least 1"),
        (
            "/predict",
            {"merchants": [{"merchant_id": f"m{i}"} for i in range(MAX_BATCH + 1)]},
            "merchants",
            f"at most {MAX_BATCH}",
        ),
        (
            "/predict",
            {"merchants": [{"merchant_id": "m", "features": {"late_dispatch_rate": "high"}}]},
            "late_dispatch_rate",
            "valid number",
        ),
        (
            "/predict",
            {"merchants": [{"merchant_id": "m", "features": {"orders_in_window": True}}]},
            "orders_in_window",
            "valid number",
        ),
        ("/predict", {"merchants": [{"merchant_id": 7}]}, "merchant_id", "valid string"),
        (
            "/predict",
            {"merchants": [{"merchant_id": "m", "features": {"on_time_delivery_rate": 1.5}}]},
            "on_time_delivery_rate",
            "less than or equal to 1",
        ),
        (
            "/predict",
            {"merchants": [{"merchant_id": "m", "features": {"late_dispatch_rate": -0.1}}]},
            "late_dispatch_rate",
            "greater than or equal to 0",
        ),
        (
            "/explain",
            {"merchants": [{"merchant_id": "m", "features": {"pick_pack_hours_p90": -3}}]},
            "pick_pack_hours_p90",
            "greater than or equal to 0",
        ),
        (
            "/predict",
            {"merchants": [{"merchant_id": "m", "features": {"speed": 1, "colour": 2}}]},
            "features",
            "unknown feature names ['colour', 'speed']",
        ),
        ("/explain", {"merchants": []}, "merchants", "at least 1"),
        (
            "/explain",
            {"merchants": [{"merchant_id": f"m{i}"} for i in range(MAX_BATCH + 1)]},
            "merchants",
            f"at most {MAX_BATCH}",
        ),
        ("/predict", {"merchant": []}, "merchant", "Extra inputs"),
        (
            "/predict_orders",
            {"snapshot_at": "2026-03-09T12:00:00Z", "orders": [{}]},
            "snapshot_at",
            "midnight UTC",
        ),
        (
            "/predict_orders",
            {"snapshot_at": "2026-03-09T00:00:00Z", "orders": []},
            "orders",
            "at least 1",
        ),
        (
            "/predict_orders",
            {
                "snapshot_at": "2026-03-09T00:00:00Z",
                "orders": [minimal_order(i) for i in range(MAX_ORDERS + 1)],
            },
            "orders",
            f"at most {MAX_ORDERS}",
        ),
        (
            "/predict_orders",
            {
                "snapshot_at": "2026-03-09T00:00:00Z",
                "orders": [{"order_id": "o", "merchant_id": "m", "tracking_valid": "maybe"}],
            },
            "tracking_valid",
            "valid boolean",
        ),
    ],
)
def test_bad_input_is_a_400_naming_the_field(server, registered, route, body, field, words):
    response = post(server, route, body)
    assert response.status_code == 400, response.text[:2000]
    assert_model_headers(response, registered)
    text = error_text(response)
    assert field in text and words in text, text[:2000]


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_non_finite_values_are_refused(server, literal):
    raw = '{"merchants": [{"merchant_id": "m", "features": {"transit_hours_p50": VALUE}}]}'
    raw = raw.replace("VALUE", literal)
    with server.client() as client:
        response = client.post("/predict", content=raw, headers=JSON)
    assert response.status_code == 400
    assert "transit_hours_p50" in response.text and "finite" in response.text


@pytest.mark.parametrize(
    "raw", ["{not json", "", "[1, 2", '{"merchants": [{"merchant_id": "m",}]}']
)
def test_malformed_json_is_a_400(server, raw):
    with server.client() as client:
        response = client.post("/predict", content=raw, headers=JSON)
    assert response.status_code == 400
    assert response.json()["error"]


def test_more_merchants_in_orders_than_the_batch_limit(server):
    orders = [minimal_order(i, f"m{i}") for i in range(MAX_BATCH + 1)]
    body = {"snapshot_at": "2026-03-09T00:00:00Z", "orders": orders}
    response = post(server, "/predict_orders", body)
    assert response.status_code == 400
    assert "LES_MAX_BATCH" in response.json()["error"]


def test_timestamps_pandas_cannot_hold_are_rejected_per_row(server):
    order = {
        "order_id": "o1",
        "merchant_id": "m",
        "channel": "storefront",
        "created_at": "0101-03-05T16:08:35Z",
        "status": "in_transit",
        "cancelled_by": "none",
    }
    body = {"snapshot_at": "2026-03-09T00:00:00Z", "orders": [order]}
    response = post(server, "/predict_orders", body)
    assert response.status_code == 400
    assert response.json()["detail"][0]["msg"] == "out_of_range:created_at"


@pytest.mark.parametrize(
    "snapshot",
    [
        "0001-01-01T00:00:00Z",
        "1600-01-01T00:00:00Z",
        "2300-01-01T00:00:00Z",
        "9999-12-31T00:00:00Z",
        "0001-01-01T00:30:00+01:00",
    ],
)
def test_a_snapshot_pandas_cannot_hold_is_a_400_naming_it(server, registered, snapshot):
    body = {"snapshot_at": snapshot, "orders": [minimal_order(0)]}
    response = post(server, "/predict_orders", body)
    assert response.status_code == 400, response.text[:2000]
    assert_model_headers(response, registered)
    assert response.json()["detail"][0]["loc"] == ["snapshot_at"]
    assert "1677-09-22..2262-04-11" in response.text


@pytest.mark.parametrize(
    ("snapshot", "created_at", "status"),
    [
        ("1677-09-22T00:00:00Z", "1677-09-21T12:00:00Z", 400),
        ("2262-04-11T00:00:00Z", "2262-04-10T12:00:00Z", 200),
    ],
)
def test_a_snapshot_at_the_edge_of_the_range_is_answered(server, snapshot, created_at, status):
    """The first midnight pandas holds has feature windows before it that pandas cannot: a 400
    naming snapshot_at, not the OverflowError's 500. The last midnight needs nothing after it."""
    order = {**minimal_order(0), "created_at": created_at}
    response = post(server, "/predict_orders", {"snapshot_at": snapshot, "orders": [order]})
    assert response.status_code == status, response.text[:2000]
    if status == 400:
        assert response.json()["detail"][0]["loc"] == ["snapshot_at"]
        assert "feature windows" in response.json()["error"]


def _log_after(server: Server, start: int, settle_s: float = 1.0) -> list[str]:
    """Log lines written after byte `start`, once a WARNING has appeared and the log is quiet."""
    deadline = time.monotonic() + 10.0
    while time.monotonic() < deadline and "WARNING" not in server.log_text()[start:]:
        time.sleep(0.1)
    time.sleep(settle_s)
    return server.log_text()[start:].splitlines()


@pytest.mark.parametrize(
    ("route", "raw", "headers"),
    [
        ("/predict", '{"merchants": [{"merchant_id": 7}]}', JSON),
        ("/predict", "{not json", JSON),
        ("/explain", '{"merchants": []}', JSON),
        ("/predict_orders", '{"snapshot_at": "9999-12-31T00:00:00Z", "orders": [{}]}', JSON),
        (
            "/predict_orders",
            json.dumps(
                {
                    "snapshot_at": "2026-03-09T00:00:00Z",
                    "orders": [{**minimal_order(0), "shipped_at": "2026-02-01T00:00:00Z"}],
                }
            ),
            JSON,
        ),
        ("/predict", "--x", {"Content-Type": "multipart/form-data"}),
    ],
)
def test_a_rejected_request_is_one_warning_line(server, route, raw, headers):
    """Not an ERROR with a traceback per bad request: a fuzzer would fill the disk."""
    start = len(server.log_text())
    with server.client() as client:
        response = client.post(route, content=raw, headers=headers)
    assert 400 <= response.status_code < 500
    lines = _log_after(server, start)
    warnings = [line for line in lines if "WARNING" in line]
    assert len(warnings) == 1, lines
    assert route in warnings[0] and str(response.status_code) in warnings[0]
    assert not any("Traceback" in line or "ERROR" in line for line in lines), lines


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        (b"--x\r\n", {"Content-Type": "multipart/form-data"}),
        (b'{"merchants": [{"merchant_id": "m"}]}', {}),
    ],
    ids=["multipart", "no-content-type"],
)
def test_a_non_json_content_type_is_a_415(server, registered, body, headers):
    """Without a Content-Type too (issue 13 item 13): BentoML would read the body as JSON."""
    with server.client() as client:
        response = client.post("/predict", content=body, headers=headers)
    assert response.status_code == 415
    assert_model_headers(response, registered)


def _raw_request(server: Server, head: bytes, body_chunks: list[bytes]) -> bytes:
    """Bytes on a socket, so the test controls what the client claims and sends."""
    address = urlparse(server.url)
    with socket.create_connection((address.hostname, address.port), timeout=30) as sock:
        sock.sendall(head)
        # The server may answer 413 and close before reading everything: the reply is the test.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            for chunk in body_chunks:
                sock.sendall(chunk)
        received = b""
        while b"\r\n\r\n" not in received:
            data = sock.recv(65536)
            if not data:
                break
            received += data
    return received


def test_a_declared_oversized_body_is_refused_before_reading(server):
    head = (
        b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n" % (MAX_BODY_BYTES + 1)
    )
    reply = _raw_request(server, head, [b'{"merchants": ['])
    assert reply.startswith(b"HTTP/1.1 413"), reply[:200]


def test_an_oversized_chunked_body_is_refused(server):
    head = (
        b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
    )
    chunk = b" " * 1_000_000
    chunks = [b"%x\r\n%s\r\n" % (len(chunk), chunk)] * (MAX_BODY_BYTES // len(chunk) + 2)
    reply = _raw_request(server, head, [*chunks, b"0\r\n\r\n"])
    assert reply.startswith(b"HTTP/1.1 413"), reply[:200]


def test_openapi_document_is_derived_from_the_catalogue_and_has_examples(server):
    with server.client() as client:
        document = client.get("/docs.json").json()
    assert {"/predict", "/predict_orders", "/explain", "/healthz", "/readyz", "/metrics"} <= set(
        document["paths"]
    )
    schemas = document["components"]["schemas"]
    assert list(schemas["FeatureValues"]["properties"]) == list(CATALOGUE.names)
    assert [c.name for c in ORDER_COLUMNS] == list(schemas["OrderEvent"]["properties"])
    for route in ("/predict", "/predict_orders", "/explain"):
        operation = document["paths"][route]["post"]
        request = operation["requestBody"]["content"]["application/json"]
        assert request["schema"]["example"], route
        # serving.openapi's corrections, not BentoML's own document (issue 13 item 11).
        assert operation["requestBody"]["required"] is True, route
        assert {"400", "413", "415"} <= set(operation["responses"]), route
    assert schemas["BadRequest"]["properties"]["detail"]["type"] == "array"


def test_metrics_count_forecasts(server):
    post(server, "/predict", {"merchants": [{"merchant_id": "a"}, {"merchant_id": "b"}]})
    with server.client() as client:
        text = client.get("/metrics").text
    counted = [
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("les_forecasts_total") and 'endpoint="predict"' in line
    ]
    assert counted and sum(counted) >= 2
    assert "bentoml_service_request_total" in text


def test_probes_answer(server):
    with server.client() as client:
        for probe in ("/healthz", "/livez", "/readyz"):
            response = client.get(probe)
            assert response.status_code == 200
            assert response.headers["x-les-rulebook-version"]


def test_scores_are_finite(server, feature_rows):
    body = {"merchants": [merchant(m, row) for m, row in feature_rows.iterrows()]}
    answer = post(server, "/predict", body).json()
    assert all(math.isfinite(f["forecast"]["predicted_score"]) for f in answer["forecasts"])
    assert np.allclose(
        [sum(f["forecast"]["probabilities"].values()) for f in answer["forecasts"]], 1.0
    )


@pytest.fixture(scope="module")
def ninety_day_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Store, Path]:
    """`les build-dataset --window-days 90` then `les train` by the real CLI, in a fresh store
    under its own folder (the fixture leaves MLflow's process-wide URIs as it found them)."""
    root = tmp_path_factory.mktemp("ninety-day")
    orders = write_table(generate_world(NINETY_DAY_WORLD).orders, root / "orders.parquet")
    dataset, config = root / "dataset.parquet", root / "train.yaml"
    config.write_text("n_folds: 1\nmax_boost_rounds: 60\n")
    commands = (
        ["build-dataset", "--orders", str(orders), "--out", str(dataset), "--window-days", "90"],
        ["train", "--dataset", str(dataset), "--config", str(config)],
    )
    before = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.delenv("MLFLOW_TRACKING_URI", raising=False)
            patch.chdir(root)
            for command in commands:
                result = CliRunner().invoke(app, command)
                assert result.exit_code == 0, result.output
    finally:
        mlflow.set_tracking_uri(before[0])
        mlflow.set_registry_uri(before[1])
    return Store(f"sqlite:///{root / 'mlruns' / 'mlflow.db'}", "", "1", ""), root


def test_a_model_trained_on_90_day_windows_is_served_90_day_features(
    ninety_day_model, tmp_path: Path
):
    """The recipe travels with the model: /predict_orders builds the features of the model's
    training rows (90-day windows), not those of this code's 30-day defaults."""
    store, root = ninety_day_model
    orders = pd.read_parquet(root / "orders.parquet")
    rows = pd.read_parquet(root / "dataset.parquet")
    smallest = list(orders["merchant_id"].value_counts().index[-2:])  # within LES_MAX_ORDERS
    sent = orders[orders["merchant_id"].isin(smallest)].reset_index(drop=True)
    snapshot = rows["snapshot_at"].max()
    trained_on = rows[(rows["snapshot_at"] == snapshot) & rows["merchant_id"].isin(smallest)]
    assert len(trained_on) == 2 and len(sent) <= MAX_ORDERS
    body = {
        "snapshot_at": snapshot.isoformat(),
        "include_features": True,
        "orders": order_records(sent),
    }
    model_uri = f"models:/{MODEL_NAME}/{store.version}"
    with running_server(store, tmp_path, LES_MODEL_URI=model_uri) as server:
        response = post(server, "/predict_orders", body)
    assert response.status_code == 200, response.text[:2000]
    assert response.json()["model"]["version"] == store.version
    served = {f["merchant_id"]: f["features"] for f in response.json()["forecasts"]}
    rules = load_rulebook()
    ninety = build_snapshot_features(sent, snapshot, DatasetConfig(window_days=90), rules)
    thirty = build_snapshot_features(sent, snapshot, DatasetConfig(), rules)
    ninety, thirty = ninety.set_index("merchant_id"), thirty.set_index("merchant_id")
    for _, row in trained_on.iterrows():
        features = served[row["merchant_id"]]
        for name in CATALOGUE.names:
            exact = ninety.loc[row["merchant_id"], name]
            assert features[name] == (None if pd.isna(exact) else float(exact)), name
            # the training row was built from every merchant's orders: sums in another order
            assert features[name] == (None if pd.isna(row[name]) else pytest.approx(row[name]))
        assert features["orders_in_window"] > thirty.loc[row["merchant_id"], "orders_in_window"]


def test_the_workers_survive_every_bad_input(server):
    """Last in this module: after all of the above, both workers still answer."""
    with server.client() as client:
        for _ in range(8):
            assert client.get("/healthz").status_code == 200
            response = client.post(
                "/predict", content=json.dumps({"merchants": [{"merchant_id": "m"}]}), headers=JSON
            )
            assert response.status_code == 200
    assert server.process.poll() is None
    assert "status=5" not in server.log_text()  # no 5xx in the access log
