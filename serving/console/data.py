"""What the merchant console shows, as pure functions over DataFrames: the overview of every
merchant's latest forecast (sorted, filtered, searched and paginated here, on the server), one
merchant's page (LES history, forecast, stage waterfall, top features against the peer median,
ranked advice), a what-if re-score and an uploaded order file's page.

The console reads a dataset from `les build-dataset` (`LES_CONSOLE_DATASET`): its rows hold the
rulebook's LES at every snapshot (the history) and the features of each merchant's newest snapshot
(the forecast, and the what-if's starting point). Forecasts are made once, at start, by the served
model, in one batched call."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from features.catalogue import FULFILMENT_STAGES, Catalogue
from features.errors import LesError
from training.explain.attribution import points_column, predict_frame, stage_attribution_frame
from training.explain.records import explain_records
from training.explain.registered import RegisteredForecaster
from training.forecaster_model import proba_column

SORTS = ("p_poor", "change", "predicted_score", "merchant_id")
MAX_PAGE_SIZE = 200
POOR = "Poor"


class ConsoleError(LesError, ValueError):
    """A console request or its data is not usable; the message names the field."""


@dataclass(frozen=True)
class ConsoleData:
    """The dataset's rows (history and features) and the overview, one row per merchant."""

    rows: pd.DataFrame
    overview: pd.DataFrame
    source: str


def latest_rows(dataset: pd.DataFrame) -> pd.DataFrame:
    """Each merchant's newest snapshot."""
    if dataset.empty:
        raise ConsoleError("the console dataset has no rows")
    ordered = dataset.sort_values(["merchant_id", "snapshot_at"], kind="stable")
    return ordered.drop_duplicates("merchant_id", keep="last").reset_index(drop=True)


def overview_table(model: RegisteredForecaster, latest: pd.DataFrame) -> pd.DataFrame:
    """Per merchant: current score and tier, forecast tier, score and P(Poor), the predicted
    change, and the fulfilment stage whose points pull the forecast down most."""
    forecast = predict_frame(model, latest)
    points = stage_attribution_frame(model, latest)
    stage_points = points[[points_column(s) for s in FULFILMENT_STAGES]].to_numpy()
    current = pd.to_numeric(latest.get("current_les_score"), errors="coerce")
    poor = proba_column(POOR)
    table = pd.DataFrame(
        {
            "merchant_id": latest["merchant_id"].astype(str).to_numpy(),
            "snapshot_at": pd.to_datetime(latest["snapshot_at"], utc=True).dt.strftime("%Y-%m-%d"),
            "current_score": np.asarray(current, dtype=float),
            "current_tier": latest.get("current_tier", pd.Series(pd.NA, index=latest.index))
            .astype("string")
            .to_numpy(),
            "predicted_tier": forecast["tier"].to_numpy(),
            "predicted_score": forecast["predicted_score"].to_numpy(),
            "p_poor": forecast[poor].to_numpy() if poor in forecast else np.nan,
            "worst_stage": np.asarray(FULFILMENT_STAGES)[np.argmin(stage_points, axis=1)],
            "worst_stage_points": stage_points.min(axis=1),
        }
    )
    table["change"] = table["predicted_score"] - table["current_score"]
    return table


def load_console_data(
    model: RegisteredForecaster,
    dataset: pd.DataFrame,
    source: str,
    forecasts: pd.DataFrame | None = None,
) -> ConsoleData:
    """The dataset's rows; the overview from `forecasts` when given (the ledger's or a `les score`
    output), else the served model's forecasts of each merchant's newest row."""
    missing = [c for c in ("merchant_id", "snapshot_at") if c not in dataset]
    if missing:
        raise ConsoleError(f"{source}: not a les dataset; missing columns {missing}")
    rows = dataset.assign(merchant_id=dataset["merchant_id"].astype(str))
    if forecasts is not None and not forecasts.empty:
        from serving.console.given import overview_from_forecasts

        return ConsoleData(rows, overview_from_forecasts(forecasts, rows), source)
    return ConsoleData(rows, overview_table(model, latest_rows(rows)), source)


