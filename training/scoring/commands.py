"""`les score`: batch forecasts for a dataset, on either engine."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from features.console import (
    Command,
    EngineOption,
    SchedulerOption,
    console,
    counts_table,
    engine_config,
    engine_session,
    task_progress,
)
from training.explain.registered import DEFAULT_MODEL_URI


def score(
    dataset: Annotated[
        Path,
        typer.Option(help="(merchant, snapshot) dataset: a .parquet file or a folder of parts."),
    ],
    out: Annotated[
        Path,
        typer.Option(help="Forecasts: a .parquet file, or a folder of parts (dask: a folder)."),
    ],
    model: Annotated[
        str, typer.Option(help="MLflow model URI (default: the registered champion).")
    ] = DEFAULT_MODEL_URI,
    snapshot: Annotated[
        str, typer.Option(help="latest (each merchant's newest row), all, or a date YYYY-MM-DD.")
    ] = "latest",
    explain: Annotated[
        bool, typer.Option("--explain", help="Add the base score and the points of each stage.")
    ] = False,
    engine: EngineOption = "pandas",
    scheduler: SchedulerOption = None,
) -> None:
    """Batch forecasts for a dataset: tier, tier probabilities and score per (merchant, snapshot).

    With --explain each row also carries the base score and the points of every stage; base +
    stages + bounds = predicted score. Memory is bounded by one chunk on either engine."""
    import pyarrow as pa

    from features.io import is_folder_target
    from training.explain.registered import load_model
    from training.scoring.batch import dataset_files, score_dask, score_pandas
    from training.scoring.rows import ScoringInputError, parse_snapshot

    engine_cfg = engine_config(engine, scheduler)
    choice = parse_snapshot(snapshot)
    dataset_files(dataset)
    if engine_cfg.is_dask and not is_folder_target(out):
        raise ScoringInputError(f"--out {out}: the dask engine writes a folder (no suffix)")
    loaded = load_model(model)
    console.print(f"scoring {choice.describe()} with {loaded.model_name} v{loaded.model_version}")
    try:
        if engine_cfg.is_dask:
            with engine_session(engine_cfg) as client, task_progress() as advance:
                run = score_dask(client, loaded, dataset, out, choice, explain, advance)
        else:
            with task_progress() as advance:
                run = score_pandas(loaded, dataset, out, choice, explain, advance)
    except pa.ArrowInvalid as exc:  # pyarrow's message names no file
        raise ScoringInputError(f"{dataset}: not a readable parquet table ({exc})") from exc
    if not run.summary.rows:
        raise ScoringInputError(f"no row of {dataset} matches {choice.describe()}")
    s = run.summary
    console.print(f"{s.rows:,} rows scored, {s.merchants:,} merchants")
    console.print(counts_table("Forecast tiers", s.tiers, "tier"))
    console.print(f"-> {out}")
    _record_in_ledger(loaded, run.files)


def _record_in_ledger(model, files) -> None:
    """Every run's forecasts go to the forecast ledger, file by file; a failure is counted and
    logged, the scores already written stay."""
    import pandas as pd

    from training.ledger import default_url, ledger_rows, record_safely

    url, written, failed = default_url(), 0, 0
    for path in files:
        rows = ledger_rows(
            pd.read_parquet(path), model.model_name, model.model_version, model.rulebook_version,
            model.recipe.to_dict(), model.tiers_by_code, "cli",
        )  # fmt: skip
        if record_safely(rows, url):
            written += len(rows)
        else:
            failed += len(rows)
    where = url.split("///")[-1] if url.startswith("sqlite:///") else "LES_LEDGER_URL"
    console.print(f"forecast ledger: {written:,} forecasts recorded ({where})")
    if failed:
        console.print(f"[red]forecast ledger: {failed:,} forecasts NOT recorded (see les.log)[/]")


COMMANDS: tuple[Command, ...] = (Command("score", score),)
