"""A snapshot day is read one way everywhere: a date or timestamp at midnight UTC."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from features.errors import LesError
from features.snapshots import SnapshotError, midnight_utc

DAY = pd.Timestamp("2026-03-02", tz="UTC")


@pytest.mark.parametrize(
    "value",
    ["2026-03-02", "2026-03-02T00:00Z", "2026-03-02T08:00+08:00", dt.date(2026, 3, 2), DAY],
)
def test_any_spelling_of_a_utc_midnight_reads_the_same(value) -> None:
    day = midnight_utc(value, "snapshot_at")
    assert day == DAY and day.unit == "ns" and str(day.tz) == "UTC"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("2026-03-02T05:00", "snapshot_at must be a midnight UTC"),
        ("2026-03-02T00:00+08:00", "snapshot_at must be a midnight UTC"),
        ("soon", "snapshot_at must be a date"),
        (None, "snapshot_at must be a date"),
    ],
)
def test_other_values_are_refused_naming_the_field(value, message) -> None:
    with pytest.raises(SnapshotError, match=message) as caught:
        midnight_utc(value, "snapshot_at")
    assert isinstance(caught.value, LesError) and isinstance(caught.value, ValueError)
