"""Engine selection: typed options, clear errors, and an unreachable scheduler as one line, exit 2."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import dask
import distributed  # noqa: F401  (registers its config defaults; see the scheduler test below)
import pytest
from typer.testing import CliRunner

from features.engine import EngineConfig, EngineError, UnreachableSchedulerError, engine_client
from serving.cli import app


def closed_port() -> int:
    """A loopback port nobody listens on (bound once to learn a free number, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"engine": "spark"}, "--engine"),
        ({"engine": "pandas", "scheduler": "tcp://127.0.0.1:8786"}, "--scheduler"),
        ({"engine": "dask", "scheduler": "  "}, "--scheduler"),
        ({"engine": "dask", "memory_limit": "lots"}, "memory_limit"),
        ({"engine": "dask", "n_workers": 0}, "n_workers"),
        ({"engine": "dask", "connect_timeout_s": 0}, "connect_timeout_s"),
    ],
)
def test_bad_engine_options_name_the_option(options: dict, named: str) -> None:
    with pytest.raises(EngineError, match=named):
        EngineConfig(**options)


def test_pandas_engine_starts_nothing() -> None:
    with engine_client(EngineConfig()) as client:
        assert client is None


def test_unreachable_scheduler_is_a_typed_error_within_the_timeout() -> None:
    address = f"tcp://127.0.0.1:{closed_port()}"
    start = time.perf_counter()
    with (
        pytest.raises(
            UnreachableSchedulerError, match=f"cannot reach the Dask scheduler at '{address}'"
        ),
        engine_client(EngineConfig("dask", scheduler=address, connect_timeout_s=0.5)),
    ):
        pytest.fail("connected to a port nobody listens on")
    assert time.perf_counter() - start < 10


@pytest.mark.e2e
def test_build_dataset_with_an_unreachable_scheduler_exits_2_with_one_line(
    tmp_path: Path,
) -> None:
    address = f"tcp://127.0.0.1:{closed_port()}"
    # distributed is imported above: were it first imported inside this block, leaving the block
    # would delete the whole "distributed" config section it did not see, and every later
    # LocalCluster in this test worker would fail with KeyError: 'distributed'.
    with dask.config.set({"distributed.comm.timeouts.connect": "0.5s"}):
        result = CliRunner().invoke(
            app,
            [
                "build-dataset",
                "--orders",
                str(tmp_path / "orders"),
                "--out",
                str(tmp_path / "dataset"),
                "--engine",
                "dask",
                "--scheduler",
                address,
            ],
        )
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert f"cannot reach the Dask scheduler at '{address}'" in result.output


@pytest.mark.e2e
def test_scheduler_without_dask_engine_exits_2() -> None:
    result = CliRunner().invoke(
        app, ["build-dataset", "--orders", "x", "--out", "y", "--scheduler", "tcp://h:1"]
    )
    assert result.exit_code == 2
    assert "--scheduler needs --engine dask" in result.output
