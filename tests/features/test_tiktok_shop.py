"""TikTok Shop "All order" exports: layout quirks, status mapping, DST, overlaps, CLI end to end."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from features.policy import load_policy
from features.tiktok_shop import read_tiktok_shop
from features.tiktok_shop_layout import VN_HEADER, TikTokShopFormatError, market
from tests.features.tiktok_fixtures import US_FORMAT, order, write_csv, write_xlsx

US = market("US")
T = "02/02/2026 09:15:00 AM"  # 17:15 UTC


def _read(paths, code: str = "US"):
    return read_tiktok_shop(paths, market(code), "shop-1", load_policy(code))


def _delivered(order_id: str, **cells: str) -> dict:
    return order(
        order_id,
        "Completed",
        "Completed",
        T,
        **{
            "RTS Time": "02/02/2026 01:00:00 PM",
            "Shipped Time": "02/03/2026 10:00:00 AM",
            "Delivered Time": "02/06/2026 10:00:00 AM",
            "Shipping Provider Name": "USPS",
            "Tracking ID": "9400111",
            "Warehouse Name": "LA-1",
            "State": "Texas",
            **cells,
        },
    )


def test_multi_sku_lines_collapse_to_one_order_with_contract_fields(tmp_path) -> None:
    lines = [_delivered("5770", **{"SKU ID": str(i), "Order Channel": "LIVE"}) for i in range(3)]
    result = _read([write_csv(tmp_path / "a.csv", lines)])
    assert result.sku_rows == 3 and len(result.orders) == 1
    row = result.orders.iloc[0]
    assert row["order_id"] == "5770" and row["merchant_id"] == "shop-1"
    assert row["channel"] == "livestream" and row["status"] == "delivered"
    assert row["created_at"] == pd.Timestamp("2026-02-02 17:15", tz="UTC")
    assert row["packed_at"] == pd.Timestamp("2026-02-02 21:00", tz="UTC")
    assert row["delivered_at"] == row["status_at"]
    assert (row["carrier"], row["origin_region"], row["destination_region"]) == (
        "USPS",
        "LA-1",
        "Texas",
    )
    assert bool(row["tracking_valid"]) and result.order_amount == 25.0


@pytest.mark.parametrize(
    ("status", "sub", "cancel_type", "reason", "by", "expected", "who"),
    [
        ("To ship", "Awaiting shipment", "", "", "", "in_transit", "none"),
        ("To ship", "Awaiting collection", "", "", "", "in_transit", "none"),
        ("Shipped", "In transit", "", "", "", "in_transit", "none"),
        ("Canceled", "Canceled", "Cancel", "Customer overdue to pay", "User", "cancelled", "buyer"),
        ("Canceled", "Canceled", "Cancel", "Out of stock", "Seller", "cancelled", "seller"),
        ("Canceled", "Canceled", "Cancel", "", "System", "cancelled", "platform"),
        ("Canceled", "Canceled", "", "Package lost", "System", "lost", "none"),
        ("Canceled", "Canceled", "", "Package damaged", "System", "lost", "none"),
        ("Canceled", "Canceled", "", "Package delivery failed", "System", "returned", "none"),
        ("Canceled", "Canceled", "", "Package rejected", "User", "returned", "none"),
    ],
)
def test_status_combinations(tmp_path, status, sub, cancel_type, reason, by, expected, who) -> None:
    shipped = {"Shipped Time": "02/03/2026 10:00:00 AM"} if expected in ("lost", "returned") else {}
    cells = {
        "Cancelation/Return Type": cancel_type,
        "Cancel Reason": reason,
        "Cancel By": by,
        "Cancelled Time": "02/04/2026 10:00:00 AM" if by else "",
        **shipped,
    }
    result = _read([write_csv(tmp_path / "a.csv", [order("1", status, sub, T, **cells)])])
    row = result.orders.iloc[0]
    assert (row["status"], row["cancelled_by"]) == (expected, who)
    if by:
        assert row["status_at"] == pd.Timestamp("2026-02-04 18:00", tz="UTC")


def test_a_return_after_delivery_is_returned(tmp_path) -> None:
    line = _delivered("9", **{"Cancelation/Return Type": "Return/Refund"})
    assert _read([write_csv(tmp_path / "a.csv", [line])]).orders["status"].iloc[0] == "returned"


def test_los_angeles_dst_edges_follow_the_one_rule_and_are_counted(tmp_path) -> None:
    lines = [
        order("1", "To ship", "Awaiting shipment", "03/08/2026 02:30:00 AM"),
        order("2", "To ship", "Awaiting shipment", "11/01/2026 01:30:00 AM"),
    ]
    result = _read([write_csv(tmp_path / "a.csv", lines)])
    created = result.orders.set_index("order_id")["created_at"]
    assert created["1"] == pd.Timestamp("2026-03-08 10:30", tz="UTC")
    assert created["2"] == pd.Timestamp("2026-11-01 08:30", tz="UTC")
    assert (result.dst_nonexistent, result.dst_ambiguous) == (2, 2)  # created and paid


def test_overlapping_exports_keep_the_most_advanced_state(tmp_path) -> None:
    early = write_csv(tmp_path / "a.csv", [order("7", "To ship", "Awaiting shipment", T)])
    late = write_csv(tmp_path / "b.csv", [_delivered("7"), _delivered("8")])
    for paths in ([early, late], [late, early]):
        result = _read(paths)
        assert result.superseded == 1 and result.orders_in == 2
        assert list(result.orders["status"]) == ["delivered", "delivered"]


def test_a_description_row_is_skipped(tmp_path) -> None:
    result = _read([write_csv(tmp_path / "a.csv", [_delivered("1")], description=True)])
    assert result.description_rows == 1 and len(result.orders) == 1 and not len(result.aside)


def test_an_xlsx_with_a_stale_dimension_reads_every_column(tmp_path) -> None:
    result = _read([write_xlsx(tmp_path / "a.xlsx", [_delivered("1"), _delivered("2")])])
    assert len(result.orders) == 2
    assert result.orders["shipped_at"].iloc[0] == pd.Timestamp("2026-02-03 18:00", tz="UTC")


def test_vietnam_reads_day_first_24_hour_local_time(tmp_path) -> None:
    line = order("1", "To ship", "Awaiting shipment", "03/02/2026 14:05:00", Province="Ha Noi")
    result = _read([write_csv(tmp_path / "a.csv", [line], header=VN_HEADER)], "VN")
    row = result.orders.iloc[0]
    assert row["created_at"] == pd.Timestamp("2026-02-03 07:05", tz="UTC")
    assert row["destination_region"] == "Ha Noi" and row["channel"] == "unknown"


def test_unreadable_times_and_impossible_orders_are_set_aside_with_reasons(tmp_path) -> None:
    lines = [
        _delivered("1"),
        order("2", "To ship", "Awaiting shipment", "yesterday"),
        order("3", "Completed", "Completed", T),  # delivered without a delivered time
        order("4", "Weird", "Unheard of", T),
    ]
    result = _read([write_csv(tmp_path / "a.csv", lines)])
    assert list(result.orders["order_id"]) == ["1"]
    reasons = dict(zip(result.aside["Order ID"], result.aside["aside_reason"], strict=True))
    assert reasons["2"].startswith("unreadable_time:Created Time")
    assert reasons["3"] == "status_inconsistent:delivered_without_delivered_at"
    assert reasons["4"] == "unknown_status:Weird/Unheard of"
    assert sum(result.reason_counts.values()) >= 3


def test_an_unknown_layout_names_the_missing_columns(tmp_path) -> None:
    path = tmp_path / "a.csv"
    pd.DataFrame({"Order ID": ["1"], "Created Time": [T]}).to_csv(path, index=False)
    with pytest.raises(TikTokShopFormatError, match="missing columns.*Order Status"):
        _read([path])


def test_an_undocumented_market_is_refused() -> None:
    with pytest.raises(TikTokShopFormatError, match="not documented"):
        market("UK")


def test_round_trip_gives_the_same_utc_times_to_the_second(tmp_path) -> None:
    rng = np.random.default_rng(4)
    n = 120
    created = pd.Timestamp("2026-03-15", tz="UTC") + pd.to_timedelta(
        rng.integers(0, 200 * 86400, n), unit="s"
    )
    shipped = created + pd.to_timedelta(rng.integers(3600, 3 * 86400, n), unit="s")
    delivered = shipped + pd.to_timedelta(rng.integers(3600, 5 * 86400, n), unit="s")
    local = lambda s: s.tz_convert("America/Los_Angeles").strftime(US_FORMAT)  # noqa: E731
    lines = [
        _delivered(
            str(10_000 + i),
            **{
                "Created Time": local(created[i]),
                "Paid Time": local(created[i]),
                "RTS Time": local(created[i]),
                "Shipped Time": local(shipped[i]),
                "Delivered Time": local(delivered[i]),
            },
        )
        for i in range(n)
    ]
    result = _read([write_csv(tmp_path / "a.csv", lines)])
    back = result.orders.set_index("order_id").loc[[str(10_000 + i) for i in range(n)]]
    assert (back["created_at"].to_numpy() == created.to_numpy()).all()
    assert (back["shipped_at"].to_numpy() == shipped.to_numpy()).all()
    assert (back["delivered_at"].to_numpy() == delivered.to_numpy()).all()


@pytest.mark.e2e
def test_cli_ingest_then_validate_and_score_window(tmp_path, monkeypatch) -> None:
    from serving.cli import app

    monkeypatch.setenv("LES_LOG_FILE", str(tmp_path / "les.log"))
    lines = [_delivered(str(i)) for i in range(40)] + [
        order("x", "Canceled", "Canceled", T, **{"Cancel By": "Seller", "Cancelled Time": T})
    ]
    source = write_csv(tmp_path / "All order-2026-02-09-07_16.csv", lines)
    out, aside = tmp_path / "orders.parquet", tmp_path / "aside.csv"
    runner = CliRunner()
    ingest = runner.invoke(
        app,
        ["ingest", "tiktok-shop", str(source), "--market", "US", "--shop-id", "s1"]
        + ["--out", str(out), "--rejected-out", str(aside)],
    )
    assert ingest.exit_code == 0, ingest.output
    assert "41 orders in" in ingest.output and "41 orders out" in ingest.output
    assert "deadlines from 2026-01-26" in ingest.output
    assert runner.invoke(app, ["validate", str(out)]).exit_code == 0
    score = runner.invoke(app, ["score-window", "--orders", str(out), "--end", "2026-03-01"])
    assert score.exit_code == 0, score.output
    bad = runner.invoke(
        app,
        [
            "ingest",
            "tiktok-shop",
            str(source),
            "--market",
            "SG",
            "--shop-id",
            "s1",
            "--out",
            str(out),
        ],
    )
    assert bad.exit_code == 2 and bad.output.startswith("error:")
    broken = write_csv(tmp_path / "broken.csv", [order("1", "Completed", "Completed", T)])
    empty = runner.invoke(
        app,
        ["ingest", "tiktok-shop", str(broken), "--market", "US", "--shop-id", "s1"]
        + ["--out", str(tmp_path / "none.parquet")],
    )
    assert empty.exit_code == 2 and "no orders to write" in empty.output
    assert not (tmp_path / "none.parquet").exists()


def test_a_row_without_an_order_id_is_set_aside_not_dropped(tmp_path) -> None:
    lines = [_delivered("1"), order("", "To ship", "Awaiting shipment", T)]
    result = _read([write_csv(tmp_path / "a.csv", lines)])
    assert len(result.orders) == 1 and result.reason_counts == {"no_order_id": 1}


def test_the_vietnamese_cancelled_word_is_read(tmp_path) -> None:
    cells = {"Cancel By": "User", "Cancelled Time": "04/02/2026 09:00:00"}
    line = order("1", "Đã hủy", "Đã hủy", "03/02/2026 14:05:00", **cells)
    result = _read([write_csv(tmp_path / "a.csv", [line], header=VN_HEADER)], "VN")
    assert (result.orders["status"].iloc[0], result.orders["cancelled_by"].iloc[0]) == (
        "cancelled",
        "buyer",
    )


def test_typed_xlsx_dates_are_read_as_market_wall_clock(tmp_path) -> None:
    import datetime as dt

    line = _delivered("1", **{"Delivered Time": dt.datetime(2026, 2, 6, 10, 0, 0)})
    result = _read([write_xlsx(tmp_path / "a.xlsx", [line])])
    assert result.orders["delivered_at"].iloc[0] == pd.Timestamp("2026-02-06 18:00", tz="UTC")


def test_money_with_currency_symbols() -> None:
    from features.tiktok_shop_read import parse_money

    values = parse_money(pd.Series(["$25.00", "MYR 1,234.50", None], dtype="string"))
    assert values.iloc[:2].tolist() == [25.0, 1234.5] and pd.isna(values.iloc[2])


def test_us_late_dispatch_is_judged_at_rts_before_2026_01_26_and_at_the_scan_after(
    tmp_path,
) -> None:
    from features.events import order_events

    ready_on_time_scanned_late = {
        "RTS Time": "{d} 01:00:00 PM",  # same day: inside 2 business days
        "Shipped Time": "{late} 10:00:00 AM",  # a week later: past ship_by
        "Delivered Time": "{later} 10:00:00 AM",
    }

    def line(order_id: str, day: str, late: str, later: str) -> dict:
        cells = {
            k: v.format(d=day, late=late, later=later)
            for k, v in ready_on_time_scanned_late.items()
        }
        return _delivered(order_id, **cells) | {
            "Created Time": f"{day} 09:15:00 AM",
            "Paid Time": f"{day} 09:15:00 AM",
        }

    lines = [
        line("old", "01/20/2026", "01/27/2026", "01/30/2026"),
        line("new", "02/02/2026", "02/09/2026", "02/12/2026"),
    ]
    result = _read([write_csv(tmp_path / "a.csv", lines)])
    orders = result.orders.set_index("order_id")
    assert orders.loc["old", "dispatch_event"] == "packed_at"
    assert orders.loc["new", "dispatch_event"] == "shipped_at"
    events = order_events(result.orders)
    late = dict(zip(result.orders["order_id"], events.value["late_dispatch"], strict=True))
    assert late == {"old": 0.0, "new": 1.0}
