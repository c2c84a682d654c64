"""Validated requests -> responses: the service's work, free of HTTP so tests can call it directly.

/predict builds the feature matrix straight from the request (no pandas on the hot path);
/predict_orders goes through the contract validation and `features.dataset.build_snapshot_features`,
the code that builds training rows, so serving and training cannot compute a feature differently.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel

from features.contract import COLUMN_NAMES, TIMESTAMP_COLUMNS
from features.dataset import build_snapshot_features
from features.dataset_config import DatasetConfig
from features.errors import LesError
from features.rulebook import Rulebook
from features.snapshots import midnight_utc
from features.validation import ValidationResult, validate_orders
from serving.live_signals import LiveSignals
from serving.responses import (
    ExplainResponse,
    MerchantForecast,
    OrdersForecast,
    OrdersResponse,
    PredictResponse,
)
from training.explain.attribution import predict_matrix
from training.explain.records import explain_records
from training.explain.registered import RegisteredForecaster
from training.explain.schema import Forecast, MerchantExplanation, ModelInfo
from training.forecaster_model import served_tier_codes
from training.models import feature_matrix

ROW_COLUMN = "_request_row"  # carried through validation (as an ignored column) to name rows
MAX_REJECTED_ROWS_LISTED = 100


@dataclass(frozen=True)
class ServedModel:
    """The loaded forecaster plus what every response states about it. `rules` and
    `dataset_config` are the model's recipe (`RegisteredForecaster.recipe`): /predict_orders
    builds features exactly as the model's training rows were built."""

    model: RegisteredForecaster
    info: ModelInfo
    rules: Rulebook
    dataset_config: DatasetConfig

    @property
    def feature_names(self) -> tuple[str, ...]:
        return self.model.forecaster.feature_names


class RequestRejected(LesError, ValueError):
    """Input that passed the JSON schema but cannot be scored; `detail` names rows and fields."""

    def __init__(self, message: str, detail: list[dict[str, Any]], **extra: Any) -> None:
        super().__init__(message)
        self.detail = detail
        self.extra = extra

    def body(self) -> dict[str, Any]:
        return {"error": str(self), "detail": self.detail, **self.extra}


def model_info(model: RegisteredForecaster, configured_uri: str) -> ModelInfo:
    return ModelInfo(
        name=model.model_name,
        version=model.model_version,
        fingerprint=model.fingerprint,
        rulebook_version=model.rulebook_version,
        uri=configured_uri,
    )


def request_matrix(merchants: Sequence[BaseModel], names: tuple[str, ...]) -> np.ndarray:
    """(merchants x model features) floats; an absent or null feature is NaN, i.e. unknown."""
    rows = [[m.features.__dict__[name] for name in names] for m in merchants]
    return np.array(rows, dtype=float).reshape(len(merchants), len(names))


def unknown_features(x: np.ndarray, names: tuple[str, ...]) -> list[list[str]]:
    missing = np.isnan(x)
    return [[names[j] for j in np.flatnonzero(row)] for row in missing]


def forecasts(served: ServedModel, x: np.ndarray) -> list[Forecast]:
    proba, score = predict_matrix(served.model, x)
    codes = served_tier_codes(proba, score, served.model.forecaster.tier_cuts)
    tiers = served.model.tiers_by_code
    return [
        Forecast(
            tier=tiers[codes[i]],
            probabilities={tier: float(proba[i, c]) for c, tier in enumerate(tiers)},
            predicted_score=float(score[i]),
        )
        for i in range(len(x))
    ]


def predict(
    served: ServedModel, merchants: Sequence[BaseModel], signals: LiveSignals | None = None
) -> PredictResponse:
    x = request_matrix(merchants, served.feature_names)
    unknown = unknown_features(x, served.feature_names)
    given = forecasts(served, x)
    if signals is not None:
        signals.observe("predict", x, given)
        signals.record([m.merchant_id for m in merchants], given)
    return PredictResponse(
        model=served.info,
        forecasts=[
            MerchantForecast(merchant_id=m.merchant_id, forecast=f, unknown_features=u)
            for m, f, u in zip(merchants, given, unknown, strict=True)
        ],
    )


def explain(
    served: ServedModel,
    merchants: Sequence[BaseModel],
    max_advice: int,
    signals: LiveSignals | None = None,
) -> ExplainResponse:
    x = request_matrix(merchants, served.feature_names)
    frame = pd.DataFrame(x, columns=list(served.feature_names))
    frame.insert(0, "merchant_id", [m.merchant_id for m in merchants])
    records = explain_records(served.model, frame, max_advice=max_advice)
    explanations = [MerchantExplanation.model_validate(r) for r in records]
    if signals is not None:
        given = [e.forecast for e in explanations]
        signals.observe("explain", x, given)
        points = [{p.stage: p.points for p in e.score_attribution.stages} for e in explanations]
        signals.record([m.merchant_id for m in merchants], given, stage_points=points)
    return ExplainResponse(model=served.info, explanations=explanations)


def orders_frame(orders: Sequence[BaseModel]) -> pd.DataFrame:
    """Request rows as the contract's columns (absent optional fields are empty), plus row numbers."""
    frame = pd.DataFrame([o.__dict__ for o in orders], columns=list(COLUMN_NAMES))
    frame[ROW_COLUMN] = np.arange(len(frame))
    return frame


