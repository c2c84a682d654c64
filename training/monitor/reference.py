"""The drift reference a model is logged with: its training rows, binned (`monitor.drift`)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.catalogue import STAGES, Catalogue
from training.explain.attribution import stage_sums
from training.models import Forecaster, feature_matrix
from training.monitor.drift import DriftReference, build_reference

MAX_REFERENCE_ROWS = 20_000  # deciles are stable long before this; SHAP on more costs time
# The reference is the training rows of the newest snapshots whose history windows were full: the
# state the model will serve next. All training rows would include the data's first weeks, whose
# windows and trends are not yet filled: measured on the default world trained to 2026-06-15, the
# newest snapshot of the same, unshocked world then shows PSI 1.47 on transit_hours_p90_trend
# against all 16 training snapshots, and at most 0.087 on any feature against the newest 8.
REFERENCE_SNAPSHOTS = 8


def reference_rows(rows: pd.DataFrame, warm_up_days: int = 0) -> pd.DataFrame:
    """The training rows of the newest REFERENCE_SNAPSHOTS snapshots that lie `warm_up_days` or
    more after the first (whose `*_history` windows were full); all of the newest when none do."""
    if "snapshot_at" not in rows or rows.empty:
        return rows
    snapshots = np.sort(rows["snapshot_at"].unique())
    warm = snapshots[snapshots >= snapshots[0] + np.timedelta64(warm_up_days, "D")]
    newest = (warm if len(warm) else snapshots)[-REFERENCE_SNAPSHOTS:]
    return rows[rows["snapshot_at"].isin(newest)]


def stage_points(forecaster: Forecaster, x: np.ndarray, catalogue: Catalogue) -> pd.DataFrame:
    """Per-stage SHAP points of the score regressor, one column per stage."""
    contributions = np.asarray(forecaster.regressor.predict(x, pred_contrib=True))
    sums = stage_sums(contributions, forecaster.feature_names, catalogue)
    return pd.DataFrame(sums, columns=list(STAGES))


def served_tiers(forecaster: Forecaster, frame: pd.DataFrame, tiers_by_code) -> pd.Series:
    codes = forecaster.predict_tier_codes(frame)
    return pd.Series(np.asarray(tiers_by_code, dtype=object)[codes])


def drift_reference_of(
    rows: pd.DataFrame,
    forecaster: Forecaster,
    catalogue: Catalogue,
    tiers_by_code: tuple[str, ...],
    seed: int = 0,
    warm_up_days: int = 0,
) -> DriftReference:
    """Bin (a seeded sample of at most MAX_REFERENCE_ROWS of) the `reference_rows`."""
    rows = reference_rows(rows, warm_up_days)
    if len(rows) > MAX_REFERENCE_ROWS:
        rows = rows.sample(MAX_REFERENCE_ROWS, random_state=seed)
    rows = rows.reset_index(drop=True)
    names = forecaster.feature_names
    x = feature_matrix(rows, names)
    features = pd.DataFrame(x, columns=list(names))
    return build_reference(
        features,
        stage_points(forecaster, x, catalogue),
        served_tiers(forecaster, rows, tiers_by_code),
        tuple(tiers_by_code),
    )
