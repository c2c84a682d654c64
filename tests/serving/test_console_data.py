"""The console's data functions (serving/console/data.py, upload.py) on the serving champion:
server-side sorting, filtering, search and pagination; the merchant page; what-if; uploads."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from features.catalogue import load_catalogue
from serving.console.data import (
    ConsoleError,
    load_console_data,
    merchant_page,
    overview_page,
    what_if,
)
from serving.console.upload import (
    MAX_FILES,
    checked_contract,
    checked_export,
    file_names,
    read_upload,
)
from tests.training.conftest import make_dataset

CATALOGUE = load_catalogue()


@pytest.fixture(scope="module")
def console(registered):
    return load_console_data(registered, make_dataset(n_merchants=60, n_snapshots=30), "test")


def test_the_overview_has_one_row_per_merchant_with_its_newest_forecast(console) -> None:
    table = console.overview
    assert len(table) == 60 and table["merchant_id"].is_unique
    assert (table["snapshot_at"] == table["snapshot_at"].max()).all()
    np.testing.assert_allclose(table["change"], table["predicted_score"] - table["current_score"])
    assert table["p_poor"].between(0, 1).all()
    assert set(table["worst_stage"]) <= {
        "order_receipt",
        "pick_pack",
        "ship_transport",
        "order_delivery",
    }


@pytest.mark.parametrize("sort", ["p_poor", "change", "predicted_score", "merchant_id"])
def test_pages_are_sorted_on_the_server_and_cover_every_merchant_once(console, sort) -> None:
    seen = []
    for page in (1, 2, 3):
        answer = overview_page(
            console.overview, sort=sort, descending=True, page=page, page_size=25
        )
        assert answer["total"] == 60 and answer["pages"] == 3
        seen += answer["rows"]
    assert len(seen) == 60 and len({r["merchant_id"] for r in seen}) == 60
    keys = [r[sort] for r in seen]
    assert keys == sorted(keys, reverse=True)
    ascending = overview_page(console.overview, sort=sort, descending=False, page_size=60)
    assert [r[sort] for r in ascending["rows"]] == sorted(keys)


def test_filter_by_stage_and_search_by_merchant_id(console) -> None:
    stage = console.overview["worst_stage"].mode()[0]
    answer = overview_page(console.overview, stage=stage, page_size=200)
    assert answer["total"] == int((console.overview["worst_stage"] == stage).sum())
    assert {r["worst_stage"] for r in answer["rows"]} == {stage}
    found = overview_page(console.overview, search="M01", page_size=200)
    assert {r["merchant_id"] for r in found["rows"]} == {f"m01{i}" for i in range(10)}


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"sort": "tier"}, "sort"),
        ({"stage": "teleport"}, "stage"),
        ({"page": 0}, "page"),
        ({"page_size": 0}, "page_size"),
        ({"page_size": 201}, "page_size"),
    ],
)
def test_bad_overview_parameters_name_the_field(console, kwargs, field) -> None:
    with pytest.raises(ConsoleError, match=field):
        overview_page(console.overview, **kwargs)


def test_the_merchant_page_has_history_forecast_waterfall_peers_and_advice(
    console, registered
) -> None:
    page = merchant_page(registered, console, "m007", CATALOGUE, 3)
    assert len(page["history"]) == 30
    explanation = page["explanation"]
    attribution = explanation["score_attribution"]
    total = attribution["base_score"] + sum(s["points"] for s in attribution["stages"])
    assert total + attribution["bounds_points"] == pytest.approx(attribution["predicted_score"])
    assert all("peer_median" in t for t in explanation["top_features"])
    assert {i["feature"] for i in page["what_if"]} <= set(CATALOGUE.actionable_names)
    with pytest.raises(ConsoleError, match="merchant_id"):
        merchant_page(registered, console, "nobody", CATALOGUE, 3)


def test_what_if_rescored_and_checked(console, registered) -> None:
    base = merchant_page(registered, console, "m007", CATALOGUE, 3)["explanation"]["forecast"]
    moved = [
        what_if(registered, console, "m007", {i["feature"]: i["maximum"] or 1000.0}, CATALOGUE, 3)
        for i in merchant_page(registered, console, "m007", CATALOGUE, 3)["what_if"]
    ]
    scores = {round(m["explanation"]["forecast"]["predicted_score"], 6) for m in moved}
    assert len(scores - {round(base["predicted_score"], 6)}) >= 1  # some change moves it
    with pytest.raises(ConsoleError, match="changes.current_les_score"):
        what_if(registered, console, "m007", {"current_les_score": 1.0}, CATALOGUE, 3)
    with pytest.raises(ConsoleError, match="changes.late_dispatch_rate"):
        what_if(registered, console, "m007", {"late_dispatch_rate": 7.0}, CATALOGUE, 3)


def test_an_upload_that_is_neither_csv_nor_parquet_is_refused_by_name() -> None:
    with pytest.raises(ConsoleError, match="x.bin: the file is empty"):
        read_upload(b"", "x.bin")
    with pytest.raises(ConsoleError, match="not a readable"):
        read_upload(b"PAR1 truncated", "x.parquet")
    frame = pd.DataFrame({"a": [1]})
    buffer = io.BytesIO()
    frame.to_parquet(buffer)
    assert read_upload(buffer.getvalue(), "f.parquet").equals(frame)


def test_the_overview_from_a_score_output_or_the_ledger_equals_the_consoles_own(
    console, registered, tmp_path
) -> None:
    from serving.config import ServiceConfig
    from serving.console.app import given_forecasts
    from training import ledger
    from training.scoring.rows import score_rows

    latest = console.rows.sort_values("snapshot_at").groupby("merchant_id").tail(1)
    scored = score_rows(registered, latest, explain=True)
    path = tmp_path / "scored.parquet"
    scored.to_parquet(path)
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    info = registered.model_name, registered.model_version
    tiers = tuple(registered.tiers_by_code)
    ledger.record(ledger.ledger_rows(scored, *info, 3, {}, tiers, "cli"), url)
    served = type("Served", (), {"info": type("Info", (), {"name": info[0], "version": info[1]})})
    own = console.overview.set_index("merchant_id").sort_index()
    for source in (str(path), "ledger"):
        config = ServiceConfig(console_forecasts=source, ledger_url=url)
        given = load_console_data(registered, console.rows, "t", given_forecasts(served, config))
        table = given.overview.set_index("merchant_id").sort_index()
        for column in ("predicted_score", "p_poor", "current_score", "change"):
            np.testing.assert_allclose(table[column], own[column], rtol=1e-9)
        assert (table["predicted_tier"] == own["predicted_tier"]).all()
        assert (table["worst_stage"] == own["worst_stage"]).all()


def _csv(frame: pd.DataFrame) -> bytes:
    return frame.astype({"channel": str}).to_csv(index=False).encode()


def test_overlapping_contract_files_keep_each_order_once_in_its_most_advanced_copy(
    parity_orders,
) -> None:
    orders = parity_orders.head(400).astype({"channel": str, "status": str})
    early = orders.head(300).copy()  # the first export, taken while 20 orders were in transit
    delivered = early.index[early["status"] == "delivered"]
    open_rows = [*delivered[delivered < 250][:10], *delivered[delivered >= 250][:10]]
    early.loc[open_rows, ["delivered_at", "status"]] = [pd.NaT, "in_transit"]
    late = orders.iloc[250:].copy()  # the second export: 50 orders overlap, all final
    late.loc[late.index[-1], "channel"] = "telepathy"
    checked = checked_contract([("jan.csv", _csv(early)), ("feb.csv", _csv(late))])
    assert checked.rows == 450 and checked.superseded == 50
    assert len(checked.valid) == 399 and len(checked.rejected) == 1
    assert checked.rejected["source_file"].tolist() == ["feb.csv"]
    assert checked.rejected["reject_reason"].tolist() == ["unknown_enum:channel"]
    kept = checked.valid.set_index("order_id").loc[orders.loc[open_rows, "order_id"]]
    overlap = orders.loc[open_rows, "order_id"].isin(late["order_id"]).to_numpy()
    assert overlap.sum() == 10
    assert (kept["status"].astype(str).to_numpy()[overlap] == "delivered").all()  # feb's copy
    assert (kept["status"].astype(str).to_numpy()[~overlap] == "in_transit").all()  # only jan
    one = checked_contract([("all.csv", _csv(orders))])
    assert one.superseded == 0 and len(one.valid) == 400


def test_a_row_without_an_order_id_is_rejected_not_collapsed(parity_orders) -> None:
    orders = parity_orders.head(50).copy()
    orders.loc[[3, 7], "order_id"] = None
    checked = checked_contract([("a.csv", _csv(orders)), ("b.csv", _csv(orders.head(10)))])
    assert checked.superseded == 8  # rows 0-9 of b.csv but rows 3 and 7, which name no order
    assert len(checked.rejected) == 4  # rows 3 and 7 from both files
    assert set(checked.rejected["source_file"]) == {"a.csv", "b.csv"}


def test_upload_file_names_are_checked() -> None:
    assert file_names([("", b"x")]) == ["upload"]
    assert file_names([("C:/exports/a.csv", b"x"), ("", b"y")]) == ["a.csv", "upload-2"]
    with pytest.raises(ConsoleError, match="no file"):
        file_names([])
    with pytest.raises(ConsoleError, match=r"\['a.csv'\] were sent more than once"):
        file_names([("a.csv", b"x"), ("x/a.csv", b"y")])
    with pytest.raises(ConsoleError, match=f"at most {MAX_FILES}"):
        file_names([(f"{i}.csv", b"x") for i in range(MAX_FILES + 1)])


def test_two_tiktok_exports_of_one_shop_upload_as_les_ingest_reads_them(
    parity_orders, tmp_path
) -> None:
    from features.export_layouts import read_export_layout
    from tests.features.export_fixtures import tiktok_lines
    from tests.features.tiktok_fixtures import write_csv

    merchant = parity_orders["merchant_id"].value_counts().index[0]
    orders = parity_orders[parity_orders["merchant_id"] == merchant].reset_index(drop=True)
    half, overlap = len(orders) // 2, 30
    first = write_csv(tmp_path / "All order-1.csv", tiktok_lines(orders.head(half + overlap)))
    second = write_csv(tmp_path / "All order-2.csv", tiktok_lines(orders.iloc[half:]))
    files = [(p.name, p.read_bytes()) for p in (first, second)]
    checked = checked_export(files, "tiktok-shop", "US", "my-shop")
    ingested = read_export_layout("tiktok-shop", [first, second], "US", "my-shop")
    assert checked.superseded == ingested.superseded == overlap
    assert len(checked.valid) == len(ingested.orders)
    assert len(checked.valid) + len(checked.rejected) == len(orders)
    with pytest.raises(ConsoleError, match="All order-2.csv: the file is empty"):
        checked_export([files[0], ("All order-2.csv", b"")], "tiktok-shop", "US", "my-shop")


OWN_TERMS = """market: US
timezone: America/Los_Angeles
weekend: [Sat, Sun]
holidays: {country: US}
cutoff: "23:59:59"
sla_starts: created_at
versions:
  - {effective: 2025-01-01, dispatch_days: 1, delivery_days: 3, dispatch_event: shipped_at,
     source: "our marketplace contract"}
