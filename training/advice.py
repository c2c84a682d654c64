"""What-if advice: move one stage's actionable features to a better reference and re-score.

Every delta is a real model output for a modified feature row, never an extrapolated SHAP value.
Only features the catalogue declares actionable move, and only where the reference is better than
the merchant's own value in the feature's declared direction: advice never asks for a worse number.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.catalogue import FULFILMENT_STAGES, Catalogue
from training.attribution import predict_matrix
from training.forecaster_model import ordinal_tier_codes
from training.models import feature_matrix
from training.registered import RegisteredForecaster

PEER_MEDIAN = "peer median"
NEXT_TIER_UP = "next tier up"
TARGETS = (PEER_MEDIAN, NEXT_TIER_UP)


def peer_reference(rows: pd.DataFrame, feature_names: tuple[str, ...]) -> dict[str, object]:
    """Medians over training rows, overall and per next-window tier (what a tier looks like)."""
    overall = rows[list(feature_names)].median(numeric_only=True)
    by_tier = rows.groupby("label_tier", observed=True)[list(feature_names)].median()
    return {
        "rows": len(rows),
        "overall": _finite(overall),
        "by_tier": {str(tier): _finite(medians) for tier, medians in by_tier.iterrows()},
    }


def _finite(series: pd.Series) -> dict[str, float]:
    return {str(k): float(v) for k, v in series.items() if np.isfinite(v)}


@dataclass(frozen=True)
class WhatIf:
    """One scenario per (row, stage, target) that changes at least one feature."""

    table: pd.DataFrame  # row, stage, target, score_delta, p_<best>_delta, p_<worst>_delta, ...
    changes: pd.DataFrame  # row, stage, target, feature, value, target_value


def reference_matrix(
    model: RegisteredForecaster, target: str, forecast_codes: np.ndarray
) -> np.ndarray:
    """(rows x features) reference values for a target; NaN where there is no reference."""
    names = model.forecaster.feature_names
    peers = model.peer_reference
    if target == PEER_MEDIAN:
        row = np.array([peers.overall.get(n, np.nan) for n in names])
        return np.tile(row, (len(forecast_codes), 1))
    per_code = np.full((len(model.tiers_by_code), len(names)), np.nan)
    for code, tier in enumerate(model.tiers_by_code[1:]):
        medians = peers.by_tier.get(tier, {})
        per_code[code] = [medians.get(n, np.nan) for n in names]
    return per_code[forecast_codes]


def improvement_mask(
    x: np.ndarray, reference: np.ndarray, feature_names: tuple[str, ...], catalogue: Catalogue
) -> np.ndarray:
    """Cells where moving to the reference is a strict improvement the merchant controls."""
    lower = np.array(
        [
            catalogue.feature(n).actionable and catalogue.feature(n).direction == "lower"
            for n in feature_names
        ]
    )
    higher = np.array(
        [
            catalogue.feature(n).actionable and catalogue.feature(n).direction == "higher"
            for n in feature_names
        ]
    )
    with np.errstate(invalid="ignore"):
        better = (lower & (reference < x)) | (higher & (reference > x))
    return better & np.isfinite(x) & np.isfinite(reference)


def what_if(model: RegisteredForecaster, features: pd.DataFrame) -> WhatIf:
    """Re-score every (row, fulfilment stage, target) scenario in one batched prediction."""
    names = model.forecaster.feature_names
    catalogue = model.catalogue
    x = feature_matrix(features, names)
    proba, score = predict_matrix(model, x)
    forecast_codes = ordinal_tier_codes(proba)
    stage_of = np.array([catalogue.stage_of(n) for n in names])
    blocks, keys, change_rows = [], [], []
    for target in TARGETS:
        reference = reference_matrix(model, target, forecast_codes)
        movable = improvement_mask(x, reference, names, catalogue)
        for stage in FULFILMENT_STAGES:
            mask = movable & (stage_of == stage)[None, :]
            rows = np.flatnonzero(mask.any(axis=1))
            if not len(rows):
                continue
            modified = np.where(mask, reference, x)[rows]
            blocks.append(modified)
            keys.append(pd.DataFrame({"row": rows, "stage": stage, "target": target}))
            cell_rows, cell_cols = np.nonzero(mask[rows])
            change_rows.append(
                pd.DataFrame(
                    {
                        "row": rows[cell_rows],
                        "stage": stage,
                        "target": target,
                        "feature": np.asarray(names, dtype=object)[cell_cols],
                        "value": x[rows[cell_rows], cell_cols],
                        "target_value": reference[rows[cell_rows], cell_cols],
                    }
                )
            )
    if not blocks:
        return WhatIf(_empty_table(model), _empty_changes())
    new_proba, new_score = predict_matrix(model, np.vstack(blocks))
    table = pd.concat(keys, ignore_index=True)
    base_rows = table["row"].to_numpy()
    table["score_before"] = score[base_rows]
    table["score_after"] = new_score
    table["score_delta"] = new_score - score[base_rows]
    for code, tier in enumerate(model.tiers_by_code):
        column = _delta_column(tier)
        table[column] = new_proba[:, code] - proba[base_rows, code]
    return WhatIf(table, pd.concat(change_rows, ignore_index=True))


def ranked_advice(what: WhatIf, max_items: int = 3, min_score_delta: float = 0.01) -> pd.DataFrame:
    """Per row, the scenarios that raise the forecast most; one per stage (its best target)."""
    table = what.table[what.table["score_delta"] >= min_score_delta]
    best_per_stage = table.sort_values(
        ["row", "stage", "score_delta"], ascending=[True, True, False]
    ).drop_duplicates(["row", "stage"])
    ranked = best_per_stage.sort_values(["row", "score_delta"], ascending=[True, False])
    ranked = ranked.groupby("row", sort=False).head(max_items).copy()
    ranked["rank"] = ranked.groupby("row").cumcount() + 1
    return ranked.reset_index(drop=True)


def _delta_column(tier: str) -> str:
    return "p_" + tier.lower().replace(" ", "_") + "_delta"


def _empty_table(model: RegisteredForecaster) -> pd.DataFrame:
    columns = ["row", "stage", "target", "score_before", "score_after", "score_delta"]
    columns += [_delta_column(t) for t in model.tiers_by_code]
    return pd.DataFrame(columns=columns)


def _empty_changes() -> pd.DataFrame:
    return pd.DataFrame(columns=["row", "stage", "target", "feature", "value", "target_value"])
