"""Merchant and global reports render completely: sections, embedded images, schema-valid JSON."""

from __future__ import annotations

import base64
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from features.catalogue import FULFILMENT_STAGES
from serving.cli import app
from training.explain.schema import ExplanationReport, TopFeature, explanation_json_schema
from training.reports.merchant import (
    ExplainInputError,
    MerchantRow,
    build_report,
    render,
    row_from_dataset,
)
from training.reports.model import build_global_report, render_global_html

pytestmark = pytest.mark.xdist_group("explain")
SCHEMA_DOC = Path(__file__).resolve().parents[3] / "docs" / "schemas" / "explanation.schema.json"
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


class _FeatureTable(HTMLParser):
    """Cell texts of the table rows inside <section id="features">, keyed by the first cell."""

    def __init__(self) -> None:
        super().__init__()
        self.section = ""
        self.rows: dict[str, list[str]] = {}
        self.cells: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "section":
            self.section = dict(attrs).get("id") or ""
        elif tag == "tr" and self.section == "features":
            self.cells = []
        elif tag == "td" and self.cells is not None:
            self.cells.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "tr" and self.cells:
            self.rows[self.cells[0].strip()] = [c.strip() for c in self.cells]
        if tag == "tr":
            self.cells = None

    def handle_data(self, data: str) -> None:
        if self.cells:
            self.cells[-1] += data


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


NUMBER = r"-?[\d,]+(?:\.\d+)?"


def _shown_number(text: str, feature: TopFeature) -> float:
    """A value as a report prints it ("31.0 h", "9.5%", "1,204") back in the feature's units,
    with the rounding tolerance of that print."""
    match = re.fullmatch(rf"({NUMBER})\s*(h|d|%)?", text.strip())
    assert match, f"{feature.feature}: {text!r} is not a number with a unit"
    number = float(match.group(1).replace(",", ""))
    return number / 100 if match.group(2) == "%" else number


def _assert_shown(text: str, feature: TopFeature, value: float) -> None:
    if text.strip().endswith("%"):
        decimals = 3  # a share printed as a percentage with one decimal
    else:
        decimals = {"orders": 0, "hours": 1, "days": 1}.get(feature.unit, 2)
    assert _shown_number(text, feature) == pytest.approx(value, abs=0.51 * 10**-decimals), (
        f"{feature.feature}: shown {text!r}, explanation has {value}"
    )


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
        "training.explain.schema.explanation_json_schema()"
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


def test_summary_names_each_stage_its_points_and_the_top_feature_against_peers(
    trained_model,
) -> None:
    """The plain-language lines carry the explanation's own numbers, strongest push first."""
    report = build_report(trained_model.model, _merchant_row(trained_model))
    e = report.explanation
    stages = {s.stage: s for s in e.score_attribution.stages}
    first_feature = {}
    for feature in e.top_features:
        first_feature.setdefault(feature.stage, feature)
    expected_order = sorted(FULFILMENT_STAGES, key=lambda stage: stages[stage].points)
    lines = e.summary[1:]
    assert len(lines) == len(FULFILMENT_STAGES)
    pattern = re.compile(
        rf"(?P<label>.+) (?P<verb>lowers|raises) your forecast by (?P<points>{NUMBER}) points"
        rf"; your (?P<feature>\w+) is (?P<value>.+) against a peer median of (?P<peer>.+)\."
    )
    for stage, line in zip(expected_order, lines, strict=True):
        match = pattern.fullmatch(line)
        assert match, line
        points = stages[stage].points
        assert match["label"] == stages[stage].label
        assert match["verb"] == ("lowers" if points < 0 else "raises")
        assert float(match["points"]) == pytest.approx(abs(points), abs=0.0051)
        top = first_feature[stage]
        assert match["feature"] == top.feature
        assert top.value is not None and top.peer_median is not None
        _assert_shown(match["value"], top, top.value)
        _assert_shown(match["peer"], top, top.peer_median)
    page_text = " ".join(_parse(render(report, "html")).text)
    markdown = render(report, "md")
    for line in e.summary:
        assert line in page_text and f"- {line}" in markdown


def test_top_features_show_the_merchants_value_against_the_peer_median(trained_model) -> None:
    report = build_report(trained_model.model, _merchant_row(trained_model))
    e = report.explanation
    assert len(e.top_features) >= len(FULFILMENT_STAGES)
    table = _FeatureTable()
    table.feed(render(report, "html"))
    markdown = render(report, "md")
    for feature in e.top_features:
        assert feature.value is not None and feature.peer_median is not None
        assert feature.peer_median == trained_model.model.peer_reference.overall[feature.feature]
        name, yours, peers, points, _ = table.rows[feature.feature]
        _assert_shown(yours, feature, feature.value)
        _assert_shown(peers, feature, feature.peer_median)
        assert float(points) == pytest.approx(feature.points, abs=0.0051)
        assert f"| `{feature.feature}` | {yours} | {peers} | {points} |" in markdown


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


@pytest.fixture()
def explain_cli(trained_model, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """`les explain` against the session's trained store and its dataset: no training here."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", trained_model.tracking_uri)
    monkeypatch.chdir(tmp_path)
    dataset = tmp_path / "dataset.parquet"
    trained_model.dataset.to_parquet(dataset)

    def run(fmt: str, out: Path) -> str:
        args = ["explain", "--dataset", str(dataset), "--merchant", "m002"]
        args += ["--model", trained_model.model.model_uri, "--format", fmt, "--out", str(out)]
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
        return result.output

    return run


def test_explain_cli_writes_html_to_out(explain_cli, tmp_path: Path) -> None:
    out = tmp_path / "reports" / "m002.html"
    printed = explain_cli("html", out)
    assert str(out) in printed.replace("\n", "") and "<html" not in printed
    page = _parse(out.read_text())
    assert page.sections == ["forecast", "attribution", "features", "advice"]
    _assert_embedded_pngs(page, at_least=2)
    assert "LES forecast for merchant m002" in " ".join(page.text)


def test_explain_cli_writes_markdown_and_json_to_out(explain_cli, trained_model, tmp_path) -> None:
    markdown, document = tmp_path / "m002.md", tmp_path / "m002.json"
    printed = explain_cli("md", markdown) + explain_cli("json", document)
    assert "## Stage attribution" not in printed and '"explanation"' not in printed
    text = markdown.read_text()
    for heading in ("# LES forecast for merchant m002", "## Stage attribution", "## What to fix"):
        assert heading in text
    report = ExplanationReport.model_validate_json(document.read_text())
    assert report.explanation.merchant_id == "m002"
    assert report.model.version == trained_model.model.model_version
    assert report.model.uri == trained_model.model.model_uri
    expected = build_report(trained_model.model, _merchant_row(trained_model))
    assert report.explanation == expected.explanation


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
