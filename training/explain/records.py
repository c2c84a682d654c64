"""Per-merchant explanations as plain data: forecast, stage attribution, top features, advice, text.

One JSON-ready dict per (merchant, snapshot) row; `les explain`, `les score --explain` and the HTTP
`/explain` all render this, so a merchant reads the same numbers everywhere.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from features.catalogue import FULFILMENT_STAGES, STAGES, Catalogue, Feature
from training.explain.advice import NEXT_TIER_UP, WhatIf, ranked_advice, what_if_matrix
from training.explain.attribution import (
    predict_matrix,
    score_contributions,
    stage_sums,
    tier_contributions,
)
from training.explain.registered import RegisteredForecaster
from training.forecaster_model import served_tier_codes
from training.models import feature_matrix

TOP_FEATURES_PER_STAGE = 3


def explain_records(
    model: RegisteredForecaster, features: pd.DataFrame, max_advice: int = 3
) -> list[dict[str, object]]:
    """Everything a merchant report needs, per row, computed in batched model calls."""
    names = model.forecaster.feature_names
    x = feature_matrix(features, names)
    proba, score = predict_matrix(model, x)
    codes = served_tier_codes(proba, score, model.forecaster.tier_cuts)
    contributions = score_contributions(model, x)
    stage_points = stage_sums(contributions, names, model.catalogue)
    tier_contrib = tier_contributions(model, x, codes)
    tier_stages = stage_sums(tier_contrib, names, model.catalogue)
    scenarios = what_if_matrix(model, x, proba, score)
    advice = advice_items(model, scenarios, ranked_advice(scenarios, max_items=max_advice))
    merchant_ids = _column(features, "merchant_id")
    snapshots = _column(features, "snapshot_at")
    records = []
    for i in range(len(x)):
        record = {
            "merchant_id": None if merchant_ids is None else str(merchant_ids[i]),
            "snapshot_at": None if snapshots is None else _iso(snapshots[i]),
            "forecast": {
                "tier": model.tiers_by_code[codes[i]],
                "probabilities": {t: float(proba[i, c]) for c, t in enumerate(model.tiers_by_code)},
                "predicted_score": float(score[i]),
            },
            "score_attribution": {
                "base_score": float(contributions[i, -1]),
                "stages": [
                    _stage_entry(model, stage, "points", stage_points[i, s])
                    for s, stage in enumerate(STAGES)
                ],
                "bounds_points": float(score[i] - contributions[i].sum()),
                "predicted_score": float(score[i]),
            },
            "tier_attribution": {
                "tier": model.tiers_by_code[codes[i]],
                "base_log_odds": float(tier_contrib[i, -1]),
                "stages": [
                    _stage_entry(model, stage, "log_odds", tier_stages[i, s])
                    for s, stage in enumerate(STAGES)
                ],
                "tier_log_odds": float(tier_contrib[i].sum()),
            },
            "top_features": top_features(model, x[i], contributions[i, :-1]),
            "advice": advice.get(i, []),
        }
        record["summary"] = summary_sentences(record, model.catalogue)
        records.append(record)
    return records


def top_features(
    model: RegisteredForecaster, values: np.ndarray, points: np.ndarray
) -> list[dict[str, object]]:
    """Within each stage, the features that move the score most, beside the peer median."""
    names = model.forecaster.feature_names
    stage_of = np.array([model.catalogue.stage_of(n) for n in names])
    rows = []
    for stage in STAGES:
        in_stage = np.flatnonzero(stage_of == stage)
        for j in in_stage[np.argsort(-np.abs(points[in_stage]), kind="stable")][
            :TOP_FEATURES_PER_STAGE
        ]:
            feature = model.catalogue.feature(names[j])
            rows.append(
                {
                    "stage": stage,
                    "feature": feature.name,
                    "unit": feature.unit,
                    "direction": feature.direction,
                    "value": _number(values[j]),
                    "peer_median": _number(model.peer_reference.overall.get(feature.name)),
                    "points": float(points[j]),
                    "description": feature.description,
                }
            )
    return rows


def advice_items(
    model: RegisteredForecaster, scenarios: WhatIf, chosen: np.ndarray
) -> dict[int, list[dict[str, object]]]:
    """Ranked advice per row index, each item with the feature changes behind it and its text."""
    names = model.forecaster.feature_names
    tiers = model.tiers_by_code
    out: dict[int, list[dict[str, object]]] = {}
    for k in chosen:
        row = int(scenarios.rows[k])
        stage = str(scenarios.stages[k])
        items = out.setdefault(row, [])
        entry = {
            "rank": len(items) + 1,
            "stage": stage,
            "label": model.catalogue.stage_labels[stage],
            "target": str(scenarios.targets[k]),
            "score_before": float(scenarios.score_before[k]),
            "score_after": float(scenarios.score_after[k]),
            "score_delta": float(scenarios.score_delta[k]),
            "probability_deltas": {
                tier: float(scenarios.proba_after[k, code] - scenarios.proba_before[k, code])
                for code, tier in enumerate(tiers)
            },
            "changes": [
                {
                    "feature": names[j],
                    "unit": model.catalogue.feature(names[j]).unit,
                    "value": float(scenarios.values[k, j]),
                    "target_value": float(scenarios.references[k, j]),
                }
                for j in np.flatnonzero(scenarios.moved[k])
            ],
        }
        entry["text"] = advice_sentence(entry, model.catalogue, best=tiers[-1], worst=tiers[0])
        items.append(entry)
    return out


def advice_sentence(entry: dict, catalogue: Catalogue, best: str, worst: str) -> str:
    target = "the peer median" if entry["target"] != NEXT_TIER_UP else "the next tier's median"
    moves = ", ".join(
        f"{c['feature']} {format_feature(c['value'], catalogue.feature(c['feature']))} -> "
        f"{format_feature(c['target_value'], catalogue.feature(c['feature']))}"
        for c in entry["changes"][:3]
    )
    deltas = entry["probability_deltas"]
    return (
        f"Bring {entry['label']} to {target} ({moves}): forecast {entry['score_delta']:+.2f} "
        f"points, P({best}) {100 * deltas[best]:+.0f} pp, P({worst}) {100 * deltas[worst]:+.0f} pp."
    )


def summary_sentences(record: dict, catalogue: Catalogue) -> list[str]:
    """Plain language: the forecast, then each fulfilment stage's push, strongest first."""
    forecast = record["forecast"]
    lines = [
        f"Forecast next-window LES {forecast['predicted_score']:.2f} "
        f"({forecast['tier']}, {100 * forecast['probabilities'][forecast['tier']]:.0f}% likely)."
    ]
    by_stage = {s["stage"]: s for s in record["score_attribution"]["stages"]}
    top = {}
    for feature in record["top_features"]:
        top.setdefault(feature["stage"], feature)
    ordered = sorted(FULFILMENT_STAGES, key=lambda s: by_stage[s]["points"])
    for stage in ordered:
        points = by_stage[stage]["points"]
        verb = "lowers" if points < 0 else "raises"
        line = f"{by_stage[stage]['label']} {verb} your forecast by {abs(points):.2f} points"
        feature = top.get(stage)
        if feature is not None and feature["value"] is not None:
            declared = catalogue.feature(feature["feature"])
            line += f"; your {feature['feature']} is {format_feature(feature['value'], declared)}"
            if feature["peer_median"] is not None:
                line += (
                    f" against a peer median of {format_feature(feature['peer_median'], declared)}"
                )
        lines.append(line + ".")
    return lines


def format_feature(value: float | None, feature: Feature) -> str:
    return format_value(value, feature.unit, feature.display)


def format_value(value: float | None, unit: str, display: str) -> str:
    """Hours, days and order counts as such; a value the catalogue displays as a share as a
    percentage; any other number plain."""
    if value is None or not math.isfinite(value):
        return "unknown"
    if unit == "hours":
        return f"{value:.1f} h"
    if unit == "days":
        return f"{value:.1f} d"
    if unit == "orders":
        return f"{value:,.0f}"
    if display == "share":
        return f"{100 * value:.1f}%"
    return f"{value:.2f}"


def _stage_entry(model: RegisteredForecaster, stage: str, key: str, value: float) -> dict:
    return {"stage": stage, "label": model.catalogue.stage_labels[stage], key: float(value)}


def _column(frame: pd.DataFrame, name: str) -> np.ndarray | None:
    return frame[name].to_numpy() if name in frame else None


def _iso(value: object) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return pd.Timestamp(value).isoformat()


def _number(value: object) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None
