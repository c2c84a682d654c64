"""Input and prediction drift: population stability index (PSI) against a reference.

The reference is taken from the training rows when the model is logged (`drift_reference.json`
beside its boosters): for every model feature and every stage's SHAP points, the reference's
decile edges and the share of rows in each bin, plus a bin for missing values, and the served
tier mix. Monitoring bins the newest snapshot on the same edges. PSI = sum over bins of
(current - reference) x ln(current / reference); the usual reading is < 0.1 stable, 0.1-0.25
moving, > 0.25 shifted. A stage's PSI is taken on its points, the model's own view of the stage,
so a feature the model ignores cannot raise a stage alert.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

N_BINS = 10
SHARE_FLOOR = 1e-4  # an empty bin counts as this share, so ln() stays finite


@dataclass(frozen=True)
class Binned:
    """A quantity's reference distribution: interior edges, then shares per bin (last: missing)."""

    edges: tuple[float, ...]
    shares: tuple[float, ...]
    low: float | None = None  # the observed range of the finite reference values
    high: float | None = None

    def to_dict(self) -> dict[str, object]:
        return {
            "edges": list(self.edges),
            "shares": list(self.shares),
            "low": self.low,
            "high": self.high,
        }

    @classmethod
    def from_dict(cls, raw: dict) -> Binned:
        edges = tuple(float(e) for e in raw["edges"])
        shares = tuple(float(s) for s in raw["shares"])
        return cls(edges, shares, raw.get("low"), raw.get("high"))


def bin_edges(values: np.ndarray, n_bins: int = N_BINS) -> tuple[float, ...]:
    """Unique interior quantile edges of the finite values (a constant gives no edge: one bin)."""
    finite = values[np.isfinite(values)]
    if not len(finite):
        return ()
    inner = np.quantile(finite, np.linspace(0, 1, n_bins + 1)[1:-1])
    return tuple(float(e) for e in np.unique(inner))


def bin_shares(values: np.ndarray, edges: tuple[float, ...]) -> np.ndarray:
    """Share of `values` in each bin of `edges` (right-closed), then the missing share."""
    values = np.asarray(values, dtype=float)
    finite = np.isfinite(values)
    counts = np.bincount(
        np.searchsorted(np.asarray(edges), values[finite], side="left"), minlength=len(edges) + 1
    ).astype(float)
    counts = np.append(counts, float((~finite).sum()))
    return counts / max(len(values), 1)


def reference_of(values: np.ndarray) -> Binned:
    values = np.asarray(values, dtype=float)
    edges = bin_edges(values)
    finite = values[np.isfinite(values)]
    low, high = (float(finite.min()), float(finite.max())) if len(finite) else (None, None)
    return Binned(edges, tuple(float(s) for s in bin_shares(values, edges)), low, high)


def psi(reference: np.ndarray, current: np.ndarray) -> float:
    """Population stability index of two share vectors over the same bins."""
    ref = np.maximum(np.asarray(reference, dtype=float), SHARE_FLOOR)
    cur = np.maximum(np.asarray(current, dtype=float), SHARE_FLOOR)
    return float(np.sum((cur - ref) * np.log(cur / ref)))


@dataclass(frozen=True)
class DriftReference:
    """What the model saw in training, binned: features, stage points and served tier mix."""

    features: dict[str, Binned]
    stages: dict[str, Binned]
    tier_mix: dict[str, float]
    rows: int

    def to_dict(self) -> dict[str, object]:
        return {
            "rows": self.rows,
            "features": {k: v.to_dict() for k, v in self.features.items()},
            "stages": {k: v.to_dict() for k, v in self.stages.items()},
            "tier_mix": self.tier_mix,
        }

    @classmethod
    def from_dict(cls, raw: dict) -> DriftReference:
        return cls(
            features={k: Binned.from_dict(v) for k, v in raw["features"].items()},
            stages={k: Binned.from_dict(v) for k, v in raw["stages"].items()},
            tier_mix={str(k): float(v) for k, v in raw["tier_mix"].items()},
            rows=int(raw["rows"]),
        )


def tier_mix(tiers: pd.Series, tier_names: tuple[str, ...]) -> dict[str, float]:
    """Share of rows per tier, every tier named (zero when absent)."""
    counts = pd.Series(tiers).astype(str).value_counts()
    total = max(int(counts.sum()), 1)
    return {t: float(counts.get(t, 0)) / total for t in tier_names}


def build_reference(
    features: pd.DataFrame,
    stage_points: pd.DataFrame,
    served_tiers: pd.Series,
    tier_names: tuple[str, ...],
) -> DriftReference:
    """Bin the training rows' features and stage points; `stage_points` has one column per stage."""
    return DriftReference(
        features={c: reference_of(features[c].to_numpy(dtype=float)) for c in features.columns},
        stages={c: reference_of(stage_points[c].to_numpy(dtype=float)) for c in stage_points},
        tier_mix=tier_mix(served_tiers, tier_names),
        rows=len(features),
    )


@dataclass(frozen=True)
class Drift:
    """PSI per feature and per stage, and of the served tier mix, for one set of current rows."""

    features: dict[str, float]
    stages: dict[str, float]
    tier_mix_psi: float
    tier_mix: dict[str, float]
    rows: int


def drift_against(
    reference: DriftReference,
    features: pd.DataFrame,
    stage_points: pd.DataFrame,
    served_tiers: pd.Series,
) -> Drift:
    """PSI of the current rows on the reference's bins (a feature absent now is all missing)."""

    def of(binned: Binned, column: pd.Series | None) -> float:
        values = np.full(len(features), np.nan) if column is None else column.to_numpy(dtype=float)
        return psi(np.asarray(binned.shares), bin_shares(values, binned.edges))

    current_mix = tier_mix(served_tiers, tuple(reference.tier_mix))
    return Drift(
        features={n: of(b, features.get(n)) for n, b in reference.features.items()},
        stages={n: of(b, stage_points.get(n)) for n, b in reference.stages.items()},
        tier_mix_psi=psi(
            np.array(list(reference.tier_mix.values())), np.array(list(current_mix.values()))
        ),
        tier_mix=current_mix,
        rows=len(features),
    )
