"""Batch scoring: pure DataFrame -> DataFrame steps shared by the pandas and the Dask engine.

`les score` reads a (merchant, snapshot) dataset one chunk at a time (a parquet row group, file or
Dask partition), keeps the rows of the chosen snapshot, and scores them with `score_rows`. Both
engines call these very functions, so their outputs agree to the last bit: the Dask engine only
decides where a chunk is scored.

Which rows: `latest` (default) is each merchant's newest snapshot, the forecast a user acts on,
the same row `les explain` picks; `all` scores every row (a backfill); a date scores that
snapshot only. "Latest" is per merchant, so it needs one cheap pass over the two key columns
before scoring (`latest_by_merchant`); a merchant's rows may span chunks.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

import pandas as pd

from features.catalogue import STAGES
from features.errors import LesError
from features.snapshots import SnapshotError, midnight_utc
from training.explain.attribution import (
    KEY_COLUMNS,
    points_column,
    predict_frame,
    stage_attribution_frame,
)
from training.explain.registered import RegisteredForecaster
from training.forecaster_model import proba_column

SNAPSHOT_CHOICES = ("latest", "all")
TIER_COLUMN = "predicted_tier"
ATTRIBUTION_COLUMNS = ("base_score", *(points_column(s) for s in STAGES), "bounds_points")


class ScoringInputError(LesError, ValueError):
    """The dataset or the options cannot be scored; the message names what is wrong."""


@dataclass(frozen=True)
class SnapshotChoice:
    """`latest` per merchant, `all` rows, or one snapshot `at` (midnight UTC)."""

    kind: str
    at: pd.Timestamp | None = None

    def describe(self) -> str:
        if self.kind == "date":
            return f"snapshot {self.at.date()}"
        return "each merchant's latest snapshot" if self.kind == "latest" else "every snapshot"


def parse_snapshot(text: str) -> SnapshotChoice:
    """`latest`, `all`, or a date such as 2026-07-06 (a snapshot is a midnight UTC)."""
    value = text.strip().lower()
    if value in SNAPSHOT_CHOICES:
        return SnapshotChoice(value)
    try:
        at = midnight_utc(value, f"--snapshot {text!r}")
    except SnapshotError as exc:
        raise ScoringInputError(f"{exc}: use latest, all or a date such as 2026-07-06") from exc
    return SnapshotChoice("date", at)


def missing_columns(columns: Iterable[str], model: RegisteredForecaster) -> list[str]:
    """Key and model feature columns the dataset lacks, in model order.

    A missing *column* is refused rather than read as unknown (NaN): it means the dataset was built
    for another model or catalogue, and scoring it would quietly forecast from nothing."""
    present = set(columns)
    wanted = (*KEY_COLUMNS, *model.forecaster.feature_names)
    return [name for name in wanted if name not in present]


def utc_snapshots(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values, utc=True)


def latest_by_merchant(keys: pd.DataFrame) -> pd.Series:
    """merchant_id -> its newest snapshot_at (UTC), from the key columns of any set of rows."""
    snapshots = utc_snapshots(keys["snapshot_at"])
    return snapshots.groupby(keys["merchant_id"].astype(str).to_numpy()).max()


def combine_latest(parts: Iterable[pd.Series]) -> pd.Series:
    """`latest_by_merchant` of the union of chunks, from the chunks' own results."""
    parts = [p for p in parts if len(p)]
    if not parts:
        return pd.Series(dtype="datetime64[ns, UTC]")
    joined = pd.concat(parts)
    return joined.groupby(level=0).max()


def select_rows(
    frame: pd.DataFrame, choice: SnapshotChoice, latest: pd.Series | None = None
) -> pd.DataFrame:
    """The rows of `frame` that `choice` scores; `latest` is required for the latest choice."""
    if choice.kind == "all":
        return frame.reset_index(drop=True)
    snapshots = utc_snapshots(frame["snapshot_at"])
    if choice.kind == "date":
        keep = snapshots == choice.at
    else:
        if latest is None:
            raise ValueError("select_rows(latest) needs latest_by_merchant of the whole dataset")
        newest = frame["merchant_id"].astype(str).map(latest)
        keep = snapshots == utc_snapshots(newest)
    return frame.loc[keep.to_numpy()].reset_index(drop=True)


def score_rows(model: RegisteredForecaster, frame: pd.DataFrame, explain: bool) -> pd.DataFrame:
    """Forecast per row: keys, predicted tier, tier probabilities, predicted score, model version;
    with `explain` also the base score and the points per stage (base + stages + bounds = score)."""
    if frame.empty:  # LightGBM cannot shape contributions of zero rows
        return pd.DataFrame(columns=output_columns(model, explain))
    scored = predict_frame(model, frame).rename(columns={"tier": TIER_COLUMN})
    scored["merchant_id"] = scored["merchant_id"].astype(str)  # one text dtype from any reader
    if explain:
        attribution = stage_attribution_frame(model, frame)
        scored = pd.concat([scored, attribution[list(ATTRIBUTION_COLUMNS)]], axis=1)
    scored["model_version"] = model.model_version
    return scored


def output_columns(model: RegisteredForecaster, explain: bool) -> list[str]:
    """The columns `score_rows` writes, in order."""
    probabilities = [proba_column(tier) for tier in model.tiers_by_code]
    extra = list(ATTRIBUTION_COLUMNS) if explain else []
    return [*KEY_COLUMNS, TIER_COLUMN, *probabilities, "predicted_score", *extra, "model_version"]


def score_chunk(
    model: RegisteredForecaster,
    frame: pd.DataFrame,
    choice: SnapshotChoice,
    latest: pd.Series | None,
    explain: bool,
) -> pd.DataFrame:
    """One chunk of the dataset, selected and scored: the unit of work of both engines."""
    return score_rows(model, select_rows(frame, choice, latest), explain)


@dataclass(frozen=True)
class ScoreSummary:
    """What a run scored: rows, distinct merchants and forecast tiers (additive over chunks, with
    merchants counted as the set of ids so a merchant spanning chunks counts once)."""

    rows: int = 0
    merchant_ids: frozenset[str] = frozenset()
    tiers: dict[str, int] = field(default_factory=dict)

    @property
    def merchants(self) -> int:
        return len(self.merchant_ids)


def summarise(scored: pd.DataFrame) -> ScoreSummary:
    return ScoreSummary(
        len(scored),
        frozenset(scored["merchant_id"].astype(str).unique()),
        {str(k): int(v) for k, v in scored[TIER_COLUMN].value_counts().items()},
    )


def merge_summaries(parts: Iterable[ScoreSummary]) -> ScoreSummary:
    rows, merchants, tiers = 0, set(), Counter()
    for part in parts:
        rows += part.rows
        merchants |= part.merchant_ids
        tiers.update(part.tiers)
    return ScoreSummary(rows, frozenset(merchants), dict(tiers.most_common()))
