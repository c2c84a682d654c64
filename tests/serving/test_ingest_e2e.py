"""Issue 14 (5): a shop's own export scores end to end with a model trained elsewhere.

A synthetic merchant is written as a TikTok Shop US "All order" export, read back with the real
`les ingest tiktok-shop`, and the ingested table goes into `les score-window`,
`les build-dataset`, `les explain --orders` and `/predict_orders` of the running service.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from features.io import read_table
from serving.cli import app
from tests.features.export_fixtures import tiktok_lines
from tests.features.tiktok_fixtures import write_csv
from tests.serving.conftest import PARITY_SNAPSHOT, Store
from tests.serving.test_service_e2e import order_records, post

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("serving")]
runner = CliRunner()
SHOP = "my-tiktok-shop"
STAGE_TIMES = ("created_at", "paid_at", "packed_at", "shipped_at", "delivered_at")


def run(*args: str, expect: int = 0) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == expect, result.output
    return result.output


@pytest.fixture(scope="module")
def ingested(parity_orders: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory):
    """The busiest parity merchant, as its own TikTok Shop export, ingested by the CLI."""
    merchant = parity_orders["merchant_id"].value_counts().index[0]
    orders = parity_orders[parity_orders["merchant_id"] == merchant].reset_index(drop=True)
    directory = tmp_path_factory.mktemp("ingest-e2e")
    export = write_csv(directory / "All order-2026-03-09-10_00.csv", tiktok_lines(orders))
    out = directory / "orders.parquet"
    summary = run(
        "ingest", "tiktok-shop", str(export), "--market", "US", "--shop-id", SHOP,
        "--out", str(out), "--rejected-out", str(directory / "aside.csv"),
    )  # fmt: skip
    return orders, read_table(out), out, summary


def test_the_round_trip_keeps_every_stage_time_to_the_second(ingested) -> None:
    original, back, _, summary = ingested
    assert f"{len(original):,} orders in" in summary and f"{len(back):,} orders out" in summary
    assert len(back) == len(original)  # nothing set aside: every world order is exportable
    left = original.set_index(original["order_id"].astype(str))
    right = back.set_index("order_id").loc[left.index]
    for column in STAGE_TIMES:
        expected = left[column].dt.floor("s")
        assert (right[column].isna() == expected.isna()).all(), column
        assert (right[column].dropna() == expected.dropna()).all(), column
    assert (right["status"].astype(str) == left["status"].astype(str)).all()
    assert right["ship_by"].notna().all()  # from the US policy calendar


def test_the_ingested_shop_scores_explains_and_is_served(
    ingested, server, store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, back, path, _ = ingested
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store.tracking_uri)
    monkeypatch.setenv("LES_LOG_FILE", str(tmp_path / "les.log"))
    day = str(PARITY_SNAPSHOT.date())
    assert "1 merchants ->" in run("score-window", "--orders", str(path), "--end", day)
    dataset = tmp_path / "dataset.parquet"
    run("build-dataset", "--orders", str(path), "--out", str(dataset))
    assert set(pd.read_parquet(dataset)["merchant_id"]) == {SHOP}
    explained = json.loads(
        run("explain", "--orders", str(path), "--merchant", SHOP, "--snapshot", day,
            "--format", "json")
    )  # fmt: skip
    assert explained["explanation"]["merchant_id"] == SHOP
    assert explained["model"]["version"] == store.version
    body = {"snapshot_at": PARITY_SNAPSHOT.isoformat(), "orders": order_records(back)}
    response = post(server, "/predict_orders", body)
    assert response.status_code == 200, response.text[:2000]
    (forecast,) = response.json()["forecasts"]
    assert forecast["merchant_id"] == SHOP
    assert forecast["forecast"]["tier"] == explained["explanation"]["forecast"]["tier"]
