"""Bad files and output paths through the real CLI: one line naming the path and the problem,
exit 2, never a traceback (issue 13, item 4). Exit 1 stays `les validate`'s "rows rejected"."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from features.olist import OLIST_TABLES
from serving.cli import app
from tests.features.conftest import random_orders
from tests.features.test_olist import SOURCES
from tests.training.conftest import make_dataset, register_in_store

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("mlflow")]
runner = CliRunner()
MODEL_COMMANDS = ("score", "explain", "report")
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


@dataclass(frozen=True)
class Files:
    """Every bad input, next to good ones, and a store holding a trained model."""

    root: Path
    orders: Path  # contract-valid orders
    dataset: Path  # a trainable dataset
    olist: Path  # a valid Olist export
    store: Path

    def __truediv__(self, name: str) -> Path:
        return self.root / name


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Files:
    root = tmp_path_factory.mktemp("bad-files")
    orders = random_orders(n=300, merchants=3)
    orders.to_parquet(root / "orders.parquet")
    orders.to_csv(root / "orders.csv", index=False)
    (root / "empty.csv").write_bytes(b"")
    (root / "empty.parquet").write_bytes(b"")
    (root / "header.csv").write_text(",".join(orders.columns) + "\n")
    (root / "text.parquet").write_text("merchant_id,les_score\nm1,3.2\n")
    orders.to_csv(root / "semicolon.csv", index=False, sep=";")
    orders.assign(status="teleported").to_csv(root / "rejected.csv", index=False)

    dataset = make_dataset(n_merchants=40, n_snapshots=24)
    dataset.to_parquet(root / "dataset.parquet")
    whole = (root / "dataset.parquet").read_bytes()
    (root / "truncated.parquet").write_bytes(whole[: len(whole) // 2])
    dataset.drop(columns="label_tier").to_parquet(root / "nolabel.parquet")
    feature = "late_dispatch_rate_trend"
    dataset.assign(**{feature: "high"}).to_parquet(root / "strings.parquet")

    (root / "blocker").write_text("a file where a folder is expected\n")
    (root / "readonly").mkdir()
    (root / "readonly").chmod(stat.S_IRUSR | stat.S_IXUSR)
    header_only = SOURCES["orders"].splitlines()[0] + "\n"
    for name, orders_text in (("olist", None), ("olist_empty", ""), ("olist_header", header_only)):
        folder = root / name
        folder.mkdir()
        for table in OLIST_TABLES:
            text = SOURCES[table.key]
            if table.key == "orders" and orders_text is not None:
                text = orders_text
            (folder / table.file_name).write_text(text)

    return Files(
        root, root / "orders.parquet", root / "dataset.parquet", root / "olist", root / "store"
    )


@pytest.fixture(scope="module")
def champion(files: Files) -> Path:
    """A trained champion in the files' store, for the commands that load a model."""
    register_in_store(
        files.store, pd.read_parquet(files.dataset), champion=True, max_boost_rounds=20
    )
    return files.store


