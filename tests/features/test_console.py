"""The console script is built from what the rooms declare, and the boundary sorts errors."""

from __future__ import annotations

import errno

import pytest
import typer
from typer.testing import CliRunner

from features import commands as feature_commands
from features import ingest_commands
from features.console import Command, build_app, describe_error, is_expected_error
from features.errors import LesError


class _BadInput(LesError, ValueError):
    pass


def _bad_input() -> None:
    raise _BadInput("orders.csv: column 'paid_at' is not a timestamp")


def _bug() -> None:
    raise ZeroDivisionError("division by zero")


def test_the_app_holds_exactly_the_declared_commands() -> None:
    from serving import cli, commands
    from training import commands as training_commands
    from training.monitor import commands as monitor_commands
    from training.reports import commands as report_commands
    from training.scoring import commands as scoring_commands

    declared = [
        *feature_commands.COMMANDS,
        *training_commands.COMMANDS,
        *scoring_commands.COMMANDS,
        *report_commands.COMMANDS,
        *monitor_commands.COMMANDS,
        *commands.COMMANDS,
    ]
    names = [c.name for c in declared]
    assert len(names) == len(set(names))
    group = typer.main.get_group(cli.app)
    assert set(group.commands) == {*names, *ingest_commands.GROUPS}
    ingest = group.commands["ingest"]
    assert set(ingest.commands) == {c.name for c in ingest_commands.COMMANDS}


def test_bad_input_is_one_line_and_exit_2_a_bug_exit_1(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("LES_LOG_FILE", str(tmp_path / "les.log"))
    app = build_app(
        [Command("bad", _bad_input), Command("bug", _bug)], groups={}, callback=lambda: None
    )
    runner = CliRunner()
    bad = runner.invoke(app, ["bad"])
    assert bad.exit_code == 2
    assert bad.output.strip() == "error: orders.csv: column 'paid_at' is not a timestamp"
    bug = runner.invoke(app, ["bug"])
    assert bug.exit_code == 1
    assert "unexpected ZeroDivisionError" in bug.output and "Traceback" not in bug.output
    assert "ZeroDivisionError" in (tmp_path / "les.log").read_text()


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (_BadInput("x"), True),
        (FileNotFoundError(errno.ENOENT, "No such file", "a.csv"), True),
        (ValueError("plain"), False),
        (KeyError("k"), False),
    ],
)
def test_only_les_errors_and_os_errors_count_as_bad_input(error, expected) -> None:
    assert is_expected_error(error) is expected


def test_an_os_error_names_its_path_and_the_problem() -> None:
    error = PermissionError(errno.EACCES, "Permission denied", "/ro/out.parquet")
    assert describe_error(error) == "/ro/out.parquet: permission denied"
