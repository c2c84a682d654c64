"""The policy calendar: business days, holidays, cut-off and rule versions by effective date."""

from __future__ import annotations

import pandas as pd
import pytest

from features.policy import NO_VERSION, PolicyError, deadlines, load_policy, parse_policy


def _orders(*utc: str) -> pd.DataFrame:
    return pd.DataFrame({"created_at": pd.to_datetime(list(utc), utc=True)})


def test_us_dispatch_counts_business_days_and_skips_a_holiday() -> None:
    due = deadlines(load_policy("US"), _orders("2026-07-02 18:00", "2026-06-08 18:00"))
    # Thu 2 July; Fri 3 July is Independence Day (observed): due Tue 7 July 23:59:59 PDT.
    assert due.ship_by.iloc[0] == pd.Timestamp("2026-07-08 06:59:59", tz="UTC")
    assert due.ship_by.iloc[1] == pd.Timestamp("2026-06-11 06:59:59", tz="UTC")
    assert due.deliver_by.iloc[1] == pd.Timestamp("2026-06-17 06:59:59", tz="UTC")


def test_an_order_after_the_cut_off_or_on_a_weekend_counts_from_the_next_business_day() -> None:
    policy = parse_policy(
        {
            "market": "US",
            "timezone": "America/Los_Angeles",
            "weekend": ["Sat", "Sun"],
            "cutoff": "14:00:00",
            "versions": [{"effective": None, "dispatch_days": 1, "delivery_days": None}],
        },
        "test",
    )
    # Mon 8 June 15:00 PDT is past the cut-off; Sat 13 June rolls to Monday.
    due = deadlines(policy, _orders("2026-06-08 22:00", "2026-06-13 18:00"))
    assert list(due.ship_by.dt.tz_convert("America/Los_Angeles").dt.strftime("%a %d %H:%M")) == [
        "Wed 10 14:00",
        "Tue 16 14:00",
    ]
    assert due.deliver_by.isna().all()


def test_the_us_rule_version_switches_on_2026_01_26() -> None:
    # 2026-01-25 23:30 and 2026-01-26 00:30 Los Angeles time.
    due = deadlines(load_policy("US"), _orders("2026-01-26 07:30", "2026-01-26 08:30"))
    assert list(due.version) == ["from 2025-10-23", "from 2026-01-26"]
    events = [v.dispatch_event for v in load_policy("US").versions]
    assert events == ["packed_at", "shipped_at"]


def test_an_order_before_every_version_gets_no_deadline() -> None:
    due = deadlines(load_policy("US"), _orders("2025-01-01 12:00"))
    assert due.ship_by.isna().all() and list(due.version) == [NO_VERSION]


def test_vietnam_has_no_documented_delivery_deadline_and_thailand_no_policy() -> None:
    due = deadlines(load_policy("VN"), _orders("2026-06-08 03:00"))
    assert due.ship_by.iloc[0] == pd.Timestamp("2026-06-10 16:59:59", tz="UTC")
    assert due.deliver_by.isna().all()
    assert load_policy("TH") is None


def test_a_users_policy_file_overrides(tmp_path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text(
        "market: TH\ntimezone: Asia/Bangkok\nweekend: [Sun]\nholidays: {country: TH}\n"
        "extra_holidays: [2026-06-09]\nversions:\n  - {effective: 2026-01-01, dispatch_days: 1, "
        "delivery_days: 3}\n"
    )
    due = deadlines(load_policy("TH", path), _orders("2026-06-08 03:00"))
    assert due.ship_by.iloc[0] == pd.Timestamp("2026-06-10 16:59:59", tz="UTC")


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ({"market": "US", "timezone": "UTC", "weekend": ["Caturday"], "versions": []}, "weekend"),
        ({"market": "US", "timezone": "UTC"}, "versions"),
        (
            {
                "market": "US",
                "timezone": "UTC",
                "versions": [{"dispatch_days": 1, "dispatch_event": "nope"}],
            },
            "dispatch_event",
        ),
    ],
)
def test_a_bad_policy_names_its_field(raw, fragment) -> None:
    with pytest.raises(PolicyError, match=fragment):
        parse_policy(raw, "bad.yaml")
