"""`les explain` and `les report`: the merchant report and the model report, from the registry."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer

from features.cli import app, console
from training.registered import DEFAULT_MODEL_URI

ModelOption = Annotated[
    str, typer.Option("--model", help="MLflow model URI (default: the registered champion).")
]


@app.command()
def explain(
    merchant: Annotated[str, typer.Option(help="merchant_id to explain.")],
    orders: Annotated[
        Path | None, typer.Option(help="Order events (.csv/.parquet/folder); features are built.")
    ] = None,
    dataset: Annotated[
        Path | None, typer.Option(help="A (merchant, snapshot) dataset from `les build-dataset`.")
    ] = None,
    snapshot: Annotated[
        str | None, typer.Option(help="Snapshot date (midnight UTC); default: the latest.")
    ] = None,
    model: ModelOption = DEFAULT_MODEL_URI,
    fmt: Annotated[str, typer.Option("--format", help="html, json or md.")] = "html",
    out: Annotated[
        Path | None, typer.Option(help="Write here (HTML needs it; JSON/MD default to stdout).")
    ] = None,
) -> None:
    """One merchant's forecast, stage attribution, top features and ranked advice.

    Features from --orders are built by the model's recorded recipe (its windows and rulebook)."""
    from features.io import TableReadError, read_table, write_text_atomic
    from training.batch_scoring import check_recipe
    from training.merchant_report import (
        FORMATS,
        ExplainInputError,
        build_report,
        render,
        row_from_dataset,
        row_from_orders,
    )
    from training.scoring import ScoringInputError

    if (orders is None) == (dataset is None):
        raise typer.BadParameter("give exactly one of --orders or --dataset")
    if fmt not in FORMATS:
        raise typer.BadParameter(f"--format must be one of {', '.join(FORMATS)}")
    if fmt == "html" and out is None:
        raise typer.BadParameter("--format html needs --out PATH (a self-contained .html file)")
    loaded = _load_model(model)
    try:
        if dataset is not None:
            check_recipe(dataset, loaded)
            row = row_from_dataset(read_table(dataset), merchant, snapshot)
        else:
            valid = _valid_orders(orders)
            row = row_from_orders(
                valid, merchant, snapshot, loaded.dataset_config, _model_rulebook(loaded)
            )
    except (ExplainInputError, TableReadError, ScoringInputError) as exc:
        console.print(f"[red]cannot explain:[/] {exc}")
        raise typer.Exit(2) from exc
    text = render(build_report(loaded, row), fmt)
    if out is None:
        typer.echo(text, nl=False)
        return
    write_text_atomic(out, text)
    console.print(f"{fmt} report for {merchant} -> {out}")


@app.command()
def report(
    dataset: Annotated[
        Path | None, typer.Option(help="Rows to attribute (a dataset from `les build-dataset`).")
    ] = None,
    orders: Annotated[
        Path | None, typer.Option(help="Order events; the dataset is built first.")
    ] = None,
    model: ModelOption = DEFAULT_MODEL_URI,
    out: Annotated[Path, typer.Option(help="Output .html; the JSON lands beside it.")] = Path(
        "out/report.html"
    ),
    latest_snapshots: Annotated[
        int, typer.Option(help="Attribute the newest N snapshots of the data (0 = all).")
    ] = 4,
) -> None:
    """Global report for a model version: stage ranking, beeswarm, dependence, per tier, backtest.

    Features from --orders are built by the model's recorded recipe (its windows and rulebook)."""
    from features.io import write_text_atomic
    from training.global_report import build_global_report, render_global_html
    from training.tracking import activate, pooled_backtest_metrics, resolve_tracking

    if (orders is None) == (dataset is None):
        raise typer.BadParameter("give exactly one of --orders or --dataset")
    loaded = _load_model(model)
    frame = _feature_rows(dataset, orders, loaded)
    frame = newest_snapshots(frame, latest_snapshots)
    client = activate(resolve_tracking(create=False))
    with console.status(f"attributing {len(frame):,} merchant snapshots"):
        result = build_global_report(loaded, frame, pooled_backtest_metrics(client, loaded.run_id))
    write_text_atomic(out, render_global_html(result))
    json_path = out.with_suffix(".json")
    write_text_atomic(json_path, json.dumps(result.to_dict(), indent=2, default=str) + "\n")
    ranking = result.stage_ranking
    console.print(
        "stage ranking (mean |points|): "
        + ", ".join(f"{r.label} {r.mean_abs_points:.3f}" for r in ranking.itertuples())
    )
    console.print(f"-> {out} and {json_path}")


