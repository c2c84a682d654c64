"""The platform's fulfilment deadlines as data: a business-day calendar and rule versions.

Exports carry no ship_by or deliver_by, so they are derived from a policy file per market
(features/policies/<MARKET>.yaml, or a user's own with `--policy`): business days (weekend days,
public holidays from the `holidays` package plus extra dates), a cut-off time, and rule versions
by effective date. Each order follows the version in force on its local order date.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import holidays as holiday_calendars
import numpy as np
import pandas as pd
import yaml

from features.contract import DISPATCH_EVENTS
from features.errors import LesError
from features.local_time import localise

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
SLA_STARTS = ("created_at", "paid_at")
NO_VERSION = "no rule version in force"


class PolicyError(LesError, ValueError):
    """The policy file is unreadable or inconsistent; the message names the file and field."""


@dataclass(frozen=True)
class RuleVersion:
    """Deadlines in force from `effective` (None: for every date) until the next version."""

    effective: dt.date | None
    dispatch_days: int
    delivery_days: int | None
    dispatch_event: str
    source: str

    @property
    def label(self) -> str:
        return f"from {self.effective}" if self.effective else "undated"


@dataclass(frozen=True)
class Policy:
    market: str
    timezone: str
    weekend: tuple[str, ...]
    holiday_country: str | None
    extra_holidays: tuple[dt.date, ...]
    cutoff: dt.time
    sla_starts: str
    versions: tuple[RuleVersion, ...]  # sorted by effective date, undated first
    origin: str

    @property
    def weekmask(self) -> list[bool]:
        return [day not in self.weekend for day in WEEKDAYS]

    def holidays(self, years: range) -> np.ndarray:
        """Public holidays of `years` plus the extra dates, as datetime64[D]."""
        days = set(self.extra_holidays)
        if self.holiday_country and len(years):
            days |= set(holiday_calendars.country_holidays(self.holiday_country, years=years))
        return np.array(sorted(days), dtype="datetime64[D]")


@dataclass(frozen=True)
class Deadlines:
    """ship_by / deliver_by in UTC, the event late dispatch is judged at, the version label of
    each order, and DST fixes counted."""

    ship_by: pd.Series
    deliver_by: pd.Series
    dispatch_event: pd.Series
    version: pd.Series
    dst_adjusted: int


def load_policy(market: str, path: Path | None = None) -> Policy | None:
    """The packaged policy of `market` (None when none is documented), or the user's file."""
    if path is None:
        source = resources.files("features").joinpath("policies", f"{market}.yaml")
        if not source.is_file():
            return None
        return parse_policy(yaml.safe_load(source.read_text()), f"features/policies/{market}.yaml")
    return policy_from_text(Path(path).read_text(), str(path))


