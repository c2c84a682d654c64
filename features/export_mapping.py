"""An export layout declared as data: which column holds each contract field, how its times read,
which status words mean what.

The packaged layouts (`features/layouts/*.yaml`: Shopee, Shopify, Douyin) and a user's own
`les ingest csv --mapping FILE` are the same object, parsed here with an error that names the key;
`features.mapped_export` converts with it. The YAML shape is documented in docs/ingest.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from features.contract import CANCELLED_BY, CHANNELS, STATUSES, TIMESTAMP_COLUMNS
from features.errors import LesError

LAYOUTS_DIR = Path(__file__).with_name("layouts")
TEXT_FIELDS = ("carrier", "origin_region", "destination_region")
# The contract timestamps a layout may fill; ship_by and deliver_by only when the export has them.
TIME_FIELDS = TIMESTAMP_COLUMNS
TOP_KEYS = {
    "layout", "command", "seen", "order_id", "merchant_id", "time_format", "timezone", "markets",
    "required", "header", "times", "text", "tracking", "channel", "cancelled_by", "status", "notes",
}  # fmt: skip


class MappingError(LesError, ValueError):
    """The mapping file is not a usable layout; the message names the key and the problem."""


@dataclass(frozen=True)
class TimeColumn:
    """One contract time: its column, its strptime format, and whether a date-only value means
    the end of that day (a deadline given as a day)."""

    column: str
    time_format: str
    end_of_day: bool = False


@dataclass(frozen=True)
class ValueMap:
    """A column's words -> contract values (case-insensitive), with the value for other words."""

    column: str | None
    values: dict[str, str]
    default: str | None


@dataclass(frozen=True)
class StatusRule:
    """First matching rule wins: every `when` column holds one of its words, every `present`
    column is filled, every `absent` one is blank. `status` None sets the order aside."""

    status: str | None
    aside: str | None
    when: dict[str, tuple[str, ...]]
    present: tuple[str, ...]
    absent: tuple[str, ...]


@dataclass(frozen=True)
class ExportMapping:
    layout: str
    command: str
    seen: str
    order_id: str
    merchant_column: str | None
    merchant_constant: str | None
    timezone: str | None
    markets: dict[str, str]
    required: tuple[str, ...]
    header: tuple[str, ...]  # the documented full header, when known (resemblance, fixtures)
    times: dict[str, TimeColumn]
    text: dict[str, str]
    tracking: str | None
    channel: ValueMap
    cancelled_by: ValueMap
    status: tuple[StatusRule, ...]
    notes: tuple[str, ...]
    origin: str

    @property
    def columns(self) -> tuple[str, ...]:
        """Every export column the layout reads: the ones a file must have."""
        named = [self.order_id, *self.required, *(t.column for t in self.times.values())]
        named += [*self.text.values(), self.tracking, self.merchant_column]
        named += [self.channel.column, self.cancelled_by.column]
        for rule in self.status:
            named += [*rule.when, *rule.present, *rule.absent]
        return tuple(dict.fromkeys(c for c in named if c))

    def zone(self, market: str | None) -> str | None:
        """The zone of times without an offset: the market's, else the layout's own."""
        if self.markets:
            if market is None:
                raise MappingError(
                    f"{self.origin}: this layout needs --market (one of {', '.join(self.markets)})"
                )
            key = market.upper()
            if key not in self.markets:
                raise MappingError(
                    f"--market {market!r}: {self.layout} export's time zone for it is not "
                    f"documented (known: {', '.join(self.markets)}); les will not guess it"
                )
            return self.markets[key]
        return self.timezone


def packaged_mapping(name: str) -> ExportMapping:
    """A layout shipped with les (`features/layouts/<name>.yaml`)."""
    return load_mapping(LAYOUTS_DIR / f"{name}.yaml")


def packaged_names() -> tuple[str, ...]:
    return tuple(sorted(p.stem for p in LAYOUTS_DIR.glob("*.yaml")))


