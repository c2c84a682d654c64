"""The one parser of a snapshot day: features are counted per UTC day, so a snapshot, a window
end or a scoring date is a midnight UTC, and every room reads one the same way."""

from __future__ import annotations

import pandas as pd

from features.errors import LesError


class SnapshotError(LesError, ValueError):
    """A value meant as a snapshot day is not a date or not a midnight UTC; the message names it."""


def midnight_utc(value: object, field: str) -> pd.Timestamp:
    """`value` (a date, a timestamp or its text; naive means UTC) as a nanosecond UTC midnight;
    SnapshotError naming `field` when it is no date or not a whole UTC day."""
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise SnapshotError(f"{field} must be a date or UTC timestamp, got {value!r}") from exc
    if ts is pd.NaT:
        raise SnapshotError(f"{field} must be a date or UTC timestamp, got {value!r}")
    ts = (ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")).as_unit("ns")
    if ts != ts.normalize():
        raise SnapshotError(f"{field} must be a midnight UTC (a whole day), got {ts}")
    return ts