def write_demo_reports(model_uri: str, dataset, out: Path) -> None:
    """The demo's last step: the global report and the report of the merchant forecast lowest."""
    from features.io import write_text_atomic
    from training.attribution import predict_frame
    from training.global_report import build_global_report, render_global_html
    from training.merchant_report import MerchantRow, build_report, render
    from training.tracking import activate, pooled_backtest_metrics, resolve_tracking

    loaded = _load_model(model_uri)
    recent = newest_snapshots(dataset, 4)
    client = activate(resolve_tracking(create=False))
    with console.status("writing the global and merchant reports"):
        result = build_global_report(loaded, recent, pooled_backtest_metrics(client, loaded.run_id))
        latest = newest_snapshots(dataset, 1)
        worst = int(predict_frame(loaded, latest)["predicted_score"].to_numpy().argmin())
        row = MerchantRow(latest.iloc[[worst]].reset_index(drop=True), "dataset")
        merchant = render(build_report(loaded, row), "html")
    write_text_atomic(out / "report.html", render_global_html(result))
    report_json = json.dumps(result.to_dict(), indent=2, default=str) + "\n"
    write_text_atomic(out / "report.json", report_json)
    merchant_path = write_text_atomic(
        out / f"explain_{row.features['merchant_id'].iloc[0]}.html", merchant
    )
    console.print(
        "stage ranking (mean |points|): "
        + ", ".join(f"{r.label} {r.mean_abs_points:.3f}" for r in result.stage_ranking.itertuples())
    )
    console.print(f"reports: {out / 'report.html'} and {merchant_path}")


def newest_snapshots(frame, n: int):
    """The rows of the newest `n` snapshots (all rows when n <= 0)."""
    if n <= 0 or "snapshot_at" not in frame:
        return frame
    keep = sorted(frame["snapshot_at"].unique())[-n:]
    return frame[frame["snapshot_at"].isin(keep)].reset_index(drop=True)


def _load_model(uri: str):
    from training.registered import load_registered_forecaster
    from training.tracking import RegistryError, resolve_tracking

    # MLflow's download bar writes to stderr; a JSON report piped from stdout should stand alone.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    try:
        return load_registered_forecaster(uri, resolve_tracking(create=False))
    except RegistryError as exc:
        console.print(f"[red]cannot load model:[/] {exc}")
        raise typer.Exit(2) from exc


def _model_rulebook(loaded):
    """This code's rulebook as `loaded` was trained under it; exit 2 if it is another one."""
    from features.rulebook import load_rulebook
    from training.tracking import RegistryError

    try:
        return loaded.rulebook(load_rulebook())
    except RegistryError as exc:
        console.print(f"[red]cannot build features:[/] {exc}", soft_wrap=True)
        raise typer.Exit(2) from exc


def _valid_orders(path: Path):
    from features.cli import _read_valid_orders

    return _read_valid_orders(path)


def _feature_rows(dataset: Path | None, orders: Path | None, loaded):
    """The dataset's rows (checked against the model's recipe), or rows built from the orders by
    the model's recipe."""
    from features.dataset import build_dataset
    from features.io import TableReadError, read_table
    from training.batch_scoring import check_recipe
    from training.scoring import ScoringInputError

    try:
        if dataset is not None:
            check_recipe(dataset, loaded)
            return read_table(dataset)
    except (TableReadError, ScoringInputError) as exc:
        console.print(f"[red]error:[/] {exc}", soft_wrap=True)
        raise typer.Exit(2) from exc
    rules = _model_rulebook(loaded)
    with console.status("building (merchant, snapshot) features"):
        return build_dataset(_valid_orders(orders), loaded.dataset_config, rules)