def load_mapping(path: Path) -> ExportMapping:
    path = Path(path)
    if not path.is_file():
        raise MappingError(f"{path}: no such mapping file")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise MappingError(f"{path}: not readable YAML ({exc})") from exc
    return parse_mapping(raw, str(path))


def parse_mapping(raw: object, origin: str) -> ExportMapping:
    if not isinstance(raw, dict):
        raise MappingError(
            f"{origin}: a mapping is a YAML object of keys, got {type(raw).__name__}"
        )
    if unknown := sorted(set(raw) - TOP_KEYS):
        raise MappingError(f"{origin}: unknown key(s) {unknown}; known {sorted(TOP_KEYS)}")
    fmt = _text(raw, "time_format", origin, required=True)
    zone = _zone(raw.get("timezone"), "timezone", origin)
    markets = {
        str(k).upper(): _zone(v, f"markets.{k}", origin)
        for k, v in _dict(raw, "markets", origin).items()
    }
    if "%z" not in fmt and zone is None and not markets:
        raise MappingError(
            f"{origin}: time_format {fmt!r} carries no UTC offset (%z), so 'timezone' or "
            f"'markets' must say where the times were written"
        )
    merchant = _dict(raw, "merchant_id", origin)
    if unknown := sorted(set(merchant) - {"column", "constant"}):
        raise MappingError(
            f"{origin}: merchant_id: unknown key(s) {unknown}; use column or constant"
        )
    return ExportMapping(
        layout=_text(raw, "layout", origin, required=True),
        command=_text(raw, "command", origin) or f"les ingest csv --mapping {origin}",
        seen=_text(raw, "seen", origin) or "not stated",
        order_id=_text(raw, "order_id", origin, required=True),
        merchant_column=_opt_text(merchant.get("column"), "merchant_id.column", origin),
        merchant_constant=_opt_text(merchant.get("constant"), "merchant_id.constant", origin),
        timezone=zone,
        markets={k: v for k, v in markets.items() if v},
        required=tuple(_list(raw, "required", origin)),
        header=tuple(_list(raw, "header", origin)),
        times=_times(_dict(raw, "times", origin), fmt, origin),
        text=_fields(_dict(raw, "text", origin), TEXT_FIELDS, "text", origin),
        tracking=_opt_text(raw.get("tracking"), "tracking", origin),
        channel=_value_map(raw, "channel", CHANNELS, origin, default="unknown"),
        cancelled_by=_value_map(raw, "cancelled_by", CANCELLED_BY[:-1], origin, default=None),
        status=_rules(raw.get("status"), origin),
        notes=tuple(_list(raw, "notes", origin)),
        origin=origin,
    )


def _times(raw: dict, fmt: str, origin: str) -> dict[str, TimeColumn]:
    if "created_at" not in raw:
        raise MappingError(f"{origin}: times.created_at: required (the contract needs it)")
    out: dict[str, TimeColumn] = {}
    for field, spec in raw.items():
        key = f"times.{field}"
        if field not in TIME_FIELDS:
            raise MappingError(f"{origin}: {key}: not a contract time; known {list(TIME_FIELDS)}")
        if isinstance(spec, str):
            out[field] = TimeColumn(spec, fmt)
        elif isinstance(spec, dict) and isinstance(spec.get("column"), str):
            if unknown := sorted(set(spec) - {"column", "format", "end_of_day"}):
                raise MappingError(f"{origin}: {key}: unknown key(s) {unknown}")
            end = spec.get("end_of_day", False)
            if not isinstance(end, bool):
                raise MappingError(f"{origin}: {key}.end_of_day: true or false, got {end!r}")
            out[field] = TimeColumn(spec["column"], str(spec.get("format", fmt)), end)
        else:
            raise MappingError(
                f"{origin}: {key}: a column name or {{column, format}}, got {spec!r}"
            )
    return out


