"""`les explain` and `les report`: the merchant report and the model report, from the registry.

Declared as `COMMANDS` for the console script; bad input is raised for the error boundary.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer

from features.console import Command, console, read_valid_orders
from features.rulebook import Rulebook
from training.explain.registered import DEFAULT_MODEL_URI, RegisteredForecaster, load_model

ModelOption = Annotated[
    str, typer.Option("--model", help="MLflow model URI (default: the registered champion).")
]


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
    from features.io import read_table, write_text_atomic
    from training.reports.merchant import (
        FORMATS,
        ExplainInputError,
        build_report,
        render,
        row_from_dataset,
        row_from_orders,
    )
    from training.scoring.batch import check_recipe

    if (orders is None) == (dataset is None):
        raise typer.BadParameter("give exactly one of --orders or --dataset")
    if fmt not in FORMATS:
        raise typer.BadParameter(f"--format must be one of {', '.join(FORMATS)}")
    if fmt == "html" and out is None:
        raise typer.BadParameter("--format html needs --out PATH (a self-contained .html file)")
    loaded = load_model(model)
    try:
        if dataset is not None:
            check_recipe(dataset, loaded)
            row = row_from_dataset(read_table(dataset), merchant, snapshot)
        else:
            assert orders is not None
            valid = read_valid_orders(orders)
            row = row_from_orders(
                valid, merchant, snapshot, loaded.dataset_config, model_rulebook(loaded)
            )
    except ExplainInputError as exc:
        raise ExplainInputError(f"cannot explain: {exc}") from exc
    text = render(build_report(loaded, row), fmt)
    if out is None:
        typer.echo(text, nl=False)
        return
    write_text_atomic(out, text)
    console.print(f"{fmt} report for {merchant} -> {out}")


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
    from training.reports.model import build_global_report, ranking_line, write_global_report
    from training.tracking import activate, pooled_backtest_metrics, resolve_tracking

    if (orders is None) == (dataset is None):
        raise typer.BadParameter("give exactly one of --orders or --dataset")
    loaded = load_model(model)
    frame = feature_rows(dataset, orders, loaded)
    frame = newest_snapshots(frame, latest_snapshots)
    client = activate(resolve_tracking(create=False))
    with console.status(f"attributing {len(frame):,} merchant snapshots"):
        result = build_global_report(loaded, frame, pooled_backtest_metrics(client, loaded.run_id))
    json_path = write_global_report(result, out)
    console.print(ranking_line(result))
    console.print(f"-> {out} and {json_path}")


def write_demo_reports(model_uri: str, dataset: pd.DataFrame, out: Path) -> None:
    """The demo's last step: the global report and the report of the merchant forecast lowest."""
    from features.io import write_text_atomic
    from training.explain.attribution import predict_frame
    from training.reports.merchant import MerchantRow, build_report, render
    from training.reports.model import build_global_report, ranking_line, write_global_report
    from training.tracking import activate, pooled_backtest_metrics, resolve_tracking

    loaded = load_model(model_uri)
    recent = newest_snapshots(dataset, 4)
    client = activate(resolve_tracking(create=False))
    with console.status("writing the global and merchant reports"):
        result = build_global_report(loaded, recent, pooled_backtest_metrics(client, loaded.run_id))
        latest = newest_snapshots(dataset, 1)
        worst = int(predict_frame(loaded, latest)["predicted_score"].to_numpy().argmin())
        row = MerchantRow(latest.iloc[[worst]].reset_index(drop=True), "dataset")
        merchant = render(build_report(loaded, row), "html")
    write_global_report(result, out / "report.html")
    merchant_path = write_text_atomic(
        out / f"explain_{row.features['merchant_id'].iloc[0]}.html", merchant
    )
    console.print(ranking_line(result))
    console.print(f"reports: {out / 'report.html'} and {merchant_path}")


def newest_snapshots(frame: pd.DataFrame, n: int) -> pd.DataFrame:
    """The rows of the newest `n` snapshots (all rows when n <= 0)."""
    if n <= 0 or "snapshot_at" not in frame:
        return frame
    keep = sorted(frame["snapshot_at"].unique())[-n:]
    return frame[frame["snapshot_at"].isin(keep)].reset_index(drop=True)


def model_rulebook(loaded: RegisteredForecaster) -> Rulebook:
    """This code's rulebook as `loaded` was trained under it; a `RegistryError` if it is another."""
    from features.rulebook import load_rulebook
    from training.tracking import RegistryError

    try:
        return loaded.rulebook(load_rulebook())
    except RegistryError as exc:
        raise RegistryError(f"cannot build features: {exc}") from exc


def feature_rows(dataset: Path | None, orders: Path | None, loaded: RegisteredForecaster) -> Any:
    """The dataset's rows (checked against the model's recipe), or rows built from the orders by
    the model's recipe."""
    from features.dataset import build_dataset
    from features.io import read_table
    from training.scoring.batch import check_recipe

    if dataset is not None:
        check_recipe(dataset, loaded)
        return read_table(dataset)
    assert orders is not None
    rules = model_rulebook(loaded)
    with console.status("building (merchant, snapshot) features"):
        return build_dataset(read_valid_orders(orders), loaded.dataset_config, rules)


COMMANDS: tuple[Command, ...] = (Command("explain", explain), Command("report", report))
