"""`les explain`: one merchant's forecast, stage waterfall, top features and advice as HTML/JSON/MD.

Features come from a built dataset or are built from orders by the same `features/` code as
training; the numbers come from `explain_records`, so the report says what the service says.
"""

from __future__ import annotations

from dataclasses import dataclass

import jinja2
import pandas as pd

from features.catalogue import FULFILMENT_STAGES, load_catalogue
from features.dataset import build_snapshot_features
from features.dataset_config import DatasetConfig
from features.errors import LesError
from features.rulebook import Rulebook
from features.snapshots import SnapshotError, midnight_utc
from training.explain.records import explain_records, format_value
from training.explain.registered import RegisteredForecaster
from training.explain.schema import ExplanationReport
from training.reports.figures import png_data_uri, probability_png, waterfall_png

FORMATS = ("html", "json", "md")


class ExplainInputError(LesError, ValueError):
    """The merchant or snapshot is not in the input; the message says what is."""


@dataclass(frozen=True)
class MerchantRow:
    """The one feature row a report explains, and where it came from."""

    features: pd.DataFrame
    source: str


def row_from_dataset(dataset: pd.DataFrame, merchant_id: str, snapshot: str | None) -> MerchantRow:
    rows = dataset[dataset["merchant_id"].astype(str) == merchant_id]
    if rows.empty:
        sample = ", ".join(sorted(dataset["merchant_id"].astype(str).unique())[:5])
        raise ExplainInputError(
            f"merchant_id {merchant_id!r} is not in the dataset (e.g. {sample})"
        )
    snapshots = pd.to_datetime(rows["snapshot_at"], utc=True)
    if snapshot is None:
        chosen = rows[snapshots == snapshots.max()]
    else:
        at = _utc(snapshot)
        chosen = rows[snapshots == at]
        if chosen.empty:
            raise ExplainInputError(
                f"snapshot {at.date()} is not in the dataset for {merchant_id}: it has "
                f"{snapshots.min().date()} .. {snapshots.max().date()} "
                f"every {_cadence_days(snapshots)} days"
            )
    return MerchantRow(chosen.head(1).reset_index(drop=True), "dataset")


def row_from_orders(
    orders: pd.DataFrame,
    merchant_id: str,
    snapshot: str | None,
    cfg: DatasetConfig,
    rules: Rulebook,
) -> MerchantRow:
    """Features at the snapshot (default: the midnight after the merchant's last event)."""
    own = orders[orders["merchant_id"].astype(str) == merchant_id]
    if own.empty:
        raise ExplainInputError(f"merchant_id {merchant_id!r} has no valid orders in the input")
    if snapshot is None:
        times = own.select_dtypes(include=["datetimetz", "datetime"])
        at = pd.Timestamp(times.max().max()).tz_convert("UTC").normalize() + pd.Timedelta(days=1)
    else:
        at = _utc(snapshot)
    features = build_snapshot_features(own, at, cfg, rules)
    if features.empty:
        raise ExplainInputError(
            f"merchant_id {merchant_id!r} has no paid orders before {at.date()}; nothing to forecast"
        )
    return MerchantRow(features.reset_index(drop=True), "orders")


def build_report(model: RegisteredForecaster, row: MerchantRow) -> ExplanationReport:
    record = explain_records(model, row.features)[0]
    return ExplanationReport.model_validate(
        {
            "model": {
                "name": model.model_name,
                "version": model.model_version,
                "fingerprint": model.fingerprint,
                "rulebook_version": model.rulebook_version,
                "uri": model.model_uri,
            },
            "explanation": record,
        }
    )


def render(report: ExplanationReport, fmt: str) -> str:
    if fmt == "json":
        return report.model_dump_json(indent=2) + "\n"
    if fmt == "md":
        return _template("merchant_report.md.j2").render(**_context(report, with_images=False))
    if fmt == "html":
        return _template("merchant_report.html.j2").render(**_context(report, with_images=True))
    raise ValueError(f"format must be one of {FORMATS}, got {fmt!r}")


def _context(report: ExplanationReport, with_images: bool) -> dict[str, object]:
    e = report.explanation
    catalogue = load_catalogue()  # how to print a value: this code's declaration, else its unit
    fulfilment = [s for s in e.score_attribution.stages if s.stage in FULFILMENT_STAGES]
    context_stages = [s for s in e.score_attribution.stages if s.stage not in FULFILMENT_STAGES]
    features_by_stage = {
        s.label: [
            {
                **f.model_dump(),
                "value_text": format_value(
                    f.value, f.unit, catalogue.display_of(f.feature, f.unit)
                ),
                "peer_text": format_value(
                    f.peer_median, f.unit, catalogue.display_of(f.feature, f.unit)
                ),
            }
            for f in e.top_features
            if f.stage == s.stage
        ]
        for s in e.score_attribution.stages
    }
    images = {}
    if with_images:
        steps = [(s.label, s.points) for s in fulfilment + context_stages]
        if abs(e.score_attribution.bounds_points) > 1e-9:
            steps.append(("Scale bounds", e.score_attribution.bounds_points))
        images = {
            "waterfall": png_data_uri(
                waterfall_png(
                    e.score_attribution.base_score,
                    steps,
                    e.score_attribution.predicted_score,
                    f"{e.merchant_id}: from the base score to the forecast",
                )
            ),
            "probabilities": png_data_uri(
                probability_png(e.forecast.probabilities, e.forecast.tier)
            ),
        }
    return {
        "r": report,
        "e": e,
        "stages": fulfilment + context_stages,
        "stage_pairs": list(
            zip(e.score_attribution.stages, e.tier_attribution.stages, strict=True)
        ),
        "features_by_stage": features_by_stage,
        "images": images,
    }


def report_environment() -> jinja2.Environment:
    """Templates under training/reports/templates; HTML ones autoescape, shared CSS by include."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("training.reports", "templates"),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",)),
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["pct"] = lambda v: f"{100 * v:.0f}%"
    env.filters["pp"] = lambda v: f"{100 * v:+.1f} pp"
    env.filters["pts"] = lambda v: f"{v:+.2f}"
    env.filters["num"] = lambda v, d=3: "-" if v is None else f"{v:.{d}f}"
    return env


def _template(name: str) -> jinja2.Template:
    return report_environment().get_template(name)


def _utc(value: str) -> pd.Timestamp:
    try:
        return midnight_utc(value, "snapshot")
    except SnapshotError as exc:
        raise ExplainInputError(f"{exc} (use YYYY-MM-DD)") from exc


def _cadence_days(snapshots: pd.Series) -> int:
    unique = snapshots.drop_duplicates().sort_values()
    if len(unique) < 2:
        return 0
    return int(unique.diff().dropna().min() / pd.Timedelta(days=1))