def rejected_rows_detail(rows: pd.DataFrame, reasons: pd.Series) -> list[dict[str, Any]]:
    """The first MAX_REJECTED_ROWS_LISTED refused orders, each located by its index in the request
    and named by its ids, with its reasons."""
    listed = rows.head(MAX_REJECTED_ROWS_LISTED)
    return [
        {
            "loc": ["orders", int(row)],
            "type": "order_contract",
            "msg": str(reason),
            "order_id": _text(order_id),
            "merchant_id": _text(merchant_id),
        }
        for row, reason, order_id, merchant_id in zip(
            listed[ROW_COLUMN],
            reasons.loc[listed.index],
            listed.get("order_id", pd.Series(None, index=listed.index)),
            listed.get("merchant_id", pd.Series(None, index=listed.index)),
            strict=True,
        )
    ]


def contract_rejection(result: ValidationResult, received: int) -> RequestRejected:
    """Every rejected row with the contract's own reasons."""
    rejected = result.rejected
    detail = rejected_rows_detail(rejected, rejected["reject_reason"])
    return RequestRejected(
        f"{len(rejected)} of {received} orders break the order contract",
        detail,
        reason_counts=result.reason_counts,
        rejected_rows=len(rejected),
        listed_rows=len(detail),
    )


def timestamp_range_rejection(frame: pd.DataFrame) -> RequestRejected:
    """Rows with a timestamp pandas cannot hold in nanoseconds (before 1677 or after 2262)."""
    low, high = pd.Timestamp.min.tz_localize("UTC"), pd.Timestamp.max.tz_localize("UTC")
    reasons = pd.Series("", index=frame.index, dtype=object)
    for column in TIMESTAMP_COLUMNS:
        parsed = pd.to_datetime(frame[column], errors="coerce", utc=True, format="mixed")
        outside = ((parsed < low) | (parsed > high)).to_numpy(dtype=bool)
        reasons[outside] = reasons[outside] + f"; out_of_range:{column}"
    refused = reasons != ""
    rows = frame.loc[refused]
    detail = rejected_rows_detail(rows, reasons[refused].str.removeprefix("; "))
    return RequestRejected(
        f"{len(rows)} of {len(frame)} orders have timestamps outside 1677-09-22..2262-04-11",
        detail,
        rejected_rows=len(rows),
        listed_rows=len(detail),
    )


def validated_orders(orders: Sequence[BaseModel], max_merchants: int) -> pd.DataFrame:
    frame = orders_frame(orders)
    try:
        result = validate_orders(frame)
    except pd.errors.OutOfBoundsDatetime:
        raise timestamp_range_rejection(frame) from None
    if len(result.rejected):
        raise contract_rejection(result, len(orders))
    merchants = result.valid["merchant_id"].nunique()
    if merchants > max_merchants:
        raise RequestRejected(
            f"the orders cover {merchants} merchants; at most {max_merchants} per request "
            "(LES_MAX_BATCH)",
            [{"loc": ["orders"], "type": "too_many_merchants", "msg": f"{merchants} merchants"}],
        )
    return result.valid


def snapshot_features(
    served: ServedModel, valid: pd.DataFrame, snapshot_at: datetime
) -> pd.DataFrame:
    """Every catalogue feature per merchant at the snapshot, by the training-row builder.

    The schema keeps `snapshot_at` itself in pandas' range; a snapshot at its edge still has
    windows (the model's recipe, up to its history window) that reach past it, and pandas answers
    that with an overflow: the client's field, so a 400 naming it rather than a 500."""
    try:
        return build_snapshot_features(
            valid, pd.Timestamp(snapshot_at), served.dataset_config, served.rules
        )
    except (OverflowError, pd.errors.OutOfBoundsDatetime, pd.errors.OutOfBoundsTimedelta):
        message = (
            f"snapshot_at {snapshot_at:%Y-%m-%d}: the model's feature windows around it reach "
            "outside 1677-09-22..2262-04-11 (the dates pandas holds in nanoseconds)"
        )
        raise RequestRejected(
            message, [{"loc": ["snapshot_at"], "type": "out_of_range", "msg": message}]
        ) from None


def predict_orders(
    served: ServedModel,
    orders: Sequence[BaseModel],
    snapshot_at: datetime,
    include_features: bool,
    max_merchants: int,
    signals: LiveSignals | None = None,
) -> OrdersResponse:
    valid = validated_orders(orders, max_merchants)
    features = snapshot_features(served, valid, snapshot_at)
    x = feature_matrix(features, served.feature_names)
    ids = features["merchant_id"].astype(str).tolist()
    catalogue_names = [c for c in features.columns if c in served.model.catalogue.names]
    values = features[catalogue_names].to_numpy(dtype=float, na_value=np.nan)
    unknown = unknown_features(x, served.feature_names)
    given = forecasts(served, x)
    if signals is not None:
        signals.observe("predict_orders", x, given)
        signals.record(ids, given, midnight_utc(snapshot_at, "snapshot_at"))
    items = [
        OrdersForecast(
            merchant_id=merchant,
            forecast=forecast,
            unknown_features=unknown[i],
            features=_feature_dict(catalogue_names, values[i]) if include_features else None,
        )
        for i, (merchant, forecast) in enumerate(zip(ids, given, strict=True))
    ]
    seen = set(ids)
    return OrdersResponse(
        model=served.info,
        snapshot_at=snapshot_at,
        orders_received=len(orders),
        forecasts=items,
        merchants_without_history=sorted(
            m for m in valid["merchant_id"].astype(str).unique() if m not in seen
        ),
    )


def _feature_dict(names: list[str], values: np.ndarray) -> dict[str, float | None]:
    return {n: (float(v) if np.isfinite(v) else None) for n, v in zip(names, values, strict=True)}


def _text(value: object) -> str | None:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    return str(value)
