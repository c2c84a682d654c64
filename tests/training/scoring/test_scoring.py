"""Batch scoring: the pure steps, `les score` end to end, Dask = pandas exactly, and a dataset
larger than a Dask worker's memory limit scored completely."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from features.catalogue import load_catalogue
from features.io import part_files, write_parquet_folder
from training.explain.attribution import predict_frame
from training.forecaster_model import proba_column
from training.scoring.batch import score_pandas
from training.scoring.rows import (
    ATTRIBUTION_COLUMNS,
    TIER_COLUMN,
    ScoringInputError,
    SnapshotChoice,
    combine_latest,
    latest_by_merchant,
    merge_summaries,
    missing_columns,
    output_columns,
    parse_snapshot,
    score_rows,
    select_rows,
    summarise,
)

from ..conftest import make_dataset, register_in_store

KEYS = ["merchant_id", "snapshot_at"]
MODEL_NAME = "les-forecaster"
POINTS_TOLERANCE = 1e-12


@dataclass(frozen=True)
class Registered:
    model: object  # training.explain.registered.RegisteredForecaster (the champion)
    tracking_uri: str


@pytest.fixture(scope="module")
def registered(tmp_path_factory: pytest.TempPathFactory) -> Registered:
    """A small champion in its own store: one fold, few rounds, one thread (seconds on a busy box)."""
    from training.explain.registered import load_registered_forecaster

    tracking, _ = register_in_store(
        tmp_path_factory.mktemp("scoring-store"),
        make_dataset(n_merchants=60, n_snapshots=30),
        champion=True,
        n_folds=1,
        max_boost_rounds=40,
        lgbm_params={"num_threads": 1},
    )
    champion = load_registered_forecaster(f"models:/{MODEL_NAME}@champion", tracking)
    return Registered(champion, tracking.tracking_uri)


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    """Scoring rows where merchants end at different snapshots (m000 stopped three weeks early)."""
    data = make_dataset(n_merchants=30, n_snapshots=8, seed=5)
    last = data["snapshot_at"].max()
    early = (data["merchant_id"] == "m000") & (data["snapshot_at"] > last - pd.Timedelta(days=21))
    return data[~early].reset_index(drop=True)


def sorted_rows(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(KEYS, ignore_index=True)


def assert_same_scores(got: pd.DataFrame, want: pd.DataFrame, in_order: bool = False) -> None:
    """Forecasts bit for bit; stage points to POINTS_TOLERANCE (summing SHAP values into stages is
    a matrix product, whose last bit depends on how many rows a chunk holds)."""
    if not in_order:
        got, want = sorted_rows(got), sorted_rows(want)
    points = [c for c in ATTRIBUTION_COLUMNS if c in want]
    pd.testing.assert_frame_equal(
        got.drop(columns=points), want.drop(columns=points), check_exact=True
    )
    assert list(got.columns) == list(want.columns)
    np.testing.assert_allclose(got[points], want[points], rtol=0, atol=POINTS_TOLERANCE)


# --- pure steps -----------------------------------------------------------------------------


def test_parse_snapshot_choices() -> None:
    assert parse_snapshot("latest") == SnapshotChoice("latest")
    assert parse_snapshot(" ALL ") == SnapshotChoice("all")
    assert parse_snapshot("2026-02-02") == SnapshotChoice(
        "date", pd.Timestamp("2026-02-02", tz="UTC")
    )
    with pytest.raises(ScoringInputError, match="use latest, all or a date"):
        parse_snapshot("yesterday")
    with pytest.raises(ScoringInputError, match="midnight"):
        parse_snapshot("2026-02-02T06:00")


def test_latest_is_per_merchant_and_survives_chunking(rows: pd.DataFrame) -> None:
    latest = latest_by_merchant(rows)
    last = rows["snapshot_at"].max()
    assert latest["m000"] == last - pd.Timedelta(days=21)
    assert (latest.drop("m000") == last).all()
    shuffled = rows.sample(frac=1.0, random_state=0)
    chunks = [shuffled.iloc[i::4] for i in range(4)]
    assert combine_latest(latest_by_merchant(c) for c in chunks).equals(latest)

    selected = select_rows(rows, SnapshotChoice("latest"), latest)
    assert len(selected) == rows["merchant_id"].nunique() == 30
    chunked = pd.concat([select_rows(c, SnapshotChoice("latest"), latest) for c in chunks])
    pd.testing.assert_frame_equal(sorted_rows(chunked), sorted_rows(selected))


def test_select_all_and_date(rows: pd.DataFrame) -> None:
    assert len(select_rows(rows, SnapshotChoice("all"))) == len(rows)
    at = rows["snapshot_at"].max()
    on_date = select_rows(rows, parse_snapshot(f"{at:%Y-%m-%d}"))
    assert len(on_date) == 29 and (on_date["snapshot_at"] == at).all()
    with pytest.raises(ValueError, match="latest_by_merchant"):
        select_rows(rows, SnapshotChoice("latest"))


def test_missing_columns_are_named_in_model_order(registered: Registered, rows) -> None:
    names = registered.model.forecaster.feature_names
    dropped = [names[3], names[0]]
    assert missing_columns(rows.columns, registered.model) == []
    assert missing_columns(rows.drop(columns=dropped).columns, registered.model) == [
        names[0],
        names[3],
    ]


def test_score_rows_forecast_and_additive_explanation(registered: Registered, rows) -> None:
    model = registered.model
    scored = score_rows(model, rows, explain=True)
    assert list(scored.columns) == output_columns(model, explain=True)
    forecast = predict_frame(model, rows)
    np.testing.assert_array_equal(scored["predicted_score"], forecast["predicted_score"])
    np.testing.assert_array_equal(scored[TIER_COLUMN], forecast["tier"])
    probabilities = scored[[proba_column(tier) for tier in model.tiers_by_code]]
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-12)
    parts = scored[list(ATTRIBUTION_COLUMNS)].sum(axis=1)
    np.testing.assert_allclose(parts, scored["predicted_score"], atol=1e-9)
    assert (scored["model_version"] == model.model_version).all()
    plain = score_rows(model, rows, explain=False)
    assert list(plain.columns) == output_columns(model, explain=False)
    assert list(score_rows(model, rows.head(0), True).columns) == list(scored.columns)


def test_summary_counts_a_merchant_spanning_chunks_once(registered: Registered, rows) -> None:
    scored = score_rows(registered.model, rows, explain=False)
    halves = [summarise(scored.iloc[:100]), summarise(scored.iloc[100:])]
    merged = merge_summaries(halves)
    assert merged.rows == len(rows) and merged.merchants == 30
    assert merged.tiers == scored[TIER_COLUMN].value_counts().to_dict()


def test_pandas_engine_by_row_group_equals_one_pass(registered, rows, tmp_path: Path) -> None:
    rows.to_parquet(tmp_path / "dataset.parquet", index=False, row_group_size=37)
    latest = latest_by_merchant(rows)
    want = score_rows(registered.model, select_rows(rows, SnapshotChoice("latest"), latest), True)
    for out in (tmp_path / "scored.parquet", tmp_path / "scored"):
        run = score_pandas(
            registered.model, tmp_path / "dataset.parquet", out, SnapshotChoice("latest"), True
        )
        assert_same_scores(pd.read_parquet(out), want)
        assert run.summary.rows == 30 and run.summary.merchants == 30


# --- les score end to end -------------------------------------------------------------------


@pytest.fixture()
def cli(registered: Registered, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    from serving.cli import app

    monkeypatch.setenv("MLFLOW_TRACKING_URI", registered.tracking_uri)
    monkeypatch.setenv("LES_LEDGER_URL", f"sqlite:///{tmp_path / 'ledger.db'}")
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    return lambda *args: runner.invoke(app, ["score", *map(str, args)])


@pytest.mark.e2e
def test_les_score_default_champion_latest_with_explain(cli, registered, rows, tmp_path) -> None:
    write_parquet_folder(rows, tmp_path / "dataset", rows_per_file=90)
    result = cli("--dataset", tmp_path / "dataset", "--out", tmp_path / "f.parquet", "--explain")
    assert result.exit_code == 0, result.output
    scored = pd.read_parquet(tmp_path / "f.parquet")
    assert len(scored) == 30 and scored["merchant_id"].is_unique
    assert "30 rows scored, 30 merchants" in result.output
    assert f"{MODEL_NAME} v{registered.model.model_version}" in result.output
    for tier, n in scored[TIER_COLUMN].value_counts().items():
        assert f"{tier}" in result.output and f"{n:,}" in result.output
    np.testing.assert_allclose(
        scored[list(ATTRIBUTION_COLUMNS)].sum(axis=1), scored["predicted_score"], atol=1e-9
    )

    from training.ledger import count_rows, forecasts_of

    ledger_url = f"sqlite:///{tmp_path / 'ledger.db'}"
    assert "forecast ledger: 30 forecasts recorded" in result.output
    kept = forecasts_of(MODEL_NAME, registered.model.model_version, ledger_url)
    assert len(kept) == 30 and set(kept["tier"]) == set(scored[TIER_COLUMN])
    result = cli("--dataset", tmp_path / "dataset", "--out", tmp_path / "all", "--snapshot", "all")
    assert result.exit_code == 0, result.output
    assert len(pd.read_parquet(tmp_path / "all")) == len(rows)
    assert count_rows(ledger_url) == len(rows)  # the latest rows re-scored: still one each


@pytest.mark.e2e
def test_les_score_bad_input_exits_2_with_a_reason(cli, rows, tmp_path: Path) -> None:
    rows.to_parquet(tmp_path / "d.parquet", index=False)
    name = load_catalogue().names[0]
    rows.drop(columns=[name]).to_parquet(tmp_path / "lacking.parquet", index=False)
    cases = [
        (("--dataset", tmp_path / "nope.parquet"), "no such file or folder"),
        (("--dataset", tmp_path / "lacking.parquet"), f"needs: {name}"),
        (("--dataset", tmp_path / "d.parquet", "--model", "models:/les-forecaster@gone"), "gone"),
        (("--dataset", tmp_path / "d.parquet", "--snapshot", "soon"), "use latest, all"),
        (("--dataset", tmp_path / "d.parquet", "--snapshot", "2020-01-06"), "no row of"),
        (("--dataset", tmp_path / "d.parquet", "--engine", "dask"), "writes a folder"),
        (("--dataset", tmp_path / "d.parquet", "--engine", "spark"), "--engine must be"),
    ]
    for args, message in cases:
        result = cli(*args, "--out", tmp_path / "o.parquet")
        assert result.exit_code == 2, (args, result.output)
        assert message in " ".join(result.output.split()), (args, result.output)


# --- Dask -----------------------------------------------------------------------------------

# Each worker's limit. A worker with pandas, pyarrow, LightGBM and MLflow loaded holds ~260 MB of
# its own and ~400 MB after reading parquet, and Dask pauses a worker at 80% of its limit, so this is
# about the smallest limit that runs. The memory test's dataset is larger than this whole limit.
WORKER_LIMIT = "600MiB"
# Many parts, each small enough to score beside a worker's imports and model: measured, 50,000-row
# parts of the 72-feature table stall a 600 MiB worker at Dask's pause level (80%), 30,000 do not.
PARTS, ROWS_PER_PART = 64, 30_000


@pytest.fixture(scope="module")
def client():
    from features.engine import EngineConfig, engine_client

    with engine_client(EngineConfig("dask", n_workers=2, memory_limit=WORKER_LIMIT)) as client:
        yield client


@pytest.mark.xdist_group("dask")
@pytest.mark.parametrize("snapshot", ["latest", "all"])
def test_dask_scores_equal_pandas_scores(client, registered, rows, tmp_path, snapshot) -> None:
    from training.scoring.batch import score_dask

    write_parquet_folder(rows, tmp_path / "dataset", rows_per_file=70)
    choice = parse_snapshot(snapshot)
    want = score_pandas(registered.model, tmp_path / "dataset", tmp_path / "p", choice, True)
    got = score_dask(client, registered.model, tmp_path / "dataset", tmp_path / "d", choice, True)
    assert_same_scores(pd.read_parquet(tmp_path / "d"), pd.read_parquet(tmp_path / "p"))
    assert got.summary == want.summary


def write_large_dataset(folder: Path, names: tuple[str, ...], parts: int, rows: int) -> int:
    """`parts` files of `rows` (merchant, snapshot) rows with the model's features, written one at a
    time so this process never holds the whole; returns the in-memory size of all parts."""
    folder.mkdir()
    rng = np.random.default_rng(3)
    snapshots = pd.date_range("2026-01-05", periods=40, freq="7D", tz="UTC")
    total = 0
    for part in range(parts):
        merchants = np.arange(rows) // len(snapshots)
        frame = pd.DataFrame(
            {
                "merchant_id": [f"p{part:02d}-m{m:05d}" for m in merchants],
                "snapshot_at": snapshots[np.arange(rows) % len(snapshots)],
            }
        )
        features = pd.DataFrame(rng.normal(1.0, 1.0, (rows, len(names))), columns=list(names))
        frame = pd.concat([frame, features], axis=1)
        total += int(frame.memory_usage(deep=True).sum())
        frame.to_parquet(folder / f"part-{part:05d}.parquet", index=False)
    return total


def read_parts(folder: Path) -> pd.DataFrame:
    return pd.concat([pd.read_parquet(p) for p in part_files(folder)], ignore_index=True)


@pytest.mark.xdist_group("dask")
def test_dataset_larger_than_a_worker_limit_is_scored_completely(
    client, registered, tmp_path: Path
) -> None:
    from dask.utils import parse_bytes

    from training.scoring.batch import score_dask

    names = registered.model.forecaster.feature_names
    size = write_large_dataset(tmp_path / "dataset", names, parts=PARTS, rows=ROWS_PER_PART)
    limits = [w["memory_limit"] for w in client.scheduler_info()["workers"].values()]
    assert limits == [parse_bytes(WORKER_LIMIT)] * 2
    assert size > parse_bytes(WORKER_LIMIT), (size, WORKER_LIMIT)

    choice = SnapshotChoice("all")
    got = score_dask(client, registered.model, tmp_path / "dataset", tmp_path / "d", choice, False)
    assert (
        got.summary.rows == PARTS * ROWS_PER_PART
        and got.summary.merchants == PARTS * ROWS_PER_PART // 40
    )
    scored_parts = part_files(tmp_path / "d")
    assert len(scored_parts) == PARTS  # one partition per input file, written in input order
    assert sum(pq.ParquetFile(p).metadata.num_rows for p in scored_parts) == PARTS * ROWS_PER_PART

    # The pandas engine on every 4th input file (prediction dominates the test's time).
    (tmp_path / "sample").mkdir()
    sample = part_files(tmp_path / "dataset")[::4]
    for path in sample:
        os.link(path, tmp_path / "sample" / path.name)
    score_pandas(registered.model, tmp_path / "sample", tmp_path / "p", choice, False)
    got_sample = pd.concat([pd.read_parquet(p) for p in scored_parts[::4]], ignore_index=True)
    assert_same_scores(got_sample, read_parts(tmp_path / "p"), in_order=True)


# --- all-or-nothing outputs -----------------------------------------------------------------


@pytest.mark.parametrize("name", ["scored.parquet", "scored"])
def test_a_score_failing_midway_leaves_the_previous_output(
    registered, rows, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    import training.scoring.batch as batch_scoring

    rows.to_parquet(tmp_path / "dataset.parquet", index=False, row_group_size=37)
    out, choice = tmp_path / "out" / name, SnapshotChoice("all")
    score_pandas(registered.model, tmp_path / "dataset.parquet", out, choice, False)
    files = [out] if out.is_file() else sorted(p for p in out.rglob("*") if p.is_file())
    before = {p: p.read_bytes() for p in files}
    real, chunks = batch_scoring.score_chunk, []

    def second_chunk_fails(*args, **kwargs):
        chunks.append(1)
        if len(chunks) == 2:
            raise OSError(28, "No space left on device")
        return real(*args, **kwargs)

    monkeypatch.setattr(batch_scoring, "score_chunk", second_chunk_fails)
    with pytest.raises(OSError, match="No space left"):
        score_pandas(registered.model, tmp_path / "dataset.parquet", out, choice, True)
    assert {p: p.read_bytes() for p in files} == before
    assert sorted(p.name for p in out.parent.iterdir()) == [name]
