"""The JSON shape of a merchant explanation, declared once as pydantic models.

`les explain --format json` validates its output against these, docs/schemas/ holds the generated
JSON Schema, and the HTTP service reuses the models so the three cannot drift apart.
"""

from __future__ import annotations

import json
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from features.rulebook import MAX_POINTS
from training.explain.advice import TARGETS


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StagePoints(_Strict):
    stage: str
    label: str
    points: float = Field(description="Score points this stage adds to the base score.")


class StageLogOdds(_Strict):
    stage: str
    label: str
    log_odds: float = Field(description="Log-odds this stage adds to the forecast tier.")


class Forecast(_Strict):
    tier: str
    probabilities: dict[str, float]
    predicted_score: float = Field(ge=0.0, le=MAX_POINTS)


class ScoreAttribution(_Strict):
    """base_score + sum(stages.points) + bounds_points == predicted_score."""

    base_score: float
    stages: list[StagePoints]
    bounds_points: float
    predicted_score: float = Field(ge=0.0, le=MAX_POINTS)


class TierAttribution(_Strict):
    tier: str
    base_log_odds: float
    stages: list[StageLogOdds]
    tier_log_odds: float


class TopFeature(_Strict):
    stage: str
    feature: str
    unit: str
    direction: str
    value: float | None
    peer_median: float | None
    points: float
    description: str


class FeatureChange(_Strict):
    feature: str
    unit: str
    value: float
    target_value: float


class AdviceItem(_Strict):
    rank: int = Field(ge=1)
    stage: str
    label: str
    target: Literal[TARGETS]  # type: ignore[valid-type]
    score_before: float
    score_after: float
    score_delta: float
    probability_deltas: dict[str, float]
    changes: list[FeatureChange] = Field(min_length=1)
    text: str


class MerchantExplanation(_Strict):
    merchant_id: str | None
    snapshot_at: str | None
    forecast: Forecast
    score_attribution: ScoreAttribution
    tier_attribution: TierAttribution
    top_features: list[TopFeature]
    advice: list[AdviceItem]
    summary: list[str]


class ModelInfo(_Strict):
    name: str
    version: str
    fingerprint: str
    rulebook_version: int
    uri: str


class ExplanationReport(_Strict):
    """What `les explain --format json` prints: the model that spoke and what it said."""

    model: ModelInfo
    explanation: MerchantExplanation


def explanation_json_schema() -> str:
    return json.dumps(ExplanationReport.model_json_schema(), indent=2, sort_keys=True) + "\n"
