"""HTTP request shapes for features by merchant, derived from the feature catalogue.

Nothing here names a feature or an order column: the request models are built from
`features/catalogue.yaml` and `features.contract.ORDER_COLUMNS`, so a new catalogue feature is a new
API field (with its range, unit and description) without touching this file. The explanation shape
is `training.explain.schema`'s, the same one `les explain --format json` prints.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, create_model, model_validator

from features.catalogue import Catalogue, Feature
from serving.config import ServiceConfig
from serving.identifiers import IDENTIFIER_RULE, Identifier
from serving.orders_schema import order_event_model, orders_request_model


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
    # Checked here too: pydantic's `multiple_of=1` forgives a remainder below about 1e-9 (1e-10
    # passes), the document's `multipleOf: 1` does not. In this one validator, not a field
    # validator per value, which doubled the time to validate 1,000 merchants.
    whole_numbers: ClassVar[tuple[str, ...]] = ()

    @model_validator(mode="after")
    def _known_names(self) -> _FeatureValuesBase:
        if self.__pydantic_extra__:
            unknown = sorted(str(k) for k in self.__pydantic_extra__)
            raise ValueError(
                f"unknown feature names {unknown}; the catalogue's names are listed in "
                "the OpenAPI document (/docs.json) and by `les features`"
            )
        values = self.__dict__
        fractional = [n for n in self.whole_numbers if not float(values[n] or 0).is_integer()]
        if fractional:
            raise ValueError(f"{fractional} must be whole numbers")
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
    model = create_model(
        "FeatureValues",
        __base__=_FeatureValuesBase,
        __doc__="Feature values by catalogue name. Missing features are unknown (NaN to the model).",
        **fields,
    )
    model.whole_numbers = tuple(f.name for f in catalogue.features if f.integer)
    return model


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
    example = {"merchants": [{"merchant_id": "shop-0042", "features": catalogue.examples()}]}
    order = order_event_model()
    return ApiModels(
        feature_values=features,
        merchant=merchant,
        predict_request=_batch_request_model("PredictRequest", merchant, config.max_batch, example),
        explain_request=_batch_request_model("ExplainRequest", merchant, config.max_batch, example),
        order_event=order,
        orders_request=orders_request_model(order, config.max_orders),
    )
