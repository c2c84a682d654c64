"""HTTP request and response shapes, derived from the feature catalogue and the order contract.

Nothing here names a feature or an order column: the request models are built from
`features/catalogue.yaml` and `features.contract.ORDER_COLUMNS`, so a new catalogue feature is a new
API field (with its range, unit and description) without touching this file. The explanation shape
is `training.explain_schema`'s, the same one `les explain --format json` prints.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, ClassVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StringConstraints,
    create_model,
    field_validator,
    model_validator,
)

from features.catalogue import Catalogue, Feature
from features.contract import ORDER_COLUMNS, Column
from serving.config import ServiceConfig
from training.explain_schema import Forecast, MerchantExplanation, ModelInfo

IDENTIFIER_MAX_LENGTH = 200
# No control character anywhere (C0, DEL, C1) and no whitespace at either end: an id that prints
# the same as another, or forges a log line, names no merchant.
IDENTIFIER_PATTERN = r"^[^\s\x00-\x1f\x7f-\x9f](?:[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f])?$"
IDENTIFIER_RULE = (
    f"1 to {IDENTIFIER_MAX_LENGTH} characters, no control characters, no whitespace at either end."
)
# Every merchant and order id, on every endpoint. A pattern, not a Python validator: pydantic
# checks it in Rust, so 100,000 orders stay on its fast path.
Identifier = Annotated[
    str,
    StringConstraints(min_length=1, max_length=IDENTIFIER_MAX_LENGTH, pattern=IDENTIFIER_PATTERN),
]
# An order time must carry its zone (Z or +hh:mm): without one it is ambiguous by up to a day,
# and reading it as UTC silently shifts every stage clock of a merchant who meant local time.
ZONED_TIME_PATTERN = r"\d(?:[Zz]|[+-]\d\d:?\d\d)$"
ZONE_RULE = "With its time zone (Z or +hh:mm); a time without one is refused."
# The midnights pandas can hold in nanoseconds (pd.Timestamp.min..max is 1677-09-21 00:12:43 to
# 2262-04-11 23:47:16): the feature builder works in pd.Timestamp, so a snapshot outside fails there.
FIRST_SNAPSHOT = datetime(1677, 9, 22, tzinfo=UTC)
LAST_SNAPSHOT = datetime(2262, 4, 11, tzinfo=UTC)

# Illustrative values for the OpenAPI examples: one plausible merchant, in catalogue units.
EXAMPLE_FEATURES: dict[str, float] = {
    "acceptance_delay_hours_p50": 0.6,
    "acceptance_delay_hours_p90": 3.5,
    "accepted_within_1h_rate": 0.82,
    "seller_fault_cancellation_rate": 0.012,
    "pick_pack_hours_p50": 14.0,
    "pick_pack_hours_p90": 41.0,
    "late_dispatch_rate": 0.09,
    "backlog_orders_at_snapshot": 35.0,
    "backlog_days_of_demand": 1.4,
    "late_dispatch_rate_trend": 0.03,
    "pickup_within_24h_of_ready_rate": 0.91,
    "transit_hours_p50": 52.0,
    "transit_hours_p90": 110.0,
    "on_time_delivery_rate": 0.93,
    "logistics_negative_review_rate": 0.021,
    "orders_in_window": 740.0,
    "livestream_order_share": 0.55,
}


def feature_description(feature: Feature) -> str:
    return (
        f"{feature.description} Stage: {feature.stage}; unit: {feature.unit}; "
        f"better: {feature.direction}; {feature.range_text}; null or absent = unknown."
    )


class _FeatureValuesBase(BaseModel):
    """Catalogue features by name; the subclass adds one optional float field per feature."""

    # Unknown names are kept aside and refused after validation, in one message listing them all:
    # a before-validator would do the same but takes pydantic off its JSON fast path (measured:
    # 1.7 ms instead of 0.6 ms to validate 100 merchants).
    model_config = ConfigDict(extra="allow", json_schema_extra={"additionalProperties": False})

    @model_validator(mode="after")
    def _known_names(self) -> _FeatureValuesBase:
        if self.__pydantic_extra__:
            unknown = sorted(str(k) for k in self.__pydantic_extra__)
            raise ValueError(
                f"unknown feature names {unknown}; the catalogue's names are listed in "
                "the OpenAPI document (/docs.json) and by `les features --list`"
            )
        return self


def feature_values_model(catalogue: Catalogue) -> type[BaseModel]:
    """One optional float per feature, refused outside the catalogue's declared range: a value
    there is a client bug (a percentage sent as 93, a sign flipped, a tier code of 1.5), and
    scoring it would answer with a confident forecast for a merchant that cannot exist."""
    fields: dict[str, Any] = {}
    for feature in catalogue.features:
        fields[feature.name] = (
            float | None,
            Field(
                default=None,
                ge=feature.minimum,
                le=feature.maximum,
                multiple_of=1 if feature.integer else None,
                strict=True,
                allow_inf_nan=False,
                description=feature_description(feature),
            ),
        )
    return create_model(
        "FeatureValues",
        __base__=_FeatureValuesBase,
        __doc__="Feature values by catalogue name. Missing features are unknown (NaN to the model).",
        **fields,
    )


def _merchant_model(features: type[BaseModel]) -> type[BaseModel]:
    return create_model(
        "MerchantFeatures",
        __config__=ConfigDict(extra="forbid"),
        __doc__="One merchant: its id and its feature values at the snapshot to forecast from.",
        merchant_id=(Identifier, Field(description=f"The merchant's id: {IDENTIFIER_RULE}")),
        features=(features, Field(default_factory=features)),
    )


def _batch_request_model(
    name: str, merchant: type[BaseModel], max_batch: int, example: dict
) -> type[BaseModel]:
    return create_model(
        name,
        __config__=ConfigDict(extra="forbid", json_schema_extra={"example": example}),
        merchants=(
            list[merchant],  # type: ignore[valid-type]
            Field(
                min_length=1,
                max_length=max_batch,
                description=f"1 to {max_batch} merchants (LES_MAX_BATCH).",
            ),
        ),
    )


def _order_field(column: Column) -> tuple[Any, Any]:
    """A contract column as a JSON field: its JSON type, the id rule and a time's zone; the
    contract judges the rest of the content."""
    extra: dict[str, Any] = {}
    description = column.description
    pattern = None
    if column.kind == "bool":
        kind: Any = StrictBool
    elif column.kind == "int":
        kind = StrictInt
    elif column.kind == "id":
        kind = Identifier
        description = f"{description} {IDENTIFIER_RULE}"
    else:
        kind = str
    if column.kind == "timestamp":
        extra["format"] = "date-time"
        pattern = ZONED_TIME_PATTERN
        description = f"{description} {ZONE_RULE}"
    if column.values:
        extra["enum"] = list(column.values)
    field = Field(
        default=... if column.required else None,
        description=description,
        ge=column.min_value,
        le=column.max_value,
        pattern=pattern,
        json_schema_extra=extra or None,
    )
    return (kind if column.required else kind | None), field


def order_event_model() -> type[BaseModel]:
    return create_model(
        "OrderEvent",
        __config__=ConfigDict(extra="forbid"),
        __doc__="One order in the canonical order contract (features/contract.py).",
        **{column.name: _order_field(column) for column in ORDER_COLUMNS},
    )


EXAMPLE_ORDERS_REQUEST: dict[str, Any] = {
    "snapshot_at": "2026-03-02T00:00:00Z",
    "orders": [
        {
            "order_id": "o-1001",
            "merchant_id": "shop-0042",
            "channel": "livestream",
            "created_at": "2026-02-20T19:02:11Z",
            "paid_at": "2026-02-20T19:02:40Z",
            "accepted_at": "2026-02-20T19:40:00Z",
            "packed_at": "2026-02-21T09:15:00Z",
            "shipped_at": "2026-02-21T16:30:00Z",
            "delivered_at": "2026-02-23T11:05:00Z",
            "ship_by": "2026-02-22T19:02:40Z",
            "deliver_by": "2026-02-25T23:59:59Z",
            "carrier": "carrier-a",
            "tracking_valid": True,
            "status": "delivered",
            "cancelled_by": "none",
            "logistics_rating": 5,
        },
        {
            "order_id": "o-1002",
            "merchant_id": "shop-0042",
            "channel": "storefront",
            "created_at": "2026-02-27T08:00:00Z",
            "paid_at": "2026-02-27T08:01:00Z",
            "status": "cancelled",
            "status_at": "2026-02-27T10:00:00Z",
            "cancelled_by": "buyer",
        },
    ],
}


class _OrdersRequestBase(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": EXAMPLE_ORDERS_REQUEST})
    midnight_message: ClassVar[str] = "snapshot_at must be a midnight UTC (features are daily)"
    zone_message: ClassVar[str] = (
        "snapshot_at needs its time zone (e.g. 2026-03-02T00:00:00Z): a time without one is "
        "refused, as order times are"
    )

    snapshot_at: datetime = Field(
        description="Forecast as of this midnight UTC; only events before it are used. " + ZONE_RULE
    )
    include_features: bool = Field(
        default=False, description="Return the built feature values with each forecast."
    )

    @field_validator("snapshot_at")
    @classmethod
    def _midnight_utc(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError(cls.zone_message)
        utc = _as_utc(value)
        if not FIRST_SNAPSHOT <= utc <= LAST_SNAPSHOT:
            raise ValueError(
                f"snapshot_at must lie in {FIRST_SNAPSHOT:%Y-%m-%d}..{LAST_SNAPSHOT:%Y-%m-%d} "
                "(the dates pandas holds in nanoseconds)"
            )
        if (utc.hour, utc.minute, utc.second, utc.microsecond) != (0, 0, 0, 0):
            raise ValueError(cls.midnight_message)
        return utc


def _as_utc(value: datetime) -> datetime:
    """A zoned `value` in UTC; a time whose UTC date falls outside year 1..9999 (e.g.
    0001-01-01T00:30+01:00) cannot be a datetime, so it is clamped past the snapshot range
    instead of raising OverflowError, which pydantic would not turn into a 400."""
    try:
        return value.astimezone(UTC)
    except OverflowError:
        offset = value.utcoffset() or timedelta(0)
        return (
            datetime.min.replace(tzinfo=UTC)
            if offset > timedelta(0)
            else datetime.max.replace(tzinfo=UTC)
        )


def _orders_request_model(order: type[BaseModel], max_orders: int) -> type[BaseModel]:
    return create_model(
        "OrdersRequest",
        __base__=_OrdersRequestBase,
        __doc__="Raw order events plus the snapshot to build features at and forecast from.",
        orders=(
            list[order],  # type: ignore[valid-type]
            Field(
                min_length=1,
                max_length=max_orders,
                description=f"1 to {max_orders} orders (LES_MAX_ORDERS) of one or more merchants.",
            ),
        ),
    )


def example_features(catalogue: Catalogue) -> dict[str, float]:
    """The example merchant, restricted to this catalogue's names."""
    return {k: v for k, v in EXAMPLE_FEATURES.items() if k in catalogue.names}


