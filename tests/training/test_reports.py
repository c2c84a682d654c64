"""Merchant and global reports render completely: sections, embedded images, schema-valid JSON."""

from __future__ import annotations

import base64
import json
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest
from pydantic import ValidationError

from training.explain_schema import ExplanationReport, explanation_json_schema
from training.global_report import build_global_report, render_global_html
from training.merchant_report import (
    ExplainInputError,
    MerchantRow,
    build_report,
    render,
    row_from_dataset,
)

pytestmark = pytest.mark.xdist_group("explain")
SCHEMA_DOC = Path(__file__).resolve().parents[2] / "docs" / "schemas" / "explanation.schema.json"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class _Page(HTMLParser):
    """Section ids, image sources and visible text of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.sections: list[str] = []
        self.images: list[str] = []
        self.external: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "section":
            self.sections.append(found.get("id") or "")
        if tag == "img":
            self.images.append(found.get("src") or "")
        for key in ("src", "href"):
            if (found.get(key) or "").startswith(("http:", "https:", "//")):
                self.external.append(found[key])

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _parse(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    return page


def _assert_embedded_pngs(page: _Page, at_least: int) -> None:
    assert len(page.images) >= at_least
    for src in page.images:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == PNG_MAGIC


def _merchant_row(trained_model, merchant: str = "m002") -> MerchantRow:
    return row_from_dataset(trained_model.dataset, merchant, None)


def test_merchant_html_has_every_section_and_only_embedded_images(trained_model) -> None:
    report = build_report(trained_model.model, _merchant_row(trained_model))
    page = _parse(render(report, "html"))
    assert page.sections == ["forecast", "attribution", "features", "advice"]
    _assert_embedded_pngs(page, at_least=2)
    assert page.external == []
    text = " ".join(page.text)
    for stage in ("Order receipt", "Pick & pack", "Ship & transport", "Order delivery"):
        assert stage in text
    assert report.explanation.forecast.tier in text


def test_merchant_json_validates_and_is_additive(trained_model) -> None:
    report = build_report(trained_model.model, _merchant_row(trained_model))
    loaded = ExplanationReport.model_validate(json.loads(render(report, "json")))
    attribution = loaded.explanation.score_attribution
    total = attribution.base_score + sum(s.points for s in attribution.stages)
    assert total + attribution.bounds_points == pytest.approx(attribution.predicted_score, abs=1e-6)
    assert loaded.model.version == trained_model.model.model_version


def test_schema_rejects_a_report_missing_a_field_or_with_an_extra_one(trained_model) -> None:
    document = json.loads(
        render(build_report(trained_model.model, _merchant_row(trained_model)), "json")
    )
    del document["explanation"]["forecast"]["tier"]
    with pytest.raises(ValidationError, match="tier"):
        ExplanationReport.model_validate(document)
    document = json.loads(
        render(build_report(trained_model.model, _merchant_row(trained_model)), "json")
    )
    document["explanation"]["surprise"] = 1
    with pytest.raises(ValidationError, match="surprise"):
        ExplanationReport.model_validate(document)


def test_committed_json_schema_matches_the_models() -> None:
    assert SCHEMA_DOC.read_text() == explanation_json_schema(), (
        "docs/schemas/explanation.schema.json is stale: regenerate it from "
        "training.explain_schema.explanation_json_schema()"
    )


def test_markdown_report_reads_as_a_document(trained_model) -> None:
    text = render(build_report(trained_model.model, _merchant_row(trained_model)), "md")
    for heading in (
        "# LES forecast for merchant m002",
        "## Stage attribution",
        "## What to fix first",
    ):
        assert heading in text
    assert "| Ship & transport |" in text


def test_dataset_row_selection_names_what_is_missing(trained_model) -> None:
    with pytest.raises(ExplainInputError, match="'nobody' is not in the dataset"):
        row_from_dataset(trained_model.dataset, "nobody", None)
    with pytest.raises(ExplainInputError, match="not in the dataset for m002"):
        row_from_dataset(trained_model.dataset, "m002", "1999-01-04")
    with pytest.raises(ExplainInputError, match="must be a midnight"):
        row_from_dataset(trained_model.dataset, "m002", "2026-02-02 13:00")
    first = trained_model.dataset["snapshot_at"].min()
    row = row_from_dataset(trained_model.dataset, "m002", str(first.date()))
    assert row.features["snapshot_at"].iloc[0] == first


def test_global_report_has_rankings_plots_and_backtest(trained_model) -> None:
    rows = trained_model.dataset
    latest = rows[rows["snapshot_at"] >= rows["snapshot_at"].max() - pd.Timedelta(days=21)]
    backtest = pd.DataFrame({"macro_f1": [0.7, 0.6]}, index=["lightgbm", "persistence"])
    report = build_global_report(trained_model.model, latest, backtest)
    page = _parse(render_global_html(report))
    assert page.sections == ["stages", "beeswarm", "dependence", "by-tier", "features", "backtest"]
    _assert_embedded_pngs(page, at_least=6)
    assert page.external == []
    assert report.shap_agreement_max_abs < 1e-6
    ranking = report.stage_ranking
    assert ranking["mean_abs_points"].is_monotonic_decreasing
    assert ranking["share"].sum() == pytest.approx(1.0)
    machine = json.loads(json.dumps(report.to_dict(), default=str))
    assert machine["backtest"]["lightgbm"]["macro_f1"] == 0.7
    assert [s["stage"] for s in machine["stage_ranking"]] == ranking["stage"].tolist()


def test_training_logs_the_global_report_with_the_run(trained_model) -> None:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(trained_model.tracking_uri)
    run_id = trained_model.model.run_id
    logged = {a.path for a in client.list_artifacts(run_id, "reports")}
    assert logged == {"reports/global_report.html", "reports/global_report.json"}
    local = Path(client.download_artifacts(run_id, "reports/global_report.html"))
    _assert_embedded_pngs(_parse(local.read_text()), at_least=6)
