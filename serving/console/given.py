"""The console's overview from forecasts already made: the forecast ledger's, or a `les score`
output given at start (`LES_CONSOLE_FORECASTS`), instead of forecasting the dataset itself."""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.catalogue import FULFILMENT_STAGES
from serving.console.data import POOR, ConsoleError, latest_rows
from training.explain.attribution import points_column
from training.forecaster_model import proba_column


def overview_from_forecasts(forecasts: pd.DataFrame, rows: pd.DataFrame | None) -> pd.DataFrame:
    """Each merchant's newest forecast; the current score and tier from the dataset's row at that
    snapshot when the console has one; the worst stage where the forecast was explained."""
    tier_column = "tier" if "tier" in forecasts else "predicted_tier"
    needed = ("merchant_id", "snapshot_at", tier_column, "predicted_score")
    if missing := [c for c in needed if c not in forecasts]:
        raise ConsoleError(f"forecasts: missing columns {missing}")
    newest = latest_rows(
        forecasts.assign(
            merchant_id=forecasts["merchant_id"].astype(str),
            snapshot_at=pd.to_datetime(forecasts["snapshot_at"], utc=True),
        )
    )
    points = newest.reindex(columns=[points_column(s) for s in FULFILMENT_STAGES])
    points = points.to_numpy(dtype=float)
    explained = ~np.isnan(points).any(axis=1)
    lowest = np.where(explained[:, None], points, np.inf)
    table = pd.DataFrame(
        {
            "merchant_id": newest["merchant_id"].to_numpy(),
            "snapshot_at": newest["snapshot_at"].dt.strftime("%Y-%m-%d").to_numpy(),
            "current_score": np.nan,
            "current_tier": None,
            "predicted_tier": newest[tier_column].astype(str).to_numpy(),
            "predicted_score": newest["predicted_score"].to_numpy(dtype=float),
            "p_poor": newest[proba_column(POOR)].to_numpy(dtype=float)
            if proba_column(POOR) in newest
            else np.nan,
            "worst_stage": np.where(
                explained, np.asarray(FULFILMENT_STAGES)[np.argmin(lowest, axis=1)], None
            ),
            "worst_stage_points": np.where(explained, lowest.min(axis=1), np.nan),
        }
    )
    if rows is not None and "current_les_score" in rows:
        at = rows.assign(
            merchant_id=rows["merchant_id"].astype(str),
            snapshot_at=pd.to_datetime(rows["snapshot_at"], utc=True).dt.strftime("%Y-%m-%d"),
        ).set_index(["merchant_id", "snapshot_at"])
        keys = pd.MultiIndex.from_arrays([table["merchant_id"], table["snapshot_at"]])
        table["current_score"] = at["current_les_score"].reindex(keys).to_numpy(dtype=float)
        if "current_tier" in at:
            table["current_tier"] = at["current_tier"].astype(object).reindex(keys).to_numpy()
    table["change"] = table["predicted_score"] - table["current_score"]
    return table
