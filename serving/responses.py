"""HTTP response shapes; the forecast and explanation inside them are `training.explain.schema`'s,
the same ones `les explain --format json` prints."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from training.explain.schema import Forecast, MerchantExplanation, ModelInfo


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