def overview_page(
    overview: pd.DataFrame,
    sort: str = "p_poor",
    descending: bool = True,
    stage: str | None = None,
    search: str | None = None,
    page: int = 1,
    page_size: int = 50,
) -> dict[str, Any]:
    """One page of the overview; every bad parameter is a ConsoleError naming it."""
    if sort not in SORTS:
        raise ConsoleError(f"sort: {sort!r} is not one of {SORTS}")
    if stage and stage not in FULFILMENT_STAGES:
        raise ConsoleError(f"stage: {stage!r} is not one of {FULFILMENT_STAGES}")
    if page < 1:
        raise ConsoleError("page: must be 1 or more")
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ConsoleError(f"page_size: must be 1..{MAX_PAGE_SIZE}")
    keep = np.ones(len(overview), dtype=bool)
    if stage:
        keep &= (overview["worst_stage"] == stage).to_numpy()
    if search:
        keep &= overview["merchant_id"].str.contains(search, case=False, regex=False).to_numpy()
    chosen = overview[keep].sort_values(
        [sort, "merchant_id"], ascending=[not descending, True], na_position="last", kind="stable"
    )
    start = (page - 1) * page_size
    window = chosen.iloc[start : start + page_size]
    return {
        "total": int(len(chosen)),
        "page": page,
        "page_size": page_size,
        "pages": max(1, -(-len(chosen) // page_size)),
        "sort": sort,
        "descending": descending,
        "rows": _records(window),
    }


def rows_of(data: ConsoleData, merchant_id: str) -> pd.DataFrame:
    """The dataset's rows of one merchant; a ConsoleError naming it when it has none."""
    own = data.rows[data.rows["merchant_id"] == merchant_id]
    if own.empty:
        raise ConsoleError(f"merchant_id: {merchant_id!r} is not in {data.source}")
    return own


def merchant_page(
    model: RegisteredForecaster,
    data: ConsoleData,
    merchant_id: str,
    catalogue: Catalogue,
    max_advice: int,
) -> dict[str, Any]:
    """History, forecast and its explanation for one merchant of the console's dataset."""
    own = rows_of(data, merchant_id)
    return merchant_view(model, own, catalogue, max_advice)


def merchant_view(
    model: RegisteredForecaster, own: pd.DataFrame, catalogue: Catalogue, max_advice: int
) -> dict[str, Any]:
    """The page of one merchant's rows (any source: the dataset, or an uploaded order file)."""
    own = own.sort_values("snapshot_at", kind="stable")
    latest = own.iloc[[-1]].reset_index(drop=True)
    explanation = explain_records(model, latest, max_advice=max_advice)[0]
    history = pd.DataFrame(
        {
            "snapshot_at": pd.to_datetime(own["snapshot_at"], utc=True).dt.strftime("%Y-%m-%d"),
            "les_score": pd.to_numeric(own.get("current_les_score"), errors="coerce"),
            "tier": own.get("current_tier", pd.Series(pd.NA, index=own.index)).astype("string"),
        }
    )
    return {
        "merchant_id": str(latest["merchant_id"].iloc[0]),
        "snapshot_at": history["snapshot_at"].iloc[-1],
        "horizon_days": model.dataset_config.horizon_days,
        "history": _records(history),
        "explanation": explanation,
        "what_if": what_if_inputs(latest, catalogue, model.forecaster.feature_names),
    }


def what_if_inputs(
    latest: pd.DataFrame, catalogue: Catalogue, names: tuple[str, ...]
) -> list[dict[str, Any]]:
    """The actionable model features a merchant can move, by stage, with their valid range."""
    inputs = []
    for name in catalogue.actionable_names:
        if name not in names:
            continue
        feature = catalogue.feature(name)
        value = pd.to_numeric(latest[name], errors="coerce").iloc[0] if name in latest else np.nan
        inputs.append(
            {
                "feature": name,
                "stage": feature.stage,
                "unit": feature.unit,
                "description": feature.description,
                "value": None if pd.isna(value) else float(value),
                "minimum": feature.minimum,
                "maximum": feature.maximum,
            }
        )
    return inputs


def what_if(
    model: RegisteredForecaster,
    data: ConsoleData,
    merchant_id: str,
    changes: dict[str, float | None],
    catalogue: Catalogue,
    max_advice: int,
) -> dict[str, Any]:
    """The merchant's newest features with `changes` applied, re-scored and re-explained."""
    own = rows_of(data, merchant_id)
    movable = set(catalogue.actionable_names) & set(model.forecaster.feature_names)
    latest = latest_rows(own).copy()
    for name, value in changes.items():
        if name not in movable:
            raise ConsoleError(f"changes.{name}: not an actionable model feature")
        feature = catalogue.feature(name)
        if value is not None and not _within(value, feature.minimum, feature.maximum):
            raise ConsoleError(
                f"changes.{name}: {value} is outside {feature.minimum}..{feature.maximum}"
            )
        latest[name] = np.nan if value is None else float(value)
    explanation = explain_records(model, latest, max_advice=max_advice)[0]
    return {"merchant_id": merchant_id, "changes": changes, "explanation": explanation}


def _within(value: float, low: float | None, high: float | None) -> bool:
    return np.isfinite(value) and (low is None or value >= low) and (high is None or value <= high)


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """JSON-ready rows: NaN and NA become null."""
    clean = frame.astype(object).where(frame.notna(), None)
    return [
        {k: (float(v) if isinstance(v, np.floating) else v) for k, v in row.items()}
        for row in clean.to_dict(orient="records")
    ]
