"""The order contract: every rejection reason, round trips, optional stages, no row lost."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from features.contract import COLUMN_NAMES, ContractError
from features.io import read_orders, read_table, write_table
from features.validation import validate_orders

from .conftest import random_orders


@pytest.fixture()
def good() -> pd.DataFrame:
    return random_orders(n=30, merchants=2, seed=11)


def reasons_of(frame: pd.DataFrame) -> list[str]:
    return list(validate_orders(frame).rejected["reject_reason"])


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [
        ("merchant_id", None, "missing_required:merchant_id"),
        ("created_at", "", "missing_required:created_at"),
        ("paid_at", "yesterday-ish", "bad_type:paid_at"),
        ("channel", "telepathy", "unknown_enum:channel"),
        ("status", "teleported", "unknown_enum:status"),
        ("logistics_rating", 9, "out_of_range:logistics_rating"),
        ("logistics_rating", "great", "bad_type:logistics_rating"),
        ("tracking_valid", "maybe", "bad_type:tracking_valid"),
    ],
)
def test_each_field_rejection_names_the_field(
    good: pd.DataFrame, column: str, value: object, reason: str
) -> None:
    bad = good.astype({column: object})
    bad.loc[0, column] = value
    assert reasons_of(bad) == [reason]


def test_stage_out_of_order(good: pd.DataFrame) -> None:
    good.loc[0, "packed_at"] = good.loc[0, "paid_at"] - pd.Timedelta(hours=1)
    assert "stage_order:packed_at<paid_at" in reasons_of(good)[0]


def test_duplicates_are_all_rejected(good: pd.DataFrame) -> None:
    doubled = pd.concat([good, good.iloc[[3]]], ignore_index=True)
    result = validate_orders(doubled)
    assert len(result.rejected) == 2
    assert set(result.rejected["reject_reason"]) == {"duplicate_order_id"}


def test_status_consistency(good: pd.DataFrame) -> None:
    delivered = good.index[good["status"] == "delivered"][0]
    good.loc[delivered, "delivered_at"] = pd.NaT
    good.loc[delivered, "status_at"] = pd.NaT
    cancelled = good.index[good["status"] == "cancelled"][0]
    good.loc[cancelled, "cancelled_by"] = "none"
    reasons = sorted(reasons_of(good))
    assert reasons == [
        "status_inconsistent:cancelled_without_cancelled_by",
        "status_inconsistent:delivered_without_delivered_at",
    ]


def test_several_problems_are_all_reported(good: pd.DataFrame) -> None:
    bad = good.astype({"channel": object})
    bad.loc[0, "channel"] = "fax"
    bad.loc[0, "logistics_rating"] = 0
    assert reasons_of(bad) == ["unknown_enum:channel; out_of_range:logistics_rating"]


def test_missing_required_column_is_a_contract_error(good: pd.DataFrame) -> None:
    with pytest.raises(ContractError, match=r"lacks required columns \['merchant_id'\]"):
        validate_orders(good.drop(columns="merchant_id"))


def test_missing_optional_stages_are_accepted(good: pd.DataFrame) -> None:
    result = validate_orders(good.drop(columns=["packed_at", "accepted_at", "status_at"]))
    assert len(result.rejected) == 0
    assert result.valid["packed_at"].isna().all()
    assert list(result.valid.columns) == list(COLUMN_NAMES)


@pytest.mark.parametrize("name", ["orders.csv", "orders.parquet"])
def test_round_trip_gives_identical_validated_frames(
    good: pd.DataFrame, tmp_path: Path, name: str
) -> None:
    expected = validate_orders(good).valid
    write_table(expected, tmp_path / name)
    pd.testing.assert_frame_equal(read_orders(tmp_path / name).valid, expected)


def test_partitioned_parquet_folder(good: pd.DataFrame, tmp_path: Path) -> None:
    folder = tmp_path / "orders"
    folder.mkdir()
    write_table(good.iloc[:10], folder / "part-0.parquet")
    write_table(good.iloc[10:], folder / "part-1.parquet")
    assert len(read_table(folder)) == len(good)


@given(
    rows=st.lists(
        st.fixed_dictionaries(
            {
                "order_id": st.sampled_from(["a", "b", "c", "", None]),
                "merchant_id": st.sampled_from(["m1", "m2", None]),
                "channel": st.sampled_from(["livestream", "storefront", "x", None]),
                "created_at": st.sampled_from(["2026-01-01T10:00:00Z", "2026-01-02", "nope", None]),
                "paid_at": st.sampled_from(["2026-01-01T09:00:00Z", "2026-01-03", None]),
                "status": st.sampled_from(["delivered", "in_transit", "cancelled", "bad"]),
                "cancelled_by": st.sampled_from(["none", "seller", "alien"]),
                "logistics_rating": st.sampled_from([1, 5, 7, None, "x"]),
            }
        ),
        max_size=25,
    )
)
@settings(max_examples=60, deadline=None)
def test_every_row_lands_in_exactly_one_output(rows: list[dict]) -> None:
    frame = pd.DataFrame(
        rows,
        columns=[
            "order_id",
            "merchant_id",
            "channel",
            "created_at",
            "paid_at",
            "status",
            "cancelled_by",
            "logistics_rating",
        ],
    )
    result = validate_orders(frame)
    assert len(result.valid) + len(result.rejected) == len(frame)
    assert (result.rejected["reject_reason"] != "").all()
    assert sum(result.reason_counts.values()) >= len(result.rejected)


def test_dispatch_event_is_optional_and_only_a_stage_time(good: pd.DataFrame) -> None:
    assert validate_orders(good).valid["dispatch_event"].isna().all()
    named = good.assign(dispatch_event=["packed_at"] * (len(good) - 1) + ["carrier scan"])
    checked = validate_orders(named)
    assert list(checked.rejected["reject_reason"]) == ["unknown_enum:dispatch_event"]
    assert (checked.valid["dispatch_event"] == "packed_at").all()
