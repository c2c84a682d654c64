"""Shopee, Shopify and mapping-driven exports -> canonical orders (features/mapped_export.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.export_mapping import MappingError, packaged_mapping, parse_mapping
from features.mapped_export import read_mapped
from features.policy import parse_policy
from features.validation import validate_orders
from tests.features.export_fixtures import (
    shopee_line,
    shopify_extra_line,
    shopify_line,
    write_export,
)

SHOPIFY_T = "2026-03-02 10:15:00 -0800"


def _shopify(paths, policy=None):
    return read_mapped(paths, packaged_mapping("shopify"), "store-1", policy=policy)


def _shopee(paths, market="MY", layout="shopee"):
    return read_mapped(paths, packaged_mapping(layout), "shop-1", market)


def test_shopify_line_items_collapse_and_offsets_give_utc(tmp_path) -> None:
    lines = [
        shopify_line("#1001", SHOPIFY_T, **{"Fulfillment Status": "fulfilled"},
                     **{"Fulfilled at": "2026-03-03 09:00:00 -0800"}),
        shopify_extra_line("#1001"),
        shopify_extra_line("#1001", "Fork"),
        shopify_line("#1002", "2026-03-02 23:30:00 +0530"),
    ]  # fmt: skip
    result = _shopify([write_export(tmp_path / "orders_export.csv", "shopify", lines)])
    orders = result.orders.set_index("order_id")
    assert result.sku_rows == 4 and result.orders_in == 2 and len(orders) == 2
    assert orders.loc["#1001", "created_at"] == pd.Timestamp("2026-03-02 18:15", tz="UTC")
    assert orders.loc["#1001", "shipped_at"] == pd.Timestamp("2026-03-03 17:00", tz="UTC")
    assert orders.loc["#1002", "created_at"] == pd.Timestamp("2026-03-02 18:00", tz="UTC")
    assert set(orders["status"]) == {"in_transit"}
    assert orders.loc["#1001", "channel"] == "storefront"
    assert orders.loc["#1001", "destination_region"] == "CA"
    assert orders["delivered_at"].isna().all() and orders["ship_by"].isna().all()
    assert validate_orders(result.orders).rejected.empty


def test_shopify_cancellations_without_a_canceller_are_set_aside_and_counted(tmp_path) -> None:
    lines = [
        shopify_line("#1", SHOPIFY_T, **{"Cancelled at": "2026-03-02 12:00:00 -0800"}),
        shopify_line("#2", SHOPIFY_T),
    ]
    result = _shopify([write_export(tmp_path / "a.csv", "shopify", lines)])
    assert list(result.orders["order_id"]) == ["#2"]
    assert result.reason_counts == {"missing_required:cancelled_by": 1}
    assert result.aside.loc[0, "Name"] == "#1"


def test_shopify_policy_fills_deadlines(tmp_path) -> None:
    policy = parse_policy(
        {
            "market": "US",
            "timezone": "America/Los_Angeles",
            "weekend": ["Sat", "Sun"],
            "holidays": {"country": "US"},
            "cutoff": "23:59:59",
            "sla_starts": "created_at",
            "versions": [{"effective": None, "dispatch_days": 2, "delivery_days": 5,
                          "dispatch_event": "shipped_at"}],
        },
        "test",
    )  # fmt: skip
    path = write_export(tmp_path / "a.csv", "shopify", [shopify_line("#1", SHOPIFY_T)])
    orders = _shopify([path], policy).orders
    # Monday 2026-03-02 local: + 2 business days = Wednesday 23:59:59 PST = Thursday 07:59:59 UTC
    assert orders.loc[0, "ship_by"] == pd.Timestamp("2026-03-05 07:59:59", tz="UTC")


@pytest.mark.parametrize(
    ("status", "cells", "expected"),
    [
        ("Completed", {"Order Complete Time": "2026-03-06 10:00"}, "delivered"),
        ("Order Received", {"Order Complete Time": "2026-03-06 10:00"}, "delivered"),
        ("Completed", {"Order Complete Time": "2026-03-06 10:00",
                       "Return / Refund Status": "Refund Accepted"}, "returned"),
        ("To ship", {}, "in_transit"),
        ("Shipping", {"Ship Time": "2026-03-03 10:00"}, "in_transit"),
    ],
)  # fmt: skip
def test_shopee_status_words(tmp_path, status, cells, expected) -> None:
    line = shopee_line("2603021", status, "2026-03-02 09:00", **cells)
    orders = _shopee([write_export(tmp_path / "Order.all.xlsx", "shopee", [line])]).orders
    assert list(orders["status"]) == [expected]


def test_shopee_unpaid_cancelled_and_unknown_words_are_set_aside_with_reasons(tmp_path) -> None:
    lines = [
        shopee_line("1", "Unpaid", "2026-03-02 09:00"),
        shopee_line("2", "Cancelled", "2026-03-02 09:00"),
        shopee_line("3", "Sedang Dikemas", "2026-03-02 09:00"),
        shopee_line("4", "To ship", "02/03/2026 09:00"),
        shopee_line("5", "To ship", "2026-03-02 09:00"),
    ]
    result = _shopee([write_export(tmp_path / "a.csv", "shopee", lines)])
    assert list(result.orders["order_id"]) == ["5"]
    assert result.reason_counts == {
        "unpaid": 1,
        "missing_required:cancelled_by": 1,
        "unknown_status:Sedang Dikemas": 1,
        "unreadable_time:Order Creation Date": 1,
        "unreadable_time:Order Paid Time": 1,
    }
    assert len(result.aside) == 4


def test_shopee_times_are_market_local_and_ship_by_comes_from_the_export(tmp_path) -> None:
    line = shopee_line(
        "1", "Shipping", "2026-03-02 09:00",
        **{"Ship Time": "2026-03-03 18:30", "Estimated Ship Out Date": "2026-03-04 23:59",
           "Tracking Number*": "MY123"},
    )  # fmt: skip
    orders = _shopee([write_export(tmp_path / "a.csv", "shopee", [line])], market="MY").orders
    assert orders.loc[0, "created_at"] == pd.Timestamp("2026-03-02 01:00", tz="UTC")
    assert orders.loc[0, "shipped_at"] == pd.Timestamp("2026-03-03 10:30", tz="UTC")
    assert orders.loc[0, "ship_by"] == pd.Timestamp("2026-03-04 15:59", tz="UTC")
    assert bool(orders.loc[0, "tracking_valid"]) and orders.loc[0, "carrier"] == "J&T Express"
    with pytest.raises(MappingError, match="not documented"):
        _shopee([write_export(tmp_path / "b.csv", "shopee", [line])], market="BR")


def test_shopee_indonesian_headers(tmp_path) -> None:
    line = {
        "No. Pesanan": "ID1",
        "Status Pesanan": "Selesai",
        "Waktu Pesanan Dibuat": "2026-03-02 09:00",
        "Waktu Pembayaran Dilakukan": "2026-03-02 09:05",
        "Waktu Pengiriman Diatur": "2026-03-03 09:00",
        "Waktu Pesanan Selesai": "2026-03-05 09:00",
        "No. Resi": "JX1",
        "Opsi Pengiriman": "SiCepat",
    }
    orders = _shopee([write_export(tmp_path / "a.csv", "shopee_id", [line])], "ID", "shopee_id")
    assert orders.orders.loc[0, "status"] == "delivered"
    assert orders.orders.loc[0, "delivered_at"] == pd.Timestamp("2026-03-05 02:00", tz="UTC")


def test_overlapping_exports_keep_the_most_advanced_copy(tmp_path) -> None:
    early = write_export(tmp_path / "march.csv", "shopee", [
        shopee_line("1", "To ship", "2026-03-02 09:00"),
        shopee_line("2", "To ship", "2026-03-02 09:00"),
    ])  # fmt: skip
    late = write_export(tmp_path / "april.csv", "shopee", [
        shopee_line("1", "Completed", "2026-03-02 09:00",
                    **{"Ship Time": "2026-03-03 09:00", "Order Complete Time": "2026-03-05 09:00"}),
    ])  # fmt: skip
    for order in ([late, early], [early, late]):
        result = _shopee(order)
        assert result.superseded == 1 and len(result.orders) == 2
        kept = result.orders.set_index("order_id")["status"]
        assert kept["1"] == "delivered" and kept["2"] == "in_transit"


def test_a_file_in_another_layout_names_missing_columns_and_what_it_resembles(tmp_path) -> None:
    shopify = write_export(
        tmp_path / "orders_export.csv", "shopify", [shopify_line("#1", SHOPIFY_T)]
    )
    with pytest.raises(MappingError, match=r"missing columns \['Order ID'.*resembles Shopify"):
        _shopee([shopify])


def test_a_mapping_error_names_the_key() -> None:
    base = {
        "layout": "x",
        "order_id": "id",
        "time_format": "%Y-%m-%d",
        "timezone": "UTC",
        "times": {"created_at": "made"},
        "status": [{"status": "delivered", "when": {"s": ["done"]}}],
    }
    assert parse_mapping(base, "m.yaml").order_id == "id"
    broken = [
        ({"timezone": "Mars/Olympus"}, "timezone: 'Mars/Olympus' is not an IANA"),
        ({"timezone": None}, "carries no UTC offset"),
        ({"times": {"made_at": "x", "created_at": "y"}}, "times.made_at: not a contract time"),
        ({"status": [{"status": "gone", "when": {"s": "x"}}]}, r"status\[0\].status: 'gone'"),
        ({"channel": {"column": "c", "values": {"live": "tv"}}}, r"channel.values\['live'\]"),
        ({"colour": 1}, r"unknown key\(s\) \['colour'\]"),
        ({"times": {}}, "times.created_at: required"),
    ]
    for change, message in broken:
        with pytest.raises(MappingError, match=message):
            parse_mapping({**base, **change}, "m.yaml")


def test_round_trip_of_a_synthetic_merchant_in_shopee_layout(tmp_path) -> None:
    rng = np.random.default_rng(11)
    n = 90
    minute = lambda s: s.dt.floor("min")  # noqa: E731 - Shopee writes no seconds
    created = minute(pd.Series(pd.Timestamp("2026-01-05", tz="UTC") + pd.to_timedelta(
        rng.integers(0, 150 * 86400, n), unit="s")))  # fmt: skip
    shipped = minute(created + pd.to_timedelta(rng.integers(3600, 3 * 86400, n), unit="s"))
    done = minute(shipped + pd.to_timedelta(rng.integers(3600, 6 * 86400, n), unit="s"))
    text = lambda s: s.dt.tz_convert("Asia/Kuala_Lumpur").dt.strftime("%Y-%m-%d %H:%M")  # noqa: E731
    lines = [
        shopee_line(str(500 + i), "Completed", text(created)[i],
                    **{"Ship Time": text(shipped)[i], "Order Complete Time": text(done)[i]})
        for i in range(n)
    ]  # fmt: skip
    back = _shopee([write_export(tmp_path / "a.csv", "shopee", lines)]).orders
    back = back.set_index("order_id").loc[[str(500 + i) for i in range(n)]]
    assert (back["created_at"].to_numpy() == created.to_numpy()).all()
    assert (back["shipped_at"].to_numpy() == shipped.to_numpy()).all()
    assert (back["delivered_at"].to_numpy() == done.to_numpy()).all()


def _douyin_line(order_id: str, sub: str, status: str, created: str, **cells: str) -> dict:
    return {
        "主订单编号": order_id,
        "子订单编号": sub,
        "订单状态": status,
        "订单提交时间": created,
        "支付完成时间": created,
        "流量来源": "直播",
        "省": "浙江省",
        **cells,
    }


def test_the_douyin_mapping_reads_china_time_promises_and_livestream(tmp_path) -> None:
    lines = [
        _douyin_line("D1", "D1-1", "已完成", "2026-03-02 20:00:00",
                     **{"发货时间": "2026-03-03 10:00:00", "订单完成时间": "2026-03-05 12:00:00",
                        "承诺发货时间": "2026-03-04 20:00:00", "预计送达时间": "2026-03-07 23:59:59"}),
        _douyin_line("D1", "D1-2", "已完成", "2026-03-02 20:00:00"),
        _douyin_line("D2", "D2-1", "已关闭", "2026-03-02 21:00:00"),
        _douyin_line("D3", "D3-1", "待支付", "2026-03-02 22:00:00"),
    ]  # fmt: skip
    result = read_mapped(
        [write_export(tmp_path / "orders.xlsx", "douyin", lines)], packaged_mapping("douyin"), "dy"
    )
    (row,) = result.orders.to_dict("records")
    assert result.sku_rows == 4 and result.orders_in == 3
    assert row["status"] == "delivered" and row["channel"] == "livestream"
    assert row["created_at"] == pd.Timestamp("2026-03-02 12:00", tz="UTC")
    assert row["ship_by"] == pd.Timestamp("2026-03-04 12:00", tz="UTC")
    assert row["deliver_by"] == pd.Timestamp("2026-03-07 15:59:59", tz="UTC")
    assert result.reason_counts == {"missing_required:cancelled_by": 1, "unpaid": 1}


@pytest.mark.e2e
def test_cli_shopee_shopify_and_csv_mapping(tmp_path, monkeypatch) -> None:
    from typer.testing import CliRunner

    from serving.cli import app

    monkeypatch.setenv("LES_LOG_FILE", str(tmp_path / "les.log"))
    runner = CliRunner()
    done = {"Ship Time": "2026-03-03 09:00", "Order Complete Time": "2026-03-05 09:00"}
    shopee = write_export(tmp_path / "Order.all.20260310.xlsx", "shopee", [
        shopee_line(str(i), "Completed", "2026-03-02 09:00", **done) for i in range(35)
    ] + [shopee_line("u", "Unpaid", "2026-03-02 09:00")])  # fmt: skip
    out, aside = tmp_path / "shopee.parquet", tmp_path / "aside.csv"
    ingest = runner.invoke(app, ["ingest", "shopee", str(shopee), "--market", "MY", "--shop-id",
                                 "s1", "--out", str(out), "--rejected-out", str(aside)])  # fmt: skip
    assert ingest.exit_code == 0, ingest.output
    assert "36 orders in" in ingest.output and "35 orders out" in ingest.output
    assert "Asia/Kuala_Lumpur" in ingest.output and "caveat:" in ingest.output
    assert "ship_by from column 'Estimated Ship Out Date'" in ingest.output
    assert pd.read_csv(aside)["aside_reason"].tolist() == ["unpaid"]
    assert runner.invoke(app, ["validate", str(out)]).exit_code == 0
    scored = runner.invoke(app, ["score-window", "--orders", str(out), "--end", "2026-03-10"])
    assert scored.exit_code == 0, scored.output

    shopify = write_export(tmp_path / "orders_export_1.csv", "shopify", [
        shopify_line("#1", SHOPIFY_T), shopify_extra_line("#1")])  # fmt: skip
    ingest = runner.invoke(app, ["ingest", "shopify", str(shopify), "--shop-id", "store",
                                 "--out", str(tmp_path / "shopify.csv")])  # fmt: skip
    assert ingest.exit_code == 0, ingest.output
    assert "2 line rows, 1 orders in" in ingest.output

    wrong = runner.invoke(app, ["ingest", "shopee", str(shopify), "--market", "MY", "--shop-id",
                                "s1", "--out", str(tmp_path / "x.parquet")])  # fmt: skip
    assert wrong.exit_code == 2 and "resembles Shopify orders export" in wrong.output
    assert not (tmp_path / "x.parquet").exists()

    own = tmp_path / "my_erp.yaml"
    own.write_text(
        "layout: my ERP\norder_id: ref\ntime_format: '%d.%m.%Y %H:%M'\ntimezone: Europe/Berlin\n"
        "merchant_id: {column: shop}\ntimes: {created_at: placed, delivered_at: arrived}\n"
        "cancelled_by: {column: who, values: {kunde: buyer}}\n"
        "status:\n  - {status: delivered, present: [arrived]}\n"
        "  - {status: cancelled, when: {state: [storniert]}}\n"
        "  - {status: in_transit, when: {state: [offen]}}\n"
    )
    erp = tmp_path / "erp.csv"
    pd.DataFrame({
        "ref": ["1", "2", "3"], "shop": ["A", "A", "B"],
        "placed": ["02.03.2026 10:00"] * 3, "arrived": ["04.03.2026 12:00", "", ""],
        "state": ["", "storniert", "offen"], "who": ["", "Kunde", ""],
    }).to_csv(erp, index=False)  # fmt: skip
    ingest = runner.invoke(app, ["ingest", "csv", str(erp), "--mapping", str(own),
                                 "--out", str(tmp_path / "erp.parquet")])  # fmt: skip
    assert ingest.exit_code == 0, ingest.output
    erp_orders = pd.read_parquet(tmp_path / "erp.parquet")
    assert sorted(erp_orders["merchant_id"]) == ["A", "A", "B"]
    assert set(erp_orders["cancelled_by"].astype(str)) == {"none", "buyer"}
    own.write_text("layout: broken\norder_id: ref\ntime_format: '%d.%m.%Y'\n")
    broken = runner.invoke(app, ["ingest", "csv", str(erp), "--mapping", str(own),
                                 "--out", str(tmp_path / "erp.parquet")])  # fmt: skip
    assert broken.exit_code == 2 and "carries no UTC offset" in broken.output
    douyin = runner.invoke(app, ["ingest", "csv", str(erp), "--mapping", "douyin", "--shop-id",
                                 "dy", "--out", str(tmp_path / "dy.parquet")])  # fmt: skip
    assert (
        douyin.exit_code == 2
        and "not in the Douyin shop standard order report layout" in douyin.output
    )


def test_a_shopee_file_given_to_the_tiktok_reader_is_named(tmp_path) -> None:
    from features.tiktok_shop import read_tiktok_shop
    from features.tiktok_shop_layout import TikTokShopFormatError, market

    path = write_export(
        tmp_path / "a.csv", "shopee", [shopee_line("1", "To ship", "2026-03-02 09:00")]
    )
    with pytest.raises(TikTokShopFormatError, match="resembles Shopee Seller Centre"):
        read_tiktok_shop([path], market("US"), "s", None)


def test_an_undocumented_tiktok_market_reads_with_the_users_time_format(tmp_path) -> None:
    from features.tiktok_shop import read_tiktok_shop
    from features.tiktok_shop_layout import TikTokShopFormatError, market
    from tests.features.tiktok_fixtures import order, write_csv

    line = order("577", "Completed", "Completed", "02/03/2026 21:15:00",
                 **{"Delivered Time": "05/03/2026 10:00:00", "Shipped Time": "03/03/2026 09:00:00"})  # fmt: skip
    path = write_csv(tmp_path / "a.csv", [line])
    orders = read_tiktok_shop([path], market("MY", "%d/%m/%Y %H:%M:%S"), "s", None).orders
    assert orders.loc[0, "created_at"] == pd.Timestamp("2026-03-02 13:15", tz="UTC")
    with pytest.raises(TikTokShopFormatError, match="pass --time-format"):
        market("SG")
    with pytest.raises(TikTokShopFormatError, match="needs %d, %m, %Y"):
        market("SG", "%H:%M")