def policy_from_text(text: str, origin: str) -> Policy:
    """A user's policy YAML (a file, or an upload's bytes decoded); errors name `origin`."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PolicyError(f"{origin}: not readable YAML ({exc})") from exc
    return parse_policy(raw, origin)


def parse_policy(raw: object, origin: str) -> Policy:
    """A typed policy; every problem is a PolicyError naming `origin` and the field."""
    if not isinstance(raw, dict):
        raise PolicyError(f"{origin}: expected a mapping of policy fields")
    try:
        weekend = tuple(raw.get("weekend") or ())
        if bad := [d for d in weekend if d not in WEEKDAYS]:
            raise PolicyError(f"{origin}: weekend: unknown days {bad}; use {WEEKDAYS}")
        sla_starts = raw.get("sla_starts", "created_at")
        if sla_starts not in SLA_STARTS:
            raise PolicyError(f"{origin}: sla_starts must be one of {SLA_STARTS}")
        versions = tuple(_version(v, origin) for v in raw["versions"])
        if not versions:
            raise PolicyError(f"{origin}: versions: at least one rule version is needed")
        if sum(v.effective is None for v in versions) > 1:
            raise PolicyError(f"{origin}: versions: at most one may be undated")
        ordered = tuple(sorted(versions, key=lambda v: v.effective or dt.date.min))
        return Policy(
            market=str(raw["market"]),
            timezone=str(raw["timezone"]),
            weekend=weekend,
            holiday_country=(raw.get("holidays") or {}).get("country"),
            extra_holidays=tuple(_date(d, origin) for d in raw.get("extra_holidays") or ()),
            cutoff=dt.time.fromisoformat(str(raw.get("cutoff", "23:59:59"))),
            sla_starts=sla_starts,
            versions=ordered,
            origin=origin,
        )
    except KeyError as exc:
        raise PolicyError(f"{origin}: missing field {exc}") from exc
    except (TypeError, ValueError) as exc:
        if isinstance(exc, PolicyError):
            raise
        raise PolicyError(f"{origin}: {exc}") from exc


def _date(value: object, origin: str) -> dt.date:
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError as exc:
        raise PolicyError(f"{origin}: {value!r} is not a date (YYYY-MM-DD)") from exc


def _version(raw: dict, origin: str) -> RuleVersion:
    event = raw.get("dispatch_event", "packed_at")
    if event not in DISPATCH_EVENTS:
        raise PolicyError(f"{origin}: dispatch_event must be one of {DISPATCH_EVENTS}")
    delivery = raw.get("delivery_days")
    days = [int(raw["dispatch_days"]), *([] if delivery is None else [int(delivery)])]
    if min(days) < 0:
        raise PolicyError(f"{origin}: dispatch_days and delivery_days must be >= 0")
    effective = raw.get("effective")
    return RuleVersion(
        effective=None if effective is None else _date(effective, origin),
        dispatch_days=days[0],
        delivery_days=None if delivery is None else days[1],
        dispatch_event=event,
        source=str(raw.get("source", "")),
    )


def version_index(policy: Policy, local_days: np.ndarray) -> np.ndarray:
    """Per order, the index of the version in force on its local day; -1 before the first."""
    starts = np.array(
        [np.datetime64("NaT") if v.effective is None else v.effective for v in policy.versions],
        dtype="datetime64[D]",
    )
    starts = np.where(np.isnat(starts), np.datetime64("0001-01-01", "D"), starts)
    index = np.searchsorted(starts, local_days, side="right") - 1
    return np.where(np.isnat(local_days), -1, index)


def deadlines(policy: Policy, orders: pd.DataFrame) -> Deadlines:
    """ship_by and deliver_by of every order: N business days after its (cut-off adjusted)
    local order day, at the cut-off time, in UTC; vectorised with numpy's busday functions."""
    start = orders[policy.sla_starts].fillna(orders["created_at"])
    local = start.dt.tz_convert(policy.timezone).dt.tz_localize(None)
    days = local.dt.floor("D")
    cutoff = pd.Timedelta(hours=policy.cutoff.hour, minutes=policy.cutoff.minute)
    cutoff += pd.Timedelta(seconds=policy.cutoff.second)
    late = (local - days) > cutoff
    base = (days + pd.to_timedelta(late.astype(int), unit="D")).to_numpy(dtype="datetime64[D]")
    valid = ~np.isnat(base)
    years = range(int(days.dt.year.min()), int(days.dt.year.max()) + 2) if valid.any() else range(0)
    calendar = np.busdaycalendar(weekmask=policy.weekmask, holidays=policy.holidays(years))
    first = np.full(base.shape, np.datetime64("NaT"), dtype="datetime64[D]")
    first[valid] = np.busday_offset(base[valid], 0, roll="forward", busdaycal=calendar)
    index = version_index(policy, days.to_numpy(dtype="datetime64[D]"))
    dispatch = np.array([v.dispatch_days for v in policy.versions] + [-1])[index]
    delivery = np.array(
        [-1 if v.delivery_days is None else v.delivery_days for v in policy.versions]
    )
    delivery = np.append(delivery, -1)[index]
    ship_by, n_ship = _due(first, dispatch, calendar, cutoff, policy.timezone, orders.index)
    deliver_by, n_deliver = _due(first, delivery, calendar, cutoff, policy.timezone, orders.index)
    labels = np.array([v.label for v in policy.versions] + [NO_VERSION], dtype=object)
    version = pd.Series(labels[index], index=orders.index, dtype="string")
    events = np.array([v.dispatch_event for v in policy.versions] + [None], dtype=object)
    dispatch_event = pd.Series(events[index], index=orders.index, dtype=object)
    return Deadlines(ship_by, deliver_by, dispatch_event, version, n_ship + n_deliver)


def _due(
    first: np.ndarray,
    business_days: np.ndarray,
    calendar: np.busdaycalendar,
    cutoff: pd.Timedelta,
    zone: str,
    index: pd.Index,
) -> tuple[pd.Series, int]:
    """The day `business_days` after `first`, at the cut-off, in UTC; NaT where days < 0."""
    known = ~np.isnat(first) & (business_days >= 0)
    due = np.full(first.shape, np.datetime64("NaT"), dtype="datetime64[D]")
    due[known] = np.busday_offset(first[known], business_days[known], busdaycal=calendar)
    naive = pd.Series(due.astype("datetime64[ns]"), index=index) + cutoff
    result = localise(naive, zone)
    return result.utc, result.ambiguous + result.nonexistent