"""


def test_an_export_upload_reads_the_shops_own_deadline_policy_as_les_ingest_does(
    parity_orders, tmp_path
) -> None:
    from features.export_layouts import read_export_layout
    from features.policy import load_policy
    from tests.features.export_fixtures import tiktok_lines
    from tests.features.tiktok_fixtures import write_csv

    merchant = parity_orders["merchant_id"].value_counts().index[0]
    orders = parity_orders[parity_orders["merchant_id"] == merchant].head(200)
    export = write_csv(tmp_path / "All order-1.csv", tiktok_lines(orders.reset_index(drop=True)))
    terms = tmp_path / "terms.yaml"
    terms.write_text(OWN_TERMS)
    files = [(export.name, export.read_bytes())]
    own = checked_export(files, "tiktok-shop", "US", "my-shop", ("terms.yaml", OWN_TERMS.encode()))
    cli = read_export_layout("tiktok-shop", [export], "US", "my-shop", load_policy("US", terms))
    packaged = checked_export(files, "tiktok-shop", "US", "my-shop")
    pd.testing.assert_series_equal(own.valid["ship_by"], cli.orders["ship_by"])
    assert (own.valid["ship_by"] < packaged.valid["ship_by"]).mean() > 0.5  # 1 day, not 2
    assert own.deadline_versions == dict(cli.deadline_versions)
    with pytest.raises(ConsoleError, match="terms.yaml: missing field 'versions'"):
        checked_export(files, "tiktok-shop", "US", "my-shop", ("terms.yaml", b"market: US\n"))
    with pytest.raises(ConsoleError, match="bad.yaml: not readable YAML"):
        checked_export(files, "tiktok-shop", "US", "my-shop", ("bad.yaml", b"a: [1,"))