def _fields(raw: dict, allowed: tuple[str, ...], name: str, origin: str) -> dict[str, str]:
    if unknown := sorted(set(raw) - set(allowed)):
        raise MappingError(f"{origin}: {name}: unknown field(s) {unknown}; known {list(allowed)}")
    return {k: _opt_text(v, f"{name}.{k}", origin) for k, v in raw.items() if v is not None}


def _value_map(
    raw: dict, name: str, allowed: tuple[str, ...], origin: str, default: str | None
) -> ValueMap:
    spec = _dict(raw, name, origin)
    if unknown := sorted(set(spec) - {"column", "values", "default"}):
        raise MappingError(
            f"{origin}: {name}: unknown key(s) {unknown}; use column, values, default"
        )
    values = {
        str(k).strip().lower(): str(v)
        for k, v in _dict(spec, "values", f"{origin}: {name}").items()
    }
    chosen = spec.get("default", default)
    for word, value in [*values.items(), ("default", chosen)]:
        if value is not None and value not in allowed:
            raise MappingError(
                f"{origin}: {name}.values[{word!r}]: {value!r} is not one of {list(allowed)}"
            )
    return ValueMap(_opt_text(spec.get("column"), f"{name}.column", origin), values, chosen)


def _rules(raw: object, origin: str) -> tuple[StatusRule, ...]:
    if not isinstance(raw, list) or not raw:
        raise MappingError(f"{origin}: status: a non-empty list of rules (first match wins)")
    rules = []
    for i, rule in enumerate(raw):
        key = f"status[{i}]"
        if not isinstance(rule, dict):
            raise MappingError(f"{origin}: {key}: a rule is an object, got {rule!r}")
        if unknown := sorted(set(rule) - {"status", "aside", "when", "present", "absent"}):
            raise MappingError(f"{origin}: {key}: unknown key(s) {unknown}")
        status, aside = rule.get("status"), rule.get("aside")
        if (status is None) == (aside is None):
            raise MappingError(f"{origin}: {key}: give exactly one of status or aside")
        if status is not None and status not in STATUSES:
            raise MappingError(f"{origin}: {key}.status: {status!r} is not one of {list(STATUSES)}")
        when = _dict(rule, "when", f"{origin}: {key}")
        words = {
            str(c): tuple(str(w).strip().lower() for w in _as_list(v)) for c, v in when.items()
        }
        present = tuple(_list(rule, "present", f"{origin}: {key}"))
        absent = tuple(_list(rule, "absent", f"{origin}: {key}"))
        if not (words or present or absent):
            raise MappingError(f"{origin}: {key}: needs a condition (when, present or absent)")
        rules.append(
            StatusRule(status, None if aside is None else str(aside), words, present, absent)
        )
    return tuple(rules)


def _zone(value: object, key: str, origin: str) -> str | None:
    if value is None:
        return None
    try:
        ZoneInfo(str(value))
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise MappingError(f"{origin}: {key}: {value!r} is not an IANA time zone") from exc
    return str(value)


def _as_list(value: object) -> list:
    return value if isinstance(value, list) else [value]


def _text(raw: dict, key: str, origin: str, required: bool = False) -> str:
    value = raw.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or not value.strip():
        raise MappingError(f"{origin}: {key}: required text, got {value!r}")
    return value


def _opt_text(value: object, key: str, origin: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, (str, int)) or not str(value).strip():
        raise MappingError(f"{origin}: {key}: a column name or value as text, got {value!r}")
    return str(value)


def _dict(raw: dict, key: str, origin: str) -> dict:
    value = raw.get(key) or {}
    if not isinstance(value, dict):
        raise MappingError(f"{origin}: {key}: an object of keys, got {value!r}")
    return value


def _list(raw: dict, key: str, origin: str) -> list[str]:
    value = raw.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise MappingError(f"{origin}: {key}: a list of texts, got {value!r}")
    return value
