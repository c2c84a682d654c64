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
from training.explain.attribution import predict_matrix
from training.explain.registered import RegisteredForecaster
from training.forecaster_model import served_tier_codes
from training.models import feature_matrix

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
    """One scenario per (row, fulfilment stage, target) that changes at least one feature.

    Arrays, not frames: the HTTP service builds these for one merchant per request."""

    rows: np.ndarray  # (s,) index of the input row
    stages: np.ndarray  # (s,) fulfilment stage
    targets: np.ndarray  # (s,) PEER_MEDIAN or NEXT_TIER_UP
    moved: np.ndarray  # (s, features) cells set to the reference
    values: np.ndarray  # (s, features) the row's own values
    references: np.ndarray  # (s, features) the reference values
    score_before: np.ndarray
    score_after: np.ndarray
    proba_before: np.ndarray  # (s, tiers)
    proba_after: np.ndarray

    @property
    def score_delta(self) -> np.ndarray:
        return self.score_after - self.score_before

    def table(self, tiers: tuple[str, ...]) -> pd.DataFrame:
        """One row per scenario, for reports and tests."""
        table = pd.DataFrame(
            {
                "row": self.rows,
                "stage": self.stages,
                "target": self.targets,
                "score_before": self.score_before,
                "score_after": self.score_after,
                "score_delta": self.score_delta,
            }
        )
        for code, tier in enumerate(tiers):
            table[delta_column(tier)] = self.proba_after[:, code] - self.proba_before[:, code]
        return table


def delta_column(tier: str) -> str:
    return "p_" + tier.lower().replace(" ", "_") + "_delta"


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
    declared = [catalogue.feature(n) for n in feature_names]
    lower = np.array([f.actionable and f.direction == "lower" for f in declared])
    higher = np.array([f.actionable and f.direction == "higher" for f in declared])
    with np.errstate(invalid="ignore"):
        better = (lower & (reference < x)) | (higher & (reference > x))
    return better & np.isfinite(x) & np.isfinite(reference)


def what_if(model: RegisteredForecaster, features: pd.DataFrame) -> WhatIf:
    x = feature_matrix(features, model.forecaster.feature_names)
    return what_if_matrix(model, x, *predict_matrix(model, x))


def what_if_matrix(
    model: RegisteredForecaster, x: np.ndarray, proba: np.ndarray, score: np.ndarray
) -> WhatIf:
    """Re-score every (row, fulfilment stage, target) scenario in one batched prediction."""
    names = model.forecaster.feature_names
    forecast_codes = served_tier_codes(proba, score, model.forecaster.tier_cuts)
    stage_of = np.array([model.catalogue.stage_of(n) for n in names])
    rows, stages, targets, moved, references = [], [], [], [], []
    for target in TARGETS:
        reference = reference_matrix(model, target, forecast_codes)
        movable = improvement_mask(x, reference, names, model.catalogue)
        for stage in FULFILMENT_STAGES:
            mask = movable & (stage_of == stage)[None, :]
            hit = np.flatnonzero(mask.any(axis=1))
            rows.append(hit)
            stages.append(np.full(len(hit), stage, dtype=object))
            targets.append(np.full(len(hit), target, dtype=object))
            moved.append(mask[hit])
            references.append(reference[hit])
    row_index = np.concatenate(rows)
    moved_cells = np.concatenate(moved)
    reference_cells = np.concatenate(references)
    values = x[row_index]
    if len(row_index):
        proba_after, score_after = predict_matrix(
            model, np.where(moved_cells, reference_cells, values)
        )
    else:
        proba_after, score_after = proba[:0], score[:0]
    return WhatIf(
        rows=row_index,
        stages=np.concatenate(stages),
        targets=np.concatenate(targets),
        moved=moved_cells,
        values=values,
        references=reference_cells,
        score_before=score[row_index],
        score_after=score_after,
        proba_before=proba[row_index],
        proba_after=proba_after,
    )


def ranked_advice(what: WhatIf, max_items: int = 3, min_score_delta: float = 0.01) -> np.ndarray:
    """Scenario indices, per row best first: one per stage (its best target), at most max_items.

    Returned grouped by row in ascending row order; scenarios under min_score_delta are dropped."""
    delta = what.score_delta
    keep = np.flatnonzero(delta >= min_score_delta)
    order = keep[np.lexsort((-delta[keep], _stage_codes(what.stages[keep]), what.rows[keep]))]
    pair = what.rows[order] * len(FULFILMENT_STAGES) + _stage_codes(what.stages[order])
    first_of_pair = np.r_[True, pair[1:] != pair[:-1]] if len(order) else np.zeros(0, bool)
    best = order[first_of_pair]
    best = best[np.lexsort((-delta[best], what.rows[best]))]
    position = np.arange(len(best)) - np.searchsorted(what.rows[best], what.rows[best])
    return best[position < max_items]


def _stage_codes(stages: np.ndarray) -> np.ndarray:
    keys = np.array(sorted(FULFILMENT_STAGES))
    return np.searchsorted(keys, stages.astype(str))
