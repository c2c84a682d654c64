"""`les score` on either engine: the dataset is read and scored one chunk at a time.

pandas: in this process, one parquet row group at a time (only the key and feature columns are
read), written to one parquet file through a streaming writer or to a folder of parts.
dask: one task per partition calls the same `score_chunk` and writes its own part, so the scored
rows never travel to the client; the model is scattered once to every worker (deserialised once
per worker, not per task), and "latest per merchant" is reduced on the cluster.

Memory is bounded by one chunk in both engines, not by the dataset.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from features.io import (
    PART_PATTERN,
    TableReadError,
    atomic_folder,
    atomic_path,
    part_files,
    table_format,
)
from features.progress import Advance
from features.recipe import DatasetRecipe, RecipeError, feature_differences, read_recipe
from training.explain.attribution import KEY_COLUMNS
from training.explain.registered import RegisteredForecaster
from training.scoring.rows import (
    ScoreSummary,
    ScoringInputError,
    SnapshotChoice,
    combine_latest,
    latest_by_merchant,
    merge_summaries,
    missing_columns,
    score_chunk,
    summarise,
)

if TYPE_CHECKING:
    from distributed import Client


@dataclass(frozen=True)
class ScoreRun:
    out: Path
    files: tuple[Path, ...]
    summary: ScoreSummary


def dataset_files(dataset: Path) -> list[Path]:
    """The parquet files of a dataset file or folder (the layouts `les build-dataset` writes)."""
    dataset = Path(dataset)
    if not dataset.exists():
        raise TableReadError(f"{dataset}: no such file or folder")
    fmt = table_format(dataset)
    if fmt == "folder":
        files = part_files(dataset)
        if not files:
            raise TableReadError(f"{dataset}: folder holds no .parquet files")
        return files
    if fmt != "parquet":
        raise TableReadError(f"{dataset}: give a .parquet file or a folder of parquet parts")
    return [dataset]


def check_columns(columns: list[str], model: RegisteredForecaster, dataset: Path) -> None:
    missing = missing_columns(columns, model)
    if missing:
        raise ScoringInputError(
            f"{dataset} lacks {len(missing)} column(s) the model {model.model_name} "
            f"v{model.model_version} needs: {', '.join(missing)} (build it with `les build-dataset` "
            "on the catalogue the model was trained with)"
        )


def check_recipe(dataset: Path, model: RegisteredForecaster) -> DatasetRecipe | None:
    """The recipe recorded with `dataset`, refused (ScoringInputError) when its features were
    built otherwise than the model's training rows (another window, minimum or rulebook): their
    columns would carry the right names and the wrong numbers. None: no recipe to check."""
    try:
        recipe = read_recipe(dataset)
    except RecipeError as exc:
        raise ScoringInputError(str(exc)) from exc
    differences = [] if recipe is None else feature_differences(recipe, model.recipe)
    if differences:
        raise ScoringInputError(
            f"{dataset} was built otherwise than the training rows of model {model.model_name} "
            f"v{model.model_version} (dataset vs model: {'; '.join(differences)}); rebuild it "
            "with `les build-dataset` and the model's settings"
        )
    return recipe


def scored_columns(model: RegisteredForecaster) -> list[str]:
    return [*KEY_COLUMNS, *model.forecaster.feature_names]


def _row_groups(files: list[Path], columns: list[str]) -> Iterator[pd.DataFrame]:
    for path in files:
        reader = pq.ParquetFile(path)
        for i in range(reader.num_row_groups):
            yield reader.read_row_group(i, columns=columns).to_pandas()


def score_pandas(
    model: RegisteredForecaster,
    dataset: Path,
    out: Path,
    choice: SnapshotChoice,
    explain: bool,
    advance: Advance | None = None,
) -> ScoreRun:
    """Score in this process, one row group at a time; `out` is a .parquet file or a folder."""
    files = dataset_files(dataset)
    check_recipe(dataset, model)
    check_columns(pq.read_schema(files[0]).names, model, dataset)
    groups = sum(pq.ParquetFile(f).num_row_groups for f in files)
    latest = None
    if choice.kind == "latest":
        latest = combine_latest(
            _advancing(
                latest_by_merchant(keys), "find each merchant's latest snapshot", groups, advance
            )
            for keys in _row_groups(files, list(KEY_COLUMNS))
        )
    chunks = (
        _advancing(score_chunk(model, frame, choice, latest, explain), "score", groups, advance)
        for frame in _row_groups(files, scored_columns(model))
    )
    if table_format(out, folders=False) == "parquet":
        return _write_file(chunks, Path(out))
    return _write_folder(chunks, Path(out))


def _advancing(value, step: str, total: int, advance: Advance | None):
    if advance is not None:
        advance(step, total)
    return value


def _write_file(chunks: Iterator[pd.DataFrame], out: Path) -> ScoreRun:
    """Stream the chunks into one parquet file, renamed onto `out` only once complete."""
    writer, summaries = None, []
    with atomic_path(out) as tmp:
        try:
            for scored in chunks:
                if not len(scored):
                    continue
                table = pa.Table.from_pandas(scored, preserve_index=False)
                if writer is None:
                    writer = pq.ParquetWriter(tmp, table.schema)
                writer.write_table(table.cast(writer.schema))
                summaries.append(summarise(scored))
        finally:
            if writer is not None:
                writer.close()
    return ScoreRun(out, (out,) if writer is not None else (), merge_summaries(summaries))


def _write_folder(chunks: Iterator[pd.DataFrame], out: Path) -> ScoreRun:
    """One part per non-empty chunk, swapped in for `out` only once all are written."""
    files, summaries = [], []
    with atomic_folder(out) as tmp:
        for scored in chunks:
            if len(scored):
                files.append(out / PART_PATTERN.format(len(files)))
                scored.to_parquet(tmp / files[-1].name, index=False)
                summaries.append(summarise(scored))
    return ScoreRun(out, tuple(files), merge_summaries(summaries))


def score_part(
    frame: pd.DataFrame,
    model: RegisteredForecaster,
    choice: SnapshotChoice,
    latest: pd.Series | None,
    explain: bool,
    target: Path,
) -> ScoreSummary:
    """One Dask partition scored and written by the worker; only its summary goes back."""
    scored = score_chunk(model, frame, choice, latest, explain)
    if len(scored):
        scored.to_parquet(target, index=False)
    return summarise(scored)


def score_dask(
    client: Client,
    model: RegisteredForecaster,
    dataset: Path,
    out: Path,
    choice: SnapshotChoice,
    explain: bool,
    advance: Advance | None = None,
) -> ScoreRun:
    """Score on the cluster into the folder `out` (storage every worker can write)."""
    from dask import delayed

    from features.io import read_dask_table

    dataset_files(dataset)
    check_recipe(dataset, model)
    table = read_dask_table(dataset)
    check_columns(list(table.columns), model, dataset)
    table = table[scored_columns(model)]
    latest = None
    if choice.kind == "latest":
        keys = [delayed(latest_by_merchant)(p) for p in table[list(KEY_COLUMNS)].to_delayed()]
        parts = client.compute(keys)
        _wait(parts, "find each merchant's latest snapshot", advance)
        latest = client.submit(combine_latest, parts, pure=False)
    model_future = client.scatter(model, broadcast=True, hash=False)
    out = Path(out)
    names = [PART_PATTERN.format(i) for i in range(table.npartitions)]
    with atomic_folder(out) as tmp:
        tasks = [
            delayed(score_part)(part, model_future, choice, latest, explain, tmp / name)
            for part, name in zip(table.to_delayed(), names, strict=True)
        ]
        futures = client.compute(tasks)
        _wait(futures, "score partitions", advance)
        summaries = client.gather(futures)
    written = tuple(out / n for n, s in zip(names, summaries, strict=True) if s.rows)
    return ScoreRun(out, written, merge_summaries(summaries))


def _wait(futures: list, step: str, advance: Advance | None) -> None:
    """Block until every task is done, advancing the progress bar per task; results stay put."""
    from distributed import as_completed

    for _ in as_completed(futures):
        if advance is not None:
            advance(step, len(futures))