@pytest.fixture()
def les(
    files: Files, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> Callable[..., tuple[int, str]]:
    monkeypatch.chdir(files.root)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{files.store / 'mlflow.db'}")
    monkeypatch.setenv("LES_LOG_FILE", str(files.root / "les.log"))

    def invoke(*args: str) -> tuple[int, str]:
        if args[0] in MODEL_COMMANDS:
            request.getfixturevalue("champion")
        result = runner.invoke(app, [str(a) for a in args])
        uncaught = result.exception is not None and not isinstance(result.exception, SystemExit)
        return result.exit_code, result.output + ("Traceback (uncaught)" if uncaught else "")

    return invoke


def _runs(files: Files) -> int:
    import mlflow

    if not (files.store / "mlflow.db").exists():
        return 0
    client = mlflow.MlflowClient(f"sqlite:///{files.store / 'mlflow.db'}")
    experiments = [e.experiment_id for e in client.search_experiments()]
    return len(client.search_runs(experiments))


ORDER_FILES = {
    "empty.csv": "empty file",
    "header.csv": "no rows",
    "text.parquet": "not a readable parquet",
    "truncated.parquet": "not a readable parquet",
    "semicolon.csv": "lacks required columns",
    "rejected.csv": "no valid rows",
}
DATASET_FILES = {
    "empty.parquet": "not a readable parquet",
    "text.parquet": "not a readable parquet",
    "truncated.parquet": "not a readable parquet",
}
TRAIN_DATASETS = DATASET_FILES | {
    "nolabel.parquet": "label_tier",
    "strings.parquet": "late_dispatch_rate_trend",
}
OUTPUT_PROBLEM = "not a folder"


def _order_commands(name: str) -> list[list[str]]:
    return [
        ["score-window", "--orders", name, "--end", "2026-04-01", "--out", "les.parquet"],
        ["build-dataset", "--orders", name, "--out", "built.parquet"],
        ["train", "--orders", name],
        ["explain", "--orders", name, "--merchant", "m0", "--format", "json"],
        ["report", "--orders", name, "--out", "report.html"],
    ]


def _dataset_commands(name: str) -> list[list[str]]:
    return [
        ["score", "--dataset", name, "--out", "scored.parquet"],
        ["explain", "--dataset", name, "--merchant", "m000", "--format", "json"],
        ["report", "--dataset", name, "--out", "report.html"],
    ]


BAD_INPUTS = (
    [(["validate", n], n, p) for n, p in ORDER_FILES.items() if n != "rejected.csv"]
    + [(args, name, p) for name, p in ORDER_FILES.items() for args in _order_commands(name)]
    + [(args, name, p) for name, p in DATASET_FILES.items() for args in _dataset_commands(name)]
    + [(["train", "--dataset", name], name, p) for name, p in TRAIN_DATASETS.items()]
    + [
        (["ingest", "olist", "olist_empty", "--out", "o.parquet"], "olist_orders", "empty file"),
        (["ingest", "olist", "olist_header", "--out", "o.parquet"], "olist_header", "no (order"),
    ]
)


def _output_commands(parent: str) -> list[list[str]]:
    """Each command that writes, pointed at an output under `parent`, from good inputs."""
    return [
        ["validate", "rejected.csv", "--rejected-out", f"{parent}/rejected.csv"],
        ["score-window", "--orders", "orders.parquet", "--end", "2026-04-01"]
        + ["--out", f"{parent}/les.parquet"],
        ["build-dataset", "--orders", "orders.parquet", "--out", f"{parent}/d.parquet"],
        ["score", "--dataset", "dataset.parquet", "--out", f"{parent}/scored.parquet"],
        ["explain", "--dataset", "dataset.parquet", "--merchant", "m000"]
        + ["--out", f"{parent}/e.html"],
        ["report", "--dataset", "dataset.parquet", "--out", f"{parent}/r.html"],
        ["ingest", "olist", "olist", "--out", f"{parent}/o.parquet"],
    ]


def _case_id(case: tuple[list[str], str, str]) -> str:
    return "-".join(a.strip("-") for a in case[0][:3])


def assert_one_line_error(code: int, output: str, needle: str, problem: str) -> None:
    assert code == 2, output
    assert "Traceback" not in output, output
    lines = [
        line for line in output.lower().splitlines() if needle.lower() in line and problem in line
    ]
    assert lines, f"no line names {needle!r} and {problem!r}:\n{output}"


@pytest.mark.parametrize(("args", "needle", "problem"), BAD_INPUTS, ids=map(_case_id, BAD_INPUTS))
def test_a_bad_input_is_one_line_and_exit_2(
    les: Callable[..., tuple[int, str]], args: list[str], needle: str, problem: str
) -> None:
    assert_one_line_error(*les(*args), needle, problem)


@pytest.mark.parametrize("args", _output_commands("blocker"), ids=lambda a: a[0])
def test_an_output_under_a_file_is_one_line_and_exit_2(
    les: Callable[..., tuple[int, str]], args: list[str]
) -> None:
    assert_one_line_error(*les(*args), "blocker", OUTPUT_PROBLEM)


@pytest.mark.skipif(IS_ROOT, reason="root writes into a read-only folder; chmod cannot test it")
@pytest.mark.parametrize("args", _output_commands("readonly"), ids=lambda a: a[0])
def test_an_output_in_a_read_only_folder_is_one_line_and_exit_2(
    les: Callable[..., tuple[int, str]], args: list[str]
) -> None:
    assert_one_line_error(*les(*args), "readonly", "permission denied")


def test_a_bad_dataset_starts_no_mlflow_run(
    les: Callable[..., tuple[int, str]], files: Files
) -> None:
    """The dataset is checked before the backtest: a string feature column is named at once."""
    before = _runs(files)
    code, output = les("train", "--dataset", "strings.parquet")
    assert_one_line_error(code, output, "late_dispatch_rate_trend", "numeric")
    assert _runs(files) == before


def test_rejected_rows_keep_exit_1(les: Callable[..., tuple[int, str]]) -> None:
    code, output = les("validate", "rejected.csv")
    assert code == 1, output
    assert "Traceback" not in output and "rejected" in output


def test_an_unexpected_error_is_one_line_naming_its_type_and_the_log(
    les: Callable[..., tuple[int, str]], files: Files, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A genuine bug is not dressed up as bad input: its type, a pointer to the log, exit 1."""
    import features.rulebook

    def broken(*_: object, **__: object) -> None:
        raise KeyError("bug")

    monkeypatch.setattr(features.rulebook, "load_rulebook", broken)
    code, output = les("rulebook")
    assert code == 1, output
    assert "Traceback" not in output
    assert "KeyError" in output and "les.log" in output
    assert "Traceback" in (files / "les.log").read_text()
