"""`les report`: what drives a model version's forecasts across merchants, by fulfilment stage.

Mean absolute stage attribution (does ship & transport dominate, as Chen et al. 2025 found?), a SHAP
beeswarm and dependence plots, stage attribution per forecast tier, and the backtest metrics. The
shap package draws the plots and cross-checks LightGBM's native contributions on the same rows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import shap

from features.catalogue import STAGES
from training.explain.attribution import points_column, predict_frame, stage_attribution_frame
from training.explain.registered import RegisteredForecaster
from training.models import feature_matrix
from training.reports.figures import (
    current_figure_png,
    png_data_uri,
    stage_bars_png,
    stage_by_tier_png,
)
from training.reports.merchant import report_environment

MAX_SHAP_ROWS = 2000
N_DEPENDENCE_PLOTS = 3


@dataclass(frozen=True)
class GlobalReport:
    """Everything `les report` renders; `to_dict` is the JSON for machines."""

    model: dict[str, object]
    rows: int
    snapshots: tuple[str, str]
    stage_ranking: pd.DataFrame  # stage, label, mean_abs_points, mean_points, share
    stage_by_tier: pd.DataFrame  # forecast tier x stage, mean points
    top_features: pd.DataFrame  # feature, stage, mean_abs_points
    backtest: pd.DataFrame  # model x metric (may be empty)
    shap_agreement_max_abs: float
    images: dict[str, str]

    def to_dict(self) -> dict[str, object]:
        return {
            "model": self.model,
            "rows": self.rows,
            "snapshots": list(self.snapshots),
            "stage_ranking": self.stage_ranking.to_dict(orient="records"),
            "stage_by_tier": {tier: row.to_dict() for tier, row in self.stage_by_tier.iterrows()},
            "top_features": self.top_features.to_dict(orient="records"),
            "backtest": {m: row.to_dict() for m, row in self.backtest.iterrows()},
            "shap_agreement_max_abs": self.shap_agreement_max_abs,
        }


def stage_ranking(attribution: pd.DataFrame, labels: dict[str, str]) -> pd.DataFrame:
    """Stages by mean |points|, with each one's share of the total absolute attribution."""
    points = attribution[[points_column(s) for s in STAGES]]
    mean_abs = points.abs().mean().to_numpy()
    table = pd.DataFrame(
        {
            "stage": list(STAGES),
            "label": [labels[s] for s in STAGES],
            "mean_abs_points": mean_abs,
            "mean_points": points.mean().to_numpy(),
            "share": mean_abs / max(mean_abs.sum(), 1e-12),
        }
    )
    return table.sort_values("mean_abs_points", ascending=False, ignore_index=True)


def stage_by_tier(
    attribution: pd.DataFrame, forecast_tiers: pd.Series, labels: dict[str, str], tiers: tuple
) -> pd.DataFrame:
    points = attribution[[points_column(s) for s in STAGES]].set_axis(
        [labels[s] for s in STAGES], axis=1
    )
    table = points.groupby(forecast_tiers.to_numpy()).mean()
    return table.reindex([t for t in tiers if t in table.index])


def build_global_report(
    model: RegisteredForecaster,
    features: pd.DataFrame,
    backtest: pd.DataFrame | None = None,
    seed: int = 0,
) -> GlobalReport:
    """Attribution over every given row; the shap plots over a seeded sample of at most 2,000."""
    names = model.forecaster.feature_names
    labels = model.catalogue.stage_labels
    attribution = stage_attribution_frame(model, features)
    forecasts = predict_frame(model, features)
    sample = features.sample(min(len(features), MAX_SHAP_ROWS), random_state=seed)
    x = feature_matrix(sample, names)
    explanation = independent_tree_explainer(model.forecaster.regressor)(x)
    explanation.feature_names = list(names)
    native = model.forecaster.regressor.predict(x, pred_contrib=True)[:, :-1]
    agreement = float(np.abs(explanation.values - native).max()) if len(x) else 0.0
    per_feature = pd.DataFrame(
        {
            "feature": names,
            "stage": [model.catalogue.stage_of(n) for n in names],
            "mean_abs_points": np.abs(explanation.values).mean(axis=0) if len(x) else 0.0,
        }
    ).sort_values("mean_abs_points", ascending=False, ignore_index=True)
    ranking = stage_ranking(attribution, labels)
    by_tier = stage_by_tier(attribution, forecasts["tier"], labels, model.tiers_by_code)
    images = {
        "stages": png_data_uri(stage_bars_png(ranking.set_index("label")["mean_abs_points"], "")),
        "by_tier": png_data_uri(stage_by_tier_png(by_tier)),
        "beeswarm": png_data_uri(_beeswarm(explanation)),
        **{
            f"dependence:{name}": png_data_uri(_dependence(explanation, name))
            for name in per_feature["feature"].head(N_DEPENDENCE_PLOTS)
        },
    }
    snapshots = (
        pd.to_datetime(features["snapshot_at"], utc=True) if "snapshot_at" in features else None
    )
    return GlobalReport(
        model={
            "name": model.model_name,
            "version": model.model_version,
            "fingerprint": model.fingerprint,
            "rulebook_version": model.rulebook_version,
            "uri": model.model_uri,
        },
        rows=len(features),
        snapshots=(
            ("", "")
            if snapshots is None
            else (str(snapshots.min().date()), str(snapshots.max().date()))
        ),
        stage_ranking=ranking,
        stage_by_tier=by_tier,
        top_features=per_feature.head(15),
        backtest=backtest if backtest is not None else pd.DataFrame(),
        shap_agreement_max_abs=agreement,
        images=images,
    )


def independent_tree_explainer(booster) -> shap.TreeExplainer:
    """shap's own TreeSHAP over its parse of the trees.

    For a LightGBM model shap would otherwise call the booster's pred_contrib itself, and the
    cross-check against the native numbers the service serves would compare a thing with itself."""
    explainer = shap.TreeExplainer(booster)
    explainer.model.model_type = "internal"
    return explainer


def render_global_html(report: GlobalReport) -> str:
    return report_environment().get_template("global_report.html.j2").render(r=report)


def global_report_json(report: GlobalReport) -> str:
    """The report for machines: `to_dict` as indented JSON, dates and numbers as text."""
    return json.dumps(report.to_dict(), indent=2, default=str) + "\n"


def write_global_report(report: GlobalReport, html_path: Path) -> Path:
    """The HTML at `html_path` and its JSON beside it (same name, .json); the JSON's path."""
    from features.io import write_text_atomic

    write_text_atomic(html_path, render_global_html(report))
    return write_text_atomic(html_path.with_suffix(".json"), global_report_json(report))


def ranking_line(report: GlobalReport) -> str:
    """The stage ranking in one line, as `les report` and `les demo` print it."""
    return "stage ranking (mean |points|): " + ", ".join(
        f"{r.label} {r.mean_abs_points:.3f}" for r in report.stage_ranking.itertuples()
    )


def _beeswarm(explanation: shap.Explanation) -> bytes:
    import matplotlib.pyplot as plt

    plt.figure(figsize=(8, 6), dpi=100)
    shap.plots.beeswarm(explanation, max_display=15, show=False, plot_size=None)
    plt.gca().set_xlabel("SHAP value (LES points of the predicted score)")
    return current_figure_png()


def _dependence(explanation: shap.Explanation, name: str) -> bytes:
    import matplotlib.pyplot as plt

    plt.figure(figsize=(5.5, 3.8), dpi=100)
    shap.plots.scatter(explanation[:, name], show=False, ax=plt.gca())
    plt.gca().set_ylabel("SHAP value (LES points)")
    return current_figure_png()