@dataclass(frozen=True)
class ApiModels:
    """The request models of one service configuration (limits come from ServiceConfig)."""

    feature_values: type[BaseModel]
    merchant: type[BaseModel]
    predict_request: type[BaseModel]
    explain_request: type[BaseModel]
    order_event: type[BaseModel]
    orders_request: type[BaseModel]


def build_api_models(catalogue: Catalogue, config: ServiceConfig) -> ApiModels:
    features = feature_values_model(catalogue)
    merchant = _merchant_model(features)
    example = {"merchants": [{"merchant_id": "shop-0042", "features": example_features(catalogue)}]}
    order = order_event_model()
    return ApiModels(
        feature_values=features,
        merchant=merchant,
        predict_request=_batch_request_model("PredictRequest", merchant, config.max_batch, example),
        explain_request=_batch_request_model("ExplainRequest", merchant, config.max_batch, example),
        order_event=order,
        orders_request=_orders_request_model(order, config.max_orders),
    )


class MerchantForecast(BaseModel):
    merchant_id: str
    forecast: Forecast
    unknown_features: list[str] = Field(
        description="Model features the request left null or absent: scored as unknown (NaN), "
        "the way training treats a feature without enough observations."
    )


class PredictResponse(BaseModel):
    """Forecasts in request order, with the model that made them."""

    model: ModelInfo
    forecasts: list[MerchantForecast]


class OrdersForecast(MerchantForecast):
    features: dict[str, float | None] | None = Field(
        default=None,
        description="Every catalogue feature as built from the orders (include_features=true).",
    )


class OrdersResponse(BaseModel):
    """Forecasts from raw orders: features built by the training code, then scored."""

    model: ModelInfo
    snapshot_at: datetime
    orders_received: int
    forecasts: list[OrdersForecast]
    merchants_without_history: list[str] = Field(
        description="Merchants whose first paid order is not before the snapshot: nothing to "
        "forecast from, so no forecast."
    )


class ExplainResponse(BaseModel):
    """Per merchant: the forecast, its exact stage attribution and the ranked what-if advice."""

    model: ModelInfo
    explanations: list[MerchantExplanation]
